"""A loopback fake of the Slack Web API, for the real slack-sdk client to talk to.

Serve it on 127.0.0.1 (port 0) and point ``AsyncWebClient(base_url=fake.base_url)``
at it. It records every call (method, arguments, token), answers the methods the
bot uses like Slack does, and misbehaves on demand:

* ``fake.rate_limit("chat.postMessage", times=1, retry_after=0)``: the next calls
  answer HTTP 429 ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After``;
* ``fake.fail_channel("C404", "channel_not_found")``: every ``chat.*`` and
  ``conversations.*`` call for that channel answers the error (``not_in_channel``,
  ``is_archived``, ``invalid_auth``, ``token_revoked``…); ``methods=`` narrows it,
  e.g. ``methods=("conversations.history",)`` with ``missing_scope``;
* ``fake.fail("apps.connections.open", "internal_error", times=2)``: the next
  calls of that method answer ``{"ok": false, "error": …}``;
* ``fake.dead_socket_urls(1)``: the next Socket Mode URL handed out is dead (its
  upgrade answers 410 however often it is tried, as an expired URL would);
* ``fake.revoke("xoxb-…")``: every call with that token answers ``token_revoked``.

Posted messages are kept with their metadata (:attr:`FakeSlackAPI.messages`;
:meth:`add_message` adds one from someone else, at a chosen ``ts``) and
``conversations.history`` answers from them like Slack: newest first, ``oldest``
/ ``latest`` (exclusive unless ``inclusive``), ``limit`` (capped at
:attr:`FakeSlackAPI.history_max_limit`), ``cursor`` paging with
``response_metadata.next_cursor``, and ``metadata`` only with
``include_all_metadata``. :meth:`advance` moves the fake's clock (the next ``ts``).

Socket Mode: ``apps.connections.open`` hands out ``ws://127.0.0.1:…/socket``; the
fake greets with ``hello``, :meth:`socket_send` pushes an envelope to the
connected client (the newest socket), :meth:`slash_command` delivers a slash
command there and waits for its ack, :meth:`socket_disconnect` sends Slack's
``disconnect`` message (the client is to open a new socket), and what the client
sends back (acks) is recorded as calls with method ``socket``.
:attr:`live_sockets` counts open sockets, :attr:`most_live_sockets` the most
that were open at once, :attr:`socket_opens` every socket ever opened.

Files (``files_upload_v2``): ``files.getUploadURLExternal`` hands out
``http://127.0.0.1:…/upload/{file_id}``; what is posted there is kept (recorded
as a call with method ``upload``); ``files.completeUploadExternal`` shares the
uploaded files in ``channel_id`` (:attr:`FakeSlackAPI.files`, by id). A file
completed before its upload, or twice, answers ``file_not_found`` /
``file_already_completed``, and ``fail_channel(…, methods=("files.",))`` makes
sharing into that channel fail.

``POST /response/{name}`` stands in for slash-command ``response_url``s; what bolt's
``respond()`` sends there is recorded as a call with method ``response:{name}``.
Shaped after slack-bolt's ``tests/mock_web_api_server``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str = ""
    at: float = 0.0
    """Event-loop time when the call arrived."""


@dataclass
class FakeSlackAPI:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    """user id → users.info ``user`` fields (``is_admin``, ``is_owner``…)."""
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    """usergroup id → member user ids."""
    usergroup_handles: dict[str, str] = field(default_factory=dict)
    """usergroup id → handle, for usergroups.list."""
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(channel, ts) → the last posted/updated arguments (``user``: who posted it)."""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """file id → ``filename``, ``length``, ``content`` (bytes, once uploaded),
    ``channel``, ``title`` and ``initial_comment`` (once completed)."""
    history_max_limit: int = 999
    """The most messages one ``conversations.history`` page holds (15 for apps
    distributed outside the Marketplace since 2025)."""

    def __post_init__(self) -> None:
        self._rate_limits: dict[str, list[int]] = {}
        self._failing: dict[str, tuple[str, list[int]]] = {}
        self._channel_errors: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._revoked: set[str] = set()
        # Message ts on today's clock, as Slack's are: the bot compares them with
        # its own times (conversations.history ``oldest``).
        self._ts = int(time.time() * 1_000_000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.most_live_sockets = 0
        self._urls = 0
        self._dead_urls = 0
        self.dead_url_tries = 0
        self._envelopes = 0
        self.port = 0

    # ----------------------------------------------------------------- control

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 0) -> None:
        self._rate_limits[method] = [times, retry_after]

    def fail(self, method: str, error: str = "internal_error", *, times: int = 1) -> None:
        self._failing[method] = (error, [times])

    def dead_socket_urls(self, times: int = 1) -> None:
        """The next ``times`` URLs from ``apps.connections.open`` refuse the socket for good."""
        self._dead_urls = times

    def fail_channel(
        self,
        channel: str,
        error: str,
        *,
        methods: tuple[str, ...] = ("chat.", "conversations."),
    ) -> None:
        """Calls for ``channel`` to methods starting with one of ``methods`` answer ``error``."""
        self._channel_errors[channel] = (error, methods)

    def heal_channel(self, channel: str) -> None:
        """Calls for ``channel`` succeed again."""
        self._channel_errors.pop(channel, None)

    def advance(self, seconds: float) -> None:
        """Move the clock: the next message gets a ``ts`` ``seconds`` later."""
        self._ts += int(seconds * 1_000_000)

    def now(self) -> float:
        """The fake's clock, as epoch seconds (the ``ts`` of the last message)."""
        return self._ts / 1_000_000

    def add_message(
        self,
        channel: str,
        text: str = "hello",
        *,
        user: str = "U0HUMAN",
        metadata: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> str:
        """A message posted by someone else (or by the bot before a crash); returns its ts."""
        stamp = self._next_ts() if ts is None else f"{ts:.6f}"
        msg: dict[str, Any] = {"channel": channel, "text": text, "user": user}
        if metadata is not None:
            msg["metadata"] = metadata
        self.messages[(channel, stamp)] = msg
        return stamp

    def revoke(self, token: str) -> None:
        self._revoked.add(token)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        *,
        count: int = 1,
        within: float = 5.0,
    ) -> list[Call]:
        """Wait until ``count`` recorded calls to ``method`` satisfy ``predicate``."""

        def found() -> list[Call] | None:
            hits = [c for c in self.calls_to(method) if predicate(c)]
            return hits if len(hits) >= count else None

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        hits = found()
        assert hits is not None
        return hits

    # ----------------------------------------------------------------- server

    async def start(self) -> FakeSlackAPI:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def live_sockets(self) -> int:
        return sum(1 for w in self._sockets if not w.closed)

    @property
    def socket_opens(self) -> int:
        return len(self._sockets)

    async def wait_sockets(self, condition: Callable[[], bool], *, within: float = 10.0) -> None:
        """Wait until ``condition()`` holds (checked whenever a socket opens or closes)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    async def socket_send(self, message: dict[str, Any], *, within: float = 5.0) -> None:
        """Send ``message`` to the Socket Mode client, waiting for it to connect."""
        await self.wait_sockets(lambda: self.live_sockets > 0, within=within)
        ws = next(w for w in reversed(self._sockets) if not w.closed)
        await ws.send_json(message)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's ``disconnect`` message: this socket goes away soon, open another."""
        await self.socket_send(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        )

    async def slash_command(self, payload: dict[str, Any], *, within: float = 10.0) -> Call:
        """Deliver a slash command over the live socket; return the client's ack."""
        self._envelopes += 1
        envelope = f"env-{self._envelopes}"
        await self.socket_send(
            {
                "envelope_id": envelope,
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": payload,
            },
            within=within,
        )
        (ack,) = await self.wait_for(
            "socket", lambda c: c.args.get("envelope_id") == envelope, within=within
        )
        return ack

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if "dead" in request.query:  # an expired URL: refused however often it is tried
            self.dead_url_tries += 1
            return web.Response(status=410, text="expired")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})
        async with self._changed:
            self._sockets.append(ws)
            self.most_live_sockets = max(self.most_live_sockets, self.live_sockets)
            self._changed.notify_all()
        try:
            async for msg in ws:
                if msg.type == web.WSMsgType.TEXT:
                    await self._record(Call("socket", json.loads(msg.data)))
        finally:
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def close(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlackAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(Call(f"response:{request.match_info['name']}", body))
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        body = await request.read()
        await self._record(Call("upload", {"file_id": file_id, "size": len(body)}))
        pending = self.files.get(file_id)
        if pending is None:
            return web.Response(status=404, text="unknown upload URL")
        pending["content"] = body
        return web.Response(text=f"OK - {len(body)}")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                args.update(await request.json())
            else:
                args.update(parse_qsl(await request.text()))
        for k in (
            "blocks",
            "metadata",
            "view",
            "files",
        ):  # form-encoded calls send these as JSON strings
            if isinstance(args.get(k), str):
                args[k] = json.loads(args[k])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or str(args.get("token", ""))
        await self._record(Call(method, args, token, asyncio.get_running_loop().time()))

        limited = self._rate_limits.get(method)
        if limited and limited[0] > 0:
            limited[0] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(limited[1])},
            )
        failing_method = self._failing.get(method)
        if failing_method and failing_method[1][0] > 0:
            failing_method[1][0] -= 1
            return _error(failing_method[0])
        if not token:
            return _error("not_authed")
        if token in self._revoked:
            return _error("token_revoked")
        channel = str(args.get("channel") or args.get("channel_id") or "")
        failing = self._channel_errors.get(channel)
        if failing and method.startswith(failing[1]):
            return _error(failing[0])
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        result: dict[str, Any] = handler(args)
        return web.json_response(result)

    # ----------------------------------------------------------------- methods

    def _next_ts(self) -> str:
        self._ts += 100
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        self._urls += 1
        if self._dead_urls > 0:
            self._dead_urls -= 1
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?dead={self._urls}"}
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?n={self._urls}"}

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "alertbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        channel = str(args["channel"])
        args.setdefault("user", BOT_USER_ID)
        self.messages[(channel, ts)] = args
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text")}}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args["channel"]), str(args["ts"]))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        old = self.messages[key]
        for kept in ("user", "metadata"):  # an update without metadata keeps it, like Slack
            if kept in old:
                args.setdefault(kept, old[kept])
        self.messages[key] = args
        return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text")}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        inclusive = _flag(args.get("inclusive"))
        with_meta = _flag(args.get("include_all_metadata"))
        oldest = _micros(args.get("oldest") or "0")
        latest = _micros(args["latest"]) if args.get("latest") else None
        limit = min(int(args.get("limit") or 100), self.history_max_limit)
        cursor = str(args.get("cursor") or "")
        start = (
            _micros(base64.b64decode(cursor).decode().removeprefix("next_ts:")) if cursor else None
        )

        def within(ts: int) -> bool:
            if ts < oldest or (ts == oldest and not inclusive):
                return False
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return start is None or ts <= start

        stamps = sorted(
            (ts for ch, ts in self.messages if ch == channel and within(_micros(ts))),
            key=_micros,
            reverse=True,
        )
        page, rest = stamps[:limit], stamps[limit:]
        out = []
        for ts in page:
            msg = self.messages[(channel, ts)]
            item: dict[str, Any] = {
                "type": "message",
                "ts": ts,
                "user": msg.get("user", BOT_USER_ID),
                "text": msg.get("text", ""),
            }
            if item["user"] == BOT_USER_ID:
                item["bot_id"] = BOT_ID
            if msg.get("blocks"):
                item["blocks"] = msg["blocks"]
            if with_meta and msg.get("metadata"):
                item["metadata"] = msg["metadata"]
            out.append(item)
        result: dict[str, Any] = {"ok": True, "messages": out, "has_more": bool(rest)}
        if rest:
            token = base64.b64encode(f"next_ts:{rest[0]}".encode()).decode()
            result["response_metadata"] = {"next_cursor": token}
        else:
            result["response_metadata"] = {"next_cursor": ""}
        return result

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user", ""))
        if uid not in self.users:
            return {"ok": False, "error": "user_not_found"}
        user = {"id": uid, "team_id": TEAM_ID, "is_admin": False, "is_owner": False}
        user.update(self.users[uid])
        return {"ok": True, "user": user}

    def _m_usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        groups = [
            {"id": gid, "handle": self.usergroup_handles.get(gid, gid.lower()), "name": gid}
            for gid in self.usergroups
        ]
        return {"ok": True, "usergroups": groups}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        gid = str(args.get("usergroup", ""))
        if gid not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[gid])}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self.files) + 1:07d}"
        self.files[file_id] = {"filename": args["filename"], "length": int(args["length"])}
        url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
        return {"ok": True, "upload_url": url, "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        shared = []
        for item in args.get("files") or []:
            f = self.files.get(str(item.get("id")))
            if f is None or "content" not in f:
                return {"ok": False, "error": "file_not_found"}
            if "title" in f:
                return {"ok": False, "error": "file_already_completed"}
            f.update(
                title=item.get("title") or f["filename"],
                channel=str(args.get("channel_id") or ""),
                initial_comment=str(args.get("initial_comment") or ""),
            )
            shared.append({"id": item["id"], "name": f["filename"], "title": f["title"]})
        if not shared:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "files": shared}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V0HOME", **dict(args.get("view") or {})}}


def _flag(value: Any) -> bool:
    """A boolean argument as slack-sdk sends it ("1"/"0", or JSON true/false)."""
    return value is True or str(value).lower() in ("1", "true")


def _micros(ts: str) -> int:
    """A Slack ``ts`` ("1700000000.000200") as integer microseconds, for ordering."""
    whole, _, frac = str(ts).partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def _error(code: str) -> web.Response:
    # Slack answers most errors with HTTP 200 and ok=false.
    return web.json_response({"ok": False, "error": code})
