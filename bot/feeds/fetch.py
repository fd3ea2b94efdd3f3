"""Fetch feed bytes politely and safely. Fetching only: parsing is another step.

A fetch answers one of three ways (STYLE.md habit 2):

- ``Fetched``: a new body to parse, with the validators to store and hand back;
- ``Unchanged``: a ``304``, or a ``200`` whose body hashes the same as last time,
  so the parser never runs;
- ``FetchError``: one line saying what went wrong where, with a short ``kind``, a
  ``permanent`` flag and any ``Retry-After`` the server sent.

Politeness: conditional GET (``If-None-Match`` / ``If-Modified-Since`` sent exactly
as stored), ``gzip``/``deflate``, an identifiable User-Agent with the project URL,
bounded concurrency overall and per host (connector limits of the one shared session).

Safety limits come from ``FetchConfig`` (named like the ``[fetch]`` TOML keys):

- ``connect_timeout`` bounds the DNS lookup and the TCP/TLS connect of each hop, but
  not the wait for a free slot in the pool (with hundreds of feeds behind
  ``max_connections`` that wait is normal; callers bound it by how much they start);
  ``read_timeout`` bounds both any silence while waiting for headers or data and the
  whole body read, so a trickling server cannot hold a slot for ever;
- ``max_body_bytes`` is enforced on the declared ``Content-Length``, on the bytes as
  they stream in, and on the decompressed output. We decompress ourselves (aiohttp's
  automatic decompression is off) with ``zlib`` and ``max_length``, so a gzip bomb
  stops after at most ``max_body_bytes + 1`` inflated bytes. A fetch holds at most
  about twice ``max_body_bytes`` at its peak (buffer growth and the final copy);
- redirects are followed by hand, at most ``max_redirects``, each target re-checked;
- SSRF guard (unless ``allow_private``): URLs naming non-public IP literals or
  ``localhost`` are refused up front (``check_url``); host names are refused *when
  resolved*, by a resolver that drops non-public addresses, and every socket is
  checked once more against its exact destination just before it connects, so DNS
  rebinding and redirects cannot reach private, loopback, link-local, multicast,
  reserved or unspecified addresses (IPv4 and IPv6, including mapped, 6to4 and NAT64
  forms). No proxy from the environment is used (``trust_env=False``): a proxy would
  make that check meaningless.

Known limits: ``br`` and ``zstd`` are not requested (``brotli`` is not a dependency
and its incremental API cannot cap output in every version); cookies are not kept
between requests; non-UTF-8 bytes in ``ETag``/``Last-Modified`` cannot be sent back
byte-exact through aiohttp, so such a validator is dropped and the body hash does its
job instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import ipaddress
import re
import socket
import weakref
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from bot.config import FetchConfig

__all__ = [
    "ACCEPT_ENCODING",
    "FEED_ACCEPT",
    "PROJECT_URL",
    "AddressPolicy",
    "FetchError",
    "Fetched",
    "Fetcher",
    "GuardedResolver",
    "Unchanged",
    "Validators",
    "check_url",
    "create_session",
    "is_public_address",
    "parse_retry_after",
    "user_agent",
]

PROJECT_URL: Final = "https://github.com/alertbot/alertbot"

FEED_ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
"""What a feed reader should ask for: feed types first, anything as a last resort."""

ACCEPT_ENCODING: Final = "gzip, deflate"
"""Only encodings we can inflate with a hard output cap (see the module docstring)."""

_CHUNK: Final = 64 * 1024
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES: Final = frozenset({404, 410, 451})
"""Gone for good until someone edits the feed list. 401/403 are not here: bot walls
and paywalls come and go."""
_RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
_MAX_RETRY_AFTER: Final = timedelta(days=365)
"""Only guards timedelta overflow; the scheduler applies its own, smaller cap."""

try:
    _VERSION = metadata.version("alertbot")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    _VERSION = "0.1"


def user_agent(extra: str = "") -> str:
    """``alertbot/<version> (+<project URL>)``, then ``extra`` (e.g. an operator contact).

    ``extra`` is appended, never substituted, so the bot stays identifiable.
    """
    base = f"alertbot/{_VERSION} (+{PROJECT_URL})"
    extra = " ".join(extra.split())  # no CR/LF smuggled into a header
    return f"{base} {extra}" if extra else base


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Validators:
    """Opaque caching state: the store keeps it byte-exact and hands it back next time."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    """sha256 hex of the (decompressed) body."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A new body to parse."""

    url: str
    """Final URL after redirects (a ``file://`` URI for ``fetch_file``)."""
    body: bytes
    content_type: str
    """The ``Content-Type`` header as sent (charset included), "" when absent."""
    validators: Validators
    max_age: timedelta | None
    """From ``Cache-Control: max-age`` or ``Expires``; None when the server said nothing."""


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A ``304``, or a ``200`` with the same body hash: costs no parse."""

    validators: Validators
    max_age: timedelta | None


class FetchError(Exception):
    """A fetch that failed, in one line: ``"<url>: <what happened>"``.

    ``kind`` is a short code for the store and the status page: ``timeout``,
    ``too-large``, ``http-404`` (any ``http-NNN``), ``redirects``, ``private-address``,
    ``dns``, ``connect``, ``tls``, ``bad-url``, ``decompression``, ``truncated``,
    ``protocol``, ``not-found`` and ``file`` (local files).
    ``permanent`` means retrying will not help until someone changes the feed list
    (404/410/451, bad URL, private address, missing file).
    """

    def __init__(
        self,
        url: str,
        kind: str,
        message: str,
        *,
        permanent: bool = False,
        retry_after: timedelta | None = None,
        status: int | None = None,
    ) -> None:
        self.url = url
        self.kind = kind
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"{_display(url)}: {message}")


def _display(url: str) -> str:
    """The URL without any user:password, for messages and logs."""
    try:
        u = URL(url)
    except (ValueError, TypeError):
        return url
    if u.user is None and u.password is None:
        return url
    return str(u.with_user(None))


# --------------------------------------------------------------------- address guard

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
"""True when the bot may connect to this address."""

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


def _unwrap(addr: IPAddress) -> IPAddress:
    """The IPv4 address inside a mapped, 6to4 or NAT64 IPv6 address; else ``addr``."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return addr


def is_public_address(addr: IPAddress) -> bool:
    """True for globally routable unicast addresses; IPv4 embedded in IPv6 is unwrapped."""
    addr = _unwrap(addr)
    return not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


_METADATA: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure, OpenStack metadata, ECS task role
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fe80::a9fe:a9fe/128",  # 169.254.169.254 as an IPv6 link-local (some clouds)
    )
)


def is_metadata_address(addr: IPAddress) -> bool:
    """A cloud instance-metadata address (credentials live there): never fetched,
    even with ``allow_private``, which is meant for intranet feeds."""
    addr = _unwrap(addr)
    return any(addr.version == n.version and addr in n for n in _METADATA)


def not_metadata(addr: IPAddress) -> bool:
    """The rule under ``allow_private``: anything but a metadata address."""
    return not is_metadata_address(addr)


def _describe(addr: IPAddress) -> str:
    if is_metadata_address(addr):
        return "a cloud metadata address"
    inner: IPAddress = addr
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        inner = addr.ipv4_mapped
    for test, name in (
        (inner.is_loopback, "loopback"),
        (inner.is_unspecified, "unspecified"),
        (inner.is_link_local, "link-local"),
        (inner.is_multicast, "multicast"),
        (inner.is_reserved, "reserved"),
        (inner.is_private, "private"),
    ):
        if test:
            return f"a {name} address"
    return "not a public address"


_HINT_PRIVATE: Final = "set [fetch] allow_private = true to fetch intranet or loopback feeds"


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


class _BlockedAddress(OSError):
    """Raised inside aiohttp's connect path; an OSError so aiohttp wraps it, not crashes."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self.host = host
        self.addresses = addresses
        shown = ", ".join(addresses[:4])
        first = _ip(addresses[0]) if addresses else None
        what = _describe(first) if first is not None else "not a public address"
        if first is not None and is_metadata_address(first):
            what = "a cloud metadata address, never fetched"
        super().__init__(f"{host} resolves to {shown} ({what}); refusing to connect")


class GuardedResolver(AbstractResolver):
    """Resolve with ``inner`` (within ``timeout`` seconds), keep only addresses the policy
    allows, refuse if none are left.

    Runs on every connection aiohttp makes (its DNS cache holds filtered answers), so a
    name that re-resolves to a private address later (DNS rebinding) is refused then.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        inner: AbstractResolver | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else ThreadedResolver()
        self._timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # aiohttp's sock_connect timeout does not cover DNS; a hung resolver must not
        # hold a fetch for ever. aiohttp reports this TimeoutError as a connect timeout.
        async with asyncio.timeout(self._timeout):
            results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if (ip := _ip(r["host"])) and self._policy(ip)]
        if not allowed:
            raise _BlockedAddress(host, [r["host"] for r in results])
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def _guarded_socket_factory(policy: AddressPolicy) -> Callable[[Any], socket.socket]:
    """Last line of defence: checks the exact address each socket is about to connect to.

    IP literals skip aiohttp's resolver, so this is what stops them at connect time.
    """

    def factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        ip = _ip(str(sockaddr[0]))
        if ip is None or not policy(ip):
            raise _BlockedAddress(str(sockaddr[0]), [str(sockaddr[0])])
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


# Sessions built by create_session with the guard installed, and its policy. A
# WeakKeyDictionary because ClientSession refuses new attributes.
_GUARDED: weakref.WeakKeyDictionary[aiohttp.ClientSession, AddressPolicy] = (
    weakref.WeakKeyDictionary()
)

_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]*))*\.?", re.I)


def check_url(url: str, *, allow_private: bool, policy: AddressPolicy = is_public_address) -> str:
    """Validate a feed URL before any network use; return it (stripped) or raise FetchError.

    Checks the scheme (http/https only), that there is a host, and unless
    ``allow_private``, that the host is not a non-public IP literal or ``localhost``.
    Host names are checked again at connect time (see ``GuardedResolver``).
    """
    text = url.strip()
    if not text:
        raise FetchError(url, "bad-url", "empty URL", permanent=True)
    try:
        u = URL(text)
        u.port  # noqa: B018  # yarl validates the port lazily; make it raise here
    except (ValueError, TypeError) as e:
        raise FetchError(text, "bad-url", f"not a valid URL ({e})", permanent=True) from None
    scheme = u.scheme.lower()
    if scheme not in ("http", "https"):
        if not scheme:
            hint = "not an absolute URL: write it with http:// or https://"
        elif scheme == "file":
            hint = "file: URLs are not fetched; list a local path in the operator config instead"
        else:
            hint = f"only http:// and https:// feeds can be fetched, not {scheme}:"
        raise FetchError(text, "bad-url", hint, permanent=True)
    host = u.raw_host
    if not host:
        raise FetchError(text, "bad-url", "URL has no host name", permanent=True)
    bare = host.rstrip(".").lower()
    ip = _ip(bare)
    if ip is None and _NUMERIC_HOST.fullmatch(bare):
        # 2130706433, 127.1, 0x7f.0.0.1: resolvers map these to addresses; aiohttp refuses
        # them anyway, say why here.
        raise FetchError(
            text,
            "bad-url",
            f"numeric host {host} is not a dotted IPv4 address (write a.b.c.d)",
            permanent=True,
        )
    if ip is not None and is_metadata_address(ip):
        raise FetchError(
            text,
            "private-address",
            f"{bare} is a cloud metadata address; never fetched, even with allow_private",
            permanent=True,
        )
    if allow_private:
        return text
    if ip is not None and not policy(ip):
        raise FetchError(
            text,
            "private-address",
            f"{bare} is {_describe(ip)}; refusing ({_HINT_PRIVATE})",
            permanent=True,
        )
    if bare == "localhost" or bare.endswith(".localhost"):  # RFC 6761: always loopback
        raise FetchError(
            text,
            "private-address",
            f"{bare} is a loopback name; refusing ({_HINT_PRIVATE})",
            permanent=True,
        )
    return text


# ------------------------------------------------------------------------- session


def create_session(
    limits: FetchConfig,
    *,
    resolver: AbstractResolver | None = None,
    address_policy: AddressPolicy | None = None,
) -> aiohttp.ClientSession:
    """The ONE shared session: limits, timeouts, User-Agent and (unless allowed) the guard.

    ``resolver`` replaces the system resolver (tests map names to loopback);
    ``address_policy`` replaces ``is_public_address`` as the guard's rule (tests only).
    Must be called inside a running event loop; close it with ``await session.close()``.
    """
    timeout = aiohttp.ClientTimeout(
        total=None,
        # Not ``connect``: that would also count the wait for a free pool slot, and with
        # hundreds of feeds behind max_connections that wait is normal, not an error.
        sock_connect=limits.connect_timeout,
        sock_read=limits.read_timeout,
    )
    policy: AddressPolicy | None = None
    if limits.allow_private:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            limit_per_host=limits.max_per_host,
            resolver=GuardedResolver(not_metadata, resolver, timeout=limits.connect_timeout),
            socket_factory=_guarded_socket_factory(not_metadata),
        )
    else:
        policy = address_policy or is_public_address
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            limit_per_host=limits.max_per_host,
            resolver=GuardedResolver(policy, resolver, timeout=limits.connect_timeout),
            socket_factory=_guarded_socket_factory(policy),
        )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={
            "User-Agent": user_agent(limits.user_agent),
            # Explicit, so aiohttp never advertises br/zstd we would not inflate.
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        auto_decompress=False,  # we inflate ourselves, with a cap
        cookie_jar=aiohttp.DummyCookieJar(),  # feeds are independent; keep no state
        trust_env=False,  # an env proxy would bypass the address guard
    )
    if policy is not None:
        _GUARDED[session] = policy
    return session


# --------------------------------------------------------------------- header values


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as delay-seconds or an HTTP date → a non-negative delay, or None."""
    if value is None:
        return None
    v = value.strip()
    if v.isdigit():
        return min(timedelta(seconds=int(v[:12])), _MAX_RETRY_AFTER)
    when = _http_date(v)
    if when is None:
        return None
    return min(max(timedelta(0), when - now), _MAX_RETRY_AFTER)


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return when


def _max_age(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long the server says the response stays fresh (Cache-Control over Expires)."""
    cc = headers.get("Cache-Control")
    if cc:
        for directive in cc.split(","):
            name, _, value = directive.strip().partition("=")
            if name.strip().lower() == "max-age":
                v = value.strip().strip('"')
                if v.isdigit():
                    return min(timedelta(seconds=int(v[:12])), _MAX_RETRY_AFTER)
    expires = headers.get("Expires")
    if expires is not None:
        when = _http_date(expires)
        if when is None:
            return timedelta(0)  # RFC 9111: an invalid Expires (often "0") means stale
        date = _http_date(headers.get("Date", "")) or now
        return min(max(timedelta(0), when - date), _MAX_RETRY_AFTER)
    return None


def _sendable(value: str | None) -> str | None:
    """A validator we can store as text and send back byte-exact, else None.

    aiohttp decodes header bytes as UTF-8 with surrogateescape and encodes outgoing
    headers as UTF-8, so anything that round-trips through UTF-8 goes back unchanged.
    """
    if not value or any(c in value for c in "\r\n\0"):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


# -------------------------------------------------------------------- decompression


_MAX_GZIP_MEMBERS: Final = 1024
"""Thousands of tiny concatenated members are a CPU bomb, not a feed (aiohttp agrees)."""


class _TooLarge(Exception):
    pass


class _Buffer:
    """The body as it arrives, handed over as ``bytes`` without a final copy.

    A ``bytearray`` needs ``bytes(out)`` at the end: for a moment the fetch holds
    the body twice. ``io.BytesIO.getvalue`` gives its own buffer away (shrunk in
    place) when nothing else refers to it."""

    __slots__ = ("_io", "_size")

    def __init__(self) -> None:
        self._io = io.BytesIO()
        self._size = 0

    def __iadd__(self, data: bytes) -> _Buffer:
        self._io.write(data)
        self._size += len(data)
        return self

    def __len__(self) -> int:
        return self._size

    def take(self) -> bytes:
        """The bytes received (the buffer is spent afterwards)."""
        value = self._io.getvalue()
        self._io = io.BytesIO()
        self._size = 0
        return value


class _Inflater:
    """Incremental gzip/deflate decoder that never yields more than ``cap + 1`` bytes."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._pending = b""  # deflate: wait for two bytes to tell zlib from raw
        self._d: Any = zlib.decompressobj(31) if self._gzip else None
        self._members = 1

    def feed(self, data: bytes, out: _Buffer, cap: int) -> None:
        if self._d is None:
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return
            # RFC 9110 "deflate" is zlib-wrapped, but some servers send raw deflate.
            zlib_header = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._d = zlib.decompressobj(15 if zlib_header else -15)
        while data:
            out += self._d.decompress(data, cap + 1 - len(out))
            if len(out) > cap:
                raise _TooLarge
            data = self._d.unconsumed_tail
            if self._d.eof:
                rest = self._d.unused_data
                if self._gzip and rest.startswith(b"\x1f\x8b"):  # another gzip member
                    self._members += 1
                    if self._members > _MAX_GZIP_MEMBERS:
                        raise zlib.error(f"more than {_MAX_GZIP_MEMBERS} gzip members")
                    self._d = zlib.decompressobj(31)
                    data = rest
                # Anything else after the end of the stream is padding; ignore it.

    def finish(self, out: _Buffer, cap: int) -> None:
        if self._d is None:
            if self._pending:
                raise zlib.error("deflate stream of one byte")
            return
        if not self._d.eof:
            out += self._d.flush(cap + 1 - len(out))
            if len(out) > cap:
                raise _TooLarge
            raise zlib.error("compressed stream ends early (truncated body?)")


# ------------------------------------------------------------------------- fetcher


class ByteBudget:
    """Body bytes held at once by all fetches together (``[fetch] max_inflight_bytes``).

    A fetch takes bytes from a :class:`Hold` as its body grows, and gives them back
    when its hold is released (the poller releases it once the body is parsed).
    When the budget is spent a fetch waits for bytes to come back, except the
    oldest hold, which always proceeds: fetches can never all wait on each other,
    and at most the budget plus one body (``max_body_bytes``) is held.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        """The most bytes held at once so far (for tests and benchmarks)."""
        self._cond = asyncio.Condition()
        self._holds: dict[int, int] = {}  # open holds, oldest first: id → bytes held
        self._next = 0

    def hold(self) -> Hold:
        self._next += 1
        self._holds[self._next] = 0
        return Hold(self, self._next)


class Hold:
    """One fetch's share of a :class:`ByteBudget`; release it when the body is done."""

    def __init__(self, budget: ByteBudget, key: int) -> None:
        self._budget = budget
        self._key = key

    async def take(self, n: int) -> float:
        """Take ``n`` bytes, waiting while the budget is spent; returns seconds waited."""
        b = self._budget
        if n <= 0 or self._key not in b._holds:
            return 0.0
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with b._cond:
            while b.used + n > b.limit and next(iter(b._holds)) != self._key:
                await b._cond.wait()
            b.used += n
            b.peak = max(b.peak, b.used)
            b._holds[self._key] += n
        return loop.time() - start

    async def release(self) -> None:
        b = self._budget
        held = b._holds.pop(self._key, None)
        if held is None:
            return
        async with b._cond:
            b.used -= held
            b._cond.notify_all()


class Fetcher:
    """Fetches feeds over one shared session; every failure is a ``FetchError``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        limits: FetchConfig,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        policy = _GUARDED.get(session)
        if not limits.allow_private and policy is None:
            raise ValueError(
                "this session has no private-address guard: build it with "
                "create_session(limits), or set [fetch] allow_private = true"
            )
        self._session = session
        self._limits = limits
        self._policy: AddressPolicy = policy or is_public_address
        self._clock = clock or (lambda: datetime.now(UTC))
        # Our own connection slots, taken before a request's deadline starts: the
        # wait for a free slot (normal with many feeds on one host) is not the
        # server's slowness. The connector's limits match, so it never waits.
        self._slots = asyncio.Semaphore(limits.max_connections)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self.budget = ByteBudget(max(limits.max_inflight_bytes, limits.max_body_bytes))
        """Bytes of bodies in flight across all fetches (see :class:`ByteBudget`)."""
        self.deadline = limits.connect_timeout + 2 * limits.read_timeout
        """Seconds one request may take in all: connect, headers and body. It stops a
        server that trickles its headers a byte at a time (each read gets data, so
        the per-read timeout never fires)."""

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self._limits.max_per_host)
        async with sem, self._slots:  # the host first: waiting for it holds no global slot
            yield

    def check(self, url: str) -> str:
        """``check_url`` with this fetcher's limits and guard."""
        return check_url(url, allow_private=self._limits.allow_private, policy=self._policy)

    async def fetch(
        self,
        url: str,
        validators: Validators = Validators(),
        *,
        accept: str = FEED_ACCEPT,
        hold: Hold | None = None,
    ) -> Fetched | Unchanged:
        """GET ``url`` conditionally; follow redirects by hand; raise FetchError only.

        The body's bytes are taken from ``hold`` and stay taken until the caller
        releases it; without one, they are given back when this returns.
        """
        if hold is None:
            own = self.budget.hold()
            try:
                return await self.fetch(url, validators, accept=accept, hold=own)
            finally:
                await own.release()
        hop = self.check(url)
        headers = {"Accept": accept}
        if etag := _sendable(validators.etag):
            headers["If-None-Match"] = etag
        if last_modified := _sendable(validators.last_modified):
            headers["If-Modified-Since"] = last_modified
        redirects = 0
        while True:
            deadline = asyncio.timeout(self.deadline)
            try:
                async with (
                    self._slot((URL(hop).host or "").lower()),
                    deadline,
                    self._session.get(hop, headers=headers, allow_redirects=False) as resp,
                ):
                    if resp.status in _REDIRECTS:
                        target = self._redirect_target(url, hop, resp)
                        redirects += 1
                        if redirects > self._limits.max_redirects:
                            raise FetchError(
                                url,
                                "redirects",
                                f"stopped after {self._limits.max_redirects} redirects "
                                f"(fetch.max_redirects), last to {_display(target)}; "
                                "a redirect loop?",
                            )
                        hop = self._check_hop(url, target)
                        continue
                    return await self._answer(url, hop, resp, validators, hold, deadline)
            except FetchError:
                raise
            except TimeoutError as e:
                if not deadline.expired():
                    raise self._translate(url, hop, e) from e
                at = "" if hop == url else f" (at {_display(hop)})"
                raise FetchError(
                    url,
                    "timeout",
                    f"gave up after {self.deadline:g} s: the server answers too slowly{at} "
                    "(connect_timeout + 2 x read_timeout)",
                ) from e
            except (aiohttp.ClientError, OSError, ValueError) as e:
                # ValueError: aiohttp refuses some malformed URLs and header values.
                raise self._translate(url, hop, e) from e

    async def fetch_file(
        self, path: Path, validators: Validators = Validators()
    ) -> Fetched | Unchanged:
        """Read a local feed file (operator config only) off the event loop.

        Same size cap and same body-hash "unchanged" as HTTP; no ETag or Last-Modified.
        """
        cap = self._limits.max_body_bytes
        where = str(path)

        def read() -> tuple[bytes, str, str]:
            with path.open("rb") as f:
                data = f.read(cap + 1)
            return data, hashlib.sha256(data).hexdigest(), path.absolute().as_uri()

        try:
            body, digest, uri = await asyncio.to_thread(read)
        except FileNotFoundError:
            raise FetchError(
                where,
                "not-found",
                "no such file (paths are relative to the config file)",
                permanent=True,
            ) from None
        except OSError as e:
            raise FetchError(where, "file", f"cannot read: {e.strerror or e}") from None
        if len(body) > cap:
            raise FetchError(
                where,
                "too-large",
                f"file is over the {cap}-byte limit (fetch.max_body_bytes)",
            )
        new = Validators(body_hash=digest)
        if digest == validators.body_hash:
            return Unchanged(new, None)
        return Fetched(
            url=uri,
            body=body,
            content_type="application/xml",  # encoding comes from the XML declaration
            validators=new,
            max_age=None,
        )

    # -- steps

    def _check_hop(self, url: str, target: str) -> str:
        try:
            return self.check(target)
        except FetchError as e:
            raise FetchError(
                url,
                e.kind,
                f"redirected to {_display(target)}: {e.message}",
                permanent=e.permanent,
            ) from None

    @staticmethod
    def _redirect_target(url: str, hop: str, resp: aiohttp.ClientResponse) -> str:
        location = resp.headers.get("Location", "").strip()
        if not location:
            raise FetchError(
                url, f"http-{resp.status}", f"HTTP {resp.status} redirect without a Location"
            )
        try:
            return str(resp.url.join(URL(location)))
        except (ValueError, TypeError):
            raise FetchError(
                url, "bad-url", f"redirected to an invalid URL {location!r}", permanent=True
            ) from None

    async def _answer(
        self,
        url: str,
        hop: str,
        resp: aiohttp.ClientResponse,
        old: Validators,
        hold: Hold,
        deadline: asyncio.Timeout,
    ) -> Fetched | Unchanged:
        now = self._clock()
        at = "" if hop == url else f" at {_display(hop)}"
        if resp.status == 304:
            new = Validators(
                etag=_sendable(resp.headers.get("ETag")) or old.etag,
                last_modified=_sendable(resp.headers.get("Last-Modified")) or old.last_modified,
                body_hash=old.body_hash,
            )
            return Unchanged(new, _max_age(resp.headers, now))
        if not 200 <= resp.status < 300:
            retry_after = None
            if resp.status in _RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
            reason = f" {resp.reason}" if resp.reason else ""
            detail = f"HTTP {resp.status}{reason}{at}"
            if retry_after is not None:
                detail += f"; retry after {int(retry_after.total_seconds())} s"
            raise FetchError(
                url,
                f"http-{resp.status}",
                detail,
                permanent=resp.status in _PERMANENT_STATUSES,
                retry_after=retry_after,
                status=resp.status,
            )
        body = await self._read_body(url, at, resp, hold, deadline)
        digest = hashlib.sha256(body).hexdigest()
        new = Validators(
            etag=_sendable(resp.headers.get("ETag")),
            last_modified=_sendable(resp.headers.get("Last-Modified")),
            body_hash=digest,
        )
        max_age = _max_age(resp.headers, now)
        if digest == old.body_hash:
            return Unchanged(new, max_age)
        return Fetched(
            url=str(resp.url),
            body=body,
            content_type=resp.headers.get("Content-Type", ""),
            validators=new,
            max_age=max_age,
        )

    async def _read_body(
        self,
        url: str,
        at: str,
        resp: aiohttp.ClientResponse,
        hold: Hold,
        deadline: asyncio.Timeout,
    ) -> bytes:
        cap = self._limits.max_body_bytes
        limit = f"the {cap}-byte limit (fetch.max_body_bytes)"
        declared = resp.content_length
        if declared is not None and declared > cap:
            raise FetchError(url, "too-large", f"body declares {declared} bytes, over {limit}{at}")
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        inflater: _Inflater | None = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            inflater = _Inflater(encoding)
        elif encoding not in ("", "identity"):
            raise FetchError(
                url,
                "decompression",
                f"unsupported Content-Encoding {encoding!r}{at} (we ask for {ACCEPT_ENCODING})",
            )
        out = _Buffer()
        received = 0
        seconds = self._limits.read_timeout
        try:
            async with asyncio.timeout(seconds) as reading:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    received += len(chunk)
                    if received > cap:
                        raise _TooLarge
                    size = len(out)
                    if inflater is None:
                        out += chunk
                    else:
                        inflater.feed(chunk, out, cap)
                    waited = await hold.take(len(out) - size)
                    if waited:  # waiting for the budget is not the server's slowness
                        for timer in (reading, deadline):
                            if (when := timer.when()) is not None:
                                timer.reschedule(when + waited)
                if inflater is not None:
                    size = len(out)
                    inflater.finish(out, cap)
                    await hold.take(len(out) - size)
        except _TooLarge:
            what = "body" if inflater is None or received > cap else f"{encoding} body inflates"
            raise FetchError(url, "too-large", f"{what} over {limit}{at}") from None
        except zlib.error as e:
            raise FetchError(
                url, "decompression", f"cannot {encoding}-decode the body{at}: {e}"
            ) from None
        except TimeoutError as e:
            if isinstance(e, aiohttp.ServerTimeoutError):
                raise  # silence between bytes: _translate words it
            raise FetchError(
                url, "timeout", f"timed out after {seconds:g} s reading the body{at}"
            ) from None
        return out.take()

    def _translate(self, url: str, hop: str, e: BaseException) -> FetchError:
        """Turn an aiohttp/OS exception into a one-line FetchError."""
        at = "" if hop == url else f" (at {_display(hop)})"
        blocked = _find_blocked(e)
        if blocked is not None:
            return FetchError(
                url, "private-address", f"{blocked}{at} ({_HINT_PRIVATE})", permanent=True
            )
        lim = self._limits
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            return FetchError(
                url,
                "timeout",
                f"timed out after {lim.connect_timeout:g} s resolving or connecting{at}",
            )
        if isinstance(e, aiohttp.ServerTimeoutError | TimeoutError):
            return FetchError(
                url, "timeout", f"timed out after {lim.read_timeout:g} s waiting for the server{at}"
            )
        if isinstance(e, aiohttp.InvalidURL):
            return FetchError(url, "bad-url", f"invalid URL{at}: {e}", permanent=True)
        if isinstance(e, aiohttp.ClientConnectorDNSError):
            return FetchError(url, "dns", f"cannot resolve the host name{at}: {_cause(e)}")
        if isinstance(e, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
            return FetchError(url, "tls", f"TLS failed{at}: {_cause(e)}")
        if isinstance(e, aiohttp.ClientConnectorError):
            return FetchError(url, "connect", f"cannot connect{at}: {_cause(e)}")
        if isinstance(e, aiohttp.ClientPayloadError):
            # aiohttp chains the parser's own error, which says what was missing.
            detail = getattr(e.__cause__, "message", None) or str(e)
            return FetchError(url, "truncated", f"body ended early or was malformed{at}: {detail}")
        if isinstance(e, aiohttp.ServerDisconnectedError):
            return FetchError(url, "connect", f"server closed the connection{at}")
        if isinstance(e, aiohttp.ClientResponseError):
            return FetchError(url, "protocol", f"invalid HTTP response{at}: {e.message}")
        return FetchError(url, "connect", f"{type(e).__name__}{at}: {e}")


def _find_blocked(e: BaseException | None) -> _BlockedAddress | None:
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, _BlockedAddress):
            return e
        if isinstance(e, aiohttp.ClientConnectorError) and isinstance(e.os_error, _BlockedAddress):
            return e.os_error
        e = e.__cause__ or e.__context__
        seen += 1
    return None


def _cause(e: aiohttp.ClientConnectorError) -> str:
    os_error = e.os_error
    return (os_error.strerror or str(os_error)) if os_error is not None else str(e)
