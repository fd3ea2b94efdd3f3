"""A loopback fake of the Discord gateway, for discord.py's real websocket client.

Serve it on 127.0.0.1 and point ``ALERTBOT_DISCORD_GATEWAY_URL`` at
:attr:`FakeDiscordGateway.url`. It speaks the gateway protocol as discord.py
uses it (API v10, JSON, ``compress=zlib-stream``: one zlib stream per socket,
each message ending in a ``Z_SYNC_FLUSH``):

* on connect: op 10 HELLO with :attr:`heartbeat_interval`;
* op 1 HEARTBEAT → op 11 HEARTBEAT ACK (counted in :attr:`heartbeats`);
* op 2 IDENTIFY (the token must be :attr:`token`, else close 4004) → READY
  with a new session id and ``resume_gateway_url`` (the same fake), then one
  GUILD_CREATE per guild;
* op 6 RESUME of a known session → the events it missed after its ``seq``,
  then RESUMED; an unknown session → op 9 (not resumable).

A test drives it: :meth:`interaction` dispatches INTERACTION_CREATE into the
live session (a slash command as Discord would deliver it), :meth:`miss` keeps
one for a session whose client is away (replayed on RESUME); :meth:`drop`
closes the socket (code 4000 by default, resumable), :meth:`reconnect` sends op 7,
:meth:`invalidate` op 9; :meth:`stop` makes the gateway unreachable (the port
closes) and :meth:`start` opens it again on the same port. :attr:`identifies`
and :attr:`resumes` record what clients sent; :attr:`most_live` is the largest
number of sockets that were identified or resumed at the same time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_api import APP_ID, BOT_USER_ID

HELLO, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HEARTBEAT_ACK = (
    10,
    1,
    2,
    6,
    7,
    9,
    11,
)
DISPATCH = 0
ZLIB_SUFFIX = b"\x00\x00\xff\xff"


@dataclass
class Session:
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every dispatch sent in this session, for replay on RESUME."""


@dataclass
class Socket:
    ws: web.WebSocketResponse
    compress: zlib._Compress | None
    session: Session | None = None


class FakeDiscordGateway:
    def __init__(
        self,
        *,
        guilds: dict[int, list[int]] | None = None,
        token: str = "test-token",
        heartbeat_interval: int = 41_250,
    ) -> None:
        self.guilds = guilds or {}
        """Guild id → its text channel ids (sent in GUILD_CREATE)."""
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.port = 0
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.sessions: dict[str, Session] = {}
        self.live: list[Socket] = []
        self.most_live = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    # ----------------------------------------------------------------- lifetime

    async def start(self) -> FakeDiscordGateway:
        """Listen (again) on :attr:`port`; the first start picks a free port."""
        app = web.Application()
        app.router.add_get("/", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Close every socket and the port: the gateway is unreachable until :meth:`start`."""
        for sock in list(self.live):
            await sock.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscordGateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- test controls

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 10.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    async def wait_live(self, *, within: float = 10.0) -> Socket:
        """The live session, once a client has identified or resumed."""
        await self.wait_for(lambda: bool(self.live), within=within)
        return self.live[-1]

    async def interaction(self, payload: dict[str, Any], *, within: float = 10.0) -> None:
        """Deliver an INTERACTION_CREATE (a slash command) to the live session."""
        sock = await self.wait_live(within=within)
        await self._dispatch(sock, "INTERACTION_CREATE", payload)

    def miss(self, payload: dict[str, Any]) -> None:
        """An INTERACTION_CREATE that happens while no client is connected: kept in
        the newest session, to be replayed when it RESUMEs (as Discord does)."""
        assert not self.live, "a client is connected: use interaction()"
        session = list(self.sessions.values())[-1]
        session.seq += 1
        msg = {"op": DISPATCH, "t": "INTERACTION_CREATE", "s": session.seq, "d": payload}
        session.events.append(msg)

    async def drop(self, code: int = 4000) -> Session:
        """Close the live socket as a network or gateway failure would; its session stays."""
        sock = await self.wait_live()
        assert sock.session is not None
        await sock.ws.close(code=code)
        return sock.session

    async def reconnect(self) -> Session:
        """Op 7: ask the client to reconnect and resume."""
        sock = await self.wait_live()
        assert sock.session is not None
        await self._send(sock, {"op": RECONNECT, "d": None})
        return sock.session

    async def invalidate(self, *, resumable: bool = False) -> None:
        """Op 9: the session is gone (``resumable=False``): the client must IDENTIFY."""
        sock = await self.wait_live()
        if not resumable and sock.session is not None:
            self.sessions.pop(sock.session.id, None)
        await self._send(sock, {"op": INVALID_SESSION, "d": resumable})

    # ----------------------------------------------------------------- protocol

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            await ws.close(
                code=4000, message=f"fake supports zlib-stream only, not {compress}".encode()
            )
            return ws
        sock = Socket(ws, zlib.compressobj() if compress else None)
        await self._send(sock, {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval}})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._received(sock, json.loads(msg.data))
        finally:
            async with self._changed:
                if sock in self.live:
                    self.live.remove(sock)
                self._changed.notify_all()
        return ws

    async def _received(self, sock: Socket, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await self._send(sock, {"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(sock, data)
        elif op == RESUME:
            await self._resume(sock, data)
        async with self._changed:
            self._changed.notify_all()

    async def _identify(self, sock: Socket, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            await sock.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = Session(f"session-{next(self._ids)}")
        self.sessions[session.id] = session
        sock.session = session
        await self._go_live(sock)
        await self._dispatch(
            sock,
            "READY",
            {
                "v": 10,
                "user": {
                    "id": str(BOT_USER_ID),
                    "username": "alertbot",
                    "discriminator": "0",
                    "global_name": None,
                    "avatar": None,
                    "bot": True,
                },
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                "session_id": session.id,
                "resume_gateway_url": self.url,
                "application": {"id": str(APP_ID), "flags": 0},
            },
        )
        for gid, channels in self.guilds.items():
            await self._dispatch(sock, "GUILD_CREATE", _guild(gid, channels))

    async def _resume(self, sock: Socket, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token or session is None:
            await self._send(sock, {"op": INVALID_SESSION, "d": False})
            return
        sock.session = session
        await self._go_live(sock)
        seq = int(data.get("seq") or 0)
        for event in session.events:
            if event["s"] > seq:
                await self._send(sock, event)
        await self._dispatch(sock, "RESUMED", {})

    async def _go_live(self, sock: Socket) -> None:
        async with self._changed:
            self.live.append(sock)
            self.most_live = max(self.most_live, len(self.live))
            self._changed.notify_all()

    async def _dispatch(self, sock: Socket, event: str, data: Any) -> None:
        assert sock.session is not None
        sock.session.seq += 1
        msg = {"op": DISPATCH, "t": event, "s": sock.session.seq, "d": data}
        sock.session.events.append(msg)
        await self._send(sock, msg)

    async def _send(self, sock: Socket, msg: dict[str, Any]) -> None:
        raw = json.dumps(msg).encode()
        if sock.compress is None:
            await sock.ws.send_str(raw.decode())
        else:
            await sock.ws.send_bytes(
                sock.compress.compress(raw) + sock.compress.flush(zlib.Z_SYNC_FLUSH)
            )


def _guild(gid: int, channels: list[int]) -> dict[str, Any]:
    return {
        "id": str(gid),
        "name": f"guild {gid}",
        "icon": None,
        "owner_id": "1",
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "features": [],
        "emojis": [],
        "stickers": [],
        "members": [],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "roles": [
            {
                "id": str(gid),
                "name": "@everyone",
                "permissions": str(1 << 10 | 1 << 11),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [
            {
                "id": str(cid),
                "type": 0,
                "guild_id": str(gid),
                "name": f"channel-{cid}",
                "position": i,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
            for i, cid in enumerate(channels)
        ],
    }
