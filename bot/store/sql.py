"""The queries both backends share.

:class:`SQLStore` holds every query that SQLite and PostgreSQL understand
alike, written with ``?`` placeholders; a backend supplies the primitives
(``_exec``, ``_all``, ``_one``, ``_execmany``, ``transaction``), its schema,
its full-text lookup and the few spellings that differ (``FOR UPDATE SKIP
LOCKED``, the lock that serialises ingest across processes).

Portable spellings used throughout: ``INSERT … ON CONFLICT DO NOTHING`` and
``RETURNING`` instead of ``INSERT OR IGNORE``/``lastrowid``; ``lower(x) =
lower(?)`` for case-insensitive names; ``CASE`` instead of two-argument
``MAX``; times as ISO text (see :mod:`bot.store.base`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.cluster import encode as encode_fingerprint
from bot.core.health import FeedHealth
from bot.core.lookup import (
    PER_PAGE,
    RANKED,
    LookupPage,
    Scored,
    clamp_page,
    page_ids,
    rank,
)
from bot.core.models import FeedStatus, Match, Story, StoryHit, Subscription
from bot.core.routing import EventRow, ExistingRow, merge_rows, new_outlet, route
from bot.core.seeding import seed_decision
from bot.store.base import (
    ClusterCandidateRow,
    ClusterRule,
    ClusterStories,
    FeedRow,
    NewStory,
    NoticeRow,
    OutboxRow,
    PollResult,
    UnchangedPoll,
    chunks,
    from_iso,
    iso,
    marks,
)
from bot.store.candidates import YIELD_EVERY, PollCandidates

log = logging.getLogger(__name__)

ROWS_PER_STEP = 500
"""Claimed feed rows made into ``FeedRow`` values between two turns of the event loop."""
STORY_ROWS = 200
"""Stories per multi-row INSERT (11 parameters each, well under every engine's limit)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Placed:
    """Where ``_cluster_story`` put a story: the outbox rows it created or bumped, its
    event (None: it stays alone) and the events merged into that one."""

    outbox: list[int] = field(default_factory=list)
    cluster_id: int | None = None
    merged: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Search:
    """An engine's full-text match: ``FROM`` clause (stories as ``s``), condition,
    relevance expression (higher is better) and their parameters."""

    source: str
    condition: str
    condition_params: tuple[Any, ...]
    relevance: str
    relevance_params: tuple[Any, ...] = ()


Row = Mapping[str, Any]

TABLES = (
    "meta",
    "feeds",
    "clusters",
    "stories",
    "matches",
    "story_bands",
    "watchlists",
    "subscriptions",
    "digests",
    "outbox",
    "feed_health",
    "notices",
    "channel_places",
)
"""Every table with data worth copying, parents before children."""


def story_from_row(r: Row) -> Story:
    return Story(
        feed_url=r["feed_url"],
        id=r["guid"],
        url=r["url"],
        title=r["title"],
        text=r["text"],
        published=from_iso(r["published"]),
        outlet=r["outlet"],
        teaser=bool(r["teaser"]),
    )


def _secs(td: timedelta | None) -> int | None:
    return None if td is None else int(td.total_seconds())


def _feed_from_row(r: Row) -> FeedRow:
    def secs(v: int | None) -> timedelta | None:
        return None if v is None else timedelta(seconds=v)

    return FeedRow(
        id=r["id"],
        url=r["url"],
        origin=r["origin"],
        title=r["title"],
        interval=secs(r["interval_s"]),
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        ttl=secs(r["ttl_s"]),
        max_age=secs(r["max_age_s"]),
        first_ok_at=from_iso(r["first_ok_at"]),
        last_fetched_at=from_iso(r["last_fetched_at"]),
        last_ok_at=from_iso(r["last_ok_at"]),
        next_due_at=from_iso(r["next_due_at"]),
        error=r["error"],
        error_count=r["error_count"],
        retry_after_at=from_iso(r["retry_after_at"]),
    )


def _sub_from_row(r: Row) -> Subscription:
    return Subscription(
        id=r["id"],
        platform=r["platform"],
        channel=r["channel"],
        watchlist=r["watchlist"],
        mode=r["mode"],
        guild=r["guild"],
        paused_reason=r["paused_reason"],
        origin=r["origin"],
        feeds=tuple(json.loads(r["feeds"])),
        format=r["format"],
        mention=r["mention"],
        quiet=r["quiet"],
        timezone=r["timezone"],
    )


def _sub_options(sub: Subscription) -> tuple[Any, ...]:
    """The option columns of a subscription, in :data:`_SUB_OPTIONS` order."""
    return (json.dumps(list(sub.feeds)), sub.format, sub.mention, sub.quiet, sub.timezone)


_SUB_OPTIONS = "feeds = ?, format = ?, mention = ?, quiet = ?, timezone = ?"
_SUB_COLUMNS = "feeds, format, mention, quiet, timezone"


def _outbox_from_row(r: Row, now: datetime) -> OutboxRow:
    return OutboxRow(
        id=r["id"],
        platform=r["platform"],
        channel=r["channel"],
        cluster_id=r["cluster_id"],
        mode=r["mode"],
        watchlists=tuple(json.loads(r["watchlists"])),
        revision=r["revision"],
        sent_revision=r["sent_revision"],
        message_ref=r["message_ref"],
        posted_at=from_iso(r["posted_at"]),
        created_at=from_iso(r["created_at"]) or now,
        attempts=r["attempts"],
        digest_id=r["digest_id"],
        prior_claim=from_iso(r["prior_claim"]),
        format=r["format"],
        mentions=tuple(json.loads(r["mentions"])),
        quiet=tuple(json.loads(r["quiet"])),
    )


HEALTH_ARRIVALS = 21
"""Recent polls that brought new items, per feed, for its usual rhythm."""

_DUE_OUTBOX = (
    "o.revision > o.sent_revision AND o.due_at <= ? "
    "AND (o.claim_until IS NULL OR o.claim_until < ?) "
    "AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.platform = o.platform "
    "AND s.channel = o.channel AND s.paused_reason = '')"
)


class SQLStore:
    """Every query both backends share (see the module docstring)."""

    description: str = ""
    SKIP_LOCKED = ""
    """Appended to the sub-select that picks rows to claim (PostgreSQL only)."""
    NEWEST_BAND = "story_id DESC"
    """The newest rows of one band key first (SQLite: ``rowid``, the index's own order)."""

    # ------------------------------------------------------------ primitives

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        raise NotImplementedError

    async def _execmany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def _write_lock(self) -> None:
        """Serialise, across processes, transactions that read and then write on
        what they read (cluster choice, seeding, upserts): inside a transaction.
        SQLite's BEGIN IMMEDIATE already holds the file's write lock."""

    async def _index_stories(self, stories: Sequence[tuple[int, Story]]) -> None:
        """Make new stories (id, story) findable by lookup (a trigger does it on SQLite)."""

    async def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ meta and leases

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        await self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        row = await self._one(
            "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at "
            "WHERE leases.owner = excluded.owner OR leases.expires_at < ? RETURNING owner",
            (name, owner, iso(now + ttl), iso(now)),
        )
        return row is not None

    async def release_lease(self, name: str, owner: str) -> None:
        await self._exec("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    # ------------------------------------------------------------ feeds

    async def sync_config_feeds(
        self, feeds: Iterable[tuple[str, timedelta | None, str]], now: datetime
    ) -> None:
        """Make the config's feeds (url, interval, title) present; drop config feeds
        that left the config. Feeds added by users stay."""
        wanted = {url: (interval, title) for url, interval, title in feeds}
        async with self.transaction():
            await self._write_lock()
            for r in await self._all("SELECT url, origin FROM feeds"):
                if r["origin"] == "config" and r["url"] not in wanted:
                    await self._exec("DELETE FROM feeds WHERE url = ?", (r["url"],))
            for url, (interval, title) in wanted.items():
                await self._exec(
                    "INSERT INTO feeds (url, origin, title, interval_s, added_at, next_due_at) "
                    "VALUES (?, 'config', ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
                    "origin = 'config', interval_s = excluded.interval_s, "
                    "title = CASE WHEN excluded.title != '' THEN excluded.title "
                    "ELSE feeds.title END",
                    (url, title, _secs(interval), iso(now), iso(now)),
                )

    async def add_feed(
        self, url: str, now: datetime, origin: str = "user", title: str = ""
    ) -> FeedRow:
        """Add ``url`` to the polled feeds (``title``: what it is called until its first
        poll names it); a feed already there is left as it is."""
        await self._exec(
            "INSERT INTO feeds (url, origin, title, added_at, next_due_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (url) DO NOTHING",
            (url, origin, title, iso(now), iso(now)),
        )
        feed = await self.feed(url)
        assert feed is not None
        return feed

    async def remove_feed(self, url: str) -> bool:
        """Stop polling ``url``; subscriptions limited to it forget it, and one left
        with no feed ends (it was limited to feeds no longer polled): one transaction."""
        async with self.transaction():
            await self._write_lock()
            gone = await self._exec("DELETE FROM feeds WHERE url = ?", (url,)) > 0
            for r in await self._all("SELECT id, feeds FROM subscriptions WHERE feeds != '[]'"):
                feeds = json.loads(r["feeds"])
                if url not in feeds:
                    continue
                left = [f for f in feeds if f != url]
                if not left:
                    await self._exec("DELETE FROM subscriptions WHERE id = ?", (r["id"],))
                else:
                    await self._exec(
                        "UPDATE subscriptions SET feeds = ? WHERE id = ?",
                        (json.dumps(left), r["id"]),
                    )
        return gone

    async def feed(self, url: str) -> FeedRow | None:
        row = await self._one("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else _feed_from_row(row)

    async def feeds(self) -> list[FeedRow]:
        return [_feed_from_row(r) for r in await self._all("SELECT * FROM feeds ORDER BY url")]

    async def claim_feeds(
        self, now: datetime, owner: str, lease: timedelta, *, due_only: bool, limit: int | None
    ) -> list[FeedRow]:
        where = "(lease_until IS NULL OR lease_until < ?)"
        params: list[Any] = [owner, iso(now + lease), iso(now)]
        if due_only:
            where += " AND (next_due_at IS NULL OR next_due_at <= ?)"
            params.append(iso(now))
        sql = f"SELECT id FROM feeds WHERE {where} ORDER BY next_due_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        async with self.transaction():
            rows = await self._all(
                "UPDATE feeds SET lease_owner = ?, lease_until = ? "
                f"WHERE id IN ({sql}{self.SKIP_LOCKED}) RETURNING *",
                params,
            )
        feeds: list[FeedRow] = []
        for start in range(0, len(rows), ROWS_PER_STEP):
            if start:
                await asyncio.sleep(0)  # 10,000 rows are ~0.1 s of work: not in one go
            feeds.extend(map(_feed_from_row, rows[start : start + ROWS_PER_STEP]))
        return sorted(feeds, key=lambda f: iso(f.next_due_at) or "")

    async def renew_claims(self, owner: str, until: datetime) -> int:
        """Extend every feed and outbox claim ``owner`` holds; return how many."""
        async with self.transaction():
            n = await self._exec(
                "UPDATE feeds SET lease_until = ? WHERE lease_owner = ?", (iso(until), owner)
            )
            return n + await self._exec(
                "UPDATE outbox SET claim_until = ? WHERE claim_owner = ?", (iso(until), owner)
            )

    async def release_feeds(self, feed_ids: Sequence[int], owner: str) -> None:
        await self._execmany(
            "UPDATE feeds SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            [(i, owner) for i in feed_ids],
        )

    async def next_feed_due(self, now: datetime) -> datetime | None:
        """When the next feed falls due; a feed another process holds, when its lease ends."""
        row = await self._one(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > ? "
            "THEN lease_until ELSE next_due_at END) AS d FROM feeds",
            (iso(now),),
        )
        return None if row is None else from_iso(row["d"])

    async def feed_statuses(self) -> list[FeedStatus]:
        rows = await self._all(
            "SELECT f.*, (SELECT COUNT(*) FROM stories s WHERE s.feed_url = f.url) AS n "
            "FROM feeds f ORDER BY f.url"
        )
        return [
            FeedStatus(
                url=r["url"],
                title=r["title"],
                last_fetched=from_iso(r["last_fetched_at"]),
                last_ok=from_iso(r["last_ok_at"]),
                next_due=from_iso(r["next_due_at"]),
                error=r["error"],
                error_count=r["error_count"],
                stories=r["n"],
                origin="user" if r["origin"] == "user" else "config",
                warning=r["warning"],
            )
            for r in rows
        ]

    async def record_unchanged(self, polls: Sequence[UnchangedPoll]) -> None:
        if not polls:
            return
        async with self.transaction():  # one commit, not one per feed
            await self._execmany(
                "UPDATE feeds SET last_fetched_at = ?, last_ok_at = ?, next_due_at = ?, "
                "error = '', error_count = 0, retry_after_at = NULL, "
                "etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified), "
                "max_age_s = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
                [
                    (
                        iso(p.now),
                        iso(p.now),
                        iso(p.next_due),
                        p.etag,
                        p.last_modified,
                        _secs(p.max_age),
                        p.feed_id,
                    )
                    for p in polls
                ],
            )

    async def record_error(
        self,
        feed_id: int,
        now: datetime,
        next_due: datetime,
        error: str,
        retry_after_at: datetime | None = None,
    ) -> None:
        await self._exec(
            "UPDATE feeds SET last_fetched_at = ?, next_due_at = ?, error = ?, "
            "error_count = error_count + 1, retry_after_at = ?, "
            "lease_owner = NULL, lease_until = NULL WHERE id = ?",
            (iso(now), iso(next_due), error, iso(retry_after_at), feed_id),
        )

    async def retry_feeds(self, urls: Sequence[str] | None, now: datetime) -> list[str]:
        """Clear the error back-off of ``urls`` (None: of every failing feed) and make
        them due now, unless a server's Retry-After still runs (kept: it asked).
        Returns the URLs made due now."""
        where = "error_count > 0"
        params: tuple[Any, ...] = ()
        if urls is not None:
            if not urls:
                return []
            where = f"url IN ({marks(len(urls))})"
            params = tuple(urls)
        t = iso(now)
        rows = await self._all(
            f"UPDATE feeds SET error_count = 0, next_due_at = CASE WHEN retry_after_at > ? "
            f"THEN retry_after_at ELSE ? END WHERE {where} RETURNING url",
            (t, t, *params),
        )
        return sorted(str(r["url"]) for r in rows)

    # ------------------------------------------------------------ stories

    async def known_guids(self, feed_url: str, guids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in chunks(list(guids), 500):
            rows = await self._all(
                f"SELECT guid FROM stories WHERE feed_url = ? AND guid IN ({marks(len(chunk))})",
                (feed_url, *chunk),
            )
            known.update(r["guid"] for r in rows)
        return known

    async def known_dedup_keys(self, keys: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in chunks([k for k in keys if k], 500):
            rows = await self._all(
                f"SELECT dedup_key FROM stories WHERE dedup_key IN ({marks(len(chunk))})", chunk
            )
            known.update(r["dedup_key"] for r in rows)
        return known

    async def cluster_candidates(
        self, bands: Sequence[int], since: datetime, exclude: Iterable[int] = ()
    ) -> list[ClusterCandidateRow]:
        """Recent stories that share a band key with ``bands``, a bounded few per
        event (``bot.core.cluster.pick_candidates``), best first; stories of
        ``exclude`` (ids) are not candidates. (A poll looks up all its stories at
        once: ``bot.store.candidates``.)"""
        search = PollCandidates(self, [(bands, None)], since)
        await search.read()
        return await search.candidates(0, exclude)

    async def save_poll(
        self,
        feed_id: int,
        result: PollResult,
        items: Sequence[NewStory],
        now: datetime,
        *,
        digest_due: datetime | None = None,
        cluster_rule: ClusterRule | None = None,
        window_since: datetime | None = None,
    ) -> list[int]:
        """Store a poll's new stories and route their alerts, atomically.

        The poll's stories go in with one statement (a story already stored, by
        a concurrent poll or an earlier run, is skipped whole), their matches
        and band keys with one ``executemany`` each. With ``cluster_rule``, each
        new story's event is then chosen inside the transaction, under the
        ingest lock, from the candidates stored before this poll (a feed's
        stories of one poll are not clustered with each other), one story after
        the other, so a story that merges two events is seen by the next.
        Returns the ids of the outbox rows created or bumped.
        """
        touched: list[int] = []
        search: PollCandidates | None = None
        order = [n for n, item in enumerate(items) if item.fp is not None]
        if cluster_rule is not None and order:
            search = PollCandidates(
                self, [(items[n].bands, items[n].copy_key) for n in order], window_since or now
            )
        probe = {n: k for k, n in enumerate(order)}
        async with self.transaction():
            await self._write_lock()
            subs = await self._subscriptions_by_watchlist()
            stored = await self._insert_stories(items, now, clustering=cluster_rule is not None)
            this_poll = [sid for sid in stored if sid is not None]
            if search is not None:
                await search.read()  # every story's candidates, in a few statements
            # Band keys go in once, after the poll's stories: they are never
            # candidates for each other, and one statement beats one per story.
            keys: list[tuple[int, int, str | None]] = []
            matches: list[tuple[int, str, str, str, str, int, int]] = []
            joins: dict[tuple[int, str], list[int]] = {}
            seen = iso(now)
            merged_into: dict[int, int] = {}
            for n, (item, story_id) in enumerate(zip(items, stored, strict=True)):
                if story_id is None:
                    continue
                # Most stories fire nothing: no rows for them.
                matches.extend(
                    (story_id, m.watchlist, m.term, m.form, m.field, m.start, m.end)
                    for m in item.matches
                )
                if search is not None and cluster_rule is not None and n in probe:
                    k = probe[n]
                    if k % YIELD_EVERY == YIELD_EVERY - 1:
                        await asyncio.sleep(0)  # a feed of a thousand items: let the loop breathe
                    cluster_rule(item, await search.candidates(k, this_poll))
                    alone = item.cluster_id is None and not item.singles and not item.merges
                    if alone and await search.widen(k):
                        cluster_rule(item, await search.candidates(k, this_poll))
                if item.clustered:
                    keys.extend((b, story_id, seen) for b in item.bands)
                    if item.cluster_id is not None and not (
                        item.merges or item.singles or item.alert
                    ):
                        # Joins one event and changes nothing else: written with the
                        # poll's other plain joins, after the loop.
                        joins.setdefault((item.cluster_id, item.story.feed_url), []).append(
                            story_id
                        )
                        continue
                    placed = await self._cluster_story(item, story_id, subs, now, digest_due or now)
                    touched.extend(placed.outbox)
                    merged_into.update(dict.fromkeys(placed.merged, placed.cluster_id or 0))
                    if search is not None and placed.cluster_id is not None:
                        search.placed(placed.cluster_id, item.singles, placed.merged)
            if joins:
                touched.extend(await self._join_events(joins, merged_into, now))
            if matches:
                await self._execmany(
                    "INSERT INTO matches "
                    '(story_id, watchlist, term, form, field, start, "end") '
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    matches,
                )
            if keys:
                await self._execmany(
                    "INSERT INTO story_bands (band, story_id, seen_at) VALUES (?, ?, ?)", keys
                )
            await self._exec(
                "UPDATE feeds SET title = CASE WHEN title = '' THEN ? ELSE title END, "
                "etag = ?, last_modified = ?, body_hash = ?, ttl_s = ?, max_age_s = ?, "
                "last_fetched_at = ?, last_ok_at = ?, first_ok_at = COALESCE(first_ok_at, ?), "
                "next_due_at = ?, error = '', error_count = 0, retry_after_at = NULL, "
                "warning = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (
                    result.title,
                    result.etag,
                    result.last_modified,
                    result.body_hash,
                    _secs(result.ttl),
                    _secs(result.max_age),
                    iso(now),
                    iso(now),
                    iso(now),
                    iso(result.next_due),
                    result.warning,
                    feed_id,
                ),
            )
        return touched

    async def _insert_stories(
        self, items: Sequence[NewStory], now: datetime, *, clustering: bool
    ) -> list[int | None]:
        """Insert the poll's stories, a few hundred per statement; each item's new id,
        or None for one already stored (same feed and guid, or same dedup key)."""
        out: list[int | None] = [None] * len(items)
        for start in range(0, len(items), STORY_ROWS):
            chunk = items[start : start + STORY_ROWS]
            params: list[Any] = []
            for item in chunk:
                s = item.story
                # The fingerprint is stored for a story that is indexed: every story
                # the rule clusters (it may become a near copy: then it has no band
                # keys and is never a candidate), or one the caller clustered.
                indexed = item.fp and (clustering or item.clustered)
                params += (
                    s.feed_url,
                    s.id,
                    s.url,
                    s.title,
                    s.text,
                    iso(s.published),
                    s.outlet,
                    int(s.teaser),
                    iso(now),
                    item.dedup_key,
                    encode_fingerprint(item.fp) if indexed and item.fp else None,
                )
            rows = await self._all(
                "INSERT INTO stories (feed_url, guid, url, title, text, published, "
                "outlet, teaser, seen_at, dedup_key, fingerprint) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                + " ON CONFLICT DO NOTHING RETURNING id, feed_url, guid",
                params,
            )
            ids = {(r["feed_url"], r["guid"]): int(r["id"]) for r in rows}
            for n, item in enumerate(chunk):
                out[start + n] = ids.pop((item.story.feed_url, item.story.id), None)
        new = [(sid, item.story) for sid, item in zip(out, items, strict=True) if sid is not None]
        if new:
            await self._index_stories(new)
        return out

    async def _join_events(
        self,
        joins: Mapping[tuple[int, str], Sequence[int]],
        merged_into: Mapping[int, int],
        now: datetime,
    ) -> list[int]:
        """Put a poll's stories into the events they join ((event, feed) → story ids)
        in a few statements; an event that did not carry the feed yet has its outbox
        rows bumped (edited to add the outlet). Returns their ids."""
        by_event: dict[int, list[int]] = {}
        feeds: dict[str, set[int]] = {}
        for (event, feed_url), story_ids in joins.items():
            while event in merged_into:  # merged into another by a later story of the poll
                event = merged_into[event]
            by_event.setdefault(event, []).extend(story_ids)
            feeds.setdefault(feed_url, set()).add(event)
        events = sorted(by_event)
        new: set[int] = set()
        for feed_url, joined in feeds.items():  # one feed, but for a caller's mixed poll
            present: set[int] = set()
            for chunk in chunks(sorted(joined), 500):
                rows = await self._all(
                    "SELECT DISTINCT cluster_id FROM stories WHERE feed_url = ? "
                    f"AND cluster_id IN ({marks(len(chunk))})",
                    (feed_url, *chunk),
                )
                present.update(int(r["cluster_id"]) for r in rows)
            new |= joined - present
        await self._execmany(
            "UPDATE stories SET cluster_id = ? WHERE id = ?",
            [(event, sid) for event, story_ids in by_event.items() for sid in story_ids],
        )
        touched: list[int] = []
        for chunk in chunks(events, 500):
            await self._exec(
                f"UPDATE clusters SET updated_at = ? WHERE id IN ({marks(len(chunk))})",
                (iso(now), *chunk),
            )
        for chunk in chunks(sorted(new), 500):
            rows = await self._all(
                "UPDATE outbox SET revision = revision + 1 "
                f"WHERE cluster_id IN ({marks(len(chunk))}) RETURNING id",
                chunk,
            )
            touched.extend(int(r["id"]) for r in rows)
        return touched

    async def _cluster_story(
        self,
        item: NewStory,
        story_id: int,
        subs: dict[str, list[Subscription]],
        now: datetime,
        digest_due: datetime,
    ) -> Placed:
        """Put a stored story into its event (joining, merging or starting one) and
        route its alert."""
        s = item.story
        cluster_id = item.cluster_id
        singles = sorted(set(item.singles))
        if cluster_id is None and not singles and not item.alert:
            return Placed()  # alone, and it fired nothing: no event until a story links to it
        merges = sorted(set(item.merges) - {cluster_id})
        new_source = False
        if cluster_id is None:
            c = await self._one(
                "INSERT INTO clusters (created_at, updated_at) VALUES (?, ?) RETURNING id",
                (iso(now), iso(now)),
            )
            assert c is not None
            cluster_id = int(c["id"])
        else:
            await self._exec(
                "UPDATE clusters SET updated_at = ? WHERE id = ?", (iso(now), cluster_id)
            )
            if not merges:
                added = {s.feed_url}
                if singles:
                    added |= {
                        r["feed_url"]
                        for r in await self._all(
                            "SELECT DISTINCT feed_url FROM stories "
                            f"WHERE id IN ({marks(len(singles))})",
                            singles,
                        )
                    }
                # Which of the joining feeds the event has already: looked up by feed
                # (a feed's stories), never by reading every story of the event, which
                # grows without bound when many feeds carry one template.
                present = {
                    r["feed_url"]
                    for r in await self._all(
                        "SELECT DISTINCT feed_url FROM stories WHERE cluster_id = ? "
                        f"AND feed_url IN ({marks(len(added))})",
                        (cluster_id, *sorted(added)),
                    )
                }
                new_source = any(new_outlet(f, present) for f in added)
        members = [story_id, *singles]
        await self._exec(
            f"UPDATE stories SET cluster_id = ? WHERE id IN ({marks(len(members))})",
            (cluster_id, *members),
        )
        touched: list[int] = []
        if merges:
            touched.extend(await self._merge_clusters(cluster_id, merges, now))
        elif new_source:
            rows = await self._all(
                "UPDATE outbox SET revision = revision + 1 WHERE cluster_id = ? RETURNING id",
                (cluster_id,),
            )
            touched.extend(int(r["id"]) for r in rows)
        if item.alert:
            touched.extend(
                await self._route(
                    cluster_id,
                    [m.watchlist for m in item.matches],
                    s.feed_url,
                    subs,
                    now,
                    digest_due,
                )
            )
        return Placed(touched, cluster_id, tuple(merges))

    async def _merge_clusters(
        self, survivor: int, merged: Sequence[int], now: datetime
    ) -> list[int]:
        """Move the stories of ``merged`` into ``survivor`` and their outbox rows as
        ``bot.core.routing.merge_rows`` says; returns the kept rows' ids."""
        ids = [survivor, *merged]
        await self._exec(
            f"UPDATE stories SET cluster_id = ? WHERE cluster_id IN ({marks(len(merged))})",
            (survivor, *merged),
        )
        rows = await self._all(
            "SELECT id, platform, channel, cluster_id, watchlists, mode, sent_revision, "
            f"digest_id FROM outbox WHERE cluster_id IN ({marks(len(ids))})",
            ids,
        )
        plan = merge_rows(
            survivor,
            [
                EventRow(
                    id=r["id"],
                    platform=r["platform"],
                    channel=r["channel"],
                    cluster_id=r["cluster_id"],
                    watchlists=tuple(json.loads(r["watchlists"])),
                    mode=r["mode"],
                    sent_revision=r["sent_revision"],
                    in_digest=r["digest_id"] is not None,
                )
                for r in rows
            ],
        )
        if plan.retire:
            await self._exec(
                "UPDATE outbox SET sent_revision = revision, "
                f"last_error = ? WHERE id IN ({marks(len(plan.retire))})",
                (f"merged into event {survivor}", *plan.retire),
            )
        for u in plan.keep:
            await self._exec(
                "UPDATE outbox SET cluster_id = ?, watchlists = ?, revision = revision + 1 "
                "WHERE id = ?",
                (survivor, json.dumps(list(u.watchlists)), u.id),
            )
            if u.to_realtime:
                await self._exec(
                    "UPDATE outbox SET mode = 'realtime', due_at = ? WHERE id = ?", (iso(now), u.id)
                )
        log.info("events %s merged into %d (a story links them)", list(merged), survivor)
        return [u.id for u in plan.keep]

    async def followed_feeds(self) -> set[str]:
        """Feeds whose every item a channel gets (an active feed subscription)."""
        rows = await self._all(
            "SELECT feeds FROM subscriptions WHERE watchlist = '' AND paused_reason = ''"
        )
        return {url for r in rows for url in json.loads(r["feeds"])}

    async def _subscriptions_by_watchlist(self) -> dict[str, list[Subscription]]:
        out: dict[str, list[Subscription]] = {}
        for r in await self._all("SELECT * FROM subscriptions WHERE paused_reason = ''"):
            sub = _sub_from_row(r)
            out.setdefault(sub.watchlist.casefold(), []).append(sub)
        return out

    async def _route(
        self,
        cluster_id: int,
        fired: Sequence[str],
        feed_url: str,
        subs: dict[str, list[Subscription]],
        now: datetime,
        digest_due: datetime,
    ) -> list[int]:
        existing = [
            ExistingRow(
                id=r["id"],
                platform=r["platform"],
                channel=r["channel"],
                watchlists=tuple(json.loads(r["watchlists"])),
                mode=r["mode"],
                sent_revision=r["sent_revision"],
                in_digest=r["digest_id"] is not None,
            )
            for r in await self._all(
                "SELECT id, platform, channel, watchlists, mode, sent_revision, digest_id "
                "FROM outbox WHERE cluster_id = ?",
                (cluster_id,),
            )
        ]
        inserts, updates = route(sorted(set(fired)), subs, existing, feed_url)
        ids: list[int] = []
        for u in updates:
            await self._exec(
                "UPDATE outbox SET watchlists = ? WHERE id = ?",
                (json.dumps(list(u.watchlists)), u.id),
            )
            if u.to_realtime:
                await self._exec(
                    "UPDATE outbox SET mode = 'realtime', due_at = ? WHERE id = ?", (iso(now), u.id)
                )
            ids.append(u.id)
        for n in inserts:
            row = await self._one(
                "INSERT INTO outbox (platform, channel, cluster_id, mode, watchlists, "
                "created_at, due_at, format, mentions, quiet) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    n.platform,
                    n.channel,
                    cluster_id,
                    n.mode,
                    json.dumps(list(n.watchlists)),
                    iso(now),
                    iso(now if n.mode == "realtime" else digest_due),
                    n.look.format,
                    json.dumps(list(n.look.mentions)),
                    json.dumps(list(n.look.quiet)),
                ),
            )
            assert row is not None
            ids.append(int(row["id"]))
        return ids

    async def story_count(self) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM stories")
        return int(row["n"]) if row else 0

    async def _hits(self, rows: Sequence[Row]) -> list[StoryHit]:
        hits: list[StoryHit] = []
        for r in rows:
            ms = await self._all(
                "SELECT DISTINCT watchlist, term FROM matches WHERE story_id = ? "
                "ORDER BY watchlist, term",
                (r["id"],),
            )
            hits.append(
                StoryHit(
                    story=story_from_row(r),
                    watchlists=tuple(sorted({m["watchlist"] for m in ms})),
                    terms=tuple(dict.fromkeys(m["term"] for m in ms)),
                )
            )
        return hits

    def _search(self, query: str) -> Search | None:
        """The engine's full-text match for ``query`` (None when it has no words)."""
        raise NotImplementedError

    async def lookup(
        self,
        query: str,
        *,
        since: datetime | None = None,
        watchlist: str | None = None,
        alerted_only: bool = True,
        page: int = 1,
        per_page: int = PER_PAGE,
        now: datetime | None = None,
    ) -> LookupPage:
        """A page of the stories whose title or text hold every word of ``query``,
        ranked by ``bot.core.lookup.rank``, with the true total. ``alerted_only``:
        only stories that fired a watchlist."""
        page, per_page = clamp_page(page, per_page)
        search = self._search(query) if query.strip() else None
        source, relevance, rel_params = "stories s", "0", []
        where: list[str] = []
        params: list[Any] = []
        if search is not None:
            source, relevance = search.source, search.relevance
            rel_params = list(search.relevance_params)
            where.append(search.condition)
            params.extend(search.condition_params)
        if since is not None:
            where.append("COALESCE(s.published, s.seen_at) >= ?")
            params.append(iso(since))
        if watchlist:
            where.append("s.id IN (SELECT story_id FROM matches WHERE lower(watchlist) = lower(?))")
            params.append(watchlist)
        elif alerted_only:
            where.append("EXISTS (SELECT 1 FROM matches m WHERE m.story_id = s.id)")
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        count = await self._one(f"SELECT COUNT(*) AS n FROM {source}{cond}", params)
        total = int(count["n"]) if count else 0
        rows = await self._all(
            f"SELECT s.id AS id, COALESCE(s.published, s.seen_at) AS t, {relevance} AS rel "
            f"FROM {source}{cond} ORDER BY rel DESC, t DESC, s.id DESC LIMIT ?",
            [*rel_params, *params, RANKED],
        )
        ranked = rank(
            (Scored(r["id"], float(r["rel"] or 0.0), from_iso(r["t"]) or EPOCH) for r in rows),
            now or datetime.now(tz=UTC),
        )
        ids = page_ids(ranked, page, per_page)
        hits: list[StoryHit] = []
        if ids:
            got = await self._all(f"SELECT * FROM stories WHERE id IN ({marks(len(ids))})", ids)
            by_id = {r["id"]: r for r in got}
            hits = await self._hits([by_id[i] for i in ids if i in by_id])
        return LookupPage(tuple(hits), total, page, per_page)

    async def prune(self, now: datetime, *, keep: timedelta, window: timedelta) -> dict[str, int]:
        """Drop what can no longer matter; return how many rows of each kind went.

        - band keys older than the cluster window (no story can join them);
        - stories published and first seen more than ``keep`` ago, with their
          matches. Safe because ``keep`` > ``backfill``: if the feed still lists
          such an item it is stored again but cannot alert. Undated stories keep
          their row (their identity is all that stops a repeat) but lose their text.
          Stories of an event still waiting in the outbox (a paused channel, a
          platform without its token) stay, so the alert can still be built;
        - delivered outbox rows older than ``keep``, sent digests, and clusters
          left empty.
        """
        old = iso(now - keep)
        counts: dict[str, int] = {}
        async with self.transaction():
            counts["bands"] = await self._exec(
                "DELETE FROM story_bands WHERE seen_at < ?", (iso(now - window),)
            )
            counts["stories"] = await self._exec(
                "DELETE FROM stories WHERE seen_at < ? AND published IS NOT NULL "
                "AND published < ? AND NOT EXISTS (SELECT 1 FROM outbox o "
                "WHERE o.cluster_id = stories.cluster_id AND o.revision > o.sent_revision)",
                (old, old),
            )
            counts["emptied"] = await self._exec(
                "UPDATE stories SET text = '' WHERE seen_at < ? AND published IS NULL "
                "AND text != ''",
                (old,),
            )
            counts["outbox"] = await self._exec(
                "DELETE FROM outbox WHERE revision <= sent_revision AND created_at < ?", (old,)
            )
            counts["digests"] = await self._exec(
                "DELETE FROM digests WHERE sent_at IS NOT NULL AND created_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.digest_id = digests.id)",
                (old,),
            )
            counts["clusters"] = await self._exec(
                "DELETE FROM clusters WHERE updated_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM stories s WHERE s.cluster_id = clusters.id) "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.cluster_id = clusters.id)",
                (old,),
            )
        return counts

    # ------------------------------------------------------------ outbox

    async def claim_outbox(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        platforms: Sequence[str],
        limit: int = 200,
    ) -> list[OutboxRow]:
        """Take the due rows of up to ``limit`` rows' channels, whole channels at a time.

        A row whose earlier claim never recorded an outcome comes back with
        ``prior_claim`` set (SQL reads the old ``claimed_at`` on the right-hand side).
        """
        if not platforms:
            return []
        t = iso(now)
        pm = marks(len(platforms))
        async with self.transaction():
            rows = await self._all(
                "UPDATE outbox SET claim_owner = ?, claim_until = ?, prior_claim = claimed_at, "
                "claimed_at = ? WHERE id IN (SELECT o.id FROM outbox o WHERE "
                f"{_DUE_OUTBOX} AND (o.platform, o.channel) IN (SELECT o.platform, o.channel "
                f"FROM outbox o WHERE {_DUE_OUTBOX} AND o.platform IN ({pm}) "
                f"ORDER BY o.due_at, o.id LIMIT ?){self.SKIP_LOCKED}) RETURNING *",
                (owner, iso(now + lease), t, t, t, t, t, *platforms, limit),
            )
        out = [_outbox_from_row(r, now) for r in rows]
        out.sort(key=lambda r: (iso(r.created_at) or "", r.id))
        return out

    async def confirm_claims(self, row_ids: Sequence[int], owner: str, until: datetime) -> set[int]:
        """Of ``row_ids``, those ``owner`` still holds, their leases extended to ``until``."""
        rows = await self._all(
            f"UPDATE outbox SET claim_until = ? WHERE id IN ({marks(len(row_ids))}) "
            "AND claim_owner = ? RETURNING id",
            (iso(until), *row_ids, owner),
        )
        return {int(r["id"]) for r in rows}

    async def hold_outbox(self, row_ids: Sequence[int], until: datetime, owner: str) -> None:
        """Quiet hours: these rows (still claimed by ``owner``) go out in one digest at
        ``until``; their claims are released."""
        if not row_ids:
            return
        await self._exec(
            "UPDATE outbox SET mode = 'digest', due_at = ?, claim_owner = NULL, "
            f"claim_until = NULL, claimed_at = NULL WHERE id IN ({marks(len(row_ids))}) "
            "AND claim_owner = ?",
            (iso(until), *row_ids, owner),
        )

    async def waiting_outbox(self, now: datetime) -> dict[str, int]:
        t = iso(now)
        rows = await self._all(
            f"SELECT o.platform, COUNT(*) AS n FROM outbox o WHERE {_DUE_OUTBOX} "
            "GROUP BY o.platform",
            (t, t),
        )
        return {r["platform"]: int(r["n"]) for r in rows}

    # ------------------------------------------------------------ feed health

    async def feed_health(self) -> list[FeedHealth]:
        arrivals: dict[str, list[datetime]] = {}
        rows = await self._all(
            "SELECT feed_url, seen_at FROM (SELECT feed_url, seen_at, ROW_NUMBER() OVER "
            "(PARTITION BY feed_url ORDER BY seen_at DESC) AS rn FROM (SELECT DISTINCT "
            "feed_url, seen_at FROM stories) AS polls) AS recent WHERE rn <= ?",
            (HEALTH_ARRIVALS,),
        )
        for r in rows:
            if (t := from_iso(r["seen_at"])) is not None:
                arrivals.setdefault(r["feed_url"], []).append(t)
        feeds = await self._all(
            "SELECT f.url, f.title, f.error, f.error_count, f.added_at, f.last_ok_at, "
            "h.state, h.noticed_at FROM feeds f LEFT JOIN feed_health h ON h.feed_url = f.url"
        )
        out = []
        for r in feeds:
            added = from_iso(r["added_at"])
            assert added is not None  # NOT NULL
            out.append(
                FeedHealth(
                    url=r["url"],
                    title=r["title"],
                    error=r["error"],
                    error_count=int(r["error_count"]),
                    added_at=added,
                    last_ok_at=from_iso(r["last_ok_at"]),
                    arrivals=sorted(arrivals.get(r["url"], []), reverse=True),
                    state=r["state"] or "ok",
                    noticed_at=from_iso(r["noticed_at"]),
                )
            )
        return out

    async def health_channels(self, feed_url: str) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT DISTINCT o.platform, o.channel FROM outbox o "
            "JOIN stories s ON s.cluster_id = o.cluster_id "
            "JOIN subscriptions sub ON sub.platform = o.platform AND sub.channel = o.channel "
            "AND sub.paused_reason = '' WHERE s.feed_url = ? ORDER BY o.platform, o.channel",
            (feed_url,),
        )
        return [(str(r["platform"]), str(r["channel"])) for r in rows]

    async def record_health(
        self,
        feed_url: str,
        state: str,
        noticed_at: datetime | None,
        notices: Sequence[tuple[str, str, str, str]],
        now: datetime,
    ) -> None:
        t = iso(now)
        async with self.transaction():
            await self._exec(
                "INSERT INTO feed_health (feed_url, state, noticed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (feed_url) DO UPDATE SET state = excluded.state, "
                "noticed_at = COALESCE(excluded.noticed_at, feed_health.noticed_at)",
                (feed_url, state, iso(noticed_at)),
            )
            for platform, channel, kind, body in notices:
                await self._exec(
                    "INSERT INTO notices (platform, channel, feed_url, kind, body, created_at, "
                    "due_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (platform, channel, feed_url, kind, body, t, t),
                )

    async def claim_notices(
        self, now: datetime, owner: str, lease: timedelta, platforms: Sequence[str], limit: int = 50
    ) -> list[NoticeRow]:
        if not platforms:
            return []
        t = iso(now)
        async with self.transaction():
            rows = await self._all(
                "UPDATE notices SET claim_owner = ?, claim_until = ? WHERE id IN (SELECT n.id "
                "FROM notices n WHERE n.sent_at IS NULL AND n.due_at <= ? AND (n.claim_until "
                f"IS NULL OR n.claim_until < ?) AND n.platform IN ({marks(len(platforms))}) "
                f"ORDER BY n.id LIMIT ?{self.SKIP_LOCKED}) RETURNING *",
                (owner, iso(now + lease), t, t, *platforms, limit),
            )
        return sorted(
            (
                NoticeRow(
                    id=int(r["id"]),
                    platform=r["platform"],
                    channel=r["channel"],
                    feed_url=r["feed_url"],
                    kind=r["kind"],
                    body=r["body"],
                    attempts=int(r["attempts"]),
                )
                for r in rows
            ),
            key=lambda n: n.id,
        )

    async def mark_notice_sent(self, notice_id: int, ref: str, now: datetime) -> None:
        await self._exec(
            "UPDATE notices SET sent_at = ?, message_ref = ?, claim_owner = NULL, "
            "claim_until = NULL WHERE id = ?",
            (iso(now), ref, notice_id),
        )

    async def mark_notice_failed(self, notice_id: int, error: str, retry_at: datetime) -> None:
        await self._exec(
            "UPDATE notices SET attempts = attempts + 1, last_error = ?, due_at = ?, "
            "claim_owner = NULL, claim_until = NULL WHERE id = ?",
            (error, iso(retry_at), notice_id),
        )

    async def pending_count(self) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM outbox WHERE revision > sent_revision")
        return int(row["n"]) if row else 0

    async def outbox_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """Rows not delivered yet, and when the oldest of those already due was made."""
        row = await self._one(
            "SELECT COUNT(*) AS n, MIN(CASE WHEN due_at <= ? THEN created_at END) AS oldest "
            "FROM outbox WHERE revision > sent_revision",
            (iso(now),),
        )
        if row is None:
            return 0, None
        return int(row["n"]), from_iso(row["oldest"])

    async def mark_sent(
        self, row_id: int, revision: int, ref: str, *, posted_at: datetime | None
    ) -> None:
        """Record a delivery. ``posted_at`` is set for a new message, None for an edit."""
        await self._exec(
            "UPDATE outbox SET sent_revision = CASE WHEN sent_revision > ? THEN sent_revision "
            "ELSE ? END, message_ref = ?, posted_at = COALESCE(?, posted_at), attempts = 0, "
            "last_error = '', claim_owner = NULL, claim_until = NULL, claimed_at = NULL "
            "WHERE id = ?",
            (revision, revision, ref, iso(posted_at), row_id),
        )

    async def mark_failed(self, row_ids: Sequence[int], error: str, retry_at: datetime) -> None:
        await self._execmany(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ?, "
            "claim_owner = NULL, claim_until = NULL, claimed_at = NULL WHERE id = ?",
            [(error, iso(retry_at), i) for i in row_ids],
        )

    async def release_outbox(self, row_ids: Sequence[int]) -> None:
        await self._execmany(
            "UPDATE outbox SET claim_owner = NULL, claim_until = NULL, claimed_at = NULL "
            "WHERE id = ?",
            [(i,) for i in row_ids],
        )

    async def defer_unsure(self, row_ids: Sequence[int], retry_at: datetime) -> None:
        """Hand rows back for later, still marked as possibly sent (since their
        earliest unfinished claim), so the next claimer looks before it sends."""
        await self._execmany(
            "UPDATE outbox SET due_at = ?, claim_owner = NULL, claim_until = NULL, "
            "claimed_at = COALESCE(prior_claim, claimed_at) WHERE id = ?",
            [(iso(retry_at), i) for i in row_ids],
        )

    async def start_digest(
        self, platform: str, channel: str, row_ids: Sequence[int], now: datetime
    ) -> tuple[int, str]:
        key = "alertbot-d-" + uuid.uuid4().hex[:24]
        async with self.transaction():
            row = await self._one(
                "INSERT INTO digests (platform, channel, key, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (platform, channel, key, iso(now)),
            )
            assert row is not None
            digest_id = int(row["id"])
            await self._execmany(
                "UPDATE outbox SET digest_id = ? WHERE id = ?", [(digest_id, i) for i in row_ids]
            )
        return digest_id, key

    async def digest_keys(self, digest_ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in chunks(sorted(set(digest_ids)), 500):
            rows = await self._all(
                f"SELECT id, key FROM digests WHERE id IN ({marks(len(chunk))})", chunk
            )
            out.update((int(r["id"]), str(r["key"])) for r in rows)
        return out

    async def finish_digest(self, digest_id: int, ref: str, now: datetime) -> None:
        async with self.transaction():
            await self._exec(
                "UPDATE digests SET sent_at = ?, message_ref = ? WHERE id = ?",
                (iso(now), ref, digest_id),
            )
            # Later sources of a digest item are not re-announced: the digest
            # message lists many events and cannot be edited for one.
            await self._exec(
                "UPDATE outbox SET sent_revision = revision, message_ref = ?, "
                "posted_at = COALESCE(posted_at, ?), attempts = 0, last_error = '', "
                "digest_id = NULL, claim_owner = NULL, claim_until = NULL, claimed_at = NULL "
                "WHERE digest_id = ?",
                ("digest:" + ref, iso(now), digest_id),
            )

    async def pause_channel(self, platform: str, channel: str, reason: str) -> int:
        async with self.transaction():
            await self._exec(
                "UPDATE outbox SET claim_owner = NULL, claim_until = NULL, claimed_at = NULL "
                "WHERE platform = ? AND channel = ? AND revision > sent_revision",
                (platform, channel),
            )
            return await self._exec(
                "UPDATE subscriptions SET paused_reason = ? WHERE platform = ? AND channel = ?",
                (reason or "delivery failed", platform, channel),
            )

    async def cluster_stories(self, cluster_id: int) -> ClusterStories:
        rows = await self._all(
            "SELECT * FROM stories WHERE cluster_id = ? "
            "ORDER BY COALESCE(published, seen_at), seen_at, id",
            (cluster_id,),
        )
        stories = [story_from_row(r) for r in rows]
        matches: dict[int, list[Match]] = {}
        for i, r in enumerate(rows):
            ms = await self._all(
                'SELECT watchlist, term, form, field, start, "end" FROM matches '
                "WHERE story_id = ? ORDER BY field, start",
                (r["id"],),
            )
            matches[i] = [
                Match(m["watchlist"], m["term"], m["form"], m["field"], m["start"], m["end"])
                for m in ms
            ]
        return ClusterStories(cluster_id, stories, matches)

    async def set_channel_place(self, platform: str, channel: str, place: str) -> None:
        await self._exec(
            "INSERT INTO channel_places (platform, channel, place) VALUES (?, ?, ?) "
            "ON CONFLICT (platform, channel) DO UPDATE SET place = excluded.place",
            (platform, channel, place),
        )

    async def channel_place(self, platform: str, channel: str) -> str | None:
        row = await self._one(
            "SELECT place FROM channel_places WHERE platform = ? AND channel = ?",
            (platform, channel),
        )
        return str(row["place"]) if row else None

    async def clusters_with_stories(self, cluster_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for chunk in chunks(sorted(set(cluster_ids)), 500):
            rows = await self._all(
                "SELECT DISTINCT cluster_id FROM stories "
                f"WHERE cluster_id IN ({marks(len(chunk))})",
                chunk,
            )
            found.update(r["cluster_id"] for r in rows)
        return found

    # ------------------------------------------------------------ watchlists

    async def watchlist_bodies(self) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT name, body FROM watchlists WHERE origin != 'deleted' ORDER BY lower(name)"
        )
        return [(r["name"], r["body"]) for r in rows]

    async def watchlist_body(self, name: str) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT name, body FROM watchlists WHERE lower(name) = lower(?) "
            "AND origin != 'deleted'",
            (name,),
        )
        return None if row is None else (row["name"], row["body"])

    async def seed_watchlists(
        self, files: Iterable[tuple[str, str]], now: datetime
    ) -> tuple[list[str], list[str]]:
        """Seed (name, toml body) pairs from the watchlist folder (see core.seeding).

        Returns the names inserted or updated, and a note for each file that is
        not used, saying why and how to use it.
        """
        changed: list[str] = []
        notes: list[str] = []
        async with self.transaction():
            await self._write_lock()
            for name, body in files:
                digest = hashlib.sha256(body.encode()).hexdigest()
                row = await self._one(
                    "SELECT origin, seed_hash FROM watchlists WHERE lower(name) = lower(?)",
                    (name,),
                )
                d = seed_decision(
                    name,
                    None if row is None else row["origin"],
                    None if row is None else row["seed_hash"],
                    digest,
                )
                if d.note:
                    notes.append(d.note)
                if d.action == "insert":
                    await self._exec(
                        "INSERT INTO watchlists (name, body, origin, seed_hash, updated_at) "
                        "VALUES (?, ?, 'file', ?, ?)",
                        (name, body, digest, iso(now)),
                    )
                    changed.append(name)
                elif d.action == "update":
                    await self._exec(
                        "UPDATE watchlists SET body = ?, seed_hash = ?, updated_at = ? "
                        "WHERE lower(name) = lower(?)",
                        (body, digest, iso(now), name),
                    )
                    changed.append(name)
                elif d.action == "note-only":
                    await self._exec(  # say it once per file change
                        "UPDATE watchlists SET seed_hash = ? WHERE lower(name) = lower(?)",
                        (digest, name),
                    )
            if changed:
                await self._bump_watchlists_version()
        return changed, notes

    async def put_watchlist(
        self, name: str, body: str, now: datetime, *, rename_from: str = ""
    ) -> None:
        async with self.transaction():
            await self._write_lock()
            if rename_from and rename_from.casefold() != name.casefold():
                await self._exec(
                    "DELETE FROM watchlists WHERE lower(name) = lower(?)", (rename_from,)
                )
            changed = await self._exec(
                "UPDATE watchlists SET name = ?, body = ?, origin = 'edited', updated_at = ? "
                "WHERE lower(name) = lower(?)",
                (name, body, iso(now), name),
            )
            if not changed:
                await self._exec(
                    "INSERT INTO watchlists (name, body, origin, updated_at) "
                    "VALUES (?, ?, 'edited', ?)",
                    (name, body, iso(now)),
                )
            await self._bump_watchlists_version()

    async def delete_watchlist(self, name: str) -> bool:
        """Delete a watchlist and its subscriptions. One that came from a file is
        kept as a tombstone, so the next start does not seed it back."""
        async with self.transaction():
            await self._write_lock()
            n = await self._exec(
                "UPDATE watchlists SET origin = 'deleted', body = '' "
                "WHERE lower(name) = lower(?) AND origin != 'deleted' AND seed_hash IS NOT NULL",
                (name,),
            )
            if not n:
                n = await self._exec(
                    "DELETE FROM watchlists WHERE lower(name) = lower(?) AND origin != 'deleted'",
                    (name,),
                )
            if n:
                await self._exec(
                    "DELETE FROM subscriptions WHERE lower(watchlist) = lower(?)", (name,)
                )
                await self._bump_watchlists_version()
            return n > 0

    async def _bump_watchlists_version(self) -> None:
        await self._exec(
            "INSERT INTO meta (key, value) VALUES ('watchlists_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
        )

    async def watchlists_version(self) -> int:
        v = await self.get_meta("watchlists_version")
        return int(v) if v else 0

    # ------------------------------------------------------------ subscriptions

    async def subscribe(
        self,
        platform: str,
        channel: str,
        watchlist: str,
        *,
        mode: str = "realtime",
        guild: str = "",
        origin: str = "chat",
        now: datetime,
        options: Subscription | None = None,
        new_feeds: Sequence[str] = (),
    ) -> Subscription:
        """Add or change a subscription; ``options`` carries its feeds, format,
        mention and quiet hours (None: the defaults). ``new_feeds`` are added as
        user feeds in the same transaction."""
        key = (platform, channel, watchlist)
        where = "platform = ? AND channel = ? AND lower(watchlist) = lower(?)"
        opts = _sub_options(options or Subscription(0, "console", "", ""))
        async with self.transaction():
            await self._write_lock()
            for url in new_feeds:
                await self._exec(
                    "INSERT INTO feeds (url, origin, added_at, next_due_at) "
                    "VALUES (?, 'user', ?, ?) ON CONFLICT (url) DO NOTHING",
                    (url, iso(now), iso(now)),
                )
            n = await self._exec(
                f"UPDATE subscriptions SET mode = ?, guild = ?, paused_reason = '', "
                f"{_SUB_OPTIONS} WHERE {where}",
                (mode, guild, *opts, *key),
            )
            if not n:
                await self._exec(
                    "INSERT INTO subscriptions (platform, channel, guild, watchlist, mode, "
                    f"origin, created_at, {_SUB_COLUMNS}) VALUES ({marks(12)})",
                    (platform, channel, guild, watchlist, mode, origin, iso(now), *opts),
                )
            row = await self._one(f"SELECT * FROM subscriptions WHERE {where}", key)
        assert row is not None
        return _sub_from_row(row)

    async def unsubscribe(self, platform: str, channel: str, watchlist: str) -> Subscription | None:
        row = await self._one(
            "DELETE FROM subscriptions WHERE platform = ? AND channel = ? "
            "AND lower(watchlist) = lower(?) RETURNING *",
            (platform, channel, watchlist),
        )
        return None if row is None else _sub_from_row(row)

    async def subscriptions(
        self, platform: str | None = None, channel: str | None = None
    ) -> list[Subscription]:
        sql = "SELECT * FROM subscriptions"
        where: list[str] = []
        params: list[Any] = []
        if platform:
            where.append("platform = ?")
            params.append(platform)
        if channel:
            where.append("channel = ?")
            params.append(channel)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY platform, channel, lower(watchlist)"
        return [_sub_from_row(r) for r in await self._all(sql, params)]

    async def sync_config_subscriptions(self, subs: Iterable[Subscription], now: datetime) -> None:
        """The config's subscriptions present (options as the config says), and
        config-made ones that left the config removed. Chat-made ones stay."""
        wanted = {(s.platform, s.channel, s.watchlist.casefold()): s for s in subs}
        where = "platform = ? AND channel = ? AND lower(watchlist) = lower(?)"
        async with self.transaction():
            await self._write_lock()
            for r in await self._all("SELECT * FROM subscriptions WHERE origin = 'config'"):
                if (r["platform"], r["channel"], r["watchlist"].casefold()) not in wanted:
                    await self._exec("DELETE FROM subscriptions WHERE id = ?", (r["id"],))
            for sub in wanted.values():
                key = (sub.platform, sub.channel, sub.watchlist)
                n = await self._exec(
                    f"UPDATE subscriptions SET mode = ?, {_SUB_OPTIONS} WHERE {where}",
                    (sub.mode, *_sub_options(sub), *key),
                )
                if not n:
                    await self._exec(
                        "INSERT INTO subscriptions (platform, channel, guild, watchlist, mode, "
                        f"origin, created_at, {_SUB_COLUMNS}) VALUES ({marks(12)})",
                        (
                            *key[:2],
                            sub.guild,
                            sub.watchlist,
                            sub.mode,
                            "config",
                            iso(now),
                            *_sub_options(sub),
                        ),
                    )

    # ------------------------------------------------------------ moving between databases

    async def columns(self, table: str) -> list[str]:
        raise NotImplementedError

    async def export_rows(self, table: str) -> tuple[list[str], list[tuple[object, ...]]]:
        cols = await self.columns(table)
        quoted = ", ".join(f'"{c}"' for c in cols)
        order = "name" if table == "watchlists" else "key" if table == "meta" else "1"
        rows = await self._all(f"SELECT {quoted} FROM {table} ORDER BY {order}")
        return cols, [tuple(r[c] for c in cols) for r in rows]

    async def import_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
    ) -> None:
        mine = set(await self.columns(table))
        keep = [i for i, c in enumerate(columns) if c in mine]
        cols = [columns[i] for i in keep]
        quoted = ", ".join(f'"{c}"' for c in cols)
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks(len(cols))})"
        for chunk in chunks(list(rows), 1000):
            await self._execmany(sql, [tuple(r[i] for i in keep) for r in chunk])

    async def is_empty(self) -> bool:
        for table in ("feeds", "stories", "outbox", "subscriptions"):
            if await self._one(f"SELECT 1 AS x FROM {table} LIMIT 1") is not None:
                return False
        return True
