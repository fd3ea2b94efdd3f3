"""What a poll's new stories mean for the outbox, decided without the database.

Every backend stores the same decisions, so they live here and are tested with
tables; the store only reads the rows these functions need and writes back what
they return.

- **Dedup keys.** The same item re-issued with a new id or date has the same
  canonical URL and folded title. Items that share a URL but differ in title
  (live blogs, feeds that point every entry at their home page) stay apart.
- **Ingest.** A feed that repeats an id keeps its first entry; an id the feed
  already had, or a dedup key already stored (or seen earlier in the same
  batch), is skipped. An item published before the backfill cut-off is stored
  and searchable, never alerted; an undated item alerts unless it is on the
  feed's first successful poll (it may be years old).
- **Routing.** One outbox row per (platform, channel, event). A channel
  subscribed to several watchlists that fired gets one row naming them all; the
  row is realtime when any of those subscriptions is. A realtime subscription
  that fires on an event still waiting for a channel's digest takes it out of
  the digest (only while no digest message was prepared for it).
  A subscription limited to some feeds takes only their stories; a feed
  subscription (no watchlist) takes every alert-eligible story of its feeds.
  Several subscriptions of one channel share the event's one row, which looks
  as ``bot.core.subscription.presentation`` says.
- **Revisions.** A story that joins an event from a feed the event did not
  have yet is a new outlet: every channel that got the event sees it added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.fold import fold_form
from bot.core.models import Mode, Story, Subscription
from bot.core.subscription import FEED_ONLY, Presentation, presentation, quiet_spec


def dedup_key(story: Story) -> str | None:
    """Canonical URL + folded title: the same item re-issued with a new id or date."""
    if not story.url:
        return None
    return story.url + "\n" + fold_form(story.title)


def unique_stories(stories: Iterable[Story]) -> list[Story]:
    """A feed's entries with repeated ids dropped (the first one wins)."""
    by_id: dict[str, Story] = {}
    for s in stories:
        by_id.setdefault(s.id, s)
    return list(by_id.values())


def new_stories(
    stories: Sequence[Story], known_ids: set[str], known_keys: set[str]
) -> list[tuple[Story, str | None]]:
    """The stories not stored yet, with their dedup keys, in feed order."""
    out: list[tuple[Story, str | None]] = []
    batch: set[str] = set()
    for s in stories:
        if s.id in known_ids:
            continue
        key = dedup_key(s)
        if key and (key in known_keys or key in batch):
            continue  # the same item re-issued under a new id
        if key:
            batch.add(key)
        out.append((s, key))
    return out


def may_alert(published: datetime | None, cutoff: datetime, *, first_poll: bool) -> bool:
    """Recent enough to alert: after the backfill cut-off; undated only after a first poll."""
    if published is None:
        return not first_poll
    return published >= cutoff


@dataclass(frozen=True, slots=True)
class ExistingRow:
    """An outbox row of the event, as the store reads it for routing."""

    id: int
    platform: str
    channel: str
    watchlists: tuple[str, ...]
    mode: Mode
    sent_revision: int
    in_digest: bool
    """A digest message was prepared for this row (it goes out with that digest)."""


@dataclass(frozen=True, slots=True)
class NewRow:
    platform: str
    channel: str
    watchlists: tuple[str, ...]
    mode: Mode
    look: Presentation = field(default_factory=Presentation)


@dataclass(frozen=True, slots=True)
class RowUpdate:
    id: int
    watchlists: tuple[str, ...]
    to_realtime: bool
    """Take the row out of a pending digest: it goes out now."""


def wanted_by(
    fired: Iterable[str], feed_url: str, subscriptions: Mapping[str, Sequence[Subscription]]
) -> list[Subscription]:
    """The subscriptions that want a story of ``feed_url`` that fired ``fired``: those of
    the fired watchlists (limited to some feeds or not), and the feed subscriptions
    (``watchlist == ""``) of its feed."""
    keys = [name.casefold() for name in fired] + [FEED_ONLY]
    return [
        sub
        for key in dict.fromkeys(keys)
        for sub in subscriptions.get(key, ())
        if (not sub.feeds and sub.watchlist) or feed_url in sub.feeds
    ]


def route(
    fired: Iterable[str],
    subscriptions: Mapping[str, Sequence[Subscription]],
    existing: Iterable[ExistingRow],
    feed_url: str = "",
) -> tuple[list[NewRow], list[RowUpdate]]:
    """Outbox rows to insert and to update for an event whose story (of
    ``feed_url``) fired ``fired``.

    ``subscriptions`` maps a casefolded watchlist name (``""`` for feed
    subscriptions) to its active (unpaused) subscriptions; ``existing`` are the
    event's outbox rows. A new row looks as :func:`presentation` says for the
    subscriptions that want it; an existing row keeps its look.
    """
    per_channel: dict[tuple[str, str], list[Subscription]] = {}
    for sub in wanted_by(fired, feed_url, subscriptions):
        per_channel.setdefault((sub.platform, sub.channel), []).append(sub)
    rows = {(r.platform, r.channel): r for r in existing}
    inserts: list[NewRow] = []
    updates: list[RowUpdate] = []
    for (platform, channel), subs in sorted(per_channel.items()):
        names = {s.watchlist for s in subs if s.watchlist}
        realtime = any(s.mode == "realtime" for s in subs)
        row = rows.get((platform, channel))
        if row is None:
            mode: Mode = "realtime" if realtime else "digest"
            look = presentation(
                (s.format, s.mention, quiet_spec(s.quiet, s.timezone)) for s in subs
            )
            inserts.append(NewRow(platform, channel, tuple(sorted(names)), mode, look))
            continue
        merged = tuple(sorted(set(row.watchlists) | names))
        upgrade = realtime and row.mode == "digest" and row.sent_revision == 0 and not row.in_digest
        updates.append(RowUpdate(row.id, merged, upgrade))
    return inserts, updates


def new_outlet(feed_url: str, other_feeds: Iterable[str]) -> bool:
    """True when a story joining an event comes from a feed the event did not have."""
    return feed_url not in set(other_feeds)


@dataclass(frozen=True, slots=True)
class EventRow:
    """An outbox row of one of the events a bridging story merges."""

    id: int
    platform: str
    channel: str
    cluster_id: int
    watchlists: tuple[str, ...]
    mode: Mode
    sent_revision: int
    in_digest: bool


@dataclass(frozen=True, slots=True)
class MergePlan:
    keep: tuple[RowUpdate, ...]
    """Rows that carry the merged event in their channel: moved to the surviving
    event, watchlists joined, revision bumped (new sources to show)."""
    retire: tuple[int, ...]
    """Rows of the same channels made redundant: nothing more is sent for them. A
    message they already posted stays as it was; the kept row's message lists
    every source."""


def merge_rows(survivor: int, rows: Iterable[EventRow]) -> MergePlan:
    """Outbox changes when events merge into ``survivor`` (a story bridged them).

    One row per channel is kept: the survivor's, else the first one already posted
    (its message is then edited), else the oldest. Its watchlists become the union,
    and a digest row that was not sent yet goes realtime when any merged row was.
    """
    per: dict[tuple[str, str], list[EventRow]] = {}
    for r in rows:
        per.setdefault((r.platform, r.channel), []).append(r)
    keep: list[RowUpdate] = []
    retire: list[int] = []
    for _, group in sorted(per.items()):
        group.sort(key=lambda r: (r.cluster_id != survivor, r.sent_revision == 0, r.id))
        kept, others = group[0], group[1:]
        names = tuple(sorted({w for r in group for w in r.watchlists}))
        realtime = any(r.mode == "realtime" for r in group)
        upgrade = (
            realtime and kept.mode == "digest" and kept.sent_revision == 0 and not kept.in_digest
        )
        keep.append(RowUpdate(kept.id, names, upgrade))
        retire.extend(r.id for r in others)
    return MergePlan(tuple(keep), tuple(sorted(retire)))
