"""Feed-health notices: the pure rule, then a real run that breaks and mends a feed."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import open_runtime, run_once
from bot.core.health import FeedHealth, assess, span, usual_gap
from tests.conftest import MakeConfig
from tests.fakes.feedserver import FeedServer
from tests.test_pipeline import KFOR_A, lines, rss

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SIX_H = timedelta(hours=6)


def feed(**kw: object) -> FeedHealth:
    base: dict[str, object] = {
        "url": "https://a.example/rss",
        "title": "A News",
        "error": "https://a.example/rss: HTTP 500 Internal Server Error",
        "error_count": 3,
        "added_at": T0 - timedelta(days=30),
        "last_ok_at": T0,
        "arrivals": [],
    }
    base.update(kw)
    return FeedHealth(**base)  # type: ignore[arg-type]


def test_broken_after_the_threshold_once_a_day() -> None:
    assert assess(feed(), T0 + timedelta(hours=5), SIX_H) is None
    c = assess(feed(), T0 + timedelta(hours=7), SIX_H)
    assert c is not None and (c.state, c.notice) == ("broken", "broken")
    assert c.text.startswith("Feed problem: A News (https://a.example/rss) has failed for 7 hours")
    assert "(HTTP 500 Internal Server Error)" in c.text
    # Announced: nothing more while it stays broken.
    assert (
        assess(feed(state="broken", noticed_at=T0 + SIX_H), T0 + timedelta(days=3), SIX_H) is None
    )
    # A never-working feed counts from when it was added.
    c = assess(feed(last_ok_at=None, added_at=T0), T0 + timedelta(hours=6), SIX_H)
    assert c is not None and c.notice == "broken"
    assert assess(feed(), T0 + timedelta(days=1), timedelta(0)) is None, "0s turns notices off"


def test_recovery_is_told_only_for_an_announced_problem_and_flapping_is_quiet() -> None:
    healthy = feed(error="", error_count=0)
    c = assess(healthy.__class__(**{**_as_dict(healthy), "state": "broken"}), T0, SIX_H)
    assert c is not None and (c.state, c.notice) == ("ok", "recovered")
    assert c.text == "Feed back: A News (https://a.example/rss) works again."
    assert assess(healthy, T0, SIX_H) is None
    # Broke again within a day of the last problem notice: not announced again yet.
    again = feed(last_ok_at=T0, noticed_at=T0 - timedelta(hours=12))
    assert assess(again, T0 + timedelta(hours=7), SIX_H) is None
    assert assess(again, T0 + timedelta(hours=13), SIX_H) is not None


def _as_dict(f: FeedHealth) -> dict[str, object]:
    return {k: getattr(f, k) for k in f.__slots__}


def test_silent_beyond_its_rhythm() -> None:
    hourly = [T0 - timedelta(hours=h) for h in range(10)]
    assert usual_gap(hourly) == timedelta(hours=1)
    assert usual_gap(hourly[:4]) is None, "too little history"
    quiet = feed(error="", error_count=0, arrivals=hourly)
    assert assess(quiet, T0 + timedelta(hours=9), SIX_H) is None
    c = assess(quiet, T0 + timedelta(hours=10), SIX_H)
    assert c is not None and (c.state, c.notice) == ("silent", "silent")
    assert "published nothing new for 10 hours; it usually does every 1 hour" in c.text
    # A daily feed is not silent after a quiet day and a half.
    daily = feed(error="", error_count=0, arrivals=[T0 - timedelta(days=d) for d in range(8)])
    assert assess(daily, T0 + timedelta(hours=36), SIX_H) is None
    # Back when something new arrives after the notice.
    noticed = T0 + timedelta(hours=10)
    silent = feed(error="", error_count=0, arrivals=hourly, state="silent", noticed_at=noticed)
    assert assess(silent, T0 + timedelta(hours=11), SIX_H) is None
    back = feed(
        error="", error_count=0, arrivals=[noticed + timedelta(hours=1), *hourly],
        state="silent", noticed_at=noticed,
    )  # fmt: skip
    c = assess(back, T0 + timedelta(hours=12), SIX_H)
    assert c is not None and c.notice == "recovered" and "publishes again" in c.text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(30, "30 seconds"), (60, "1 minute"), (7200, "2 hours"), (86400 * 3 + 5, "3 days")],
)
def test_span(seconds: int, words: str) -> None:
    assert span(timedelta(seconds=seconds)) == words


async def test_a_broken_feed_is_told_to_its_channels_once_then_its_recovery(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    body = rss("Hostile <@everyone> News", [KFOR_A], link="https://a.example/")
    feed_server.add_feed("/a.xml", body)
    config = make_config([feed_server.url("/a.xml")], database=database)
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        now = datetime.now(UTC)
        rt.poller.clock = lambda: now
        await run_once(rt, all_feeds=True)
        assert [d["action"] for d in lines(buf)] == ["post"]

        feed_server.add_feed("/a.xml", b"<html>gone</html>", content_type="text/html")
        for hours in (1, 7, 8, 30):  # fails on and on; one notice only
            now = datetime.now(UTC) + timedelta(hours=hours)
            await run_once(rt, all_feeds=True)
        notices = [d for d in lines(buf) if d["action"] == "notice"]
        assert len(notices) == 1, notices
        assert notices[0]["channel"] == "alerts"
        assert notices[0]["text"].startswith(
            f"Feed problem: Hostile <@everyone> News ({feed_server.url('/a.xml')}) has failed for"
        )

        feed_server.add_feed("/a.xml", body)
        now = datetime.now(UTC) + timedelta(hours=31)
        await run_once(rt, all_feeds=True)
        await run_once(rt, all_feeds=True)
        notices = [d for d in lines(buf) if d["action"] == "notice"]
        assert [n["text"].split(":")[0] for n in notices] == ["Feed problem", "Feed back"]


async def test_notices_are_escaped_for_discord_and_slack() -> None:
    from bot.chat.discord import render as discord_render
    from bot.chat.slack import render as slack_render

    text = "Feed problem: <!channel> @everyone [x](https://evil.example) *b* has failed"
    content = discord_render.notice_content(text)
    assert "@everyone" not in content.replace("@\u200beveryone", "")
    assert "[x](" not in content
    body, blocks = slack_render.notice_message(text)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert blocks[0]["text"]["text"].startswith(":warning: ")
