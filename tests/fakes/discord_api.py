"""A loopback fake of the Discord REST API, for the real discord.py HTTP layer.

Start it in a test, point ``discord.http.Route.BASE`` (or
``ALERTBOT_DISCORD_API_URL``) at :attr:`FakeDiscordAPI.base`, and assert on
:attr:`FakeDiscordAPI.requests`. It answers what the adapter uses:

* ``GET /users/@me``, ``GET /oauth2/applications/@me`` (login)
* ``GET /channels/{id}``; ``POST/PATCH /channels/{id}/messages[/{mid}]``
  (``nonce`` + ``enforce_nonce`` de-duplicate like Discord)
* ``GET /channels/{id}/messages`` with ``limit`` (1–100, default 50), ``after``,
  ``before``, newest first like Discord (with ``after``: the oldest ``limit``
  messages after it); the nonce is not given back, as Discord does not; a
  channel added with ``read_history=False`` answers ``[]``, as Discord does
  without Read Message History
* ``POST /interactions/{id}/{token}/callback`` (``?with_response=1`` returns the
  callback object), webhook follow-ups and ``@original`` GET/PATCH/DELETE
* ``PUT /applications/{app}/commands`` and ``…/guilds/{gid}/commands``

A request with attachments (multipart/form-data, as discord.py sends files)
is recorded with its ``payload_json`` as :attr:`Recorded.json` and the files in
:attr:`Recorded.files`.

Channels are known only when added with :meth:`add_channel`; others answer 404
Unknown Channel, and ``forbidden`` ones 403 Missing Access / Missing
Permissions. Message ids are snowflakes of the time they were created (now, or
``at`` for :meth:`add_message`, which adds a message by someone else or by the
bot before a crash), so ``after``/``before`` work with
``discord.utils.time_snowflake``. :meth:`rate_limit` makes the next matching requests answer 429
with ``Retry-After`` (and ``Via``, which discord.py needs before it retries).

JSON replies carry exactly ``Content-Type: application/json``: with a charset
discord.py would read the body as text.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

APP_ID = 700000000000000001
BOT_USER_ID = 700000000000000002
OWNER_ID = 700000000000000003
DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_time(sid: int) -> datetime:
    return datetime.fromtimestamp(((sid >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


@dataclass
class Recorded:
    method: str
    path: str
    """Path after the API base, e.g. ``/channels/1/messages``."""
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 0
    files: list[tuple[str, bytes]] = field(default_factory=list)
    """Attachments of a multipart request: (file name, contents), in order."""


@dataclass
class _RateLimit:
    method: str
    pattern: re.Pattern[str]
    times: int
    retry_after: float
    via: bool
    is_global: bool


@dataclass
class Channel:
    id: int
    guild_id: int | None
    forbidden: int = 0
    """0 = postable; 50001 = Missing Access; 50013 = Missing Permissions."""
    read_history: bool = True
    """False: the bot lacks Read Message History, reading answers no messages."""
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)


RECORDED = web.RequestKey("recorded", Recorded)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return web.Response(status=status, body=json.dumps(data).encode(), headers=h)


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status)


class FakeDiscordAPI:
    """The fake server; use as ``async with FakeDiscordAPI() as api``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.channels: dict[int, Channel] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        """Synced command payloads by target ("global" or the guild id)."""
        self.original: dict[str, dict[str, Any]] = {}
        """Interaction responses by token (the ``@original`` message)."""
        self._seq = itertools.count(1)
        self._nonces: dict[tuple[int, str], int] = {}
        self._limits: list[_RateLimit] = []
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.base = ""
        self.token_ok = True
        self.unavailable = False
        """Answer every request 503 (Discord down); set it False to bring it back."""
        self.roles: dict[int, dict[int, str]] = {}
        """Guild id → its roles (id → name), for ``GET /guilds/{id}/roles``; a guild
        not here is unknown (404)."""

    # ------------------------------------------------------------------ control

    def forget_nonces(self) -> None:
        """Discord de-duplicates a nonce for a few minutes only: pretend they passed."""
        self._nonces.clear()

    def add_channel(
        self,
        channel_id: int,
        guild_id: int | None = 1,
        forbidden: int = 0,
        *,
        read_history: bool = True,
    ) -> None:
        self.channels[channel_id] = Channel(channel_id, guild_id, forbidden, read_history)

    def add_role(self, guild_id: int, role_id: int, name: str = "role") -> None:
        """A role of a guild (the guild's @everyone role, its own id, comes with it)."""
        roles = self.roles.setdefault(guild_id, {guild_id: "@everyone"})
        roles[role_id] = name

    def new_id(self, at: datetime | None = None) -> int:
        """A snowflake for ``at`` (default now), unique in this fake."""
        when = at or datetime.now(UTC)
        ms = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._seq) & 0x3FFFFF)

    def add_message(
        self,
        channel_id: int,
        content: str = "",
        *,
        embeds: list[dict[str, Any]] | None = None,
        author_id: int = OWNER_ID,
        at: datetime | None = None,
    ) -> str:
        """A message in ``channel_id`` as if posted at ``at``; returns its id."""
        body = {"content": content, "embeds": embeds or []}
        msg = self._message(channel_id, body, self.new_id(at), author_id=author_id)
        self.channels[channel_id].messages[int(msg["id"])] = msg
        return str(msg["id"])

    def rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        times: int = 1,
        retry_after: float = 0.05,
        via: bool = True,
        is_global: bool = False,
    ) -> None:
        """The next ``times`` requests matching answer 429 with ``retry_after`` seconds."""
        self._limits.append(
            _RateLimit(method, re.compile(path_regex), times, retry_after, via, is_global)
        )

    def calls(self, method: str | None = None, path_regex: str = "") -> list[Recorded]:
        rx = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and rx.search(r.path) and r.status < 400
        ]

    async def wait_for(
        self, predicate: Callable[[list[Recorded]], bool], within: float = 5.0
    ) -> list[Recorded]:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: predicate(self.requests))
        return self.requests

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        return list(self.channels[channel_id].messages.values())

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeDiscordAPI:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/api/v10/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]  # aiohttp keeps the asyncio server private
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]  # same
        self.base = f"http://127.0.0.1:{port}/api/v10"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ routing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        files: list[tuple[str, bytes]] = []
        raw = await request.read()
        if request.content_type == "multipart/form-data":
            body, files = _multipart(request.headers["Content-Type"], raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        rec = Recorded(
            request.method,
            "/" + request.match_info.get("tail", ""),
            dict(request.query),
            body,
            dict(request.headers),
            files=files,
        )
        self.requests.append(rec)
        request[RECORDED] = rec
        if self.unavailable:
            resp: web.StreamResponse = _error(503, 0, "Service Unavailable")
            rec.status = resp.status
            return resp
        resp = await handler(request)
        rec.status = resp.status
        async with self._changed:
            self._changed.notify_all()
        return resp

    async def _route(self, request: web.Request) -> web.StreamResponse:
        rec = request[RECORDED]
        path, method, body = rec.path, rec.method, rec.json
        for lim in self._limits:
            if lim.times > 0 and lim.method == method and lim.pattern.search(path):
                lim.times -= 1
                headers = {"Retry-After": str(lim.retry_after)}
                if lim.via:
                    headers["Via"] = "1.1 google"
                if lim.is_global:
                    headers["X-RateLimit-Global"] = "true"
                data = {
                    "message": "You are being rate limited.",
                    "retry_after": lim.retry_after,
                    "global": lim.is_global,
                }
                return _json(data, 429, headers)
        is_bot = request.headers.get("Authorization", "").startswith("Bot ")
        routes: list[tuple[str, str, Callable[..., web.Response]]] = [
            ("GET", r"^/users/@me$", self._me),
            ("GET", r"^/oauth2/applications/@me$", self._app),
            ("GET", r"^/channels/(\d+)$", self._get_channel),
            ("GET", r"^/guilds/(\d+)/roles$", self._get_roles),
            ("GET", r"^/channels/(\d+)/messages$", self._get_messages),
            ("POST", r"^/channels/(\d+)/messages$", self._post_message),
            ("PATCH", r"^/channels/(\d+)/messages/(\d+)$", self._edit_message),
            ("POST", r"^/interactions/(\d+)/([^/]+)/callback$", self._callback),
            ("POST", r"^/webhooks/(\d+)/([^/]+)$", self._followup),
            ("GET", r"^/webhooks/(\d+)/([^/]+)/messages/@original$", self._get_original),
            ("PATCH", r"^/webhooks/(\d+)/([^/]+)/messages/@original$", self._edit_original),
            ("DELETE", r"^/webhooks/(\d+)/([^/]+)/messages/@original$", self._delete_original),
            ("PUT", r"^/applications/(\d+)/commands$", self._sync),
            ("PUT", r"^/applications/(\d+)/guilds/(\d+)/commands$", self._sync),
        ]
        needs_bot = ("/users", "/oauth2", "/channels", "/applications", "/guilds")
        if path.startswith(needs_bot) and (not is_bot or not self.token_ok):
            return _error(401, 0, "401: Unauthorized")
        for m, rx, fn in routes:
            match = re.match(rx, path)
            if match and m == method:
                return fn(*match.groups(), body=body, query=rec.query)
        return _error(404, 0, "404: Not Found")

    # ------------------------------------------------------------------ payloads

    def _user(self, uid: int = BOT_USER_ID, name: str = "alertbot") -> dict[str, Any]:
        return {
            "id": str(uid),
            "username": name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": uid == BOT_USER_ID,
        }

    def _me(self, **_: Any) -> web.Response:
        return _json(self._user() | {"flags": 0, "verified": True, "mfa_enabled": False})

    def _app(self, **_: Any) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "alertbot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self._user(OWNER_ID, "owner"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    def _message(
        self,
        channel_id: int,
        body: dict[str, Any],
        mid: int | None = None,
        *,
        author_id: int = BOT_USER_ID,
    ) -> dict[str, Any]:
        mid = mid or self.new_id()
        return {
            "id": str(mid),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": snowflake_time(mid).isoformat(),
            "edited_timestamp": None,
            "flags": body.get("flags", 0),
            "author": self._user(author_id, "alertbot" if author_id == BOT_USER_ID else "someone"),
            "nonce": body.get("nonce"),
            "allowed_mentions": body.get("allowed_mentions"),
        }

    def _channel_problem(self, cid: int) -> web.Response | None:
        ch = self.channels.get(cid)
        if ch is None:
            return _error(404, 10003, "Unknown Channel")
        if ch.forbidden == 50001:
            return _error(403, 50001, "Missing Access")
        if ch.forbidden == 50013:
            return _error(403, 50013, "Missing Permissions")
        return None

    def _get_roles(self, gid: str, **_: Any) -> web.Response:
        roles = self.roles.get(int(gid))
        if roles is None:
            return _error(404, 10004, "Unknown Guild")
        return _json(
            [
                {
                    "id": str(rid),
                    "name": name,
                    "color": 0,
                    "hoist": False,
                    "position": i,
                    "permissions": "0",
                    "managed": False,
                    "mentionable": True,
                }
                for i, (rid, name) in enumerate(roles.items())
            ]
        )

    def _get_channel(self, cid: str, **_: Any) -> web.Response:
        problem = self._channel_problem(int(cid))
        if problem is not None and problem.status == 404:
            return problem
        ch = self.channels[int(cid)]
        data: dict[str, Any] = {"id": cid, "type": 0, "name": f"channel-{cid}", "position": 0}
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        return _json(data)

    def _get_messages(self, cid: str, *, query: dict[str, str], **_: Any) -> web.Response:
        channel_id = int(cid)
        problem = self._channel_problem(channel_id)
        if problem is not None and (
            problem.status == 404 or self.channels[channel_id].forbidden == 50001
        ):
            return problem  # Missing Permissions (cannot post) still lets the bot read
        ch = self.channels[channel_id]
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return _error(400, 50035, "Invalid Form Body")
        if not ch.read_history:
            return _json([])
        ids = sorted(ch.messages)
        if "before" in query:
            ids = [i for i in ids if i < int(query["before"])]
        if "after" in query:
            ids = [i for i in ids if i > int(query["after"])][:limit]  # the oldest after it
        else:
            ids = ids[-limit:]  # the newest
        out = []
        for i in reversed(ids):  # newest first, like Discord
            msg = dict(ch.messages[i])
            msg.pop("nonce", None)  # Discord does not give the nonce back when reading
            msg.pop("allowed_mentions", None)
            out.append(msg)
        return _json(out)

    def _post_message(self, cid: str, *, body: Any, **_: Any) -> web.Response:
        channel_id = int(cid)
        problem = self._channel_problem(channel_id)
        if problem is not None:
            return problem
        ch = self.channels[channel_id]
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None:
                # Discord returns the message created earlier with this nonce.
                return _json(ch.messages[seen])
        msg = self._message(channel_id, body)
        ch.messages[int(msg["id"])] = msg
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, str(nonce))] = int(msg["id"])
        return _json(msg)

    def _edit_message(self, cid: str, mid: str, *, body: Any, **_: Any) -> web.Response:
        channel_id = int(cid)
        problem = self._channel_problem(channel_id)
        if problem is not None:
            return problem
        ch = self.channels[channel_id]
        if int(mid) not in ch.messages:
            return _error(404, 10008, "Unknown Message")
        msg = ch.messages[int(mid)]
        msg.update({k: v for k, v in body.items() if k in ("content", "embeds", "flags")})
        msg["edited_timestamp"] = "2026-01-01T00:01:00+00:00"
        return _json(msg)

    def _callback(self, iid: str, token: str, *, body: Any, query: dict[str, str]) -> web.Response:
        if token in self.original:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        kind = body.get("type")
        data = body.get("data") or {}
        msg = self._message(0, data)
        self.original[token] = msg
        if kind == 8:  # autocomplete result: no message
            self.original.pop(token)
        if query.get("with_response") != "1":
            return web.Response(status=204)
        interaction: dict[str, Any] = {"id": iid, "type": 2}
        if kind in (4, 5):
            interaction["response_message_id"] = msg["id"]
            interaction["response_message_loading"] = kind == 5
            interaction["response_message_ephemeral"] = bool(data.get("flags", 0) & 64)
        result: dict[str, Any] = {"interaction": interaction}
        if kind == 4:
            result["resource"] = {"type": kind, "message": msg}
        return _json(result)

    def _followup(self, app: str, token: str, *, body: Any, **_: Any) -> web.Response:
        if token not in self.original:
            return _error(404, 10015, "Unknown Webhook")
        return _json(self._message(0, body))

    def _get_original(self, app: str, token: str, **_: Any) -> web.Response:
        if token not in self.original:
            return _error(404, 10008, "Unknown Message")
        return _json(self.original[token])

    def _edit_original(self, app: str, token: str, *, body: Any, **_: Any) -> web.Response:
        if token not in self.original:
            return _error(404, 10008, "Unknown Message")
        msg = self.original[token]
        msg.update({k: v for k, v in body.items() if k in ("content", "embeds", "flags")})
        return _json(msg)

    def _delete_original(self, app: str, token: str, **_: Any) -> web.Response:
        if token not in self.original:
            return _error(404, 10008, "Unknown Message")
        self.original[token]["deleted"] = True
        return web.Response(status=204)

    def _sync(self, app: str, guild: str | None = None, *, body: Any, **_: Any) -> web.Response:
        target = guild or "global"
        self.commands[target] = body
        out = []
        for cmd in body:
            out.append(
                {
                    "id": str(self.new_id()),
                    "application_id": app,
                    "type": cmd.get("type", 1),
                    "name": cmd["name"],
                    "description": cmd.get("description", ""),
                    "options": cmd.get("options", []),
                    "version": "1",
                    "default_member_permissions": cmd.get("default_member_permissions"),
                    "dm_permission": cmd.get("dm_permission", True),
                    "nsfw": cmd.get("nsfw", False),
                }
                | ({"guild_id": guild} if guild else {})
            )
        return _json(out)


# --------------------------------------------------------------------------- interactions

_interaction_ids = itertools.count(800000000000000001)

MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10


def interaction_payload(
    command: str,
    options: dict[str, str] | None = None,
    *,
    guild_id: int,
    channel_id: int,
    user_id: int,
    permissions: int = VIEW_CHANNEL | SEND_MESSAGES,
    roles: tuple[int, ...] = (),
    focused: str | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload as the gateway delivers it.

    ``command`` is the full name, e.g. ``"watchlist add-term"``; ``focused``
    makes it an autocomplete interaction for that option.
    """
    iid = next(_interaction_ids)
    opts: list[dict[str, Any]] = [
        {"type": 3, "name": k, "value": v} | ({"focused": True} if k == focused else {})
        for k, v in (options or {}).items()
    ]
    parts = command.split()
    for sub in reversed(parts[1:]):
        opts = [{"type": 1, "name": sub, "options": opts}]
    user = {
        "id": str(user_id),
        "username": f"user{user_id}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
    }
    return {
        "id": str(iid),
        "application_id": str(APP_ID),
        "type": 4 if focused else 2,
        "token": f"token-{iid}",
        "version": 1,
        "guild_id": str(guild_id),
        "channel_id": str(channel_id),
        "channel": {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": "alerts",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        },
        "member": {
            "user": user,
            "roles": [str(r) for r in roles],
            "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions),
        },
        "data": {"id": "1", "name": parts[0], "type": 1, "options": opts},
        "app_permissions": str(VIEW_CHANNEL | SEND_MESSAGES),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
        "attachment_size_limit": 8 * 1024 * 1024,
    }


def component_payload(
    message: dict[str, Any],
    custom_id: str,
    *,
    guild_id: int,
    channel_id: int,
    user_id: int,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload for a click on the button ``custom_id`` of ``message``."""
    payload = interaction_payload("x", guild_id=guild_id, channel_id=channel_id, user_id=user_id)
    payload["type"] = 3
    payload["message"] = message
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    return payload


def _multipart(content_type: str, raw: bytes) -> tuple[Any, list[tuple[str, bytes]]]:
    """A multipart/form-data body → (``payload_json`` decoded, [(file name, bytes)])."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP
    )
    payload: Any = None
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if part.get_param("name", header="content-disposition") == "payload_json":
            payload = json.loads(data)
        else:
            files.append((str(part.get_filename() or ""), data))
    return payload, files
