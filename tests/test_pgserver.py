"""The test suite's own PostgreSQL server: it starts, isolates tests and stays on loopback."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncpg
import pytest

from tests.pgserver import NOT_FOUND, PgServer, find_bin_dir


async def test_asyncpg_connects_and_runs_a_query(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        version = await conn.fetchval("SELECT version()")
        encoding = await conn.fetchval("SHOW server_encoding")
        database = await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL ")
    assert encoding == "UTF8"
    assert pg_url.endswith(f"/{database}")


async def test_asyncpg_pool_works(pg_url: str) -> None:
    async with asyncpg.create_pool(pg_url, min_size=2, max_size=4) as pool:
        assert await pool.fetchval("SELECT 40 + 2") == 42


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    return {r["table_name"] for r in rows}


async def test_each_database_is_fresh_and_isolated(pg_url: str, pg_server) -> None:
    assert await _tables(pg_url) == set()
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        await conn.execute("CREATE TABLE stories (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO stories VALUES (1)")
    finally:
        await conn.close()
    assert await _tables(pg_url) == {"stories"}

    # create_database is synchronous, yet safe to call with an event loop running.
    other = pg_server.create_database("t_isolation_other")
    try:
        assert other != pg_url
        assert await _tables(other) == set()
    finally:
        pg_server.drop_database("t_isolation_other")


@pytest.mark.parametrize("step", [1, 2])
async def test_a_table_made_by_an_earlier_test_is_absent(pg_url: str, step: int) -> None:
    # Both steps create the same table: the second would fail if databases were shared.
    assert await _tables(pg_url) == set()
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        await conn.execute("CREATE TABLE leftover (step int)")
    finally:
        await conn.close()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket LISTENing on ``port``, from /proc/net."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hexport = fields[1].split(":")
            if int(hexport, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


async def test_server_settings(pg_url: str, pg_server) -> None:
    if not isinstance(pg_server, PgServer):
        pytest.skip("ALERTBOT_TEST_PG_URL: not our server")
    assert pg_url.startswith(f"postgresql://postgres@127.0.0.1:{pg_server.port}/")
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SHOW fsync") == "off"
        assert int(await conn.fetchval("SHOW max_connections")) >= 200
        assert await conn.fetchval("SHOW unix_socket_directories") == str(pg_server.socket_dir)
    finally:
        await conn.close()


def test_server_listens_on_127_0_0_1_only(pg_server) -> None:
    if not isinstance(pg_server, PgServer):
        pytest.skip("ALERTBOT_TEST_PG_URL: not our server")
    port = pg_server.port
    assert port is not None
    assert (pg_server.socket_dir / f".s.PGSQL.{port}").exists()

    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, no IPv6, no 0.0.0.0

    # Another loopback address reaches a server bound to 0.0.0.0, not one bound to 127.0.0.1.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", port)) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.2", port)) != 0


def test_find_bin_dir_finds_the_server_binaries() -> None:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(NOT_FOUND)
    for name in ("initdb", "pg_ctl", "postgres"):
        assert (bin_dir / name).is_file()


def test_a_second_server_starts_and_stops_cleanly(pg_server) -> None:
    # pg_server proved the binaries work (or skipped/failed the way CI wants).
    if not isinstance(pg_server, PgServer):
        pytest.skip("ALERTBOT_TEST_PG_URL: no local server binaries to use")
    server = PgServer()
    with server:
        assert server.port is not None
        assert server.port != pg_server.port
        data = server.dir
        assert data is not None and (server.data_dir / "postmaster.pid").exists()
        url = server.create_database("t_solo")
        assert url == f"postgresql://postgres@127.0.0.1:{server.port}/t_solo"
    assert server.dir is None
    assert not data.exists()
    server.stop()  # twice is fine
