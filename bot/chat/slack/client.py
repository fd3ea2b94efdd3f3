"""Slack adapter: the ``/alertbot`` command, the App Home tab and alert delivery.

One slack-bolt :class:`AsyncApp` maps ``/alertbot SUBCOMMAND …`` onto
:mod:`bot.service`, parsed and dispatched by the command catalogue
(:mod:`bot.chat.textcmd`); it acks at once and does the work after, replying only to
the asker (``respond`` with ``response_type="ephemeral"``). Commands arrive
over Socket Mode when ``SLACK_APP_TOKEN`` is set, else over HTTP (bolt's aiohttp
adapter, signatures verified with ``SLACK_SIGNING_SECRET``).

Who may edit is decided by the service; this module only reports what Slack
says about the asker: workspace admin or owner (``users.info``), and which of
the user groups named in ``[slack]`` they belong to (``usergroups.users.list``),
both cached for a few minutes.

Delivery goes through :class:`SlackSender`, which implements
:class:`bot.chat.base.Sender` over the Web API: ``ratelimited`` answers are
retried by slack-sdk honouring ``Retry-After``, sends are paced per channel,
and errors that retrying cannot fix become permanent :class:`DeliveryError`.
Every message carries its outbox key in its metadata, so
:meth:`SlackSender.find_posted` can tell, from ``conversations.history``, which
keys were posted before a crash.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.base import RECONNECT_BASE, RECONNECT_CAP, DeliveryError, Supervisor
from bot.chat.slack import config as slack_config
from bot.chat.slack import render
from bot.chat.slack.config import SlackConfig
from bot.chat.textcmd import Dispatcher, UsageError, tokenize
from bot.commands import CommandError, Values, find, help_entries
from bot.config import Config
from bot.core import views
from bot.core.models import Alert, Platform
from bot.core.subscription import mention_id
from bot.service import Caller

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger(__name__)

Reply = tuple[str, list[render.Block]]
Upload = Callable[[str, str, str, str], Awaitable[None]]
"""(channel, file name, content, comment) → the file shared in the channel."""

DEFAULT_API_URL = "https://slack.com/api/"
PACE_SECONDS = 1.0
"""Slack allows about one message per second per channel (chat.postMessage tier)."""
DIRECTORY_TTL = 300.0
"""How long admin flags and user-group members are trusted before asking Slack again."""
RATE_LIMIT_RETRIES = 3
CONNECTION_RETRIES = 2
HISTORY_PAGE = 200
"""Messages asked for per ``conversations.history`` page (Slack may answer fewer)."""
HISTORY_PAGES = 5
"""At most this many pages are read per :meth:`SlackSender.find_posted` call."""
SOCKET_CONNECT_TIMEOUT = 30.0
"""Seconds one try at Socket Mode may take (``apps.connections.open`` and the socket)."""
SOCKET_PING = 10.0
"""Seconds between slack-sdk's pings on the socket."""
SOCKET_GRACE = 30.0
"""Seconds the socket may stay down while slack-sdk reconnects by itself; then we
tear the client down and start again with our back-off."""
SOCKET_CHECK = 1.0
"""Seconds between looks at the socket's health."""
EVENT_TYPES = frozenset({"alertbot_alert", "alertbot_digest"})
"""Metadata event types of the messages the sender posts."""


# --------------------------------------------------------------------------- parsing

# Slack wraps links, channel and user references in <…>: <https://x|x>, <#C1|name>, <@U1>.
_SLACK_REF = re.compile(r"<([^<>]*)>")


def _unwrap_ref(m: re.Match[str]) -> str:
    inner = m.group(1)
    target, _, label = inner.partition("|")
    if target[:1] in "#@":
        return target[1:]
    if target.startswith("!subteam^"):
        return target.removeprefix("!subteam^")
    if target.startswith("!"):
        return label or target
    if target.startswith("mailto:") and label:
        return label
    return target


def normalize(text: str) -> str:
    """Slack's escaped command text → what the user typed (references unwrapped)."""
    return html.unescape(_SLACK_REF.sub(_unwrap_ref, text))


def parse_command(text: str) -> list[str]:
    """Slack's command text → words (:func:`bot.chat.textcmd.tokenize` after unwrapping)."""
    return tokenize(normalize(text))


# --------------------------------------------------------------------------- directory


class SlackDirectory:
    """What Slack says about users: admin flags and user-group membership, cached."""

    def __init__(
        self,
        client: AsyncWebClient,
        config: SlackConfig,
        *,
        ttl: float = DIRECTORY_TTL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.config = config
        self.ttl = ttl
        self.clock = clock
        self._admins: dict[str, tuple[float, bool]] = {}
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._handles: tuple[float, dict[str, str]] | None = None

    def _fresh(self, stamp: float) -> bool:
        return self.clock() - stamp < self.ttl

    async def is_admin(self, user: str) -> bool:
        cached = self._admins.get(user)
        if cached and self._fresh(cached[0]):
            return cached[1]
        try:
            resp = await self.client.users_info(user=user)
            info = resp.get("user") or {}
            flag = bool(
                info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")
            )
        except SlackApiError as e:
            # Not cached: a transient failure must not stick for minutes.
            log.warning("users.info for %s failed (%s); treating as not an admin", user, _code(e))
            return False
        self._admins[user] = (self.clock(), flag)
        return flag

    async def _group_id(self, entry: str) -> str | None:
        """A configured group (id ``S…`` or handle ``@team``) → its id."""
        if re.fullmatch(r"S[A-Z0-9]{2,}", entry):
            return entry
        if self._handles is None or not self._fresh(self._handles[0]):
            try:
                resp = await self.client.usergroups_list()
            except SlackApiError as e:
                log.warning("usergroups.list failed (%s)", _code(e))
                return None
            handles = {
                str(g.get("handle", "")).lower(): str(g.get("id", ""))
                for g in resp.get("usergroups") or []
            }
            self._handles = (self.clock(), handles)
        return self._handles[1].get(entry.lstrip("@").lower())

    async def _group_members(self, group_id: str) -> frozenset[str]:
        cached = self._members.get(group_id)
        if cached and self._fresh(cached[0]):
            return cached[1]
        try:
            resp = await self.client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as e:
            log.warning("usergroups.users.list %s failed (%s)", group_id, _code(e))
            return frozenset()
        members = frozenset(str(u) for u in resp.get("users") or [])
        self._members[group_id] = (self.clock(), members)
        return members

    async def groups_of(self, user: str) -> tuple[str, ...]:
        """The configured groups (as written in the config) that ``user`` belongs to."""
        found: list[str] = []
        entries = dict.fromkeys((*self.config.admin_groups, *self.config.manager_groups))
        for entry in entries:
            gid = await self._group_id(entry)
            if gid and user in await self._group_members(gid):
                found.append(entry)
                if gid != entry:
                    found.append(gid)
        return tuple(found)

    async def caller(self, *, user: str, channel: str, team: str) -> Caller:
        admin = await self.is_admin(user)
        return Caller(
            platform="slack",
            user=user,
            channel=channel,
            guild=team,
            # Slack has no per-channel manager permission outside Enterprise Grid;
            # workspace admins manage every channel, others go by the config lists.
            manages_channel=admin,
            is_admin=admin,
            roles=await self.groups_of(user),
        )


# --------------------------------------------------------------------------- commands


class SlackCommands:
    """``/alertbot …`` text → one service call → an ephemeral reply (text, blocks).

    Parsing and dispatch come from the catalogue (:mod:`bot.chat.textcmd`); each
    ``cmd_…`` method calls the service and renders.
    """

    def __init__(
        self, service: Service, *, command: str = "/alertbot", upload: Upload | None = None
    ):
        self.service = service
        self.command = command
        self.upload = upload
        """Shares a file in a channel (``files_upload_v2``); None: files are shown inline."""
        self.dispatch: Dispatcher[Caller, Reply] = Dispatcher(self, command)

    async def handle(self, caller: Caller, text: str) -> Reply:
        """Run one command line; every failure becomes a helpful reply, never an exception."""
        try:
            return await self.run(caller, parse_command(text))
        except CommandError as e:
            return render.error_reply(str(e))
        except Exception:
            log.exception("slack command %r failed", text)
            return render.error_reply(
                "Something went wrong on our side; the error is in the bot's log. Try again later."
            )

    async def run(self, caller: Caller, args: list[str]) -> Reply:
        return await self.dispatch.run(caller, args)

    def help(self) -> Reply:
        return render.help_reply(views.help_view(help_entries()), self.command)

    async def cmd_help(self, caller: Caller, v: Values) -> Reply:
        return self.help()

    async def cmd_subscribe(self, caller: Caller, v: Values) -> Reply:
        sub = await self.service.subscribe_from(caller, v)
        return render.confirm_reply(views.subscribed(sub))

    async def cmd_unsubscribe(self, caller: Caller, v: Values) -> Reply:
        sub = await self.service.unsubscribe_from(caller, v)
        return render.confirm_reply(views.unsubscribed(sub, feeds=v.words("feed")))

    async def cmd_subscriptions(self, caller: Caller, v: Values) -> Reply:
        return render.subscriptions_reply(await self.service.subscriptions(caller), caller.channel)

    async def cmd_lookup(self, caller: Caller, v: Values) -> Reply:
        state = {
            "query": v.text("query").strip(),
            "since": v.optional("since"),
            "watchlist": v.optional("watchlist"),
            "all": v.flag("all"),
        }
        return await self.lookup_page(caller, state, v.number("page"))

    async def lookup_page(self, caller: Caller, state: dict[str, Any], page: int) -> Reply:
        """One page of a lookup; ``state`` as the buttons carry it."""
        query = str(state.get("query") or "")
        watchlist = state.get("watchlist") or None
        found = await self.service.lookup(
            caller,
            query,
            since=state.get("since") or None,
            watchlist=watchlist,
            page=page,
            everything=bool(state.get("all")),
        )
        return render.hits_reply(query or f"watchlist {watchlist}", found, state)

    async def turn_page(self, caller: Caller, value: str) -> Reply:
        """A previous/next button's value → that page (errors become replies)."""
        try:
            state = json.loads(value)
            page = int(state.pop("page"))
            if not isinstance(state, dict):
                raise ValueError(value)
        except (ValueError, KeyError, TypeError, AttributeError):
            return render.error_reply("That button is out of date; run the lookup again.")
        try:
            return await self.lookup_page(caller, state, page)
        except CommandError as e:
            return render.error_reply(str(e))

    async def cmd_feeds_list(self, caller: Caller, v: Values) -> Reply:
        return render.feeds_reply(await self.service.feeds())

    async def cmd_feeds_status(self, caller: Caller, v: Values) -> Reply:
        return render.feeds_reply(await self.service.feeds(), status=True)

    async def cmd_feeds_export(self, caller: Caller, v: Values) -> Reply:
        """The OPML file, uploaded into the channel; shown inline when the upload is
        not possible (no ``files:write`` scope, the app not in the channel) and it fits."""
        body, count = await self.service.feeds_opml()
        problem = "uploads are off"
        if self.upload is not None:
            comment = f"Feeds exported by <@{caller.user}>"
            try:
                await self.upload(caller.channel, views.OPML_FILENAME, body, comment)
                return render.confirm_reply(views.feeds_exported(count, "this channel"))
            except SlackApiError as e:
                problem = _code(e)
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as e:
                problem = str(e) or type(e).__name__
            log.warning("slack: OPML upload to %s failed (%s)", caller.channel, problem)
        reply = render.file_reply(views.feeds_exported(count), body)
        if reply is None:
            raise CommandError(
                f"Could not upload the OPML file here ({problem}), and it is too long to show: "
                "invite the app to this channel (it needs the files:write scope, see "
                "`alertbot slack manifest`), or run `alertbot feeds export --opml`."
            )
        return reply

    async def cmd_feeds_add(self, caller: Caller, v: Values) -> Reply:
        status = await self.service.feed_add(caller, v.text("url"))
        return render.confirm_reply(views.feed_added(status.url, status.title))

    async def cmd_feeds_remove(self, caller: Caller, v: Values) -> Reply:
        await self.service.feed_remove(caller, v.text("url"))
        return render.confirm_reply(views.feed_removed(v.text("url")))

    async def _term(self, v: Values, what: str) -> str:
        """The term named, or the one to guess when it was left out (text only)."""
        given = v.optional("term")
        if given is not None:
            return given
        wl = await self.service.watchlist(v.text("watchlist"))
        names = [t.name for t in wl.terms]
        if len(names) == 1:
            return names[0]
        same = [t for t in names if t.casefold() == wl.name.casefold()]
        if same:
            return same[0]
        choices = ", ".join(names) or "none yet"
        raise UsageError(
            f"{wl.name} has several terms ({choices}): say which one gets the form, "
            f'e.g. watchlist {what} {wl.name} "TERM" "FORM". '
            f"Usage: {self.command} {find(('watchlist', what)).usage()}"
        )

    async def cmd_watchlist_list(self, caller: Caller, v: Values) -> Reply:
        return render.watchlists_reply(await self.service.watchlists())

    async def cmd_watchlist_show(self, caller: Caller, v: Values) -> Reply:
        return render.watchlist_reply(await self.service.watchlist(v.text("name")))

    async def cmd_watchlist_create(self, caller: Caller, v: Values) -> Reply:
        wl = await self.service.watchlist_create(caller, v.text("name"), v.text("description"))
        return render.watchlist_reply(wl, views.watchlist_created(wl.name))

    async def cmd_watchlist_delete(self, caller: Caller, v: Values) -> Reply:
        await self.service.watchlist_delete(caller, v.text("name"))
        return render.confirm_reply(views.watchlist_deleted(v.text("name")))

    async def cmd_watchlist_add_term(self, caller: Caller, v: Values) -> Reply:
        term = v.text("term")
        wl = await self.service.watchlist_add_term(
            caller, v.text("watchlist"), term, v.words("forms"), v.text("case")
        )
        return render.watchlist_reply(wl, views.term_added(wl.name, term))

    async def cmd_watchlist_remove_term(self, caller: Caller, v: Values) -> Reply:
        term = v.text("term")
        wl = await self.service.watchlist_remove_term(caller, v.text("watchlist"), term)
        return render.watchlist_reply(wl, views.term_removed(wl.name, term))

    async def cmd_watchlist_add_form(self, caller: Caller, v: Values) -> Reply:
        term, form = await self._term(v, "add-form"), v.text("form")
        wl = await self.service.watchlist_add_form(caller, v.text("watchlist"), term, form)
        return render.watchlist_reply(wl, views.form_added(wl.name, term, form))

    async def cmd_watchlist_remove_form(self, caller: Caller, v: Values) -> Reply:
        term, form = await self._term(v, "remove-form"), v.text("form")
        wl = await self.service.watchlist_remove_form(caller, v.text("watchlist"), term, form)
        return render.watchlist_reply(wl, views.form_removed(wl.name, term, form))

    async def home(self, team: str) -> dict[str, Any]:
        """The App Home view for a workspace."""
        subs = await self.service.workspace_subscriptions("slack", team)
        return render.home_view(subs, await self.service.watchlists(), await self.service.feeds())


# --------------------------------------------------------------------------- sending

PERMANENT_ERRORS: dict[str, str] = {
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "not_in_channel": "the bot is not in this channel: /invite the app, then resubscribe",
    "is_archived": "the channel is archived",
    "invalid_auth": "the bot token is invalid: check SLACK_BOT_TOKEN",
    "not_authed": "no bot token was sent: set SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "token_expired": "the bot token expired: reinstall the app and update SLACK_BOT_TOKEN",
    "account_inactive": "the bot user was deactivated: reinstall the app",
    "missing_scope": "the app lacks a scope: reinstall it from `alertbot slack manifest`",
    "restricted_action": "the workspace does not let the bot post in this channel",
    "restricted_action_read_only_channel": "the channel is read-only",
    "restricted_action_thread_only_channel": "the channel only allows thread replies",
    "restricted_action_non_threadable_channel": "the channel does not allow this message",
    "ekm_access_denied": "the workspace's encryption keys deny access",
    "team_access_not_granted": "the app is not granted access to this workspace",
    "channel_is_archived": "the channel is archived",
}
# An edit that cannot happen: post the update as a new message instead.
_EDIT_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


def _code(e: SlackApiError) -> str:
    try:
        return str(e.response.get("error") or e.response.status_code)
    except AttributeError:  # a malformed response object
        return "unknown_error"


def delivery_error(e: SlackApiError, channel: str) -> DeliveryError:
    """A Web API failure → what the outbox should do about it."""
    code = _code(e)
    if code in PERMANENT_ERRORS:
        return DeliveryError(f"slack {code}: {PERMANENT_ERRORS[code]}", permanent=True)
    retry_after: float | None = None
    headers = getattr(e.response, "headers", None) or {}
    for k, v in headers.items():
        if k.lower() == "retry-after":
            value = v[0] if isinstance(v, list) else v
            try:
                retry_after = float(value)
            except ValueError:
                retry_after = None
    return DeliveryError(f"slack {code} posting to {channel}", retry_after=retry_after)


def groups_check(client: AsyncWebClient) -> Callable[[str, str], Awaitable[None]]:
    """A ``Service.mention_checks`` entry: the group must be one of the workspace's."""

    async def check(guild: str, mention: str) -> None:
        group = mention_id(mention)
        try:
            resp = await client.usergroups_list()
        except SlackApiError as e:
            code = e.response.get("error", "error") if e.response is not None else "error"
            raise CommandError(
                f"mention: Slack could not list the user groups ({code}); the app needs the "
                "usergroups:read scope"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise CommandError(f"mention: Slack could not be asked ({e!r})") from None
        groups = {str(g.get("id", "")): g for g in resp.get("usergroups") or []}
        if group not in groups:
            raise CommandError(
                f"mention: {group} is not a user group of this workspace; use its id "
                f"(the id in the user group's URL, or usergroups.list) and write group:ID"
            )

    return check


class SlackSender:
    """:class:`bot.chat.base.Sender` for Slack; message references are ``ts`` values."""

    platform: Platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pace: float = PACE_SECONDS,
        workspace_url: str = "",
        bot_user: str = "",
    ):
        self.client = client
        self.pace = pace
        self.workspace_url = workspace_url
        self.bot_user = bot_user
        """The bot's user id (``auth.test``); when set, only its messages are looked at."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, float] = {}

    async def _paced(self, channel: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``call`` at most once per ``pace`` seconds per channel."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            loop = asyncio.get_running_loop()
            wait = self._next.get(channel, 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await call()
            except SlackApiError as e:
                raise delivery_error(e, channel) from e
            except (aiohttp.ClientError, TimeoutError) as e:
                raise DeliveryError(f"slack unreachable: {e!r}") from e
            finally:
                self._next[channel] = loop.time() + self.pace

    async def _post(
        self, channel: str, text: str, blocks: list[render.Block], meta: dict[str, Any]
    ) -> str:
        async def call() -> Any:
            return await self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
                metadata=meta,
            )

        resp = await self._paced(channel, call)
        return str(resp["ts"])

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        # Slack has no send nonce; the key rides in the metadata so a duplicate
        # after a crash between send and commit can at least be recognised.
        text, blocks = render.alert_message(alert)
        return await self._post(channel, text, blocks, render.metadata(alert.cluster_id, key))

    async def post_notice(self, channel: str, text: str, *, key: str) -> str:
        body, blocks = render.notice_message(text)
        meta = {"event_type": "alertbot_notice", "event_payload": {"key": key}}
        return await self._post(channel, body, blocks, meta)

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        text, blocks = render.alert_message(alert)

        async def call() -> Any:
            return await self.client.chat_update(channel=channel, ts=ref, text=text, blocks=blocks)

        try:
            resp = await self._paced(channel, call)
        except DeliveryError as e:
            if isinstance(e.__cause__, SlackApiError) and _code(e.__cause__) in _EDIT_GONE:
                log.info("slack: message %s in %s cannot be edited; posting anew", ref, channel)
                meta = render.metadata(alert.cluster_id, f"edit:{ref}")
                return await self._post(channel, text, blocks, meta)
            raise
        return str(resp.get("ts") or ref)

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        text, blocks = render.digest_message(alerts)
        meta = {
            "event_type": "alertbot_digest",
            "event_payload": {"key": key, "cluster_ids": [a.cluster_id for a in alerts]},
        }
        return await self._post(channel, text, blocks, meta)

    def digest_fit(self, alerts: list[Alert]) -> int:
        return render.digest_fit(alerts)

    def place(self, channel: str) -> str | None:
        return None  # a Slack permalink needs only the workspace URL (auth.test)

    def permalink(self, channel: str, ref: str, place: str | None = None) -> str | None:
        if not self.workspace_url or not re.fullmatch(r"\d+\.\d+", ref):
            return None
        return f"{self.workspace_url.rstrip('/')}/archives/{channel}/p{ref.replace('.', '')}"

    async def find_posted(
        self, channel: str, keys: Collection[str], since: datetime
    ) -> dict[str, str]:
        """Keys found in the metadata of the channel's messages since ``since`` → their ``ts``.

        Reads ``conversations.history`` (newest first, :data:`HISTORY_PAGE` a
        page, at most :data:`HISTORY_PAGES` pages, fewer once every key is
        found), paced like sends. A channel the bot may not read (missing
        ``channels:history``/``groups:history`` scope, a public channel it was
        never invited to, a channel gone) answers ``{}`` with a log line: the
        deliverer then sends, and a send meets the same problem and reports
        it. Temporary failures (``ratelimited`` beyond slack-sdk's retries, the
        network) raise a temporary :class:`DeliveryError`, like a send.
        """
        wanted = set(keys)
        if not wanted:
            return {}
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        found: dict[str, str] = {}
        cursor = ""
        for _ in range(HISTORY_PAGES):

            async def call(cursor: str = cursor) -> Any:
                return await self.client.conversations_history(
                    channel=channel,
                    oldest=f"{since.timestamp():.6f}",
                    inclusive=True,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE,
                    cursor=cursor or None,
                )

            try:
                resp = await self._paced(channel, call)
            except DeliveryError as e:
                if not e.permanent:
                    raise
                log.warning(
                    "slack: cannot read the history of %s (%s); keys %s are taken as unsent",
                    channel,
                    e.reason,
                    sorted(wanted),
                )
                return found
            for message in resp.get("messages") or []:
                key = self._key_of(message)
                if key in wanted and key not in found:
                    found[key] = str(message.get("ts", ""))
            cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor or len(found) == len(wanted):
                break
        else:
            if cursor and len(found) < len(wanted):
                log.info(
                    "slack: stopped reading %s after %d pages; %d of %d keys not found",
                    channel,
                    HISTORY_PAGES,
                    len(wanted) - len(found),
                    len(wanted),
                )
        return found

    def _key_of(self, message: dict[str, Any]) -> str | None:
        """The outbox key of one of our messages (from its metadata), else None."""
        if self.bot_user and message.get("user") != self.bot_user:
            return None
        meta = message.get("metadata") or {}
        if meta.get("event_type") not in EVENT_TYPES:
            return None
        key = (meta.get("event_payload") or {}).get("key")
        return key if isinstance(key, str) else None


# --------------------------------------------------------------------------- the bot


def make_client(token: str, api_url: str = "") -> AsyncWebClient:
    """The Web API client: retries ``ratelimited`` (honouring Retry-After) and connection drops."""
    base = api_url or DEFAULT_API_URL
    return AsyncWebClient(
        token=token or None,
        base_url=base if base.endswith("/") else base + "/",
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            AsyncServerErrorRetryHandler(max_retry_count=1),
        ],
    )


@dataclass(frozen=True, slots=True)
class _Ids:
    team: str = ""
    bot_user: str = ""
    url: str = ""


class _QuietTokenWarning(logging.Filter):
    """Drop bolt's start-up warning that the client's token wins over SLACK_BOT_TOKEN:
    bolt reads that variable itself, and it is the very token our client carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_LOG = logging.getLogger("alertbot.slack.bolt")
_BOLT_LOG.addFilter(_QuietTokenWarning())


class _SocketLog(logging.Handler):
    """Where slack-sdk's Socket Mode client logs: every record goes on at DEBUG
    (under ``bot.chat.slack.socket``), and the last error is kept as the reason
    :class:`~bot.chat.base.Supervisor` gives, once per outage. Without it the
    client logs an ERROR with a traceback every few seconds while Slack is away."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last_error = ""
        self._out = logging.getLogger("bot.chat.slack.socket")

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.last_error = message
        self._out.debug("slack-sdk: %s", message, exc_info=record.exc_info)

    def logger(self) -> logging.Logger:
        # Not registered with logging.getLogger: one per bot, gone with it.
        sdk = logging.Logger("bot.chat.slack.sdk", logging.DEBUG)
        sdk.propagate = False
        sdk.addHandler(self)
        return sdk


class SlackBot:
    """The Slack side of the bot: Web API sender plus the command listener.

    ``start()`` checks the token (``auth.test``) and is all that delivery needs;
    ``serve()`` listens for commands (Socket Mode with an app token, else HTTP
    with the signing secret) until cancelled; ``close()`` stops listening.
    """

    def __init__(
        self,
        config: Config,
        service: Service,
        *,
        pace: float = PACE_SECONDS,
        # All interfaces by default: in HTTP mode Slack must reach the endpoint from outside.
        host: str = "0.0.0.0",
        reconnect_base: float = RECONNECT_BASE,
        reconnect_cap: float = RECONNECT_CAP,
    ):
        self.config = config
        self.service = service
        self.host = host
        self.connection = Supervisor("Slack socket", base=reconnect_base, cap=reconnect_cap)
        self.socket_grace = SOCKET_GRACE
        self.socket_ping = SOCKET_PING
        self.socket_connect_timeout = SOCKET_CONNECT_TIMEOUT
        secrets = config.secrets
        if not secrets.slack_bot_token:
            raise ValueError(
                "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) "
                "from the app's OAuth & Permissions page into the environment"
            )
        self.client = make_client(secrets.slack_bot_token, secrets.slack_api_url)
        self.sender = SlackSender(self.client, pace=pace)
        self.directory = SlackDirectory(self.client, slack_config.of(config))
        if service is not None:  # tests build a bot for delivery only
            service.mention_checks["slack"] = groups_check(self.client)
        self.commands = SlackCommands(
            service, command=slack_config.of(config).command, upload=self.upload
        )
        self.ids = _Ids()
        self.app = self._build_app()
        self.http_port: int | None = None
        self._runner: web.AppRunner | None = None
        self._socket: Any = None

    async def upload(self, channel: str, filename: str, content: str, comment: str) -> None:
        """Share a text file in ``channel`` (slack-sdk's ``files_upload_v2``:
        ``files.getUploadURLExternal``, the upload, ``files.completeUploadExternal``)."""
        await self.client.files_upload_v2(
            channel=channel,
            filename=filename,
            title=filename,
            content=content,
            initial_comment=comment,
        )

    # ----------------------------------------------------------------- bolt app

    def _build_app(self) -> AsyncApp:
        app = AsyncApp(
            client=self.client,
            signing_secret=self.config.secrets.slack_signing_secret,
            name="alertbot",
            logger=_BOLT_LOG,
        )
        app.command(slack_config.of(self.config).command)(self._on_command)
        app.event("app_home_opened")(self._on_home_opened)
        for action in render.LOOKUP_ACTIONS:
            app.action(action)(self._on_lookup_page)
        return app

    async def _on_lookup_page(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Any
    ) -> None:
        """A lookup answer's previous/next button: the same private message, next page."""
        await ack()
        actions = body.get("actions") or [{}]
        try:
            caller = await self.directory.caller(
                user=str((body.get("user") or {}).get("id", "")),
                channel=str((body.get("channel") or {}).get("id", "")),
                team=str((body.get("team") or {}).get("id", "")),
            )
        except Exception:
            log.exception("slack: could not identify the caller")
            text, blocks = render.error_reply("Could not check who you are with Slack; try again.")
        else:
            text, blocks = await self.commands.turn_page(caller, str(actions[0].get("value", "")))
        try:
            await respond(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=True
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("slack: page not delivered to %s: %r", body.get("user"), e)

    async def _on_command(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Any
    ) -> None:
        await ack()  # within Slack's 3 s; the work happens after
        text, blocks = await self.run_command(body)
        try:
            await respond(text=text, blocks=blocks, response_type="ephemeral")
        except (aiohttp.ClientError, TimeoutError) as e:
            # response_url lives 30 minutes; a reply that cannot arrive is only logged.
            log.warning("slack: reply to %s not delivered: %r", body.get("user_id"), e)

    async def run_command(self, body: dict[str, Any]) -> Reply:
        """One slash-command payload → the reply (also used by tests and Socket Mode)."""
        try:
            caller = await self.directory.caller(
                user=str(body.get("user_id", "")),
                channel=str(body.get("channel_id", "")),
                team=str(body.get("team_id", "")),
            )
        except Exception:
            log.exception("slack: could not identify the caller")
            return render.error_reply("Could not check who you are with Slack; try again.")
        return await self.commands.handle(caller, str(body.get("text", "")))

    async def _on_home_opened(self, event: dict[str, Any], context: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        team = str(getattr(context, "team_id", None) or self.ids.team)
        try:
            view = await self.commands.home(team)
            await self.client.views_publish(user_id=str(event["user"]), view=view)
        except (SlackApiError, CommandError) as e:
            log.warning("slack: App Home for %s not published: %s", event.get("user"), e)

    # ----------------------------------------------------------------- lifetime

    async def start(self) -> None:
        """Check the token and learn the workspace (enough for sending)."""
        try:
            resp = await self.client.auth_test()
        except SlackApiError as e:
            raise delivery_error(e, "auth.test") from e
        self.ids = _Ids(
            team=str(resp.get("team_id", "")),
            bot_user=str(resp.get("user_id", "")),
            url=str(resp.get("url", "")),
        )
        self.sender.workspace_url = self.ids.url
        self.sender.bot_user = self.ids.bot_user
        log.info("slack: signed in as %s in %s", resp.get("user"), resp.get("team"))

    async def start_http(self, host: str | None = None, port: int | None = None) -> int:
        """Serve the HTTP endpoint (bolt's aiohttp adapter); return the bound port."""
        path = slack_config.of(self.config).http_path

        async def handle(request: web.Request) -> web.Response:
            # bolt's signature check calls int() on this header and answers a
            # non-numeric one with a 500; an unsigned request is a 401.
            stamp = request.headers.get("X-Slack-Request-Timestamp", "")
            if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
                log.warning("slack: request without a valid timestamp refused (401)")
                return web.Response(status=401, text="invalid request timestamp")
            bolt_resp = await self.app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(bolt_resp)

        webapp = web.Application()
        webapp.router.add_post(path, handle)
        self._runner = web.AppRunner(webapp, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host or self.host,
            slack_config.of(self.config).http_port if port is None else port,
        )
        await site.start()
        self.http_port = int(self._runner.addresses[0][1])
        log.info("slack: HTTP mode on port %s%s", self.http_port, path)
        return self.http_port

    async def serve(self) -> None:
        """Listen for commands until cancelled."""
        secrets = self.config.secrets
        if secrets.slack_app_token:
            try:
                await self._hold_socket(secrets.slack_app_token)
            finally:
                self.connection.stopped()
        elif secrets.slack_signing_secret:
            await self.start_http()
        else:
            log.warning(
                "slack: neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set; "
                "alerts are sent but /alertbot commands are not received"
            )
        await asyncio.Event().wait()  # until cancelled; close() cleans up

    async def _hold_socket(self, app_token: str) -> None:
        """Keep one Socket Mode connection up until cancelled; never give up.

        slack-sdk reconnects by itself after a ``disconnect`` message or a
        closed socket, but its ``connect()`` retries every ping interval for
        ever, without back-off, and once it has a URL it keeps trying that one
        (an expired URL never works again). So each try here is bounded: a new
        client, a fresh URL, the socket; while it runs, a look every
        :data:`SOCKET_CHECK` s counts slack-sdk's own reconnects, and a socket
        that stays down past :attr:`socket_grace` is torn down and tried again
        with capped, jittered back-off (``self.connection``).
        """
        # Imported here: Socket Mode pulls in its websocket client only when used.
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        api = self.config.secrets.slack_api_url or DEFAULT_API_URL
        sdk_log = _SocketLog()
        while True:
            sdk_log.last_error = ""
            # slack-sdk's Socket Mode client is untyped: Any keeps mypy strict elsewhere.
            handler: Any = AsyncSocketModeHandler(
                self.app,
                app_token,
                logger=sdk_log.logger(),
                web_client=AsyncWebClient(base_url=api if api.endswith("/") else api + "/"),
                ping_interval=self.socket_ping,
            )
            self._socket = handler
            client: Any = handler.client
            try:
                try:
                    async with asyncio.timeout(self.socket_connect_timeout):
                        client.wss_uri = await client.issue_new_wss_url()
                        await client.connect()
                except (SlackApiError, aiohttp.ClientError, OSError, TimeoutError) as e:
                    reason = str(e).strip() or type(e).__name__
                    if isinstance(e, TimeoutError) and sdk_log.last_error:
                        reason = f"no socket within {self.socket_connect_timeout:.0f} s: "
                        reason += sdk_log.last_error.splitlines()[0]
                    await asyncio.sleep(self.connection.failed(reason))
                    continue
                self.connection.connected()
                log.info("slack: Socket Mode connected")
                await self._watch_socket(client)
            finally:
                self._socket = None
                await handler.close_async()

    async def _watch_socket(self, client: Any) -> None:
        """Return when the socket has been down longer than :attr:`socket_grace`."""
        session = client.current_session
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SOCKET_CHECK)
            if client.current_session is not session and await client.is_connected():
                # slack-sdk opened a new socket (after ``disconnect`` or a close).
                # Its own reconnect is at once: the back-off only decides whether
                # this counts as a failed try (a socket that lasted under STABLE_AFTER).
                session = client.current_session
                self.connection.dropped("Slack closed the socket or asked to reconnect")
                self.connection.connected()
                down_since = None
                continue
            if await client.is_connected():
                down_since = None
                continue
            if down_since is None:
                down_since = loop.time()
            elif loop.time() - down_since >= self.socket_grace:
                await asyncio.sleep(
                    self.connection.dropped(
                        f"the socket stayed down for {self.socket_grace:.0f} s; starting afresh"
                    )
                )
                return

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
