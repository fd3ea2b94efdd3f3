"""Subscription options end to end: feed subscriptions, compact format, mentions and
quiet hours, from config through polling to the console sender (real feed server,
real SQLite file and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import open_runtime, run_once
from bot.core.render import render_console
from bot.pipeline import Deliverer
from tests.conftest import MakeConfig
from tests.fakes.feedserver import FeedServer
from tests.test_pipeline import KFOR_A, KFOR_B, MKE_STORY, NOISE, cycle, lines, rss

NOW = datetime.now(UTC)


def feed_sub(*feeds: str, **options: Any) -> dict[str, Any]:
    return {"platform": "console", "channel": "news", "feeds": list(feeds), **options}


async def test_a_feed_subscription_gets_every_new_item_after_backfill(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    old = NOW - timedelta(days=10)
    feed_server.add_feed(
        "/a.xml", rss("Outlet A", [NOISE, MKE_STORY], link="https://a.example/old/", when=old)
    )
    feed_server.add_feed("/b.xml", rss("Outlet B", [KFOR_B], link="https://b.example/"))
    a, b = feed_server.url("/a.xml"), feed_server.url("/b.xml")
    config = make_config([a, b], subscriptions=[feed_sub(a)], backfill="2d", database=database)
    buf = io.StringIO()
    await cycle(config, buf)
    assert lines(buf) == []  # the feed's old items are stored, never sent; B is not followed
    feed_server.add_feed(
        "/a.xml", rss("Outlet A", [NOISE, MKE_STORY], link="https://a.example/new/")
    )
    await cycle(config, buf)
    docs = lines(buf)
    # Every new item of A, matching a watchlist or not; nothing of B.
    assert sorted(d["title"] for d in docs) == sorted([NOISE[0], MKE_STORY[0]])
    assert all(d["channel"] == "news" and d["action"] == "post" for d in docs)
    noise = next(d for d in docs if d["title"] == NOISE[0])
    assert noise["watchlists"] == []


async def test_one_event_on_two_followed_feeds_is_one_message_edited(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    a, b = feed_server.url("/a.xml"), feed_server.url("/b.xml")
    config = make_config([a, b], subscriptions=[feed_sub(a, b)], database=database)
    buf = io.StringIO()
    await cycle(config, buf)
    feed_server.add_feed("/b.xml", rss("Outlet B", [KFOR_B], link="https://b.example/"))
    await cycle(config, buf)
    docs = lines(buf)
    assert [d["action"] for d in docs] == ["post", "edit"]
    assert len(docs[1]["sources"]) == 2


async def test_watchlists_and_feeds_together_take_matching_items_of_those_feeds(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [MKE_STORY, NOISE], link="https://a.example/"))
    feed_server.add_feed("/b.xml", rss("Outlet B", [KFOR_A], link="https://b.example/"))
    a, b = feed_server.url("/a.xml"), feed_server.url("/b.xml")
    config = make_config(
        [a, b], subscriptions=[feed_sub(a, watchlists=["MKE", "KFOR"])], database=database
    )
    buf = io.StringIO()
    await cycle(config, buf)
    assert [d["title"] for d in lines(buf)] == [MKE_STORY[0]]


async def test_compact_format_has_no_summary(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    a = feed_server.url("/a.xml")
    config = make_config(
        [a],
        subscriptions=[feed_sub(a, watchlists=["KFOR"], format="compact")],
        database=database,
    )
    buf = io.StringIO()
    async with open_runtime(config, json_lines=False, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)
    text = buf.getvalue()
    print(text)
    assert KFOR_A[0] in text and "Source: Outlet A" in text
    assert "stepped up foot" not in text and "terms:" not in text


async def test_quiet_hours_hold_alerts_across_a_restart_and_send_one_digest(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A, MKE_STORY], link="https://a.example/"))
    a = feed_server.url("/a.xml")
    zone = ZoneInfo("Europe/Belgrade")
    config = make_config(
        [a],
        subscriptions=[
            feed_sub(
                a,
                watchlists=["KFOR", "MKE"],
                quiet="22:00-07:00",
                timezone="Europe/Belgrade",
            )
        ],
        database=database,
    )
    tomorrow = (NOW.astimezone(zone) + timedelta(days=1)).date()
    night = datetime.combine(tomorrow, datetime.min.time(), zone) + timedelta(hours=23)
    morning = night + timedelta(hours=8)  # 07:00 the day after, local time
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        at_night = Deliverer(rt.service.store, config, rt.deliverer.senders, clock=lambda: night)
        stats = await at_night.drain()
        assert stats.posted == stats.digests == 0 and lines(buf) == []
        assert await rt.service.store.pending_count() == 2
    # A restart during the quiet hours: the held alerts are in the database.
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        before = morning - timedelta(minutes=1)
        early = Deliverer(rt.service.store, config, rt.deliverer.senders, clock=lambda: before)
        assert (await early.drain()).digests == 0
        awake = Deliverer(rt.service.store, config, rt.deliverer.senders, clock=lambda: morning)
        stats = await awake.drain()
        assert stats.digests == 1 and stats.posted == 0
        again = await awake.drain()
        assert again.digests == again.posted == 0
        assert await rt.service.store.pending_count() == 0
    docs = lines(buf)
    assert sorted(d["title"] for d in docs) == sorted([KFOR_A[0], MKE_STORY[0]])
    assert all(d["digest"] for d in docs)


def test_console_renders_a_compact_alert_and_its_mention() -> None:
    from bot.core.models import Alert, Source, Span, Summary

    alert = Alert(
        cluster_id=7,
        title="KFOR steps up patrols near the Jarinje crossing",
        url="https://a.example/kfor",
        summary=Summary((Span("NATO's Kosovo Force said "), Span("KFOR", True))),
        watchlists=("KFOR",),
        terms=("KFOR",),
        sources=(
            Source("Outlet A", "https://a.example/kfor", "t"),
            Source("Outlet B", "https://b.example/kfor", "t"),
        ),
        published=datetime(2026, 12, 1, 21, 5, tzinfo=UTC),
        format="compact",
        mentions=("group:S0123ABCD",),
    )
    text = render_console(alert, action="post", channel="news")
    assert "NATO" not in text and "terms:" not in text
    # Compact drops watchlists and terms on every platform (core.views.alert_view).
    assert text.splitlines()[0] == "[post] news · mention group:S0123ABCD"
    assert "Also reported by:" in text and "https://b.example/kfor" in text
