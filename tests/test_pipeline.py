"""The whole pipeline, end to end, with real parts.

Feeds come from a real HTTP server on 127.0.0.1, the store is a real SQLite
file, alerts go through the real console sender (JSON lines into a buffer).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any

from bot.app import open_runtime, run_once
from bot.chat.base import DeliveryError
from bot.core.models import Alert, Platform
from bot.pipeline import Deliverer
from bot.service import Caller, Service
from tests.conftest import ROOT, MakeConfig
from tests.fakes.feedserver import FeedServer, make_rss

NOW = datetime.now(UTC)

KFOR_A = (
    "KFOR steps up patrols near the Jarinje crossing after roadblocks",
    "NATO's Kosovo Force (KFOR) said on Tuesday it had stepped up foot and vehicle patrols "
    "around the Jarinje and Bernjak crossings in northern Kosovo after trucks were used to "
    "block the roads overnight. A KFOR spokesperson said the mission was in contact with "
    "police on both sides and urged calm. Local officials said traffic resumed by mid-morning.",
)
KFOR_B = (
    "Kosovo Force increases patrols at northern crossings as roads are blocked",
    "NATO's Kosovo Force has stepped up patrols around the Jarinje and Bernjak crossings in "
    "northern Kosovo after trucks blocked the roads overnight, a spokesperson for the mission "
    "said on Tuesday. KFOR said it was in contact with police on both sides and called for "
    "calm; traffic resumed by mid-morning, local officials said.",
)
MKE_STORY = (
    "Serbian army trials 155 mm rounds from MKE",
    "Artillery units of the Serbian Armed Forces fired 155 mm rounds produced by Türkiye's "
    "Makine ve Kimya Endüstrisi (MKE) during trials at the Pasuljanske livade range, "
    "according to a ministry statement issued on Monday evening.",
)
NOISE = (
    "Workforce shortages strain hospitals in Pristina",
    "Hospitals in Pristina report that a shrinking workforce has lengthened waiting times.",
)


def rss(title: str, items: list[tuple[str, str]], *, link: str, when: datetime = NOW) -> bytes:
    return make_rss(title, items, link=link, published=when)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


async def cycle(config: Any, buf: io.StringIO) -> Any:
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        return await run_once(rt, all_feeds=True)


async def test_same_event_two_outlets_posts_once_then_edits(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A, NOISE], link="https://a.example/"))
    config = make_config([feed_server.url("/a.xml"), feed_server.url("/b.xml")], database=database)
    feed_server.add_feed("/b.xml", rss("Outlet B", [MKE_STORY], link="https://b.example/"))
    buf = io.StringIO()
    await cycle(config, buf)
    first = lines(buf)
    assert [d["action"] for d in first] == ["post", "post"]
    titles = {d["title"] for d in first}
    assert titles == {KFOR_A[0], MKE_STORY[0]}
    kfor = next(d for d in first if d["title"] == KFOR_A[0])
    assert kfor["watchlists"] == ["KFOR"]
    assert kfor["channel"] == "alerts"
    assert [(s["outlet"], s["url"]) for s in kfor["sources"]] == [
        ("Outlet A", "https://a.example/0")
    ]
    assert "Kosovo Force" in kfor["summary"]

    # Outlet B now carries the same event under another title and URL.
    feed_server.set_body("/b.xml", rss("Outlet B", [MKE_STORY, KFOR_B], link="https://b.example/"))
    buf2 = io.StringIO()
    await cycle(config, buf2)
    second = lines(buf2)
    assert [d["action"] for d in second] == ["edit"], second
    # B's item (second in its feed) is dated a minute before A's: the earliest
    # published report leads the alert, whichever was polled first.
    assert second[0]["title"] == KFOR_B[0]
    assert [s["outlet"] for s in second[0]["sources"]] == ["Outlet B", "Outlet A"]
    assert second[0]["sources"][0]["url"] == "https://b.example/1"

    # A third cycle and a restart send nothing: nothing is doubled.
    buf3 = io.StringIO()
    await cycle(config, buf3)
    await cycle(config, buf3)
    assert lines(buf3) == []


async def test_conditional_get_and_unchanged_body_cost_no_parse(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    # No validators at all: the unchanged body hash is the only signal.
    feed_server.add_feed(
        "/plain.xml",
        rss("Plain", [MKE_STORY], link="https://plain.example/"),
        etag=False,
        last_modified=False,
    )
    config = make_config([feed_server.url("/a.xml"), feed_server.url("/plain.xml")])
    buf = io.StringIO()
    stats, _ = await cycle(config, buf)
    assert stats.unchanged == 0 and stats.new_stories == 2
    stats, _ = await cycle(config, buf)
    assert stats.unchanged == 2
    second = feed_server.requests("/a.xml")[-1].headers
    assert second.get("If-None-Match")
    assert second.get("If-Modified-Since")
    assert "alertbot" in second.get("User-Agent", "")


async def test_hostile_feeds_fail_alone_and_show_in_status(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    feed_server.add_feed("/good.xml", rss("Good", [KFOR_A], link="https://good.example/"))
    bad = [
        "/html",
        "/empty",
        "/loop",
        "/status/404",
        "/status/500",
        "/status/429?retry_after=120",
        "/huge?size=3000000",
        "/bomb?size=50000000",
        "/slow?before=5",
    ]
    urls = [feed_server.url(p) for p in bad]
    config = make_config(
        [
            feed_server.url("/good.xml"),
            feed_server.url("/truncated"),
            feed_server.url("/wrong-encoding"),
            *urls,
        ],
        fetch={"max_body_bytes": 1_000_000, "read_timeout": 1.0},
    )
    buf = io.StringIO()
    stats, delivered = await cycle(config, buf)
    assert stats.errors == len(bad)
    assert delivered.posted == 1
    assert [d["title"] for d in lines(buf)] == [KFOR_A[0]]

    service = await Service.open(config)
    try:
        status = {f.url: f for f in await service.feeds()}
    finally:
        await service.close()
    assert status[feed_server.url("/good.xml")].error == ""
    assert status[feed_server.url("/good.xml")].warning == ""
    # Truncated XML still yields its complete items; the damage is shown, not fatal.
    truncated = status[feed_server.url("/truncated")]
    assert truncated.error == "" and truncated.warning
    # Declared UTF-8, sent as Windows-1252: read anyway, the mismatch shown.
    mislabelled = status[feed_server.url("/wrong-encoding")]
    assert mislabelled.error == "" and mislabelled.stories == 1, mislabelled
    assert "windows-1252" in mislabelled.warning
    for url in urls:
        assert status[url].error, url
        assert status[url].error_count == 1
    assert "404" in status[feed_server.url("/status/404")].error
    # 429 with Retry-After: not polled again before it.
    throttled = status[feed_server.url("/status/429?retry_after=120")]
    assert throttled.next_due is not None
    assert throttled.next_due >= datetime.now(UTC) + timedelta(seconds=110)


async def test_backfill_stores_old_items_without_alerting(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    old = NOW - timedelta(days=10)
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A], link="https://a.example/", when=old))
    config = make_config([feed_server.url("/a.xml")], backfill="2d")
    buf = io.StringIO()
    stats, _ = await cycle(config, buf)
    assert stats.new_stories == 1 and stats.alerts == 0
    assert lines(buf) == []
    service = await Service.open(config)
    try:
        me = Caller(platform="console", user="t", channel="alerts")
        hits = (await service.lookup(me, "Jarinje")).hits
        assert [h.story.title for h in hits] == [KFOR_A[0]]
        assert hits[0].watchlists == ("KFOR",)
        assert (await service.lookup(me, "Jarinje", since="7d")).total == 0
    finally:
        await service.close()


async def test_reissued_item_with_new_id_is_not_alerted_again(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    def body(guid: str, title: str = KFOR_A[0]) -> bytes:
        date = format_datetime(NOW, usegmt=True)
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>A</title>'
            "<link>https://a.example/</link>"
            f"<item><title>{escape(title)}</title>"
            "<link>https://a.example/story?utm_source=x</link>"
            f"<guid isPermaLink='false'>{guid}</guid><pubDate>{date}</pubDate>"
            f"<description>{escape(KFOR_A[1])}</description></item></channel></rss>"
        ).encode()

    feed_server.add_feed("/a.xml", body("id-1"))
    config = make_config([feed_server.url("/a.xml")])
    buf = io.StringIO()
    await cycle(config, buf)
    feed_server.set_body("/a.xml", body("id-2"))  # same URL and title, new guid
    await cycle(config, buf)
    assert [d["action"] for d in lines(buf)] == ["post"]
    # Same URL, another title: a different item (a live blog's new entry).
    feed_server.set_body("/a.xml", body("id-3", title="KFOR: second update from Jarinje"))
    stats, _ = await cycle(config, buf)
    assert stats.new_stories == 1


async def test_watchlist_edit_takes_effect_without_restart(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    story = ("Camp Bondsteel hosts exercise", "Soldiers at Camp Bondsteel ran a drill today.")
    feed_server.add_feed("/a.xml", rss("A", [story], link="https://a.example/"))
    config = make_config([feed_server.url("/a.xml")])
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        admin = Caller(platform="console", user="op", channel="alerts", is_admin=True)
        await rt.service.watchlist_add_term(admin, "KFOR", "Camp Bondsteel")
        await run_once(rt, all_feeds=True)
    assert [d["watchlists"] for d in lines(buf)] == [["KFOR"]]


async def test_burst_becomes_one_digest(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    items = [
        (f"KFOR update number {i} from sector {i}", f"KFOR sector {i} report about item {i}.")
        for i in range(8)
    ]
    feed_server.add_feed("/a.xml", rss("A", items, link="https://a.example/"))
    config = make_config([feed_server.url("/a.xml")], alerts={"burst": 3}, database=database)
    buf = io.StringIO()
    _, delivered = await cycle(config, buf)
    assert delivered.digests == 1 and delivered.posted == 0
    docs = lines(buf)
    assert len(docs) == 8 and all(d.get("digest") for d in docs)


class RefusingSender:
    """A platform that answers 'channel not found' (a permanent failure)."""

    platform: Platform = "slack"

    def __init__(self) -> None:
        self.calls = 0

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        self.calls += 1
        raise DeliveryError("channel_not_found: the channel was deleted", permanent=True)

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        raise AssertionError("not reached")

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        raise AssertionError("not reached")

    def digest_fit(self, alerts: list[Alert]) -> int:
        return len(alerts)

    def permalink(self, channel: str, ref: str, place: str | None = None) -> str | None:
        return None

    def place(self, channel: str) -> str | None:
        return None


class SmallDigests(RefusingSender):
    """A platform whose digest messages hold seven alerts."""

    def __init__(self) -> None:
        super().__init__()
        self.digests: list[tuple[list[str], str]] = []

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        self.digests.append(([a.title for a in alerts], key))
        return f"m{len(self.digests)}"

    def digest_fit(self, alerts: list[Alert]) -> int:
        return min(7, len(alerts))


async def test_a_burst_bigger_than_one_digest_is_sent_in_full(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    items = [
        (f"KFOR report {i} from sector {i * 17}", f"KFOR patrol {i} at {i * 31}.")
        for i in range(30)
    ]
    feed_server.add_feed("/a.xml", rss("A", items, link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[{"platform": "slack", "channel": "C1", "watchlists": ["KFOR"]}],
        database=database,
    )
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        sender = SmallDigests()
        stats = await Deliverer(rt.service.store, config, {"slack": sender}).drain()
        assert await rt.service.store.pending_count() == 0
    sizes = [len(titles) for titles, _ in sender.digests]
    assert sizes == [7, 7, 7, 7, 2] and stats.digests == 5
    shown = [t for titles, _ in sender.digests for t in titles]
    assert sorted(shown) == sorted(t for t, _ in items)
    assert len({key for _, key in sender.digests}) == 5


async def test_permanent_delivery_error_pauses_that_channel_only(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[
            {"platform": "console", "channel": "alerts", "watchlists": ["KFOR"]},
            {"platform": "slack", "channel": "C1", "watchlists": ["KFOR"]},
        ],
        database=database,
    )
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        refusing = RefusingSender()
        deliverer = Deliverer(rt.service.store, config, {**rt.deliverer.senders, "slack": refusing})
        stats = await deliverer.drain()
        assert stats.paused == ["slack:C1"] and stats.posted == 1
        again = await deliverer.drain()
        assert refusing.calls == 1 and again.posted == 0
        subs = {s.channel: s for s in await rt.service.store.subscriptions()}
        assert "channel_not_found" in subs["C1"].paused_reason
        assert subs["alerts"].paused_reason == ""


async def test_alerts_wait_in_outbox_until_a_sender_exists(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    """A crash (or a missing token) after polling loses nothing: the outbox keeps it."""
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[{"platform": "discord", "channel": "123", "watchlists": ["KFOR"]}],
    )
    buf = io.StringIO()
    _, delivered = await cycle(config, buf)
    assert delivered.waiting == 1
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        assert await rt.service.store.pending_count() == 1
        console_only = Deliverer(
            rt.service.store, config, {"discord": rt.deliverer.senders["console"]}
        )
        stats = await console_only.drain()
        assert stats.posted == 1
        assert await rt.service.store.pending_count() == 0


async def test_digest_subscription_waits_for_the_period_boundary(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A, MKE_STORY], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[
            {
                "platform": "console",
                "channel": "daily",
                "watchlists": ["KFOR", "MKE"],
                "mode": "digest",
            }
        ],
        database=database,
    )
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        stats, delivered = await run_once(rt, all_feeds=True)
        assert stats.alerts == 2 and delivered.posted == delivered.digests == 0
        tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)
        later = Deliverer(rt.service.store, config, rt.deliverer.senders, clock=lambda: tomorrow)
        delivered = await later.drain()
        assert delivered.digests == 1
    docs = lines(buf)
    assert sorted(d["title"] for d in docs) == sorted([KFOR_A[0], MKE_STORY[0]])
    assert all(d["digest"] and d["channel"] == "daily" for d in docs)


async def test_after_the_edit_window_a_new_post_links_the_old_one(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    feed_server.add_feed("/b.xml", rss("Outlet B", [MKE_STORY], link="https://b.example/"))
    config = make_config([feed_server.url("/a.xml"), feed_server.url("/b.xml")], database=database)
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)
        feed_server.set_body(
            "/b.xml", rss("Outlet B", [MKE_STORY, KFOR_B], link="https://b.example/")
        )
        await rt.poller.poll_due(all_feeds=True)
        two_days = datetime.now(UTC) + timedelta(days=2)
        late = Deliverer(rt.service.store, config, rt.deliverer.senders, clock=lambda: two_days)
        delivered = await late.drain()
        assert delivered.posted == 1 and delivered.edited == 0
    docs = lines(buf)
    assert [d["action"] for d in docs] == ["post", "post", "post"]
    # B's report is dated a minute earlier than A's: it leads.
    assert [s["outlet"] for s in docs[-1]["sources"]] == ["Outlet B", "Outlet A"]


def teaser_rss(title: str, link: str, description: str) -> bytes:
    """A one-item feed whose entry is only a teaser pointing at ``link``."""
    date = format_datetime(NOW, usegmt=True)
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Balkan Wire</title>'
        f"<link>https://balkan-wire.example/</link><item><title>{escape(title)}</title>"
        f"<link>{escape(link)}</link><guid>bw-1</guid><pubDate>{date}</pubDate>"
        f"<description>{description}</description></item></channel></rss>"
    ).encode()


async def test_teaser_entries_are_summarised_from_the_article_page(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    page = (ROOT / "tests" / "data" / "article_cluttered.html").read_bytes()
    feed_server.add_feed("/article.html", page, content_type="text/html; charset=utf-8")
    teaser = teaser_rss(
        "KFOR steps up patrols as Kosovo takes delivery of Bayraktar drones",
        feed_server.url("/article.html"),
        "KFOR stepped up patrols on Tuesday [&#8230;]",
    )
    feed_server.add_feed("/teaser.xml", teaser)
    config = make_config([feed_server.url("/teaser.xml")], alerts={"fetch_articles": True})
    buf = io.StringIO()
    await cycle(config, buf)
    assert feed_server.hits("/article.html") == 1
    (doc,) = lines(buf)
    assert doc["watchlists"] == ["Bayraktar", "KFOR"]
    summary = doc["summary"]
    assert "Bayraktar" in summary and len(summary) > 200
    for cruft in ("cookie", "Share on", "Subscribe", "Related", "Advertisement"):
        assert cruft.lower() not in summary.lower(), cruft


async def test_article_page_failure_falls_back_to_feed_text(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    teaser = teaser_rss(
        "KFOR patrols stepped up",
        feed_server.url("/status/500"),
        "KFOR stepped up patrols on Tuesday. Read more",
    )
    feed_server.add_feed("/teaser.xml", teaser)
    config = make_config([feed_server.url("/teaser.xml")], alerts={"fetch_articles": True})
    buf = io.StringIO()
    await cycle(config, buf)
    (doc,) = lines(buf)
    assert doc["summary"].startswith("KFOR stepped up patrols on Tuesday")


async def test_one_article_in_two_feeds_polled_together_is_stored_once(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    """Two feeds syndicating the same article (same link and title) race in one cycle."""
    body = rss("Pub", [KFOR_A], link="https://pub.example/")
    for path in ("/a.xml", "/b.xml", "/c.xml"):
        feed_server.add_feed(path, body)
    config = make_config([feed_server.url(p) for p in ("/a.xml", "/b.xml", "/c.xml")])
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)
        assert await rt.service.store.story_count() == 1
    (doc,) = lines(buf)
    assert len(doc["sources"]) == 1


async def test_realtime_subscription_releases_an_event_waiting_for_the_digest(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("A", [MKE_STORY], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml"), feed_server.url("/b.xml")],
        subscriptions=[
            {"platform": "console", "channel": "c", "watchlists": ["MKE"], "mode": "digest"},
            {"platform": "console", "channel": "c", "watchlists": ["KFOR"]},
        ],
        database=database,
    )
    feed_server.add_feed("/b.xml", rss("B", [], link="https://b.example/"))
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)
        assert lines(buf) == []  # MKE waits for the digest
        # Another outlet reports the same event and names KFOR: realtime fires.
        both = (MKE_STORY[0] + " near KFOR base", MKE_STORY[1] + " KFOR observed the trials.")
        feed_server.set_body("/b.xml", rss("B", [both], link="https://b.example/"))
        await run_once(rt, all_feeds=True)
    (doc,) = lines(buf)
    assert doc["action"] == "post" and doc["watchlists"] == ["KFOR", "MKE"]


class RepostingSender(SmallDigests):
    """A platform that cannot edit, so each 'edit' is a new message with a new ref."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[str] = []

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        self.posts.append(key)
        return f"p{len(self.posts)}"

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        self.posts.append(f"edit-of-{ref}")
        return f"p{len(self.posts)}"


async def test_an_edit_that_became_a_new_post_restarts_the_edit_window(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A], link="https://a.example/"))
    feed_server.add_feed("/b.xml", rss("B", [MKE_STORY], link="https://b.example/"))
    config = make_config(
        [feed_server.url("/a.xml"), feed_server.url("/b.xml")],
        subscriptions=[{"platform": "slack", "channel": "C1", "watchlists": ["KFOR"]}],
    )
    sender = RepostingSender()
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        store = rt.service.store
        await rt.poller.poll_due(all_feeds=True)
        start = datetime.now(UTC)
        await Deliverer(store, config, {"slack": sender}, clock=lambda: start).drain()
        feed_server.set_body("/b.xml", rss("B", [MKE_STORY, KFOR_B], link="https://b.example/"))
        await rt.poller.poll_due(all_feeds=True)
        later = start + timedelta(hours=20)  # inside the 24 h window: an edit
        await Deliverer(store, config, {"slack": sender}, clock=lambda: later).drain()
        feed_server.add_feed("/c.xml", rss("C", [KFOR_B], link="https://c.example/"))
        await store.add_feed(feed_server.url("/c.xml"), datetime.now(UTC))
        await rt.poller.poll_due(all_feeds=True)
        # 30 h after the first post but 10 h after the repost: still an edit, of the repost.
        much_later = start + timedelta(hours=30)
        await Deliverer(store, config, {"slack": sender}, clock=lambda: much_later).drain()
    assert sender.posts[0].startswith("alertbot-")
    assert sender.posts[1:] == ["edit-of-p1", "edit-of-p2"]


UNNAMED_B = (
    "NATO mission increases patrols at northern crossings as roads are blocked",
    "The NATO-led mission has stepped up patrols around the Jarinje and Bernjak crossings in "
    "northern Kosovo after trucks blocked the roads overnight, a spokesperson for the mission "
    "said on Tuesday. The mission said it was in contact with police on both sides and called "
    "for calm; traffic resumed by mid-morning, local officials said.",
)


async def test_an_outlet_polled_before_the_alert_is_listed_too(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    """Outlet B's report names no watched term and is polled first; when A's report
    fires KFOR, the alert lists both (the order of polling does not matter)."""
    feed_server.add_feed("/b.xml", rss("Outlet B", [UNNAMED_B], link="https://b.example/"))
    feed_server.add_feed("/a.xml", rss("Outlet A", [], link="https://a.example/"))
    config = make_config([feed_server.url("/a.xml"), feed_server.url("/b.xml")], database=database)
    buf = io.StringIO()
    await cycle(config, buf)
    assert lines(buf) == []
    feed_server.set_body("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    await cycle(config, buf)
    [post] = lines(buf)
    assert post["action"] == "post" and post["title"] == KFOR_A[0]
    assert {s["outlet"] for s in post["sources"]} == {"Outlet A", "Outlet B"}


ARTICLE_PAGE = """<!doctype html><html><head><title>KFOR reviews a delivery</title>
<meta property="og:site_name" content="Balkan Wire"></head><body><main><article>
<h1>KFOR reviews a delivery</h1>
<p>The Brief February 17, 2026</p>
<p>MKE says it will open a new plant, a look at the weather, and more</p>
<p>PRISTINA, Kosovo (AP) — KFOR commanders reviewed a delivery of new equipment to the
Kosovo Security Force on Tuesday, officials said after the inspection.</p>
{filler}
<p>Later, officials confirmed that Bayraktar drones were part of the shipment.</p>
</article></main></body></html>"""


async def test_article_body_hits_show_chrome_stays_silent_and_the_page_names_the_outlet(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    """Issue 12: a teaser from a feed titled "World" whose page has a video card naming
    MKE before the lede and the only Bayraktar hit deep in its body."""
    filler = "\n".join(
        f"<p>Paragraph {n} describes the inspection at length, with many details.</p>"
        for n in range(30)
    )
    page = ARTICLE_PAGE.format(filler=filler).encode()
    feed_server.add_feed("/kfor.html", page, content_type="text/html; charset=utf-8")
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>World</title>'
        f"<link>{feed_server.url('/')}</link><item><title>KFOR reviews a delivery</title>"
        f"<link>{feed_server.url('/kfor.html')}</link><guid>k-1</guid>"
        "<pubDate>Tue, 17 Feb 2026 09:00:00 GMT</pubDate>"
        "<description>KFOR commanders reviewed a delivery [&#8230;]</description>"
        "</item></channel></rss>"
    ).encode()
    feed_server.add_feed("/world.xml", feed)
    config = make_config([feed_server.url("/world.xml")], alerts={"fetch_articles": True})
    buf = io.StringIO()
    await cycle(config, buf)
    (doc,) = lines(buf)
    assert doc["watchlists"] == ["Bayraktar", "KFOR"]  # not MKE: only the video card named it
    assert doc["summary"].startswith("KFOR commanders reviewed a delivery")
    assert "Bayraktar drones were part of the shipment." in doc["summary"]
    assert "Brief" not in doc["summary"] and "MKE" not in doc["summary"]
    assert [s["outlet"] for s in doc["sources"]] == ["Balkan Wire"]  # not "127.0.0.1"


async def test_the_deliverer_is_woken_by_the_poll_of_one_feed(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    """A feed whose poll stored alerts wakes the deliverer at once (the runtime's
    ``wake``), not when the whole ``poll_due`` returns; a quiet feed does not."""
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    feed_server.add_feed("/n.xml", rss("Outlet N", [NOISE], link="https://n.example/"))
    config = make_config([feed_server.url("/a.xml"), feed_server.url("/n.xml")], database=database)
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        assert rt.poller.wake is rt.wake
        feeds = {f.url: f for f in await rt.poller.store.feeds()}
        await rt.poller.matcher()
        await rt.poller.poll_feed(feeds[feed_server.url("/n.xml")])
        assert not rt.wake.is_set()
        outcome = await rt.poller.poll_feed(feeds[feed_server.url("/a.xml")])
        assert outcome.alerts == 1 and rt.wake.is_set()


async def test_unchanged_polls_are_written_together_and_hand_their_feeds_back(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    """A warm cycle writes its unchanged polls in batches (``WriteBehind``), yet when
    ``poll_due`` returns every feed has its new times and validators and no claim left,
    so the next cycle (or another process) finds them as if written one by one."""
    urls = []
    for i in range(60):
        feed_server.add_feed(f"/w{i}.xml", rss(f"W{i}", [NOISE], link=f"https://w{i}.example/"))
        urls.append(feed_server.url(f"/w{i}.xml"))
    config = make_config(urls)
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        first = await rt.poller.poll_due(all_feeds=True)
        assert first.new_stories == 60
        before = {f.url: f for f in await rt.poller.store.feeds()}
        later = datetime.now(UTC) + timedelta(minutes=30)
        rt.poller.clock = lambda: later
        stats = await rt.poller.poll_due(all_feeds=True)
        assert stats.unchanged == 60
        after = await rt.poller.store.feeds()
        claimed = await rt.poller.store.claim_feeds(
            later, "another-process", config.lease, due_only=False, limit=None
        )
    assert all(
        f.last_fetched_at and f.last_fetched_at > before[f.url].last_fetched_at for f in after
    )
    assert all(f.next_due_at and f.next_due_at > later for f in after)
    assert all(f.etag for f in after)
    assert len(claimed) == 60  # no claim of ours left behind


async def test_a_run_over_every_feed_keeps_to_its_fetch_slots(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    """`--once --all` polls 40 feeds with 4 slots: never more than 4 requests in flight
    nor a task per feed (10,000 tasks made at once stalled the event loop), and a feed
    that fails is its own error while the others are read."""
    import asyncio

    from aiohttp import web

    in_flight = peak = 0
    tasks_seen = 0

    def handler_for(i: int) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            nonlocal in_flight, peak, tasks_seen
            in_flight += 1
            peak = max(peak, in_flight)
            tasks_seen = max(tasks_seen, len(asyncio.all_tasks()))
            await asyncio.sleep(0.01)
            in_flight -= 1
            if i == 7:
                return web.Response(status=500)
            body = rss(f"Outlet {i}", [(f"Story {i}", "Text.")], link=f"https://o{i}.example/")
            return web.Response(body=body, content_type="application/rss+xml")

        return handler

    urls = []
    for i in range(40):
        feed_server.add_handler(f"/{i}.xml", handler_for(i))
        urls.append(feed_server.url(f"/{i}.xml"))
    config = make_config(urls, fetch={"max_connections": 4}, database=database)
    stats, _ = await cycle(config, io.StringIO())
    assert stats.feeds == 40 and stats.errors == 1
    assert [o.status for o in stats.outcomes].count("error") == 1
    assert 1 < peak <= 4
    assert tasks_seen < 40, "a task per feed"
