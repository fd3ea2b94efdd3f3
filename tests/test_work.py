"""The CPU worker pool: parse, match and fingerprint in another process; a dead worker
is replaced."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.feeds.parse import ParseError, parse_feed
from bot.feeds.work import CpuPool, Job, analyse_body

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)
WATCHLIST = """
name = "Bench"
[[terms]]
name = "KFOR"
forms = ["KFOR"]
"""
BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b'<item><title>KFOR patrols the north</title><guid isPermaLink="false">a</guid>'
    b"<pubDate>Tue, 17 Feb 2026 09:00:00 GMT</pubDate></item>"
    b'<item><title>Weather</title><guid isPermaLink="false">b</guid></item></channel></rss>'
)


def job(body: bytes = BODY) -> Job:
    return Job(
        body=body,
        feed_url="https://news.example/rss",
        content_type="",
        outlet="",
        now=NOW,
        cutoff=NOW - timedelta(days=2),
        first_poll=True,
        watchlists_version=1,
        watchlists=(("bench", WATCHLIST),),
    )


@pytest.mark.parametrize("workers", [0, 1])
async def test_analysed_in_a_worker_like_in_process(workers: int) -> None:
    pool = CpuPool(workers)
    try:
        got = await pool.run(analyse_body, job())
    finally:
        pool.close()
    assert got.parsed.stories == parse_feed(BODY, "https://news.example/rss", now=NOW).stories
    assert [m.term for m in got.matches["a"]] == ["KFOR"] and got.matches["b"] == []
    assert set(got.fingerprints) == {"a"}  # "b" is undated: on a first poll it may not alert
    assert got.bands["a"]


async def test_parse_errors_come_back_as_parse_errors() -> None:
    pool = CpuPool(1)
    try:
        with pytest.raises(ParseError, match="not a feed"):
            await pool.run(analyse_body, job(b"<html><title>x</title></html>"))
    finally:
        pool.close()


async def test_a_dead_worker_is_replaced() -> None:
    pool = CpuPool(1)
    try:
        with pytest.raises(BrokenProcessPool):
            await pool.run(os._exit, 3)  # a crash in a C library, say
        got = await pool.run(analyse_body, job())
        assert len(got.parsed.stories) == 2
    finally:
        pool.close()


def test_workers_and_fork_server_end_when_the_poller_is_killed(tmp_path: Path) -> None:
    """A poller killed with SIGKILL leaves no worker processes or fork server behind."""
    script = (
        "import asyncio, os\n"
        "from bot.feeds.work import CpuPool\n"
        "async def main():\n"
        "    pool = CpuPool(2)\n"
        "    await pool.run(int)\n"
        "    print(' '.join(map(str, pool.pids())), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    fork_servers = {int(Path(f"/proc/{p}/stat").read_text().split()[3]) for p in pids}
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    left = pids + sorted(fork_servers)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _running(p)]
        time.sleep(0.05)
    assert not left, f"still running after the poller was killed: {left}"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_fingerprints_and_bands_come_back_packed_but_equal() -> None:
    from bot.core import cluster

    pool = CpuPool(1)
    try:
        got = await pool.run(analyse_body, job())
    finally:
        pool.close()
    (story,) = [s for s in got.parsed.stories if s.id == "a"]
    fp = got.fingerprints["a"]
    assert fp == cluster.fingerprint(story.title, story.text) and isinstance(fp, tuple)
    assert got.fingerprints.get("a") is fp  # made once: the pipeline relies on identity
    assert got.bands["a"] == cluster.bands(fp) and isinstance(got.bands["a"], list)
    assert got.fingerprints.get("b") is None and dict(got.bands) == {"a": got.bands["a"]}


def test_int_table_keeps_rows_that_do_not_fit_as_they_are() -> None:
    import pickle

    from bot.feeds.work import IntTable

    fits = pickle.loads(pickle.dumps(IntTable({"a": (1, 2**32 - 1), "e": ()}, tuple, "I")))
    assert dict(fits) == {"a": (1, 2**32 - 1), "e": ()} and len(fits) == 2
    wide = pickle.loads(pickle.dumps(IntTable({"a": (2**32,), "b": (-1,)}, tuple, "I")))
    assert dict(wide) == {"a": (2**32,), "b": (-1,)}
    with pytest.raises(KeyError):
        fits["missing"]


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
async def test_a_worker_gives_memory_back_after_a_big_body() -> None:
    """glibc keeps freed heap pages; after a body of TRIM_BYTES or more the worker
    trims its heap, so an idle worker does not sit on its peak."""
    from bot.feeds.work import TRIM_BYTES

    item = (
        "<item><title>Story {0} about the ministry</title><guid>g{0}</guid>"
        "<description>&lt;p&gt;" + "Paragraph {0} of a long report. " * 30 + "&lt;/p&gt;"
        "</description></item>"
    )
    items = "".join(item.format(i) for i in range(TRIM_BYTES // 1000))
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"{items}</channel></rss>"
    ).encode()
    assert len(body) >= TRIM_BYTES
    pool = CpuPool(1)
    try:
        await pool.run(analyse_body, job())  # compiles the matcher, imports what it needs
        (pid,) = pool.pids()
        before = _status_kib(pid, "VmRSS:")
        _reset_peak(pid)
        got = await pool.run(analyse_body, job(body))
        assert len(got.parsed.stories) == 2000  # MAX_ENTRIES
        peak = _status_kib(pid, "VmHWM:")
        for _ in range(40):  # the second trim comes TRIM_AGAIN_SECONDS after the job
            await asyncio.sleep(0.05)
            after = _status_kib(pid, "VmRSS:")
            if after - before < (peak - before) / 2:
                break
    finally:
        pool.close()
    assert peak - before > 20_000, (before, peak, after)  # the parse did use memory
    assert after - before < (peak - before) / 2, (before, peak, after)


async def test_parse_budget_admits_in_order_and_always_one() -> None:
    from bot.feeds.work import ParseBudget

    budget = ParseBudget(100)
    order: list[str] = []
    release = {name: asyncio.Event() for name in "abcd"}

    async def parse(name: str, size: int) -> None:
        async with budget.share(size):
            order.append(name)
            await release[name].wait()

    tasks = [asyncio.create_task(parse("a", 80))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(parse("b", 50)))
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(parse("c", 10)))  # fits beside a, but b asked first
    await asyncio.sleep(0.01)
    assert order == ["a"] and budget.used == 80
    release["a"].set()
    await asyncio.sleep(0.01)
    assert order == ["a", "b", "c"] and budget.used == 60
    release["b"].set()
    release["c"].set()
    tasks.append(asyncio.create_task(parse("d", 500)))  # over the limit: runs alone
    await asyncio.sleep(0.01)
    assert order[-1] == "d" and budget.used == 500
    release["d"].set()
    await asyncio.gather(*tasks)
    assert budget.used == 0 and budget.peak == 500


async def test_big_bodies_parse_one_at_a_time_within_the_budget() -> None:
    item = "<item><title>Story {0}</title><guid>g{0}</guid><description>{1}</description></item>"
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        + "".join(item.format(i, "word " * 300) for i in range(1000))
        + "</channel></rss>"
    ).encode()
    assert len(body) > 1 << 20
    pool = CpuPool(2, parse_budget=len(body) + 1000)
    try:
        got = await asyncio.gather(*(pool.run(analyse_body, job(body)) for _ in range(2)))
        small = await pool.run(analyse_body, job())  # under BIG_JOB_BYTES: never waits
    finally:
        pool.close()
    assert [len(g.parsed.stories) for g in got] == [1000] * 2
    assert len(small.parsed.stories) == 2
    assert pool.budget.peak == len(body) and pool.budget.used == 0


def test_a_huge_body_leaves_no_word_memos_behind() -> None:
    """The fingerprint's word memos are made afresh after a body of TRIM_BYTES or more:
    rows made while a huge parse filled the heap kept ~20 MiB of its pages in use in
    every worker (bench/memory.py: idle workers at 42 MiB PSS instead of 23)."""
    from bot.core import cluster, text
    from bot.feeds.work import TRIM_BYTES

    analyse_body(job())
    assert cluster._rows.young, "a small body fills the memos (and keeps them)"
    assert text.unescape("&rsquo;") == "\u2019" and text._CHARREF_MEMO
    # Huge but cheap to parse: a comment makes up the size.
    body = BODY.replace(b"<channel>", b"<channel><!--" + b"x" * TRIM_BYTES + b"-->")
    assert len(body) >= TRIM_BYTES
    assert analyse_body(job(body)).parsed.stories
    assert not cluster._rows.young and not cluster._rows.old
    assert not cluster._hashes.young and not cluster._hashes.old
    assert not text._CHARREF_MEMO  # the references html_to_text remembered, too
