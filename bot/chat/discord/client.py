"""Discord: slash commands onto the service, alerts as embeds over REST.

Three parts, one client:

* :class:`DiscordSender` delivers alerts with discord.py's REST layer only
  (``client.http``), so ``alertbot run --once`` works from cron without the
  gateway. Every message goes out with no allowed mentions and, for posts, a
  ``nonce`` derived from the outbox key with ``enforce_nonce`` so a retried post
  is not doubled. Discord forgets nonces after a few minutes and never returns
  them when messages are read, so posts also carry a tag of the key in the
  embed footer (:func:`~bot.chat.discord.render.ref_tag`), which
  :meth:`DiscordSender.find_posted` looks for after a crash. Failures become
  :class:`~bot.chat.base.DeliveryError`, permanent when retrying cannot help
  (unknown channel, missing access or permission, revoked token).
* a :class:`discord.app_commands.CommandTree` generated from the command
  catalogue (:mod:`bot.commands`: names, descriptions, option types, bounds,
  choices, autocomplete by kind); each command builds a
  :class:`~bot.service.Caller` from the member's permissions in that channel
  and runs its handler in :class:`DiscordCommands`, which calls one service
  method and renders the result (:mod:`bot.chat.discord.render`). Work that takes longer
  than :data:`DEFER_AFTER` is deferred so Discord's 3-second window holds.
* :class:`DiscordBot`, the lifetime the app drives: ``start()`` (REST login),
  ``sender``, ``serve()`` (sync commands when their hash changed, then the
  gateway), ``close()``.

``ALERTBOT_DISCORD_API_URL`` points discord.py's REST base (process-global
``discord.http.Route.BASE``) at a proxy or a loopback fake, and
``ALERTBOT_DISCORD_GATEWAY_URL`` its gateway (process-global
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import io
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket, ReconnectWebSocket
from discord.http import Route, handle_message_parameters

from bot.chat.base import RECONNECT_BASE, RECONNECT_CAP, DeliveryError, Supervisor
from bot.chat.discord import config as discord_config
from bot.chat.discord import render
from bot.commands import (
    CATALOGUE,
    GROUPS,
    Arg,
    Command,
    CommandError,
    Value,
    Values,
    handler_name,
    help_entries,
    missing_handlers,
)
from bot.config import Config
from bot.core import views
from bot.core.lookup import LookupPage
from bot.core.models import Alert, Platform
from bot.core.subscription import mention_id
from bot.service import Caller

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"
DEFER_AFTER = 2.0
"""Seconds a command may work before we defer; Discord drops answers after 3 s."""
MAX_RATELIMIT_WAIT = 30.0
"""discord.py waits out shorter 429s itself; longer ones come back to the outbox
(30 s is the smallest value discord.py accepts)."""
NONCE_CHARS = 25
"""Discord's maximum nonce length."""
HISTORY_PAGE = 100
"""Messages per ``GET /channels/{id}/messages`` (Discord's maximum)."""
HISTORY_PAGES = 5
"""At most this many pages are read per :meth:`DiscordSender.find_posted` call."""
CONNECT_TIMEOUT = 60.0
"""Seconds one try at the gateway may take (socket, HELLO, IDENTIFY/RESUME sent)."""
IDENTIFY_WAIT = (1.0, 5.0)
"""Before every IDENTIFY but the first (after an invalid session, op 9), wait a
random time in this range, as Discord asks."""
FATAL_CLOSES = {
    4004: "Discord rejected DISCORD_TOKEN (4004 Authentication failed): reset the token "
    "in the Developer Portal → your application → Bot",
    4010: "Discord refused the shard (4010)",
    4011: "Discord requires sharding for this bot (4011)",
    4012: "Discord refused the gateway version (4012)",
    4013: "Discord refused the intents (4013)",
    4014: "Discord refused a privileged intent (4014): the bot asks for none, check the "
    "Developer Portal → Bot → Privileged Gateway Intents",
}
"""Close codes after which Discord will not take the same IDENTIFY: retried only at
the back-off cap, in case the operator fixes it meanwhile."""
META_KEY = "discord.commands.sha256"
SNOWFLAKE = re.compile(r"^\d{15,21}$")

# Discord JSON error codes we map to a permanent failure, with what to do about it.
_PERMANENT_CODES = {
    10003: "the channel no longer exists (Unknown Channel)",
    10004: "the server no longer has the bot (Unknown Guild)",
    50001: "the bot cannot see the channel (Missing Access): add it to the channel",
    50013: (
        "the bot lacks permission to post there (Missing Permissions): "
        "grant View Channel, Send Messages and Embed Links"
    ),
    50083: "the thread is archived",
    50024: "that kind of channel cannot hold messages",
}
UNKNOWN_MESSAGE = 10008


def api_base(url: str) -> str:
    """The REST base for ``ALERTBOT_DISCORD_API_URL``; ``/api/v10`` is added when missing."""
    url = url.strip().rstrip("/")
    if not url:
        return DEFAULT_API_BASE
    return url if re.search(r"/api/v\d+$", url) else url + "/api/v10"


def use_api_base(url: str) -> None:
    """Point discord.py's REST layer at ``url`` (process-global; call before login)."""
    Route.BASE = api_base(url)


def use_gateway(url: str) -> None:
    """Point discord.py's gateway at ``url`` (process-global; call before connecting).

    Empty means Discord's own. Only the first connection and fresh sessions use
    it: resumes go to the ``resume_gateway_url`` the gateway sent in READY, so a
    proxy should rewrite that too.
    """
    url = url.strip() or DEFAULT_GATEWAY
    parsed = yarl.URL(url)
    if parsed.scheme not in ("ws", "wss") or not parsed.host:
        raise RuntimeError(
            f"ALERTBOT_DISCORD_GATEWAY_URL must be a ws:// or wss:// URL, not {url!r}"
        )
    DiscordWebSocket.DEFAULT_GATEWAY = parsed


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def nonce_for(key: str) -> str:
    """A Discord nonce (≤25 chars) that is stable for one outbox key."""
    return hashlib.sha256(key.encode()).hexdigest()[:NONCE_CHARS]


def _snowflake(channel: str) -> int:
    if not SNOWFLAKE.match(channel.strip()):
        raise DeliveryError(
            f"{channel!r} is not a Discord channel id (enable Developer Mode, then "
            "right-click the channel → Copy Channel ID)",
            permanent=True,
        )
    return int(channel)


def delivery_error(exc: BaseException, channel: str) -> DeliveryError:
    """Translate a discord.py/aiohttp failure into the outbox's terms."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(
            f"rate limited on channel {channel} for {exc.retry_after:.0f}s",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, discord.HTTPException):
        code, status = exc.code, exc.status
        if code in _PERMANENT_CODES:
            return DeliveryError(_PERMANENT_CODES[code], permanent=True)
        if status == 401:
            return DeliveryError(
                "Discord rejected the token (401): reset it in the Developer Portal → Bot "
                "and update DISCORD_TOKEN",
                permanent=True,
            )
        if status in (403, 404):
            return DeliveryError(
                f"Discord answered {status} {exc.text or ''}".strip(), permanent=True
            )
        if status == 429:
            retry = _retry_after(exc)
            return DeliveryError(f"rate limited on channel {channel}", retry_after=retry)
        # 5xx after discord.py's own retries, or a payload Discord refused (a bug
        # on our side, logged loudly; the row backs off instead of pausing the
        # channel, which did nothing wrong).
        if status < 500:
            log.error("Discord refused a message for %s: %s %s", channel, status, exc.text)
        return DeliveryError(f"Discord answered {status} for channel {channel}: {exc.text}")
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return DeliveryError(f"cannot reach Discord: {exc!r}")
    return DeliveryError(f"unexpected error sending to Discord: {exc!r}")


def _retry_after(exc: discord.HTTPException) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None


def _embeds(dicts: Sequence[render.Embed]) -> list[discord.Embed]:
    return [discord.Embed.from_dict(d) for d in dicts]


NO_MENTIONS = discord.AllowedMentions.none()


def only_roles(ids: Sequence[int]) -> discord.AllowedMentions:
    """Mentions that may ping exactly these roles: never @everyone, users or ``parse``."""
    if not ids:
        return NO_MENTIONS
    roles = [discord.Object(id=i) for i in ids]
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def roles_check(http: discord.http.HTTPClient) -> Callable[[str, str], Awaitable[None]]:
    """A ``Service.mention_checks`` entry: the role must be one of the guild's, and not
    @everyone (whose id is the guild's)."""

    async def check(guild: str, mention: str) -> None:
        role = mention_id(mention)
        if not guild.isdigit():
            raise CommandError(
                "mention: a role can only be checked in a server: run subscribe in the "
                "server's channel (or pass the server id as --guild)"
            )
        if role == guild:
            raise CommandError("mention: that id is @everyone; name a role (never @everyone)")
        try:
            roles = await http.get_roles(int(guild))
        except discord.NotFound:
            raise CommandError(
                f"mention: the bot cannot see server {guild}: invite it there first"
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as e:
            raise CommandError(
                f"mention: Discord could not list the server's roles ({e})"
            ) from None
        if role not in {str(r["id"]) for r in roles}:
            raise CommandError(
                f"mention: {role} is not a role of this server; copy the role's id "
                f"(Server Settings → Roles → ⋯ → Copy Role ID, Developer Mode on) and write role:ID"
            )

    return check


async def guild_of_channel(http: discord.http.HTTPClient, channel: str) -> str:
    """The guild id of a Discord channel ("" when Discord will not say)."""
    try:
        data = await http.get_channel(int(channel))
    except (ValueError, discord.HTTPException, aiohttp.ClientError, TimeoutError):
        return ""
    return str(data.get("guild_id") or "")


class DiscordSender:
    """The :class:`~bot.chat.base.Sender` for Discord, over REST only."""

    platform: Platform = "discord"

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self._guild_of: dict[str, str] = {}
        """Channel → guild id, learned on the first post to a channel (the deliverer
        stores it, see :meth:`place`), for permalinks."""

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        return await self._post(channel, [render.alert_embed(alert, key=key)], key, alert.mentions)

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        embeds = render.digest_embeds(alerts, key=key)
        return await self._post(channel, embeds, key, views.mentions_of(alerts))

    def digest_fit(self, alerts: list[Alert]) -> int:
        return render.digest_fit(alerts)

    async def post_notice(self, channel: str, text: str, *, key: str) -> str:
        cid = _snowflake(channel)
        params = handle_message_parameters(
            content=render.notice_content(text), allowed_mentions=NO_MENTIONS, nonce=nonce_for(key)
        )
        try:
            data = await self.client.http.send_message(cid, params=params)
        except Exception as e:
            raise delivery_error(e, channel) from e
        return str(data["id"])

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        cid = _snowflake(channel)
        params = handle_message_parameters(
            embeds=_embeds([render.alert_embed(alert)]), allowed_mentions=NO_MENTIONS
        )
        try:
            data = await self.client.http.edit_message(cid, int(ref), params=params)
        except discord.NotFound as e:
            if e.code == UNKNOWN_MESSAGE:
                # Someone deleted the alert: respect that rather than post it again.
                log.info("alert %s in channel %s was deleted; not re-posting", ref, channel)
                return ref
            raise delivery_error(e, channel) from e
        except Exception as e:
            raise delivery_error(e, channel) from e
        return str(data["id"])

    async def _post(
        self, channel: str, embeds: list[render.Embed], key: str, mentions: Sequence[str] = ()
    ) -> str:
        cid = _snowflake(channel)
        if mentions:
            # The guild's own id is its @everyone role: never ping it, whatever the
            # config says (chat and the CLI refuse it; a config is read offline).
            await self._learn_guild(channel, cid)
            everyone = f"role:{self._guild_of.get(channel, '')}"
            mentions = [m for m in mentions if m != everyone]
        content = render.mention_content(mentions)
        problems = render.check_limits(embeds, content)
        if problems:  # the renderer guarantees this; a miss must not reach Discord
            raise DeliveryError("rendered message breaks Discord limits: " + "; ".join(problems))
        params = handle_message_parameters(
            content=content or discord.utils.MISSING,
            embeds=_embeds(embeds),
            allowed_mentions=only_roles(render.role_ids(mentions)),
            nonce=nonce_for(key),
        )
        try:
            data = await self.client.http.send_message(cid, params=params)
        except Exception as e:
            raise delivery_error(e, channel) from e
        await self._learn_guild(channel, cid)
        return str(data["id"])

    async def _learn_guild(self, channel: str, cid: int) -> None:
        if channel in self._guild_of:
            return
        cached = self.client.get_channel(cid)
        guild = getattr(cached, "guild", None)
        if guild is not None:
            self._guild_of[channel] = str(guild.id)
            return
        try:
            data = await self.client.http.get_channel(cid)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError):
            return  # only permalinks need it
        gid = data.get("guild_id")
        self._guild_of[channel] = str(gid) if gid else "@me"

    async def find_posted(
        self, channel: str, keys: Collection[str], since: datetime
    ) -> dict[str, str]:
        """Keys whose footer tag is on one of the bot's messages since ``since`` → message id.

        Reads ``GET /channels/{id}/messages?after=…`` (the oldest messages after
        ``since`` first, :data:`HISTORY_PAGE` a page, at most
        :data:`HISTORY_PAGES` pages, fewer once every key is found). Only
        messages by the bot user count (any author while it is unknown). A
        channel the bot may not read (403/404, not a channel id) answers ``{}``
        with a log line; without Read Message History Discord answers no
        messages at all, so nothing is found. Other failures raise a
        :class:`DeliveryError` as a send would.
        """
        by_tag: dict[str, str] = {}
        clashes: set[str] = set()
        for key in keys:
            tag = render.ref_tag(key)
            if tag in by_tag and by_tag[tag] != key:
                clashes.add(tag)  # two keys, one tag: neither can be told apart
            by_tag[tag] = key
        for tag in clashes:
            log.warning("keys %s share the tag %s; not looked for", sorted(keys), tag)
            del by_tag[tag]
        if not by_tag:
            return {}
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        after = max(0, discord.utils.time_snowflake(since) - 1)  # Discord's after is exclusive
        me = str(self.client.user.id) if self.client.user is not None else None
        found: dict[str, str] = {}
        for _ in range(HISTORY_PAGES):
            try:
                page = await self.client.http.logs_from(
                    _snowflake(channel), HISTORY_PAGE, after=after
                )
            except Exception as e:
                err = delivery_error(e, channel)
                if not err.permanent:
                    raise err from e
                log.warning(
                    "cannot read the messages of channel %s (%s); keys %s are taken as unsent",
                    channel,
                    err.reason,
                    sorted(by_tag.values()),
                )
                return found
            for msg in page:
                if me is not None and str((msg.get("author") or {}).get("id")) != me:
                    continue
                for embed in msg.get("embeds") or []:
                    seen = render.footer_tag(dict(embed))
                    hit = by_tag.get(seen) if seen is not None else None
                    if hit is not None and hit not in found:
                        found[hit] = str(msg["id"])
            if len(page) < HISTORY_PAGE or len(found) == len(by_tag):
                break
            after = max(int(m["id"]) for m in page)
        return found

    def place(self, channel: str) -> str | None:
        return self._guild_of.get(channel)

    def permalink(self, channel: str, ref: str, place: str | None = None) -> str | None:
        guild = place or self._guild_of.get(channel)
        if guild is None:
            cached = self.client.get_channel(int(channel)) if channel.isdigit() else None
            g = getattr(cached, "guild", None)
            if g is None:
                return None
            guild = str(g.id)
        return f"https://discord.com/channels/{guild}/{channel}/{ref}"


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Reply:
    content: str = ""
    embeds: list[render.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None
    """Buttons under the answer (lookup's previous/next)."""
    file: tuple[str, bytes] | None = None
    """An attachment: (file name, contents)."""


PAGER_TIMEOUT = 600.0
"""Seconds a lookup's previous/next buttons keep working (the answer is private and
its interaction token lasts 15 minutes)."""


class LookupPager(discord.ui.View):
    """Previous/next buttons under a lookup answer; only the asker can turn pages."""

    def __init__(
        self,
        svc: Service,
        caller: Caller,
        query: str,
        since: str | None,
        watchlist: str | None,
        everything: bool,
    ) -> None:
        super().__init__(timeout=PAGER_TIMEOUT)
        self.svc = svc
        self.caller = caller
        self.query = query
        self.since = since
        self.watchlist = watchlist
        self.everything = everything
        self.page = 1

    async def fetch(self, page: int) -> LookupPage:
        found = await self.svc.lookup(
            self.caller,
            self.query,
            since=self.since,
            watchlist=self.watchlist,
            page=page,
            everything=self.everything,
        )
        self.page = found.page
        self.previous.disabled = not found.has_previous
        self.next.disabled = not found.has_next
        return found

    def embed(self, found: LookupPage) -> render.Embed:
        return render.lookup_embed(self.query, found, since=self.since)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return str(interaction.user.id) == self.caller.user

    async def _turn(self, interaction: discord.Interaction[Any], step: int) -> None:
        try:
            found = await self.fetch(self.page + step)
        except CommandError as e:
            await _send_error(interaction, str(e), public_defer=False)
            return
        await interaction.response.edit_message(
            embeds=_embeds([self.embed(found)]), view=self, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary, emoji="◀️")
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[LookupPager]
    ) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary, emoji="▶️")
    async def next(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[LookupPager]
    ) -> None:
        await self._turn(interaction, 1)


def caller_from(interaction: discord.Interaction[Any]) -> Caller:
    """Who asks, from Discord's own view: resolved channel permissions and role ids."""
    perms = interaction.permissions
    user = interaction.user
    roles: tuple[str, ...] = ()
    if isinstance(user, discord.Member):
        # ``Member.roles`` resolves ids through the guild's role cache, which is
        # empty without the gateway's guild data; the ids themselves are in the
        # interaction payload.
        roles = tuple(str(r) for r in user._roles)
    return Caller(
        platform="discord",
        user=str(user.id),
        channel=str(interaction.channel_id or ""),
        guild=str(interaction.guild_id or ""),
        manages_channel=perms.manage_channels or perms.administrator,
        is_admin=perms.manage_guild or perms.administrator,
        roles=roles,
    )


class AlertTree(app_commands.CommandTree[discord.Client]):
    """The command tree; unexpected errors answer the asker and are logged."""

    async def on_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            message = (
                "This command is out of date in this server. An admin can run "
                "`alertbot discord sync` to refresh the commands."
            )
        elif isinstance(error, app_commands.TransformerError):
            message = f"Could not read {error.value!r}: {error}"
        else:
            log.error("command %s failed", interaction.command, exc_info=error)
            message = "Something went wrong on our side; the error was logged."
        await _send_error(interaction, message, public_defer=False)


async def _send_error(
    interaction: discord.Interaction[Any], message: str, *, public_defer: bool
) -> None:
    content = render.error_text(message)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                content, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if public_defer:
            # A public "thinking…" cannot turn private: remove it, answer privately.
            await interaction.delete_original_response()
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.edit_original_response(content=content, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not tell the user about an error: %s", message)


@dataclass(frozen=True, slots=True)
class SyncResult:
    target: str
    """"global" or the guild id."""
    pushed: bool
    commands: int
    sha256: str


def command_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    """The JSON Discord receives on sync (global commands of the tree)."""
    return [cmd.to_dict(tree) for cmd in tree.get_commands()]


def payload_hash(payload: list[dict[str, Any]]) -> str:
    canon = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


class GatewayClient(discord.Client):
    """discord.py's client, waiting 1–5 s at random before a new IDENTIFY (as
    Discord advises after an invalid session) instead of a fixed 5 s."""

    identify_wait: tuple[float, float] = IDENTIFY_WAIT

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            low, high = self.identify_wait
            await asyncio.sleep(low + (high - low) * random.random())


class DiscordBot:
    """The Discord side of the app: REST login, sender, commands, gateway.

    ``service`` may be None for offline uses (printing the command tree).
    """

    platform: Platform = "discord"

    def __init__(
        self,
        config: Config,
        service: Service | None,
        *,
        defer_after: float = DEFER_AFTER,
        reconnect_base: float = RECONNECT_BASE,
        reconnect_cap: float = RECONNECT_CAP,
        identify_wait: tuple[float, float] = IDENTIFY_WAIT,
    ) -> None:
        self.config = config
        self.service = service
        self.defer_after = defer_after
        self.connection = Supervisor("Discord gateway", base=reconnect_base, cap=reconnect_cap)
        # No privileged intents: slash commands arrive as interactions, and the
        # guilds intent only keeps channels cached for permalinks.
        intents = discord.Intents.none()
        intents.guilds = True
        self.client = GatewayClient(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
        )
        self.client.identify_wait = identify_wait
        self.commands = DiscordCommands(self)
        if missing := missing_handlers(self.commands):
            raise TypeError(f"DiscordCommands has no handler for: {', '.join(missing)}")
        self.tree = AlertTree(self.client)
        _add_commands(self.tree, self)
        self.sender = DiscordSender(self.client)
        if service is not None:
            service.mention_checks["discord"] = roles_check(self.client.http)

    async def channel_guild(self, channel: str) -> str:
        """The guild id of a channel, asked of Discord ("" when it will not say)."""
        return await guild_of_channel(self.client.http, channel)

    @property
    def svc(self) -> Service:
        if self.service is None:
            raise RuntimeError("DiscordBot was built without a service")
        return self.service

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Log in over REST (enough to send); the gateway waits for :meth:`serve`."""
        use_api_base(self.config.secrets.discord_api_url)
        use_gateway(self.config.secrets.discord_gateway_url)
        token = self.config.secrets.discord_token
        if not token:
            raise RuntimeError("DISCORD_TOKEN is not set")
        try:
            await self.client.login(token)
        except BaseException as e:
            # discord.py opens its HTTP session before asking; a failed login leaves
            # it open, and the next try opens another.
            with contextlib.suppress(Exception):
                await self.client.http.close()
            # Closing the session closed its connector too: let the next try build one.
            self.client.http.connector = discord.utils.MISSING
            if not isinstance(e, discord.LoginFailure):
                raise
            raise RuntimeError(
                "Discord rejected DISCORD_TOKEN: copy the token from the Developer Portal → "
                "your application → Bot → Reset Token"
            ) from None

    async def serve(self) -> None:
        """Sync the commands if they changed, then hold the gateway until cancelled."""
        try:
            for result in await self.sync_commands():
                if result.pushed:
                    log.info("synced %d commands to %s", result.commands, result.target)
        except (discord.HTTPException, aiohttp.ClientError) as e:
            log.warning("command sync failed (%s); old commands stay until the next start", e)
        try:
            await self._hold_gateway()
        finally:
            self.connection.stopped()
            ws = self.client.ws
            if ws is not None and ws.open:
                # A clean close ends the session: whoever listens next IDENTIFYs afresh.
                with contextlib.suppress(Exception):
                    await ws.close(code=1000)

    async def _hold_gateway(self) -> None:
        """Keep one gateway session up until cancelled; never give up.

        Our own loop rather than ``Client.connect``: that one dies when the very
        first connection fails (it reads ``self.ws.sequence`` of a socket that
        never was) and closes the whole client, REST included, on a close code
        it will not retry. Here a failed try waits with capped, jittered
        back-off (``self.connection``); a drop that Discord lets us resume
        (close 4000/1006, op 7, op 9 with ``d: true``) RESUMEs at once; an
        invalid session (op 9) IDENTIFYs afresh after 1–5 s
        (:class:`GatewayClient`). REST delivery is untouched throughout.
        """
        client = self.client
        session: str | None = None
        sequence: int | None = None
        resume_url: yarl.URL | None = None
        first = True
        while True:
            resume = session is not None
            live: DiscordWebSocket | None = None
            try:
                live = await asyncio.wait_for(
                    DiscordWebSocket.from_client(
                        client,
                        initial=first,
                        gateway=resume_url if resume else None,
                        shard_id=None,
                        session=session,
                        sequence=sequence,
                        resume=resume,
                    ),
                    timeout=CONNECT_TIMEOUT,
                )
                client.ws = live
                first = False
                self.connection.connected(resumed=resume)
                while True:
                    await live.poll_event()
            except ReconnectWebSocket as e:
                if not e.resume:  # the IDENTIFY waits in GatewayClient.before_identify_hook
                    session = sequence = resume_url = None
                    await asyncio.sleep(
                        self.connection.dropped("the gateway invalidated the session")
                    )
                    continue
                if live is None:  # closed before HELLO: a failed try, not a drop
                    await asyncio.sleep(self.connection.failed("the gateway closed at once"))
                    continue
                if live.session_id is not None:
                    session, sequence, resume_url = live.session_id, live.sequence, live.gateway
                await asyncio.sleep(
                    self.connection.dropped("the gateway closed or asked for a reconnect")
                )
            except discord.ConnectionClosed as e:
                reason = FATAL_CLOSES.get(e.code or 0)
                if reason is None:  # e.g. 1000 from a gateway that shuts down
                    await asyncio.sleep(self.connection.failed(f"closed with {e.code}"))
                    continue
                log.error("Discord gateway: %s; slash commands are not received", reason)
                session = sequence = resume_url = None
                await asyncio.sleep(self.connection.failed(reason, at_least=self.connection.cap))
            except (
                OSError,
                TimeoutError,
                aiohttp.ClientError,
                discord.GatewayNotFound,
                discord.HTTPException,
            ) as e:
                if live is not None:
                    if live.session_id is not None:
                        session, sequence, resume_url = live.session_id, live.sequence, live.gateway
                    # Stops its heartbeat thread; 4000 keeps the session resumable.
                    with contextlib.suppress(Exception):
                        await live.close(code=4000)
                await asyncio.sleep(self.connection.failed(_describe(e)))

    async def close(self) -> None:
        await self.client.close()

    # ------------------------------------------------------------------ sync

    def _targets(self, guild: str | None) -> list[str]:
        if guild:
            return [guild]
        return list(discord_config.of(self.config).guilds) or ["global"]

    async def sync_commands(
        self, *, guild: str | None = None, force: bool = False
    ) -> list[SyncResult]:
        """Push the tree where its hash differs from the stored one (or always, ``force``).

        Targets: ``guild``, else the config's ``discord.guilds``, else global.
        The hash is stored per application and target in the store's meta table.
        """
        app_id = self.client.application_id
        if app_id is None:
            raise RuntimeError("log in (start) before syncing commands")
        payload = command_payload(self.tree)
        digest = payload_hash(payload)
        store = self.svc.store
        results = []
        for target in self._targets(guild):
            key = f"{META_KEY}:{app_id}:{target}"
            if not force and await store.get_meta(key) == digest:
                results.append(SyncResult(target, False, len(payload), digest))
                continue
            if target == "global":
                await self.client.http.bulk_upsert_global_commands(app_id, payload=payload)
            else:
                await self.client.http.bulk_upsert_guild_commands(
                    app_id, int(target), payload=payload
                )
            await store.set_meta(key, digest)
            results.append(SyncResult(target, True, len(payload), digest))
        return results

    # ------------------------------------------------------------------ answering

    async def respond(
        self,
        interaction: discord.Interaction[Any],
        work: Callable[[Caller], Awaitable[Reply]],
        *,
        ephemeral: bool,
    ) -> None:
        """Run ``work`` and answer; defer first when it outlasts :attr:`defer_after`.

        ``CommandError`` (and ``PermissionDenied``) become an ephemeral ⚠️ reply.
        """
        caller = caller_from(interaction)
        task = asyncio.ensure_future(work(caller))
        deferred = False
        try:
            done, _ = await asyncio.wait({task}, timeout=self.defer_after)
            if not done:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
                deferred = True
            reply = await task
        except CommandError as e:
            await _send_error(interaction, str(e), public_defer=deferred and not ephemeral)
            return
        finally:
            if not task.done():
                task.cancel()
        embeds = _embeds(reply.embeds)
        content = render.text(reply.content) if reply.content else None
        extra: dict[str, Any] = {"view": reply.view} if reply.view is not None else {}
        if reply.file is not None:
            name, data = reply.file
            attachment = discord.File(io.BytesIO(data), filename=name)
            if deferred:
                extra["attachments"] = [attachment]
            else:
                extra["file"] = attachment
        if deferred:
            await interaction.edit_original_response(
                content=content, embeds=embeds, allowed_mentions=NO_MENTIONS, **extra
            )
        else:
            await interaction.response.send_message(
                content, embeds=embeds, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS, **extra
            )

    # ------------------------------------------------------------------ autocomplete

    async def complete_watchlist(self, current: str) -> list[app_commands.Choice[str]]:
        return _choices(await self.svc.watchlist_names(), current)

    async def complete_feed(self, current: str) -> list[app_commands.Choice[str]]:
        return _choices(await self.svc.feed_urls(), current)

    async def complete_term(self, watchlist: str, current: str) -> list[app_commands.Choice[str]]:
        try:
            w = await self.svc.watchlist(watchlist)
        except CommandError:
            return []
        return _choices([t.name for t in w.terms], current)

    async def complete_form(
        self, watchlist: str, term: str, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            w = await self.svc.watchlist(watchlist)
        except CommandError:
            return []
        forms = [f for t in w.terms if t.name.casefold() == term.casefold() for f in t.forms]
        return _choices(forms, current)


def _choices(values: Sequence[str], current: str) -> list[app_commands.Choice[str]]:
    """Up to 25 choices containing ``current``, prefix matches first.

    Values longer than 100 characters cannot be choice values; the user types them.
    """
    cur = current.casefold().strip()
    hits = [v for v in values if cur in v.casefold() and 0 < len(v) <= render.LIMITS.choice]
    hits.sort(key=lambda v: (not v.casefold().startswith(cur), v.casefold()))
    return [app_commands.Choice(name=render.choice_name(v), value=v) for v in hits[:25]]


def _forms(text: str) -> tuple[str, ...]:
    """``"Kosovo Force, KFOR"`` → ``("Kosovo Force", "KFOR")``."""
    return tuple(f.strip() for f in text.split(",") if f.strip())


# --------------------------------------------------------------------------- handlers


class DiscordCommands:
    """One handler per catalogue command: call one service method, render the answer."""

    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot

    @property
    def svc(self) -> Service:
        return self.bot.svc

    async def cmd_subscribe(self, c: Caller, v: Values) -> Reply:
        sub = await self.svc.subscribe_from(c, v)
        return Reply(render.confirm_text(views.subscribed(sub)))

    async def cmd_unsubscribe(self, c: Caller, v: Values) -> Reply:
        sub = await self.svc.unsubscribe_from(c, v)
        return Reply(render.confirm_text(views.unsubscribed(sub, feeds=v.words("feed"))))

    async def cmd_subscriptions(self, c: Caller, v: Values) -> Reply:
        return Reply(render.subscriptions_text(await self.svc.subscriptions(c), c.channel))

    async def cmd_lookup(self, c: Caller, v: Values) -> Reply:
        query, since, watchlist = v.text("query"), v.optional("since"), v.optional("watchlist")
        pager = LookupPager(self.svc, c, query, since, watchlist, v.flag("all"))
        found = await pager.fetch(v.number("page"))
        return Reply(embeds=[pager.embed(found)], view=pager if found.pages > 1 else None)

    async def cmd_help(self, c: Caller, v: Values) -> Reply:
        return Reply(embeds=[render.help_embed(views.help_view(help_entries()))])

    async def cmd_watchlist_list(self, c: Caller, v: Values) -> Reply:
        return Reply(embeds=[render.watchlists_embed(await self.svc.watchlists())])

    async def cmd_watchlist_show(self, c: Caller, v: Values) -> Reply:
        return Reply(embeds=[render.watchlist_embed(await self.svc.watchlist(v.text("name")))])

    async def cmd_watchlist_create(self, c: Caller, v: Values) -> Reply:
        w = await self.svc.watchlist_create(c, v.text("name"), v.text("description"))
        return Reply(render.confirm_text(views.watchlist_created(w.name)))

    async def cmd_watchlist_delete(self, c: Caller, v: Values) -> Reply:
        await self.svc.watchlist_delete(c, v.text("name"))
        return Reply(render.confirm_text(views.watchlist_deleted(v.text("name"))))

    async def cmd_watchlist_add_term(self, c: Caller, v: Values) -> Reply:
        term = v.text("term")
        w = await self.svc.watchlist_add_term(
            c, v.text("watchlist"), term, v.words("forms"), v.text("case")
        )
        return Reply(render.confirm_text(views.term_added(w.name, term)))

    async def cmd_watchlist_remove_term(self, c: Caller, v: Values) -> Reply:
        term = v.text("term")
        w = await self.svc.watchlist_remove_term(c, v.text("watchlist"), term)
        return Reply(render.confirm_text(views.term_removed(w.name, term)))

    async def cmd_watchlist_add_form(self, c: Caller, v: Values) -> Reply:
        term, form = v.text("term"), v.text("form")
        w = await self.svc.watchlist_add_form(c, v.text("watchlist"), term, form)
        return Reply(render.confirm_text(views.form_added(w.name, term, form)))

    async def cmd_watchlist_remove_form(self, c: Caller, v: Values) -> Reply:
        term, form = v.text("term"), v.text("form")
        w = await self.svc.watchlist_remove_form(c, v.text("watchlist"), term, form)
        return Reply(render.confirm_text(views.form_removed(w.name, term, form)))

    async def cmd_feeds_list(self, c: Caller, v: Values) -> Reply:
        return Reply(embeds=[render.feeds_embed(await self.svc.feeds())])

    async def cmd_feeds_status(self, c: Caller, v: Values) -> Reply:
        return Reply(embeds=[render.feeds_embed(await self.svc.feeds(), status=True)])

    async def cmd_feeds_export(self, c: Caller, v: Values) -> Reply:
        body, count = await self.svc.feeds_opml()
        return Reply(
            render.confirm_text(views.feeds_exported(count)),
            file=(views.OPML_FILENAME, body.encode()),
        )

    async def cmd_feeds_add(self, c: Caller, v: Values) -> Reply:
        st = await self.svc.feed_add(c, v.text("url"))
        return Reply(render.confirm_text(views.feed_added(st.url)))

    async def cmd_feeds_remove(self, c: Caller, v: Values) -> Reply:
        await self.svc.feed_remove(c, v.text("url"))
        return Reply(render.confirm_text(views.feed_removed(v.text("url"))))


# --------------------------------------------------------------------------- the tree


def _annotation(arg: Arg) -> Any:
    """The Python type discord.py turns into the option's type and bounds."""
    if arg.kind == "bool":
        return bool
    if arg.kind == "channel":
        return discord.TextChannel
    base: type = int if arg.kind == "int" else str
    if arg.min is None and arg.max is None:
        return base
    return app_commands.Range[base, arg.min, arg.max]


def _from_option(arg: Arg, value: Any) -> Value:
    """An option's value as the catalogue's kind holds it."""
    if value is None:
        return None
    if arg.many:
        return _forms(str(value))
    if arg.kind == "channel":
        return str(value.id)
    if isinstance(value, bool | int):
        return value
    return str(value)


def _autocomplete(bot: DiscordBot, kind: str) -> Any:
    """The autocomplete callback for an argument kind, or None."""

    async def watchlist(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await bot.complete_watchlist(current)

    async def feed(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await bot.complete_feed(current)

    async def term(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await bot.complete_term(str(interaction.namespace.watchlist or ""), current)

    async def form(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        ns = interaction.namespace
        return await bot.complete_form(str(ns.watchlist or ""), str(ns.term or ""), current)

    return {"watchlist": watchlist, "feed": feed, "term": term, "form": form}.get(kind)


def _callback(bot: DiscordBot, command: Command) -> Any:
    """The app-command callback for ``command``: its signature is the catalogue's
    arguments (discord.py reads options from it), its body the handler."""
    handler: Callable[[Caller, Values], Awaitable[Reply]] = getattr(
        bot.commands, handler_name(command)
    )

    async def callback(interaction: discord.Interaction[Any], **options: Any) -> None:
        given = {k: _from_option(command.arg(k), v) for k, v in options.items()}
        values = Values(command, given)

        async def work(c: Caller) -> Reply:
            return await handler(c, values)

        await bot.respond(interaction, work, ephemeral=not command.public)

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for a in command.args:
        default = inspect.Parameter.empty if a.required else a.default
        params.append(
            inspect.Parameter(
                a.name, inspect.Parameter.KEYWORD_ONLY, annotation=_annotation(a), default=default
            )
        )
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # read by inspect.signature
    # A plain name (no "<locals>" path) tells discord.py this is not a method.
    callback.__name__ = callback.__qualname__ = handler_name(command)
    fn: Any = app_commands.describe(**{a.name: a.help for a in command.args})(callback)
    choices = {
        a.name: [app_commands.Choice(name=c, value=c) for c in a.choices]
        for a in command.args
        if a.choices
    }
    if choices:
        fn = app_commands.choices(**choices)(fn)
    completes = {a.name: _autocomplete(bot, a.kind) for a in command.args}
    completes = {k: f for k, f in completes.items() if f is not None}
    if completes:
        fn = app_commands.autocomplete(**completes)(fn)
    return fn


def _add_commands(tree: AlertTree, bot: DiscordBot) -> None:
    """Declare every command of the catalogue on ``tree`` (generated, see :mod:`bot.commands`)."""
    # Commands act on a server's channel, so they exist only in servers.
    in_guilds = app_commands.AppCommandContext(guild=True)
    groups: dict[str, app_commands.Group] = {}
    for command in CATALOGUE:
        callback = _callback(bot, command)
        if len(command.path) == 1:
            tree.add_command(
                app_commands.Command(
                    name=command.name,
                    description=command.description,
                    callback=app_commands.guild_only()(callback),
                )
            )
            continue
        head = command.path[0]
        group = groups.get(head)
        if group is None:
            group = groups[head] = app_commands.Group(
                name=head,
                description=GROUPS[head].summary,
                guild_only=True,
                allowed_contexts=in_guilds,
            )
            tree.add_command(group)
        group.add_command(
            app_commands.Command(
                name=command.path[1], description=command.description, callback=callback
            )
        )
