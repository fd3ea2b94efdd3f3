"""Shared fixtures: a real feed server on 127.0.0.1 and configs pointing at it."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from tests.fakes.feedserver import feed_server  # noqa: F401  # re-exported fixture
from tests.pgserver import ExternalPgServer, PgServer, unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
WATCHLISTS = ROOT / "watchlists"
CORPUS = ROOT.parent / "shared" / "corpus"

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """Build a validated Config whose database lives in ``tmp_path``.

    Keyword sections (``fetch={...}``, ``alerts={...}``) are merged over test
    defaults: private addresses allowed (the feed server is on loopback), short
    timeouts, article fetching off unless asked for.
    """

    def make(
        feeds: list[str] | None = None,
        subscriptions: list[dict[str, Any]] | None = None,
        *,
        watchlists: Path = WATCHLISTS,
        backfill: str = "3650d",
        database: str | None = None,
        **sections: dict[str, Any],
    ) -> Config:
        raw: dict[str, Any] = {
            "bot": {
                "database": database or str(tmp_path / "alertbot.db"),
                "watchlists": str(watchlists),
                "backfill": backfill,
                "keep": "36600d",
            },
            "fetch": {"allow_private": True, "connect_timeout": 2.0, "read_timeout": 2.0},
            "alerts": {"fetch_articles": False},
            "feeds": [{"url": u} for u in feeds or []],
            "subscriptions": subscriptions
            if subscriptions is not None
            else [
                {
                    "platform": "console",
                    "channel": "alerts",
                    "watchlists": ["MKE", "Skydagger", "Bayraktar", "KFOR"],
                }
            ],
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return parse_config(raw, tmp_path / "alertbot.toml", env={})

    return make


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


def _is_loopback(host: object) -> bool:
    import ipaddress

    if host is None or (isinstance(host, str) and host.lower() in _LOCAL_NAMES):
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the tests may reach beyond 127.0.0.1: refuse other connects and lookups."""
    import socket

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"test tried to reach {address[0]!r}: only 127.0.0.1 is allowed")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# -- PostgreSQL ---------------------------------------------------------------

PgTarget = PgServer | ExternalPgServer
_pg_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgTarget]:
    """One real PostgreSQL server for the whole run, started on first use.

    ``ALERTBOT_TEST_PG_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``)
    uses that server instead. Without server binaries the tests skip, except under
    ``CI=true``, where they fail: CI must run them.
    """
    external = os.environ.get("ALERTBOT_TEST_PG_URL")
    if external:
        yield ExternalPgServer(external)
        return
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgTarget) -> Iterator[str]:
    """URL of a fresh, empty database on ``pg_server``, one per test."""
    if isinstance(pg_server, ExternalPgServer):
        # A shared server outlives this run: unique names, dropped afterwards.
        name = f"t_{secrets.token_hex(4)}_{next(_pg_db_numbers)}"
        yield pg_server.create_database(name)
        pg_server.drop_database(name)
    else:
        yield pg_server.create_database(f"t_{next(_pg_db_numbers)}")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database under test, on each backend: a SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "alertbot.db")
    return str(request.getfixturevalue("pg_url"))


# -- The shared corpus ----------------------------------------------------------

NO_CORPUS = f"needs ../shared/corpus (the shared corpus beside the repo): not found at {CORPUS}"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=NO_CORPUS)
"""Mark for tests that read the corpus: they skip, saying why, in a clone without it."""

BENCH_FEEDS = (
    CORPUS / "realfeeds" if (CORPUS / "realfeeds").is_dir() else ROOT / "config" / "samples"
)
"""``--corpus`` of the bench smoke runs: the real feeds where present, else the bundled samples."""
