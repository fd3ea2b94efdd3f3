"""Quiet hours (bot/core/quiet.py) and subscription options (bot/core/subscription.py),
as tables: ranges within a day and over midnight, daylight-saving changes, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.core.models import Subscription
from bot.core.quiet import QuietError, QuietHours, held_until, parse_range
from bot.core.routing import ExistingRow, route
from bot.core.subscription import (
    OptionError,
    Presentation,
    check_format,
    check_mention,
    presentation,
)
from bot.platforms import mention_kinds

BELGRADE = ZoneInfo("Europe/Belgrade")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours(text: str, zone: ZoneInfo = BELGRADE) -> QuietHours:
    start, end = parse_range(text)
    return QuietHours(start, end, zone)


@pytest.mark.parametrize(
    ("quiet", "zone", "now", "until"),
    [
        # Over midnight, winter (Belgrade is UTC+1).
        ("22:00-07:00", BELGRADE, "2026-01-10 20:59", None),
        ("22:00-07:00", BELGRADE, "2026-01-10 21:00", "2026-01-11 06:00"),
        ("22:00-07:00", BELGRADE, "2026-01-10 23:30", "2026-01-11 06:00"),
        ("22:00-07:00", BELGRADE, "2026-01-11 05:59", "2026-01-11 06:00"),
        ("22:00-07:00", BELGRADE, "2026-01-11 06:00", None),
        ("22:00-07:00", BELGRADE, "2026-01-11 12:00", None),
        # Summer (UTC+2).
        ("22:00-07:00", BELGRADE, "2026-07-10 20:30", "2026-07-11 05:00"),
        # Within one day.
        ("12:00-13:30", BELGRADE, "2026-01-10 11:00", "2026-01-10 12:30"),
        ("12:00-13:30", BELGRADE, "2026-01-10 12:30", None),
        ("12:00-13:30", BELGRADE, "2026-01-10 10:59", None),
        # Spring forward (29 March 2026, 02:00 → 03:00 local): a night across the
        # change ends at 07:00 summer time.
        ("22:00-07:00", BELGRADE, "2026-03-28 22:00", "2026-03-29 05:00"),
        # An end inside the gap (02:30 does not exist): quiet ends when clocks jump.
        ("23:00-02:30", BELGRADE, "2026-03-29 00:30", "2026-03-29 01:00"),
        # Fall back (25 October 2026, 03:00 → 02:00 local): 07:00 winter time.
        ("22:00-07:00", BELGRADE, "2026-10-24 21:00", "2026-10-25 06:00"),
        # An end that occurs twice (02:30): the first time.
        ("23:00-02:30", BELGRADE, "2026-10-24 22:00", "2026-10-25 00:30"),
        # Another zone: New York, 1 a.m. local is 06:00 UTC in winter.
        ("23:00-06:00", NEW_YORK, "2026-01-10 06:00", "2026-01-10 11:00"),
        ("23:00-06:00", NEW_YORK, "2026-01-10 11:00", None),
    ],
)
def test_when_quiet_hours_end(quiet: str, zone: ZoneInfo, now: str, until: str | None) -> None:
    got = hours(quiet, zone).until(utc(now))
    assert got == (utc(until) if until else None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("22-07", "not a quiet-hours range"),
        ("10pm-7am", "not a quiet-hours range"),
        ("24:00-07:00", "hours run 00-23"),
        ("22:60-07:00", "minutes 00-59"),
        ("07:00-07:00", "start and end are the same"),
        ("", "not a quiet-hours range"),
    ],
)
def test_bad_ranges_say_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(QuietError, match=message):
        parse_range(text)


def test_ranges_accept_spaces_and_one_digit_hours() -> None:
    assert parse_range(" 9:05 - 17:00 ") == (time(9, 5), time(17, 0))


def test_an_alert_is_held_only_while_every_subscription_wanting_it_is_quiet() -> None:
    night = utc("2026-01-10 23:00")  # 00:00 in Belgrade, 18:00 in New York
    belgrade = hours("22:00-07:00")
    ny_night = hours("22:00-07:00", NEW_YORK)
    early = hours("23:00-05:00")
    assert held_until([], night) is None
    assert held_until([belgrade], night) == utc("2026-01-11 06:00")
    assert held_until([belgrade, ny_night], night) is None  # New York is awake
    assert held_until([belgrade, early], night) == utc("2026-01-11 04:00")  # first end


@pytest.mark.parametrize(
    ("value", "platform", "result"),
    [
        ("role:123456789012345678", "discord", "role:123456789012345678"),
        (" ROLE: 123456789012345678 ", "discord", "role:123456789012345678"),
        ("group:S0123ABCD", "slack", "group:S0123ABCD"),
        ("", "discord", ""),
    ],
)
def test_mentions_that_are_accepted(value: str, platform: str, result: str) -> None:
    assert check_mention(value, platform, mention_kinds()) == result


@pytest.mark.parametrize(
    ("value", "platform", "message"),
    [
        ("group:S0123ABCD", "discord", "names a Slack user group, but this is a discord"),
        ("role:123456789012345678", "slack", "names a Discord role, but this is a slack"),
        ("role:everyone", "discord", "is not a numeric role id"),
        ("@everyone", "discord", "is not a mention"),
        ("<!channel>", "slack", "is not a mention"),
        ("group:S0123ABCD", "console", "console alerts cannot mention anyone"),
    ],
)
def test_mentions_that_are_refused(value: str, platform: str, message: str) -> None:
    with pytest.raises(OptionError, match=f"^mention: .*{message}"):
        check_mention(value, platform, mention_kinds())


def test_formats() -> None:
    assert check_format(" Compact ") == "compact" and check_format("full") == "full"
    with pytest.raises(OptionError, match=r"^format: 'short' is not a format"):
        check_format("short")


def test_one_presentation_for_the_subscriptions_sharing_a_message() -> None:
    q = "22:00-07:00@Europe/Belgrade"
    assert presentation([]) == Presentation()
    assert presentation([("compact", "", "")]) == Presentation("compact")
    assert presentation([("compact", "role:1", q), ("full", "role:2", q)]) == Presentation(
        "full", ("role:1", "role:2"), (q,)
    )
    assert presentation([("compact", "", q), ("compact", "", "")]).quiet == ()


def sub(watchlist: str, *feeds: str, channel: str = "c", **kw: object) -> Subscription:
    return Subscription(0, "console", channel, watchlist, feeds=feeds, **kw)  # type: ignore[arg-type]


def test_routing_by_feed() -> None:
    subs = {
        "kfor": [sub("KFOR"), sub("KFOR", "https://b/rss", channel="only-b")],
        "": [sub("", "https://a/rss", channel="all-a", format="compact", mention="role:1")],
    }
    inserts, _ = route(["KFOR"], subs, [], "https://a/rss")
    assert [(r.channel, r.watchlists) for r in inserts] == [("all-a", ()), ("c", ("KFOR",))]
    assert inserts[0].look == Presentation("compact", ("role:1",))
    inserts, _ = route(["KFOR"], subs, [], "https://b/rss")
    assert [r.channel for r in inserts] == ["c", "only-b"]
    inserts, _ = route([], subs, [], "https://a/rss")  # fired nothing: the feed's followers
    assert [r.channel for r in inserts] == ["all-a"]
    existing = [ExistingRow(5, "console", "all-a", (), "realtime", 1, False)]
    inserts, updates = route(["KFOR"], subs, existing, "https://a/rss")
    assert [r.channel for r in inserts] == ["c"] and [u.id for u in updates] == [5]
