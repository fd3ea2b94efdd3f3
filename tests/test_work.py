"""The CPU worker pool: parse, match and fingerprint in another process; a dead worker
is replaced."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta

import pytest

from bot.feeds.parse import ParseError, parse_feed
from bot.feeds.work import CpuPool, Job, analyse_body

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
