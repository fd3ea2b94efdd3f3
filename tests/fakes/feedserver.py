"""A real aiohttp web server on 127.0.0.1, port 0, whose paths are behaviours.

Register behaviours per path (``add_feed``, ``add_redirect``, ``add_status``,
``add_slow``, ``add_handler``) or use the built-in paths below; every request is
counted and its headers recorded per path (``hits``, ``requests``), and the peak
number of requests in flight is kept (``max_in_flight``) to check concurrency limits.

Built-in paths (query parameters in brackets):

- ``/feed.xml``           a small valid RSS feed with ETag and Last-Modified (304-aware)
- ``/status/{code}``      that status [``retry_after``: header value]
- ``/redirect/{n}``       a chain of n ≥ 1 redirects ending at [``to``, default /feed.xml]
- ``/loop``               redirects to itself for ever
- ``/slow``               [``before``: seconds before headers; ``during``: seconds after
  half the body; ``trickle``: send one byte every so many seconds, never finishing]
- ``/huge``               [``size`` bytes, default 64 MiB; ``declared=0`` streams it
  chunked with no Content-Length]
- ``/bomb``               gzip of [``size``, default 100 MiB] zero bytes, Content-Length
  set to the small compressed size [``declared=0`` streams it chunked]
- ``/truncated-body``     declares more bytes than it sends, then closes
- ``/html``, ``/truncated``, ``/wrong-encoding``, ``/empty``: bodies for parser tests

Sleeps are capped at 60 s and handlers are cancelled when the client goes away, so
shutting the server down never waits for a slow behaviour.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import hashlib
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from html import escape
from typing import Any

import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

RSS_TYPE = "application/rss+xml; charset=utf-8"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MAX_SLEEP = 60.0


def make_rss(
    title: str = "Sample feed",
    items: Sequence[tuple[str, str]] = (("First story", "Text of the first story."),),
    *,
    link: str = "https://news.example/",
    published: datetime | None = None,
) -> bytes:
    """A small valid RSS 2.0 document; ``items`` are (title, description) pairs."""
    when = published or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>test feed</description>",
    ]
    for i, (item_title, text) in enumerate(items):
        url = f"{link.rstrip('/')}/{i}"
        date = format_datetime(when - timedelta(minutes=i), usegmt=True)
        parts.append(
            f"<item><title>{escape(item_title)}</title><link>{escape(url)}</link>"
            f"<guid>{escape(url)}</guid><pubDate>{date}</pubDate>"
            f"<description>{escape(text)}</description></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


SAMPLE_RSS = make_rss(
    "Sample feed",
    (("Türkiye signs deal", "Ankara and Belgrade signed a deal."), ("Second", "More text.")),
)
HTML_PAGE = (
    b"<!doctype html><html><head><title>Not a feed</title></head><body><p>Hi</p></body></html>"
)
TRUNCATED_RSS = SAMPLE_RSS[: len(SAMPLE_RSS) // 2]
# Declares UTF-8 (in the XML and the header) but the bytes are Windows-1252.
WRONG_ENCODING_RSS = (
    make_rss("Café Größe", (("Türkiye und Köln", "Grüße aus Genève"),))
    .decode("utf-8")
    .encode("cp1252")
)


@lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A single gzip member that inflates to ``size`` zero bytes (about size/1000 bytes)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(size >> 20)]
    parts.append(c.compress(bytes(size & ((1 << 20) - 1))))
    parts.append(c.flush())
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query_string: str
    headers: CIMultiDictProxy[str]


@dataclass(slots=True)
class Feed:
    """A registered feed; change ``body`` with ``FeedServer.set_body``."""

    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str
    gzip: bool
    headers: dict[str, str] = field(default_factory=dict)
    _gzipped: tuple[bytes, bytes] | None = None  # (body, its gzip), so a bench times the client

    def encoded(self) -> bytes:
        if not self.gzip:
            return self.body
        if self._gzipped is None or self._gzipped[0] is not self.body:
            self._gzipped = (self.body, _gzip(self.body))
        return self._gzipped[1]


_GZIPPED: dict[int, tuple[bytes, bytes]] = {}
"""Body object (id) → (body, its gzip): a bench serving one file under many URLs
compresses it once, so the server's CPU stays small beside the client's."""


def _gzip(body: bytes) -> bytes:
    if len(body) > 1 << 20:  # big bodies (memory benches) are not kept beyond their feed
        return gzip_module.compress(body, 6, mtime=0)
    got = _GZIPPED.get(id(body))
    if got is None or got[0] is not body:
        if len(_GZIPPED) >= 1024:
            _GZIPPED.clear()
        got = _GZIPPED[id(body)] = (body, gzip_module.compress(body, 6, mtime=0))
    return got[1]


def _etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def _not_modified(request: web.Request, feed: Feed) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; weak comparison; else If-Modified-Since."""
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        if feed.etag is None:
            return False
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or feed.etag.removeprefix("W/") in tags
    ims = request.headers.get("If-Modified-Since")
    if ims is not None and feed.last_modified is not None:
        if ims == feed.last_modified:
            return True
        try:
            return parsedate_to_datetime(feed.last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


def _seconds(request: web.Request, name: str, default: float = 0.0) -> float:
    return min(float(request.query.get(name, default)), _MAX_SLEEP)


class FeedServer:
    """Async context manager; ``url(path)`` gives the absolute URL of a path."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._feeds: dict[str, Feed] = {}
        self._handlers: dict[str, Handler] = {}
        self._requests: defaultdict[str, list[Recorded]] = defaultdict(list)
        self._runner: web.AppRunner | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.add_feed("/feed.xml", SAMPLE_RSS)

    # -- lifecycle

    async def __aenter__(self) -> FeedServer:
        app = web.Application(middlewares=[self._record])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    # -- inspection

    def hits(self, path: str) -> int:
        return len(self._requests.get(path, ()))

    def requests(self, path: str) -> list[Recorded]:
        return list(self._requests.get(path, ()))

    def reset(self) -> None:
        self._requests.clear()
        self.max_in_flight = 0

    # -- behaviours

    def add_feed(
        self,
        path: str,
        body: bytes,
        *,
        etag: bool | str = True,
        last_modified: bool | str = True,
        content_type: str = RSS_TYPE,
        gzip: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Feed:
        """Serve ``body`` at ``path``; ``True`` validators are derived, strings used as is.

        Conditional requests matching the validators get ``304``. ``headers`` are added
        to every answer (e.g. ``{"Cache-Control": "max-age=3600"}``).
        """
        feed = Feed(
            body=body,
            etag=(_etag_for(body) if etag is True else etag or None),
            last_modified=(
                format_datetime(datetime.now(UTC), usegmt=True)
                if last_modified is True
                else last_modified or None
            ),
            content_type=content_type,
            gzip=gzip,
            headers=dict(headers or {}),
        )
        self._feeds[path] = feed
        return feed

    def set_body(self, path: str, body: bytes) -> None:
        """Change a feed's body; derived validators change with it."""
        feed = self._feeds[path]
        if feed.etag is not None:
            feed.etag = _etag_for(body)
        if feed.last_modified is not None:
            # One second later than before, so If-Modified-Since no longer matches.
            last = parsedate_to_datetime(feed.last_modified)
            later = max(datetime.now(UTC), last + timedelta(seconds=1))
            feed.last_modified = format_datetime(later, usegmt=True)
        feed.body = body

    def add_redirect(self, path: str, to: str, *, status: int = 302) -> None:
        """Redirect ``path`` to ``to`` (a path on this server or an absolute URL)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": to})

        self._handlers[path] = handler

    def add_status(
        self,
        path: str,
        status: int,
        *,
        retry_after: str | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = retry_after

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=body, headers=all_headers)

        self._handlers[path] = handler

    def add_slow(
        self, path: str, body: bytes = SAMPLE_RSS, *, before: float = 0.0, during: float = 0.0
    ) -> None:
        """Sleep ``before`` headers, then send half the body, sleep ``during``, send the rest."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return await _slow(request, body, min(before, _MAX_SLEEP), min(during, _MAX_SLEEP))

        self._handlers[path] = handler

    def add_handler(self, path: str, handler: Handler) -> None:
        """Any aiohttp handler, for behaviours not covered here."""
        self._handlers[path] = handler

    # -- machinery

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._requests[request.path].append(
            Recorded(
                request.method,
                request.path,
                request.query_string,
                CIMultiDictProxy(CIMultiDict(request.headers)),
            )
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in self._handlers:
            return await self._handlers[path](request)
        if path in self._feeds:
            return await _serve_feed(request, self._feeds[path])
        head, _, rest = path.lstrip("/").partition("/")
        builtin = _BUILTINS.get(head)
        if builtin is None:
            raise web.HTTPNotFound(text=f"no behaviour at {path}\n")
        return await builtin(request, rest)


async def _serve_feed(request: web.Request, feed: Feed) -> web.StreamResponse:
    headers: dict[str, str] = dict(feed.headers)
    if feed.etag is not None:
        headers["ETag"] = feed.etag
    if feed.last_modified is not None:
        headers["Last-Modified"] = feed.last_modified
    if _not_modified(request, feed):
        return web.Response(status=304, headers=headers)
    body = feed.encoded()
    if feed.gzip:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = feed.content_type
    return web.Response(body=body, headers=headers)


async def _status(request: web.Request, rest: str) -> web.StreamResponse:
    headers = {}
    if "retry_after" in request.query:
        headers["Retry-After"] = request.query["retry_after"]
    return web.Response(status=int(rest or "200"), headers=headers)


async def _redirect(request: web.Request, rest: str) -> web.StreamResponse:
    n = int(rest or "1")
    to = request.query.get("to", "/feed.xml")
    if n <= 1:
        raise web.HTTPFound(to)
    raise web.HTTPFound(f"/redirect/{n - 1}?{request.query_string}")


async def _loop(request: web.Request, rest: str) -> web.StreamResponse:
    raise web.HTTPFound(request.path)


async def _slow_builtin(request: web.Request, rest: str) -> web.StreamResponse:
    trickle = _seconds(request, "trickle")
    if trickle:
        resp = web.StreamResponse(headers={"Content-Type": RSS_TYPE})
        await resp.prepare(request)
        for _ in range(int(_MAX_SLEEP / trickle)):
            await resp.write(b" ")
            await asyncio.sleep(trickle)
        return resp
    return await _slow(
        request, SAMPLE_RSS, _seconds(request, "before"), _seconds(request, "during")
    )


async def _slow(
    request: web.Request, body: bytes, before: float, during: float
) -> web.StreamResponse:
    await asyncio.sleep(before)
    resp = web.StreamResponse(headers={"Content-Type": RSS_TYPE})
    resp.content_length = len(body)
    await resp.prepare(request)
    half = len(body) // 2
    await resp.write(body[:half])
    await asyncio.sleep(during)
    await resp.write(body[half:])
    await resp.write_eof()
    return resp


async def _stream(
    request: web.Request, total: int, chunk: bytes, headers: dict[str, str], declared: bool
) -> web.StreamResponse:
    resp = web.StreamResponse(headers=headers)
    if declared:
        resp.content_length = total
    else:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        await resp.write(piece)
        sent += len(piece)
    await resp.write_eof()
    return resp


async def _huge(request: web.Request, rest: str) -> web.StreamResponse:
    size = int(request.query.get("size", 64 << 20))
    declared = request.query.get("declared", "1") != "0"
    headers = {"Content-Type": RSS_TYPE}
    return await _stream(request, size, b"x" * (64 << 10), headers, declared)


async def _bomb(request: web.Request, rest: str) -> web.StreamResponse:
    data = gzip_bomb(int(request.query.get("size", 100 << 20)))
    declared = request.query.get("declared", "1") != "0"
    headers = {"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"}
    resp = web.StreamResponse(headers=headers)
    if declared:
        resp.content_length = len(data)
    else:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    for i in range(0, len(data), 64 << 10):
        await resp.write(data[i : i + (64 << 10)])
    await resp.write_eof()
    return resp


async def _truncated_body(request: web.Request, rest: str) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": RSS_TYPE})
    resp.content_length = len(SAMPLE_RSS)
    await resp.prepare(request)
    await resp.write(SAMPLE_RSS[:100])
    assert request.transport is not None
    request.transport.close()  # hang up mid-body
    return resp


def _fixed(body: bytes, content_type: str) -> Callable[[web.Request, str], Any]:
    async def handler(request: web.Request, rest: str) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handler


_BUILTINS: dict[str, Callable[[web.Request, str], Awaitable[web.StreamResponse]]] = {
    "status": _status,
    "redirect": _redirect,
    "loop": _loop,
    "slow": _slow_builtin,
    "huge": _huge,
    "bomb": _bomb,
    "truncated-body": _truncated_body,
    "html": _fixed(HTML_PAGE, "text/html; charset=utf-8"),
    "truncated": _fixed(TRUNCATED_RSS, RSS_TYPE),
    "wrong-encoding": _fixed(WRONG_ENCODING_RSS, RSS_TYPE),
    "empty": _fixed(b"", RSS_TYPE),
}


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A running FeedServer on 127.0.0.1 for one test."""
    async with FeedServer() as server:
        yield server
