"""bot.feeds.fetch against a real aiohttp server on 127.0.0.1 (tests/fakes/feedserver.py)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import ipaddress
import socket
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.config import FetchConfig
from bot.feeds.fetch import (
    FEED_ACCEPT,
    PROJECT_URL,
    AddressPolicy,
    Fetched,
    Fetcher,
    FetchError,
    GuardedResolver,
    Unchanged,
    Validators,
    check_url,
    create_session,
    is_metadata_address,
    is_public_address,
    parse_retry_after,
    user_agent,
)
from tests.fakes.feedserver import SAMPLE_RSS, FeedServer, feed_server, make_rss

__all__ = ["feed_server"]  # the fixture, imported for pytest

LOOPBACK = FetchConfig(allow_private=True, connect_timeout=2.0, read_timeout=2.0)
GUARDED = replace(LOOPBACK, allow_private=False)

MakeFetcher = Callable[..., Awaitable[Fetcher]]


@pytest_asyncio.fixture
async def make_fetcher() -> AsyncIterator[MakeFetcher]:
    """Build fetchers on real sessions (closed at the end); kwargs go to create_session."""
    sessions = []

    async def make(limits: FetchConfig = LOOPBACK, **kwargs: object) -> Fetcher:
        session = create_session(limits, **kwargs)  # type: ignore[arg-type]  # test kwargs
        sessions.append(session)
        return Fetcher(session, limits)

    yield make
    for s in sessions:
        await s.close()


class StaticResolver(AbstractResolver):
    """Test DNS: fixed answers for a few names, the system resolver for the rest."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.names:
            raise OSError(f"test resolver does not know {host}")
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in self.names[host]
        ]

    async def close(self) -> None:
        pass


async def fetch_error(fetcher: Fetcher, url: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]  # validators only
    return info.value


# ----------------------------------------------------------------------- 200 and 304


async def test_200_returns_body_validators_and_final_url(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed = feed_server.add_feed(
        "/a.xml", SAMPLE_RSS, headers={"Cache-Control": "public, max-age=3600"}
    )
    fetcher = await make_fetcher()
    got = await fetcher.fetch(feed_server.url("/a.xml"))
    assert isinstance(got, Fetched)
    assert got.body == SAMPLE_RSS
    assert got.url == feed_server.url("/a.xml")
    assert got.content_type == "application/rss+xml; charset=utf-8"
    assert got.validators == Validators(
        etag=feed.etag,
        last_modified=feed.last_modified,
        body_hash=hashlib.sha256(SAMPLE_RSS).hexdigest(),
    )
    assert got.max_age == timedelta(hours=1)


async def test_304_sends_stored_validators_byte_exact(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    etag = 'W/"ünï-17;x"'  # weak, quoted, non-ASCII: must come back exactly
    lm = "Tue, 03 Feb 2026 04:05:06 GMT"
    feed_server.add_feed("/c.xml", SAMPLE_RSS, etag=etag, last_modified=lm)
    fetcher = await make_fetcher()
    first = await fetcher.fetch(feed_server.url("/c.xml"))
    assert isinstance(first, Fetched)
    assert first.validators.etag == etag and first.validators.last_modified == lm

    again = await fetcher.fetch(feed_server.url("/c.xml"), first.validators)
    assert again == Unchanged(first.validators, None)
    sent = feed_server.requests("/c.xml")[1].headers
    assert sent["If-None-Match"] == etag
    assert sent["If-Modified-Since"] == lm
    assert "If-None-Match" not in feed_server.requests("/c.xml")[0].headers


async def test_304_on_last_modified_alone(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed_server.add_feed("/lm.xml", SAMPLE_RSS, etag=False)
    fetcher = await make_fetcher()
    first = await fetcher.fetch(feed_server.url("/lm.xml"))
    assert isinstance(first, Fetched) and first.validators.etag is None
    again = await fetcher.fetch(feed_server.url("/lm.xml"), first.validators)
    assert isinstance(again, Unchanged)
    assert again.validators == first.validators


async def test_same_body_without_validators_is_unchanged_then_changed_body_is_fetched(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed_server.add_feed("/n.xml", SAMPLE_RSS, etag=False, last_modified=False)
    fetcher = await make_fetcher()
    first = await fetcher.fetch(feed_server.url("/n.xml"))
    assert isinstance(first, Fetched)
    again = await fetcher.fetch(feed_server.url("/n.xml"), first.validators)
    assert isinstance(again, Unchanged)  # a 200, but the hash matched: no parse
    assert feed_server.requests("/n.xml")[1].headers.get("If-None-Match") is None

    new_body = make_rss("Changed", (("New story", "News."),))
    feed_server.set_body("/n.xml", new_body)
    third = await fetcher.fetch(feed_server.url("/n.xml"), again.validators)
    assert isinstance(third, Fetched) and third.body == new_body


async def test_changed_feed_answers_200_to_old_validators(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed_server.add_feed("/ch.xml", SAMPLE_RSS)
    fetcher = await make_fetcher()
    first = await fetcher.fetch(feed_server.url("/ch.xml"))
    assert isinstance(first, Fetched)
    feed_server.set_body("/ch.xml", b"<rss/>")
    second = await fetcher.fetch(feed_server.url("/ch.xml"), first.validators)
    assert isinstance(second, Fetched) and second.body == b"<rss/>"
    assert second.validators.etag != first.validators.etag


async def test_user_agent_accept_and_encoding_sent(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    fetcher = await make_fetcher(replace(LOOPBACK, user_agent="ops@example.org"))
    await fetcher.fetch(feed_server.url("/feed.xml"))
    headers = feed_server.requests("/feed.xml")[0].headers
    assert headers["User-Agent"] == user_agent("ops@example.org")
    assert headers["User-Agent"].startswith("alertbot/")
    assert f"(+{PROJECT_URL})" in headers["User-Agent"]
    assert headers["Accept"] == FEED_ACCEPT
    assert headers["Accept-Encoding"] == "gzip, deflate"
    assert "Cookie" not in headers


def test_user_agent_strips_line_breaks() -> None:
    assert user_agent() == f"alertbot/{user_agent().split('/')[1].split()[0]} (+{PROJECT_URL})"
    assert "\n" not in user_agent("a\r\nX-Evil: 1")


# --------------------------------------------------------------------- decompression


async def test_gzip_body_is_inflated_and_hashed_after_inflating(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed_server.add_feed("/g.xml", SAMPLE_RSS, gzip=True)
    fetcher = await make_fetcher()
    got = await fetcher.fetch(feed_server.url("/g.xml"))
    assert isinstance(got, Fetched)
    assert got.body == SAMPLE_RSS
    assert got.validators.body_hash == hashlib.sha256(SAMPLE_RSS).hexdigest()


@pytest.mark.parametrize("wbits", [15, -15], ids=["zlib-deflate", "raw-deflate"])
async def test_deflate_both_flavours(
    feed_server: FeedServer, make_fetcher: MakeFetcher, wbits: int
) -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    data = c.compress(SAMPLE_RSS) + c.flush()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, headers={"Content-Encoding": "deflate"})

    feed_server.add_handler("/d.xml", handler)
    got = await (await make_fetcher()).fetch(feed_server.url("/d.xml"))
    assert isinstance(got, Fetched) and got.body == SAMPLE_RSS


async def test_multi_member_gzip(feed_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    data = gzip.compress(SAMPLE_RSS[:50]) + gzip.compress(SAMPLE_RSS[50:])

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, headers={"Content-Encoding": "gzip"})

    feed_server.add_handler("/mm.xml", handler)
    got = await (await make_fetcher()).fetch(feed_server.url("/mm.xml"))
    assert isinstance(got, Fetched) and got.body == SAMPLE_RSS


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", gzip.compress(SAMPLE_RSS)[:-30]),
        ("br", b"\x0b\x02\x80hello\x03"),
    ],
    ids=["corrupt", "truncated-stream", "unsupported"],
)
async def test_bad_encodings_are_decompression_errors(
    feed_server: FeedServer, make_fetcher: MakeFetcher, encoding: str, data: bytes
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, headers={"Content-Encoding": encoding})

    feed_server.add_handler("/bad.xml", handler)
    err = await fetch_error(await make_fetcher(), feed_server.url("/bad.xml"))
    assert err.kind == "decompression"
    assert not err.permanent


# ---------------------------------------------------------------------------- limits

SMALL = replace(LOOPBACK, max_body_bytes=1 << 20)


@pytest.mark.parametrize("declared", ["1", "0"], ids=["declared", "streamed"])
async def test_too_large(feed_server: FeedServer, make_fetcher: MakeFetcher, declared: str) -> None:
    fetcher = await make_fetcher(SMALL)
    url = feed_server.url(f"/huge?size={8 << 20}&declared={declared}")
    err = await fetch_error(fetcher, url)
    assert err.kind == "too-large"
    assert "1048576-byte limit (fetch.max_body_bytes)" in str(err)
    assert ("declares" in str(err)) == (declared == "1")


async def test_body_exactly_at_the_cap_is_fine(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    got = await (await make_fetcher(SMALL)).fetch(feed_server.url(f"/huge?size={1 << 20}"))
    assert isinstance(got, Fetched) and len(got.body) == 1 << 20


@pytest.mark.parametrize("declared", ["1", "0"], ids=["content-length", "chunked"])
async def test_gzip_bomb_fails_fast_in_small_memory(
    feed_server: FeedServer, make_fetcher: MakeFetcher, declared: str
) -> None:
    fetcher = await make_fetcher(SMALL)
    url = feed_server.url(f"/bomb?size={200 << 20}&declared={declared}")
    await fetcher.fetch(feed_server.url("/feed.xml"))  # warm up: connection, imports
    from tests.fakes.feedserver import gzip_bomb

    gzip_bomb(200 << 20)  # build the bomb outside the measurement (it is ~200 kB)
    tracemalloc.start()
    try:
        err = await fetch_error(fetcher, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.kind == "too-large"
    assert "gzip body inflates over" in str(err)
    # 200 MiB of zeros behind a 1 MiB cap: we never hold much more than the cap.
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB"


# -------------------------------------------------------------------------- timeouts

FAST = replace(LOOPBACK, connect_timeout=1.0, read_timeout=0.3)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("before=3", "waiting for the server"),
        ("during=3", ""),  # silence mid-body: either deadline may fire first
        ("trickle=0.05", "reading the body"),
    ],
    ids=["before-headers", "mid-body", "trickle"],
)
async def test_slow_server_times_out(
    feed_server: FeedServer, make_fetcher: MakeFetcher, query: str, words: str
) -> None:
    fetcher = await make_fetcher(FAST)
    url = feed_server.url(f"/slow?{query}")
    err = await fetch_error(fetcher, url)
    assert err.kind == "timeout"
    assert str(err).startswith(f"{url}: timed out after 0.3 s {words}")
    assert not err.permanent


async def test_slow_but_within_limits_is_fine(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    got = await (await make_fetcher(FAST)).fetch(feed_server.url("/slow?before=0.05&during=0.05"))
    assert isinstance(got, Fetched) and got.body == SAMPLE_RSS


async def test_connection_refused_is_connect_error(make_fetcher: MakeFetcher) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = await fetch_error(await make_fetcher(), f"http://127.0.0.1:{port}/feed")
    assert err.kind == "connect" and not err.permanent


async def test_truncated_body_is_reported(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    err = await fetch_error(await make_fetcher(), feed_server.url("/truncated-body"))
    assert err.kind == "truncated"
    assert "received 100 of" in str(err)


# ------------------------------------------------------------------------- redirects


async def test_five_redirects_ok_six_refused(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    fetcher = await make_fetcher()
    got = await fetcher.fetch(feed_server.url("/redirect/5"))
    assert isinstance(got, Fetched)
    assert got.url == feed_server.url("/feed.xml")
    assert got.body == SAMPLE_RSS

    err = await fetch_error(fetcher, feed_server.url("/redirect/6"))
    assert err.kind == "redirects"
    assert feed_server.hits("/feed.xml") == 1  # the refused chain never reached it


async def test_redirect_loop(feed_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    err = await fetch_error(await make_fetcher(), feed_server.url("/loop"))
    assert err.kind == "redirects"
    assert "stopped after 5 redirects" in str(err)
    assert feed_server.hits("/loop") == 6


async def test_redirect_keeps_conditional_headers_and_reports_new_validators(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed = feed_server.add_feed("/moved.xml", SAMPLE_RSS)
    feed_server.add_redirect("/old.xml", "/moved.xml", status=301)
    fetcher = await make_fetcher()
    first = await fetcher.fetch(feed_server.url("/old.xml"))
    assert isinstance(first, Fetched) and first.url == feed_server.url("/moved.xml")
    again = await fetcher.fetch(feed_server.url("/old.xml"), first.validators)
    assert isinstance(again, Unchanged)
    assert feed_server.requests("/moved.xml")[1].headers["If-None-Match"] == feed.etag


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://x/feed", "javascript:1"])
async def test_redirect_to_bad_scheme(
    feed_server: FeedServer, make_fetcher: MakeFetcher, location: str
) -> None:
    feed_server.add_redirect("/r", location)
    err = await fetch_error(await make_fetcher(), feed_server.url("/r"))
    assert err.kind == "bad-url" and err.permanent
    assert "redirected to" in str(err)


async def test_redirect_without_location(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed_server.add_status("/nowhere", 302)
    err = await fetch_error(await make_fetcher(), feed_server.url("/nowhere"))
    assert err.kind == "http-302"


# ------------------------------------------------------------------------ HTTP errors


@pytest.mark.parametrize(
    ("status", "permanent"), [(404, True), (410, True), (500, False), (403, False)]
)
async def test_http_errors(
    feed_server: FeedServer, make_fetcher: MakeFetcher, status: int, permanent: bool
) -> None:
    url = feed_server.url(f"/status/{status}")
    err = await fetch_error(await make_fetcher(), url)
    assert err.kind == f"http-{status}"
    assert err.status == status
    assert err.permanent is permanent
    assert err.retry_after is None
    assert str(err).startswith(f"{url}: HTTP {status} ")


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds(
    feed_server: FeedServer, make_fetcher: MakeFetcher, status: int
) -> None:
    err = await fetch_error(
        await make_fetcher(), feed_server.url(f"/status/{status}?retry_after=120")
    )
    assert err.kind == f"http-{status}"
    assert err.retry_after == timedelta(seconds=120)
    assert "retry after 120 s" in str(err)
    assert not err.permanent


async def test_retry_after_http_date(feed_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    feed_server.add_status("/limited", 429, retry_after=format_datetime(when, usegmt=True))
    err = await fetch_error(await make_fetcher(), feed_server.url("/limited"))
    assert err.retry_after is not None
    assert timedelta(minutes=9) < err.retry_after <= timedelta(minutes=10)


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("0", now) == timedelta(0)
    assert parse_retry_after(" 30 ", now) == timedelta(seconds=30)
    assert parse_retry_after("Thu, 01 Jan 2026 12:05:00 GMT", now) == timedelta(minutes=5)
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == timedelta(0)  # past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("9" * 40, now) == timedelta(days=365)  # no overflow


async def test_expires_gives_max_age(feed_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    date = "Thu, 01 Jan 2026 12:00:00 GMT"
    feed_server.add_feed(
        "/exp.xml",
        SAMPLE_RSS,
        headers={"Date": date, "Expires": "Thu, 01 Jan 2026 12:30:00 GMT"},
    )
    feed_server.add_feed("/exp0.xml", SAMPLE_RSS, headers={"Expires": "0"})
    fetcher = await make_fetcher()
    got = await fetcher.fetch(feed_server.url("/exp.xml"))
    assert isinstance(got, Fetched) and got.max_age == timedelta(minutes=30)
    got0 = await fetcher.fetch(feed_server.url("/exp0.xml"))
    assert isinstance(got0, Fetched) and got0.max_age == timedelta(0)


# ------------------------------------------------------------------------ SSRF guard


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed",
        "http://localhost/feed",
        "http://LOCALHOST./feed",
        "http://api.localhost/feed",
        "http://[::1]/feed",
        "http://10.0.0.1/feed",
        "http://192.168.1.1/feed",
        "http://172.16.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/feed",
        "http://[::]/feed",
        "http://[::ffff:127.0.0.1]/feed",
        "http://[::ffff:a9fe:a9fe]/feed",
        "http://[fe80::1]/feed",
        "http://[fd00::1]/feed",
        "http://224.0.0.1/feed",
        "http://100.64.0.1/feed",
    ],
)
def test_check_url_refuses_private_literals(url: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url(url, allow_private=False)
    assert info.value.kind == "private-address"
    assert info.value.permanent
    host = URL(url).raw_host or ""
    if "localhost" not in host.lower() and is_metadata_address(ipaddress.ip_address(host)):
        assert "cloud metadata address" in str(info.value)
        with pytest.raises(FetchError, match="never fetched, even with allow_private"):
            check_url(url, allow_private=True)
        return
    assert "allow_private = true" in str(info.value)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_metadata_addresses_are_refused_even_with_allow_private(url: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url(url, allow_private=True)
    assert info.value.kind == "private-address" and info.value.permanent
    assert "cloud metadata address" in str(info.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "list a local path"),
        ("ftp://example.org/feed", "not ftp:"),
        ("javascript:alert(1)", "not javascript:"),
        ("example.org/feed", "write it with http://"),
        ("", "empty URL"),
        ("http:///feed", "no host"),
        ("http://example.org:99999/", "not a valid URL"),
        ("http://2130706433/", "not a dotted IPv4"),
        ("http://127.1/", "not a dotted IPv4"),
    ],
)
def test_check_url_refuses_bad_urls(url: str, words: str) -> None:
    for allow in (False, True):
        with pytest.raises(FetchError) as info:
            check_url(url, allow_private=allow)
        assert info.value.kind == "bad-url"
        assert info.value.permanent
        assert words in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://example.org/rss", "HTTP://Example.ORG:8080/a?b=c", "https://8.8.8.8/f"]
)
def test_check_url_accepts_public(url: str) -> None:
    assert check_url(f"  {url} ", allow_private=False) == url


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 wrapping 169.254.169.254
        ("64:ff9b::5db8:d822", True),  # NAT64 wrapping 93.184.216.34
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_guard_refuses_literal_and_loopback_names_without_connecting(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    fetcher = await make_fetcher(GUARDED)
    for url in (
        feed_server.url("/feed.xml"),
        f"http://localhost:{feed_server.port}/feed.xml",
        f"http://[::1]:{feed_server.port}/feed.xml",
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
    ):
        err = await fetch_error(fetcher, url)
        assert err.kind == "private-address", url
    assert feed_server.hits("/feed.xml") == 0


async def test_guard_checks_names_at_connect_time(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    dns = StaticResolver({"intranet.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    fetcher = await make_fetcher(GUARDED, resolver=dns)
    err = await fetch_error(fetcher, f"http://intranet.test:{feed_server.port}/feed.xml")
    assert err.kind == "private-address" and err.permanent
    assert "intranet.test resolves to 127.0.0.1 (a loopback address)" in str(err)
    err = await fetch_error(fetcher, "http://metadata.test/latest/meta-data/")
    assert err.kind == "private-address"
    assert dns.asked == ["intranet.test", "metadata.test"]
    assert feed_server.hits("/feed.xml") == 0

    # The same name is fine when the operator allows private addresses;
    # the metadata address never is: it holds the machine's cloud credentials.
    allowed = await make_fetcher(LOOPBACK, resolver=dns)
    got = await allowed.fetch(f"http://intranet.test:{feed_server.port}/feed.xml")
    assert isinstance(got, Fetched)
    err = await fetch_error(allowed, "http://metadata.test/latest/meta-data/")
    assert err.kind == "private-address" and err.permanent
    assert "169.254.169.254 (a cloud metadata address, never fetched)" in str(err)


async def test_unknown_name_is_a_dns_error(make_fetcher: MakeFetcher) -> None:
    fetcher = await make_fetcher(GUARDED, resolver=StaticResolver({}))
    err = await fetch_error(fetcher, "http://no-such-host.test/feed")
    assert err.kind == "dns" and not err.permanent


def _only(address: str) -> AddressPolicy:
    """A guard policy that treats one loopback address as public (tests only)."""
    return lambda ip: str(ip) == address or is_public_address(ip)


@pytest.fixture
def second_loopback() -> str:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("127.0.0.2 is not routable to this host (not Linux?)")
    return "127.0.0.2"


async def test_redirect_from_allowed_to_private_is_refused(
    feed_server: FeedServer, make_fetcher: MakeFetcher, second_loopback: str
) -> None:
    """A "public" server (127.0.0.2, allowed by the test policy) redirects to loopback."""
    dns = StaticResolver({"private.test": ["127.0.0.1"], "public.test": [second_loopback]})
    async with FeedServer(host=second_loopback) as public:
        public.add_redirect("/to-literal", feed_server.url("/feed.xml"))
        public.add_redirect("/to-name", f"http://private.test:{feed_server.port}/feed.xml")
        public.add_redirect("/to-public", public.url("/feed.xml"))

        # Control: without the guard both redirects really reach the private server.
        control = await make_fetcher(LOOPBACK, resolver=dns)
        for path in ("/to-literal", "/to-name"):
            assert isinstance(await control.fetch(public.url(path)), Fetched)
        assert feed_server.hits("/feed.xml") == 2

        guarded = await make_fetcher(GUARDED, resolver=dns, address_policy=_only(second_loopback))
        assert isinstance(await guarded.fetch(public.url("/to-public")), Fetched)
        for path in ("/to-literal", "/to-name"):
            err = await fetch_error(guarded, public.url(path))
            assert err.kind == "private-address", path
            assert err.permanent
        assert feed_server.hits("/feed.xml") == 2  # nothing more got through
        # And a public name works through the guard (the policy allows 127.0.0.2).
        got = await guarded.fetch(f"http://public.test:{public.port}/feed.xml")
        assert isinstance(got, Fetched)


async def test_resolver_keeps_only_allowed_addresses() -> None:
    dns = StaticResolver({"mixed.test": ["10.0.0.1", "93.184.216.34"], "bad.test": ["::1"]})
    guard = GuardedResolver(is_public_address, dns)
    got = await guard.resolve("mixed.test", 80)
    assert [r["host"] for r in got] == ["93.184.216.34"]
    with pytest.raises(OSError, match=r"bad\.test resolves to ::1"):
        await guard.resolve("bad.test", 80)


async def test_fetcher_refuses_unguarded_session() -> None:
    session = create_session(LOOPBACK)  # no guard: built for allow_private
    try:
        with pytest.raises(ValueError, match="create_session"):
            Fetcher(session, GUARDED)
    finally:
        await session.close()


def test_credentials_are_not_shown_in_errors() -> None:
    with pytest.raises(FetchError) as info:
        check_url("https://user:secret@10.0.0.1/feed", allow_private=False)
    assert "secret" not in str(info.value)


# ----------------------------------------------------------------------- concurrency


async def test_per_host_limit_bounds_requests_in_flight(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    feed_server.add_slow("/s.xml", SAMPLE_RSS, before=0.05)
    fetcher = await make_fetcher(replace(LOOPBACK, max_per_host=2, max_connections=10))
    results = await asyncio.gather(*(fetcher.fetch(feed_server.url("/s.xml")) for _ in range(8)))
    assert all(isinstance(r, Fetched) for r in results)
    assert feed_server.max_in_flight == 2


async def test_many_feeds_200_then_304(feed_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    n = 500
    for i in range(n):
        feed_server.add_feed(f"/f/{i}.xml", make_rss(f"Feed {i}", ((f"Story {i}", "x"),)))
    fetcher = await make_fetcher(replace(LOOPBACK, max_connections=50, max_per_host=50))
    urls = [feed_server.url(f"/f/{i}.xml") for i in range(n)]
    first = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert all(isinstance(r, Fetched) for r in first)
    second = await asyncio.gather(
        *(fetcher.fetch(u, r.validators) for u, r in zip(urls, first, strict=True))
    )
    assert all(isinstance(r, Unchanged) for r in second)
    assert feed_server.max_in_flight <= 50


# ------------------------------------------------------------------------ local files


async def test_fetch_file(tmp_path: Path, make_fetcher: MakeFetcher) -> None:
    path = tmp_path / "sample.xml"
    path.write_bytes(SAMPLE_RSS)
    fetcher = await make_fetcher(GUARDED)  # files are operator config: no address guard
    got = await fetcher.fetch_file(path)
    assert isinstance(got, Fetched)
    assert got.body == SAMPLE_RSS
    assert got.url == path.as_uri()
    assert got.validators == Validators(body_hash=hashlib.sha256(SAMPLE_RSS).hexdigest())
    assert await fetcher.fetch_file(path, got.validators) == Unchanged(got.validators, None)
    path.write_bytes(b"<rss/>")
    assert isinstance(await fetcher.fetch_file(path, got.validators), Fetched)


async def test_fetch_file_errors(tmp_path: Path, make_fetcher: MakeFetcher) -> None:
    fetcher = await make_fetcher(replace(LOOPBACK, max_body_bytes=1024))
    with pytest.raises(FetchError) as info:
        await fetcher.fetch_file(tmp_path / "missing.xml")
    assert info.value.kind == "not-found" and info.value.permanent
    assert str(info.value).startswith(str(tmp_path / "missing.xml"))

    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 1025)
    with pytest.raises(FetchError) as info:
        await fetcher.fetch_file(big)
    assert info.value.kind == "too-large"

    with pytest.raises(FetchError) as info:
        await fetcher.fetch_file(tmp_path)  # a directory
    assert info.value.kind == "file"


# -------------------------------------------------------------- server fixture itself


async def test_feed_server_bodies_for_parser_tests(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    fetcher = await make_fetcher()
    for path in ("/html", "/truncated", "/wrong-encoding", "/empty"):
        got = await fetcher.fetch(feed_server.url(path))
        assert isinstance(got, Fetched), path
    assert feed_server.hits("/html") == 1
    assert feed_server.requests("/html")[0].method == "GET"


async def test_too_many_gzip_members(feed_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    data = gzip.compress(b"x") * 2000

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, headers={"Content-Encoding": "gzip"})

    feed_server.add_handler("/members.xml", handler)
    err = await fetch_error(await make_fetcher(), feed_server.url("/members.xml"))
    assert err.kind == "decompression" and "1024 gzip members" in str(err)


class HangingResolver(StaticResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")


@pytest.mark.parametrize("limits", [LOOPBACK, GUARDED], ids=["allow-private", "guarded"])
async def test_hanging_dns_times_out(make_fetcher: MakeFetcher, limits: FetchConfig) -> None:
    fetcher = await make_fetcher(replace(limits, connect_timeout=0.2), resolver=HangingResolver({}))
    err = await fetch_error(fetcher, "http://slow-dns.test/feed")
    assert err.kind == "timeout"
    assert "timed out after 0.2 s resolving or connecting" in str(err)


async def test_headers_trickled_a_byte_at_a_time_hit_the_overall_deadline() -> None:
    """Each read gets a byte, so the per-read timeout never fires: the deadline does."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        try:
            while True:
                await asyncio.sleep(0.1)
                writer.write(b"a")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limits = FetchConfig(allow_private=True, connect_timeout=0.5, read_timeout=0.5)
    try:
        async with create_session(limits) as session:
            fetcher = Fetcher(session, limits)
            started = asyncio.get_running_loop().time()
            with pytest.raises(FetchError) as info:
                await asyncio.wait_for(fetcher.fetch(f"http://127.0.0.1:{port}/feed"), 10)
            took = asyncio.get_running_loop().time() - started
    finally:
        server.close()
    assert info.value.kind == "timeout" and "too slowly" in str(info.value)
    assert took < fetcher.deadline + 1.0


# ----------------------------------------------------------------------- byte budget


async def test_byte_budget_bounds_bodies_in_flight(
    feed_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    """Six 300 kB bodies fetched at once, held until released: never more than the
    budget plus one body, and every fetch finishes (the oldest hold always proceeds)."""
    body = make_rss(title="big", items=[("x" * 300_000, "https://ex.org/1")])
    for i in range(6):
        feed_server.add_feed(f"/big/{i}.xml", body)
    limits = replace(LOOPBACK, max_body_bytes=400_000, max_inflight_bytes=500_000)
    fetcher = await make_fetcher(limits)
    holds = [fetcher.budget.hold() for _ in range(6)]

    async def one(i: int) -> int:
        got = await fetcher.fetch(feed_server.url(f"/big/{i}.xml"), hold=holds[i])
        assert isinstance(got, Fetched)
        await asyncio.sleep(0.01)  # the poller parses the body meanwhile
        await holds[i].release()
        return len(got.body)

    sizes = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(6))), 20)
    assert all(s > 300_000 for s in sizes)
    assert 300_000 < fetcher.budget.peak <= 500_000 + 400_000
    assert fetcher.budget.used == 0


async def test_byte_budget_oldest_hold_proceeds() -> None:
    from bot.feeds.fetch import ByteBudget

    budget = ByteBudget(100)
    first, second = budget.hold(), budget.hold()
    await second.take(90)
    assert await asyncio.wait_for(first.take(50), 1) >= 0  # oldest: over the budget, not blocked
    waiting = asyncio.ensure_future(second.take(50))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # not the oldest: waits for bytes to come back
    await first.release()
    await asyncio.wait_for(waiting, 1)
    assert budget.used == 140
    await second.release()
    assert budget.used == 0 and budget.peak == 140
