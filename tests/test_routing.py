"""The decisions both stores share (bot.core.routing, bot.core.seeding), as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.models import Story, Subscription
from bot.core.routing import (
    EventRow,
    ExistingRow,
    NewRow,
    RowUpdate,
    dedup_key,
    may_alert,
    merge_rows,
    new_outlet,
    new_stories,
    route,
    unique_stories,
)
from bot.core.seeding import seed_decision

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CUT = NOW - timedelta(days=2)


def sub(channel: str, watchlist: str, mode: str = "realtime", platform: str = "slack"):
    return Subscription(0, platform, channel, watchlist, mode)  # type: ignore[arg-type]


def subs(*items: Subscription) -> dict[str, list[Subscription]]:
    out: dict[str, list[Subscription]] = {}
    for s in items:
        out.setdefault(s.watchlist.casefold(), []).append(s)
    return out


def row(channel: str, names: tuple[str, ...], mode: str, sent: int = 0, digest: bool = False):
    return ExistingRow(1, "slack", channel, names, mode, sent, digest)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fired", "subscriptions", "existing", "inserts", "updates"),
    [
        # One channel, two watchlists that both fired: one row naming both.
        (
            ["KFOR", "MKE"],
            subs(sub("C1", "KFOR"), sub("C1", "MKE", "digest")),
            [],
            [NewRow("slack", "C1", ("KFOR", "MKE"), "realtime")],
            [],
        ),
        # Digest only when every matching subscription of the channel is a digest.
        (
            ["MKE"],
            subs(sub("C1", "MKE", "digest")),
            [],
            [NewRow("slack", "C1", ("MKE",), "digest")],
            [],
        ),
        # Names are matched without case; nobody subscribed: nothing.
        (["kfor"], subs(sub("C1", "KFOR")), [], [NewRow("slack", "C1", ("KFOR",), "realtime")], []),
        (["Bayraktar"], subs(sub("C1", "KFOR")), [], [], []),
        # The event already has a row: merge names; a realtime hit releases a waiting digest row.
        (
            ["MKE"],
            subs(sub("C1", "MKE")),
            [row("C1", ("KFOR",), "digest")],
            [],
            [RowUpdate(1, ("KFOR", "MKE"), True)],
        ),
        # ... but not once a digest message was prepared for it, nor once it was sent.
        (
            ["MKE"],
            subs(sub("C1", "MKE")),
            [row("C1", ("KFOR",), "digest", digest=True)],
            [],
            [RowUpdate(1, ("KFOR", "MKE"), False)],
        ),
        (
            ["MKE"],
            subs(sub("C1", "MKE")),
            [row("C1", ("KFOR",), "digest", sent=1)],
            [],
            [RowUpdate(1, ("KFOR", "MKE"), False)],
        ),
        # Same channel id on another platform is another channel.
        (
            ["KFOR"],
            subs(sub("C1", "KFOR"), sub("C1", "KFOR", platform="console")),
            [row("C1", ("KFOR",), "realtime", sent=1)],
            [NewRow("console", "C1", ("KFOR",), "realtime")],
            [RowUpdate(1, ("KFOR",), False)],
        ),
    ],
)
def test_route(fired, subscriptions, existing, inserts, updates) -> None:
    assert route(fired, subscriptions, existing) == (inserts, updates)


def story(guid: str, title: str, url: str = "", published: datetime | None = NOW) -> Story:
    return Story("f", guid, url, title, "", published, "F")


def test_ingest_keeps_new_unique_stories_in_feed_order() -> None:
    items = [
        story("1", "A", "https://x/1"),
        story("1", "A again", "https://x/1b"),  # a repeated id: the first wins
        story("2", "B", "https://x/2"),
        story("3", "B", "https://x/2"),  # re-issued under a new id in one batch
        story("4", "C", "https://x/4"),  # known by its dedup key
        story("5", "D"),  # no link: no key, never a duplicate
        story("6", "E", "https://x/6"),  # known id
    ]
    uniq = unique_stories(items)
    assert [s.id for s in uniq] == ["1", "2", "3", "4", "5", "6"]
    known_key = dedup_key(story("x", "c", "https://x/4"))
    assert known_key is not None
    got = new_stories(uniq, {"6"}, {known_key})
    assert [(s.id, k is not None) for s, k in got] == [("1", True), ("2", True), ("5", False)]


@pytest.mark.parametrize(
    ("published", "first_poll", "alerts"),
    [
        (NOW, True, True),
        (CUT, False, True),
        (CUT - timedelta(seconds=1), False, False),
        (None, True, False),  # undated on a first poll may be years old
        (None, False, True),  # undated later is news
    ],
)
def test_may_alert(published, first_poll, alerts) -> None:
    assert may_alert(published, CUT, first_poll=first_poll) is alerts


def test_new_outlet() -> None:
    assert new_outlet("b", ["a"]) and not new_outlet("a", ["a", "c"]) and new_outlet("a", [])


@pytest.mark.parametrize(
    ("origin", "seed_hash", "action", "note"),
    [
        (None, None, "insert", ""),
        ("file", "h1", "keep", ""),
        ("file", "old", "update", ""),
        ("edited", "old", "note-only", "was edited from chat or the CLI"),
        ("edited", "h1", "keep", ""),
        ("deleted", "old", "keep", "was deleted from chat or the CLI"),
    ],
)
def test_seed_decision(origin, seed_hash, action, note) -> None:
    d = seed_decision("KFOR", origin, seed_hash, "h1")
    assert d.action == action
    assert (note in d.note) if note else d.note == ""


def _row(
    id_: int,
    channel: str,
    cluster: int,
    *,
    sent: int = 0,
    mode: str = "realtime",
    watchlists: tuple[str, ...] = ("KFOR",),
    digest: bool = False,
) -> EventRow:
    return EventRow(id_, "slack", channel, cluster, watchlists, mode, sent, digest)  # type: ignore[arg-type]


def test_merge_keeps_the_survivors_row_and_retires_the_rest() -> None:
    plan = merge_rows(
        1,
        [
            _row(10, "C1", 1, sent=1),
            _row(20, "C1", 2, sent=1, watchlists=("MKE",)),
            _row(21, "C2", 2, mode="digest"),
            _row(30, "C2", 3, sent=1),
            _row(31, "C3", 3, mode="digest"),
        ],
    )
    kept = {u.id: u for u in plan.keep}
    # C1: the survivor's row, with both watchlists; C2: the one already posted;
    # C3: its only row, moved over.
    assert set(kept) == {10, 30, 31}
    assert kept[10].watchlists == ("KFOR", "MKE")
    assert plan.retire == (20, 21)
    assert not any(u.to_realtime for u in plan.keep)


def test_merge_takes_a_waiting_digest_row_realtime_when_a_merged_row_was() -> None:
    plan = merge_rows(1, [_row(10, "C1", 1, mode="digest"), _row(20, "C1", 2)])
    assert [(u.id, u.to_realtime) for u in plan.keep] == [(10, True)]
    plan = merge_rows(1, [_row(10, "C1", 1, mode="digest", digest=True), _row(20, "C1", 2)])
    assert [(u.id, u.to_realtime) for u in plan.keep] == [(10, False)]
