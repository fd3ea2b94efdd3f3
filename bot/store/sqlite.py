"""The embedded SQLite store (aiosqlite).

One connection per process, in WAL mode so readers (the CLI's ``lookup`` or
``feeds status`` while the bot runs) never block the writer. Every change that
must not be half-done (a poll's stories + matches + clusters + outbox rows +
the feed's new validators) happens in one ``BEGIN IMMEDIATE`` transaction: a
crash before commit leaves the old validators, so the next poll fetches and
processes the same items again; a crash after commit leaves outbox rows that
the sender drains on restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.cluster import encode as encode_fingerprint
from bot.core.models import FeedStatus, Match, Mode, Platform, Story, StoryHit, Subscription
from bot.store.schema import MIGRATIONS


def iso(dt: datetime | None) -> str | None:
    """UTC ISO-8601 with seconds: sorts and compares correctly as text."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text)


class StoreError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class FeedRow:
    id: int
    url: str
    origin: str
    title: str
    interval: timedelta | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl: timedelta | None
    max_age: timedelta | None
    first_ok_at: datetime | None
    last_fetched_at: datetime | None
    last_ok_at: datetime | None
    next_due_at: datetime | None
    error: str
    error_count: int
    retry_after_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClusterCandidateRow:
    cluster_id: int
    fingerprint: bytes
    published: datetime
    feed_url: str
    title: str


@dataclass(slots=True)
class NewStory:
    """A story to store in a poll's transaction, with what the pipeline decided."""

    story: Story
    dedup_key: str | None
    matches: Sequence[Match] = ()
    alert: bool = False
    """Route to subscribers (false for backfill and for stories no watchlist fired on)."""
    cluster_id: int | None = None
    """An existing cluster this story joins; None = start a new one (when clustered)."""
    clustered: bool = False
    """Joins or starts a cluster (and is indexed for candidate lookups)."""
    bands: Sequence[int] = ()
    fp: tuple[int, ...] | None = None
    """The decoded fingerprint, for stories recent enough to alert."""


@dataclass(frozen=True, slots=True)
class PollResult:
    url: str
    title: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl: timedelta | None
    max_age: timedelta | None
    next_due: datetime
    warning: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    platform: Platform
    channel: str
    cluster_id: int
    mode: Mode
    watchlists: tuple[str, ...]
    revision: int
    sent_revision: int
    message_ref: str | None
    posted_at: datetime | None
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class ClusterStories:
    cluster_id: int
    stories: list[Story]
    matches: dict[int, list[Match]] = field(default_factory=dict)
    """Matches per index into ``stories``."""


_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


def quote_fts(query: str) -> str:
    """Turn user text into a safe FTS5 query: every word quoted, all required.

    ``"Kosovo Force"`` (quoted by the user) stays a phrase; everything else
    becomes words that must all occur. FTS operators typed by users are text.
    """
    phrases: list[str] = []
    for part in re.findall(r'"([^"]*)"|(\S+)', query):
        words = _FTS_TOKEN.findall(part[0] or part[1])
        if not words:
            continue
        phrases.append('"' + " ".join(words) + '"')
    return " ".join(phrases)


def _story_from_row(r: sqlite3.Row | aiosqlite.Row) -> Story:
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


def _feed_from_row(r: aiosqlite.Row) -> FeedRow:
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


def _sub_from_row(r: aiosqlite.Row) -> Subscription:
    return Subscription(
        id=r["id"],
        platform=r["platform"],
        channel=r["channel"],
        watchlist=r["watchlist"],
        mode=r["mode"],
        guild=r["guild"],
        paused_reason=r["paused_reason"],
        origin=r["origin"],
    )


def _secs(td: timedelta | None) -> int | None:
    return None if td is None else int(td.total_seconds())


class Store:
    """All database access. Open with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path):
        self.db = db
        self.path = path
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{path}: cannot open the database: {e}") from e
        db.row_factory = aiosqlite.Row
        store = cls(db, path)
        try:
            # WAL: readers (CLI lookups, status) never block the bot's writer,
            # and a crash cannot corrupt committed data. Set once per file; it
            # persists, but asking again is cheap and covers fresh files.
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await store._migrate()
        except sqlite3.DatabaseError as e:
            await db.close()
            raise StoreError(f"{path}: not a usable alertbot database: {e}") from e
        return store

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        """Apply each missing migration in its own write transaction.

        The version is read inside that transaction (BEGIN IMMEDIATE holds the
        write lock), so two processes opening a new database at once cannot
        both apply the same step.
        """
        while True:
            async with self.transaction():
                async with self._cursor("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                version = int(row[0]) if row else 0
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"{self.path}: database schema version {version} is newer than this "
                        f"alertbot ({len(MIGRATIONS)}); upgrade alertbot or use another database"
                    )
                if version == len(MIGRATIONS):
                    return
                for stmt in _split_sql(MIGRATIONS[version]):
                    await self._exec(stmt)
                await self._exec(f"PRAGMA user_version={version + 1}")

    # One connection serves the whole process (polls, deliveries, chat commands,
    # pruning), and SQLite transactions belong to the connection, not to a task.
    # So every statement takes a turn under one lock, and a transaction holds it
    # from BEGIN to COMMIT: no task can write into, read from, or roll back
    # another task's transaction. Statements issued by the transaction's own
    # task pass straight through.

    def _owned(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._owned():
            yield
            return
        async with self._lock:
            yield

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Cursor:
        async with self._turn():
            return await self.db.execute(sql, params)

    async def _execmany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._turn():
            await self.db.executemany(sql, rows)

    @asynccontextmanager
    async def _cursor(
        self, sql: str, params: Sequence[Any] = ()
    ) -> AsyncIterator[aiosqlite.Cursor]:
        async with self._turn(), self.db.execute(sql, params) as cur:
            yield cur

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """All or nothing, isolated from the other tasks, also when cancelled mid-way.

        aiosqlite runs a queued statement even if the coroutine awaiting it is
        cancelled, so a cancel that lands while BEGIN is awaited still opens a
        transaction: roll it back then too, or the next BEGIN fails.
        """
        if self._owned():
            raise StoreError("nested transaction")
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                try:
                    await self.db.execute("BEGIN IMMEDIATE")
                except asyncio.CancelledError:
                    await self._rollback()
                    raise
                try:
                    yield self.db
                except BaseException:
                    await self._rollback()
                    raise
                else:
                    # If this await is cancelled, the COMMIT still runs (it is queued).
                    await self.db.execute("COMMIT")
            finally:
                self._owner = None

    async def _rollback(self) -> None:
        """Roll back, ignoring 'no transaction is active' (BEGIN may have failed)."""
        with contextlib.suppress(sqlite3.Error):
            # Shielded: a second cancel must not leave the transaction open.
            await asyncio.shield(self.db.execute("ROLLBACK"))

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._cursor(sql, params) as cur:
            return list(await cur.fetchall())

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._cursor(sql, params) as cur:
            return await cur.fetchone()

    # ------------------------------------------------------------------ meta

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        await self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # ------------------------------------------------------------------ feeds

    async def sync_config_feeds(
        self, feeds: Iterable[tuple[str, timedelta | None, str]], now: datetime
    ) -> None:
        """Make the config's feeds (url, interval, title) present; drop config feeds
        that left the config. Feeds added by users stay."""
        wanted = {url: (interval, title) for url, interval, title in feeds}
        async with self.transaction():
            rows = await self._all("SELECT url, origin FROM feeds")
            for r in rows:
                if r["origin"] == "config" and r["url"] not in wanted:
                    await self._exec("DELETE FROM feeds WHERE url = ?", (r["url"],))
            for url, (interval, title) in wanted.items():
                await self._exec(
                    "INSERT INTO feeds (url, origin, title, interval_s, added_at, next_due_at) "
                    "VALUES (?, 'config', ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
                    "origin = 'config', interval_s = excluded.interval_s, "
                    "title = CASE WHEN excluded.title != '' THEN excluded.title ELSE title END",
                    (url, title, _secs(interval), iso(now), iso(now)),
                )

    async def add_feed(self, url: str, now: datetime, origin: str = "user") -> FeedRow:
        await self._exec(
            "INSERT INTO feeds (url, origin, added_at, next_due_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (url) DO NOTHING",
            (url, origin, iso(now), iso(now)),
        )
        feed = await self.feed(url)
        assert feed is not None
        return feed

    async def remove_feed(self, url: str) -> bool:
        cur = await self._exec("DELETE FROM feeds WHERE url = ?", (url,))
        return cur.rowcount > 0

    async def feed(self, url: str) -> FeedRow | None:
        row = await self._one("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else _feed_from_row(row)

    async def feeds(self) -> list[FeedRow]:
        return [_feed_from_row(r) for r in await self._all("SELECT * FROM feeds ORDER BY url")]

    async def due_feeds(self, now: datetime) -> list[FeedRow]:
        rows = await self._all(
            "SELECT * FROM feeds WHERE next_due_at IS NULL OR next_due_at <= ? "
            "ORDER BY next_due_at",
            (iso(now),),
        )
        return [_feed_from_row(r) for r in rows]

    async def next_feed_due(self) -> datetime | None:
        row = await self._one("SELECT MIN(next_due_at) AS d FROM feeds")
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

    async def record_unchanged(
        self,
        feed_id: int,
        now: datetime,
        next_due: datetime,
        *,
        etag: str | None,
        last_modified: str | None,
        max_age: timedelta | None,
    ) -> None:
        await self._exec(
            "UPDATE feeds SET last_fetched_at = ?, last_ok_at = ?, next_due_at = ?, "
            "error = '', error_count = 0, retry_after_at = NULL, "
            "etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified), "
            "max_age_s = ? WHERE id = ?",
            (iso(now), iso(now), iso(next_due), etag, last_modified, _secs(max_age), feed_id),
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
            "error_count = error_count + 1, retry_after_at = ? WHERE id = ?",
            (iso(now), iso(next_due), error, iso(retry_after_at), feed_id),
        )

    # ------------------------------------------------------------------ stories

    async def known_guids(self, feed_url: str, guids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(list(guids), 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT guid FROM stories WHERE feed_url = ? AND guid IN ({marks})",
                (feed_url, *chunk),
            )
            known.update(r["guid"] for r in rows)
        return known

    async def known_dedup_keys(self, keys: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks([k for k in keys if k], 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT dedup_key FROM stories WHERE dedup_key IN ({marks})", chunk
            )
            known.update(r["dedup_key"] for r in rows)
        return known

    async def cluster_candidates(
        self, bands: Sequence[int], since: datetime
    ) -> list[ClusterCandidateRow]:
        if not bands:
            return []
        marks = ",".join("?" * len(bands))
        rows = await self._all(
            "SELECT DISTINCT s.id, s.cluster_id, s.fingerprint, "
            "COALESCE(s.published, s.seen_at) AS t, s.feed_url, s.title "
            f"FROM story_bands b JOIN stories s ON s.id = b.story_id "
            f"WHERE b.band IN ({marks}) AND b.seen_at >= ? AND s.cluster_id IS NOT NULL",
            (*bands, iso(since)),
        )
        return [
            ClusterCandidateRow(
                cluster_id=r["cluster_id"],
                fingerprint=r["fingerprint"],
                published=from_iso(r["t"]) or since,
                feed_url=r["feed_url"],
                title=r["title"],
            )
            for r in rows
            if r["fingerprint"] is not None
        ]

    async def save_poll(
        self,
        feed_id: int,
        result: PollResult,
        items: Sequence[NewStory],
        now: datetime,
        *,
        digest_due: datetime | None = None,
    ) -> list[int]:
        """Store a poll's new stories and route their alerts, atomically.

        Returns the ids of the outbox rows created or bumped. Stories already
        stored (by a concurrent poll or an earlier run) are skipped whole.
        """
        touched: list[int] = []
        async with self.transaction():
            subs = await self._subscriptions_by_watchlist()
            for item in items:
                s = item.story
                cur = await self._exec(
                    "INSERT OR IGNORE INTO stories (feed_url, guid, url, title, text, published, "
                    "outlet, teaser, seen_at, dedup_key, fingerprint) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
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
                        encode_fingerprint(item.fp) if item.clustered and item.fp else None,
                    ),
                )
                if cur.rowcount == 0:
                    continue
                story_id = cur.lastrowid
                assert story_id is not None
                await self._execmany(
                    "INSERT OR IGNORE INTO matches "
                    '(story_id, watchlist, term, form, field, start, "end") '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (story_id, m.watchlist, m.term, m.form, m.field, m.start, m.end)
                        for m in item.matches
                    ],
                )
                if not item.clustered:
                    continue
                cluster_id = item.cluster_id
                joined = cluster_id is not None
                if cluster_id is None:
                    c = await self._exec(
                        "INSERT INTO clusters (created_at, updated_at) VALUES (?, ?)",
                        (iso(now), iso(now)),
                    )
                    cluster_id = c.lastrowid
                else:
                    await self._exec(
                        "UPDATE clusters SET updated_at = ? WHERE id = ?", (iso(now), cluster_id)
                    )
                await self._exec(
                    "UPDATE stories SET cluster_id = ? WHERE id = ?", (cluster_id, story_id)
                )
                await self._execmany(
                    "INSERT INTO story_bands (band, story_id, seen_at) VALUES (?, ?, ?)",
                    [(b, story_id, iso(now)) for b in item.bands],
                )
                assert cluster_id is not None
                if joined and await self._new_outlet(cluster_id, s.feed_url, story_id):
                    # A new source for an event: every channel that got it sees it added.
                    cur2 = await self._exec(
                        "UPDATE outbox SET revision = revision + 1 WHERE cluster_id = ? "
                        "RETURNING id",
                        (cluster_id,),
                    )
                    touched.extend(r[0] for r in await cur2.fetchall())
                if item.alert:
                    fired = sorted({m.watchlist for m in item.matches})
                    touched.extend(
                        await self._route(cluster_id, fired, subs, now, digest_due or now)
                    )
            await self._exec(
                "UPDATE feeds SET title = CASE WHEN title = '' THEN ? ELSE title END, "
                "etag = ?, last_modified = ?, body_hash = ?, ttl_s = ?, max_age_s = ?, "
                "last_fetched_at = ?, last_ok_at = ?, first_ok_at = COALESCE(first_ok_at, ?), "
                "next_due_at = ?, error = '', error_count = 0, retry_after_at = NULL, "
                "warning = ? WHERE id = ?",
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

    async def _new_outlet(self, cluster_id: int, feed_url: str, story_id: int) -> bool:
        """True when no other story of the cluster came from this feed."""
        row = await self._one(
            "SELECT 1 FROM stories WHERE cluster_id = ? AND feed_url = ? AND id != ? LIMIT 1",
            (cluster_id, feed_url, story_id),
        )
        return row is None

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
        subs: dict[str, list[Subscription]],
        now: datetime,
        digest_due: datetime,
    ) -> list[int]:
        per_channel: dict[tuple[str, str], tuple[set[str], bool]] = {}
        for name in fired:
            for sub in subs.get(name.casefold(), []):
                names, realtime = per_channel.get((sub.platform, sub.channel), (set(), False))
                names.add(sub.watchlist)
                per_channel[(sub.platform, sub.channel)] = (
                    names,
                    realtime or sub.mode == "realtime",
                )
        ids: list[int] = []
        for (platform, channel), (names, realtime) in per_channel.items():
            existing = await self._one(
                "SELECT id, watchlists, mode, sent_revision FROM outbox "
                "WHERE platform = ? AND channel = ? AND cluster_id = ?",
                (platform, channel, cluster_id),
            )
            if existing is not None:
                merged = sorted(set(json.loads(existing["watchlists"])) | names)
                await self._exec(
                    "UPDATE outbox SET watchlists = ? WHERE id = ?",
                    (json.dumps(merged), existing["id"]),
                )
                if realtime and existing["mode"] == "digest" and existing["sent_revision"] == 0:
                    # A realtime subscription fired on an event still waiting for
                    # the digest: it goes out now.
                    await self._exec(
                        "UPDATE outbox SET mode = 'realtime', due_at = ? WHERE id = ?",
                        (iso(now), existing["id"]),
                    )
                ids.append(existing["id"])
                continue
            mode = "realtime" if realtime else "digest"
            cur = await self._exec(
                "INSERT INTO outbox (platform, channel, cluster_id, mode, watchlists, "
                "created_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    platform,
                    channel,
                    cluster_id,
                    mode,
                    json.dumps(sorted(names)),
                    iso(now),
                    iso(now if realtime else digest_due),
                ),
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
        return ids

    async def story_count(self) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM stories")
        return int(row["n"]) if row else 0

    async def lookup(
        self,
        query: str,
        *,
        since: datetime | None = None,
        watchlist: str | None = None,
        limit: int = 10,
    ) -> list[StoryHit]:
        """Stories whose title or text contain every word of ``query`` (newest first)."""
        fts = quote_fts(query)
        params: list[Any] = []
        where: list[str] = []
        if fts:
            where.append("s.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ?)")
            params.append(fts)
        if since is not None:
            where.append("COALESCE(s.published, s.seen_at) >= ?")
            params.append(iso(since))
        if watchlist:
            where.append(
                "s.id IN (SELECT story_id FROM matches WHERE watchlist = ? COLLATE NOCASE)"
            )
            params.append(watchlist)
        sql = "SELECT s.* FROM stories s"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY COALESCE(s.published, s.seen_at) DESC, s.id DESC LIMIT ?"
        params.append(limit)
        rows = await self._all(sql, params)
        hits: list[StoryHit] = []
        for r in rows:
            ms = await self._all(
                "SELECT DISTINCT watchlist, term FROM matches WHERE story_id = ? "
                "ORDER BY watchlist, term",
                (r["id"],),
            )
            hits.append(
                StoryHit(
                    story=_story_from_row(r),
                    watchlists=tuple(sorted({m["watchlist"] for m in ms})),
                    terms=tuple(dict.fromkeys(m["term"] for m in ms)),
                )
            )
        return hits

    async def prune(self, now: datetime, *, keep: timedelta, window: timedelta) -> dict[str, int]:
        """Drop what can no longer matter; return how many rows of each kind went.

        - band keys older than the cluster window (no story can join them);
        - stories published and first seen more than ``keep`` ago, with their
          matches. Safe because ``keep`` > ``backfill``: if the feed still lists
          such an item it is stored again but cannot alert. Undated stories keep
          their row (their identity is all that stops a repeat) but lose their text.
          Stories of an event still waiting in the outbox (a paused channel, a
          platform without its token) stay, so the alert can still be built;
        - delivered outbox rows older than ``keep``, and clusters left empty.
        """
        old = iso(now - keep)
        counts: dict[str, int] = {}
        async with self.transaction():
            cur = await self._exec(
                "DELETE FROM story_bands WHERE seen_at < ?", (iso(now - window),)
            )
            counts["bands"] = cur.rowcount
            cur = await self._exec(
                "DELETE FROM stories WHERE seen_at < ? AND published IS NOT NULL "
                "AND published < ? AND NOT EXISTS (SELECT 1 FROM outbox o "
                "WHERE o.cluster_id = stories.cluster_id AND o.revision > o.sent_revision)",
                (old, old),
            )
            counts["stories"] = cur.rowcount
            cur = await self._exec(
                "UPDATE stories SET text = '' WHERE seen_at < ? AND published IS NULL "
                "AND text != ''",
                (old,),
            )
            counts["emptied"] = cur.rowcount
            cur = await self._exec(
                "DELETE FROM outbox WHERE revision <= sent_revision AND created_at < ?", (old,)
            )
            counts["outbox"] = cur.rowcount
            cur = await self._exec(
                "DELETE FROM clusters WHERE updated_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM stories s WHERE s.cluster_id = clusters.id) "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.cluster_id = clusters.id)",
                (old,),
            )
            counts["clusters"] = cur.rowcount
        return counts

    # ------------------------------------------------------------------ outbox

    async def due_outbox(self, now: datetime, limit: int = 200) -> list[OutboxRow]:
        """Rows whose channel has not seen the latest revision, for unpaused channels."""
        rows = await self._all(
            "SELECT o.* FROM outbox o WHERE o.revision > o.sent_revision AND o.due_at <= ? "
            "AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.platform = o.platform "
            "AND s.channel = o.channel AND s.paused_reason = '') "
            "ORDER BY o.due_at, o.id LIMIT ?",
            (iso(now), limit),
        )
        return [
            OutboxRow(
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
            )
            for r in rows
        ]

    async def pending_count(self) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM outbox WHERE revision > sent_revision")
        return int(row["n"]) if row else 0

    async def mark_sent(
        self, row_id: int, revision: int, ref: str, *, posted_at: datetime | None
    ) -> None:
        """Record a delivery. ``posted_at`` is set for a new message, None for an edit."""
        await self._exec(
            "UPDATE outbox SET sent_revision = MAX(sent_revision, ?), message_ref = ?, "
            "posted_at = COALESCE(?, posted_at), attempts = 0, last_error = '' WHERE id = ?",
            (revision, ref, iso(posted_at), row_id),
        )

    async def mark_failed(self, row_id: int, error: str, retry_at: datetime) -> None:
        await self._exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, due_at = ? WHERE id = ?",
            (error, iso(retry_at), row_id),
        )

    async def defer(self, row_ids: Sequence[int], due: datetime) -> None:
        await self._execmany(
            "UPDATE outbox SET due_at = ? WHERE id = ?", [(iso(due), i) for i in row_ids]
        )

    async def pause_channel(self, platform: str, channel: str, reason: str) -> int:
        cur = await self._exec(
            "UPDATE subscriptions SET paused_reason = ? WHERE platform = ? AND channel = ?",
            (reason or "delivery failed", platform, channel),
        )
        return cur.rowcount

    async def cluster_stories(self, cluster_id: int) -> ClusterStories:
        rows = await self._all(
            "SELECT * FROM stories WHERE cluster_id = ? ORDER BY seen_at, id", (cluster_id,)
        )
        stories = [_story_from_row(r) for r in rows]
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

    async def clusters_with_stories(self, cluster_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks([str(i) for i in set(cluster_ids)], 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT DISTINCT cluster_id FROM stories WHERE cluster_id IN ({marks})",
                [int(i) for i in chunk],
            )
            found.update(r["cluster_id"] for r in rows)
        return found

    # ------------------------------------------------------------------ watchlists

    async def watchlist_bodies(self) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT name, body FROM watchlists WHERE origin != 'deleted' "
            "ORDER BY name COLLATE NOCASE"
        )
        return [(r["name"], r["body"]) for r in rows]

    async def watchlist_body(self, name: str) -> tuple[str, str] | None:
        row = await self._one(
            "SELECT name, body FROM watchlists WHERE name = ? AND origin != 'deleted'", (name,)
        )
        return None if row is None else (row["name"], row["body"])

    async def seed_watchlists(
        self, files: Iterable[tuple[str, str]], now: datetime
    ) -> tuple[list[str], list[str]]:
        """Seed (name, toml body) pairs from the watchlist folder.

        A new name is inserted. A row still as it was seeded follows its file
        when the file changes. A row edited from chat or the CLI keeps its
        edits, and one deleted there stays deleted (until imported or created
        again). Returns the names inserted or updated, and a note for each file
        that is not used, saying why and how to use it.
        """
        changed: list[str] = []
        notes: list[str] = []
        async with self.transaction():
            for name, body in files:
                digest = hashlib.sha256(body.encode()).hexdigest()
                row = await self._one(
                    "SELECT origin, seed_hash FROM watchlists WHERE name = ?", (name,)
                )
                if row is not None and row["seed_hash"] != digest:
                    if row["origin"] == "deleted":
                        notes.append(
                            f"watchlist {name} was deleted from chat or the CLI, so its file "
                            "is not used ('alertbot watchlist import FILE' restores it)"
                        )
                        continue
                    if row["origin"] == "edited":
                        notes.append(
                            f"watchlist {name} was edited from chat or the CLI, so those edits "
                            "are used, not its changed file ('alertbot watchlist import FILE' "
                            "takes the file)"
                        )
                        await self._exec(
                            "UPDATE watchlists SET seed_hash = ? WHERE name = ?", (digest, name)
                        )  # say it once per file change
                        continue
                if row is None:
                    await self._exec(
                        "INSERT INTO watchlists (name, body, origin, seed_hash, updated_at) "
                        "VALUES (?, ?, 'file', ?, ?)",
                        (name, body, digest, iso(now)),
                    )
                    changed.append(name)
                elif row["origin"] == "file" and row["seed_hash"] != digest:
                    await self._exec(
                        "UPDATE watchlists SET body = ?, seed_hash = ?, updated_at = ? "
                        "WHERE name = ?",
                        (body, digest, iso(now), name),
                    )
                    changed.append(name)
            if changed:
                await self._bump_watchlists_version()
        return changed, notes

    async def put_watchlist(
        self, name: str, body: str, now: datetime, *, rename_from: str = ""
    ) -> None:
        async with self.transaction():
            if rename_from and rename_from.casefold() != name.casefold():
                await self._exec("DELETE FROM watchlists WHERE name = ?", (rename_from,))
            await self._exec(
                "INSERT INTO watchlists (name, body, origin, updated_at) "
                "VALUES (?, ?, 'edited', ?) "
                "ON CONFLICT (name) DO UPDATE SET name = excluded.name, body = excluded.body, "
                "origin = 'edited', updated_at = excluded.updated_at",
                (name, body, iso(now)),
            )
            await self._bump_watchlists_version()

    async def delete_watchlist(self, name: str) -> bool:
        """Delete a watchlist and its subscriptions. One that came from a file is
        kept as a tombstone, so the next start does not seed it back."""
        async with self.transaction():
            cur = await self._exec(
                "UPDATE watchlists SET origin = 'deleted', body = '' "
                "WHERE name = ? AND origin != 'deleted' AND seed_hash IS NOT NULL",
                (name,),
            )
            if not cur.rowcount:
                cur = await self._exec(
                    "DELETE FROM watchlists WHERE name = ? AND origin != 'deleted'", (name,)
                )
            if cur.rowcount:
                await self._exec("DELETE FROM subscriptions WHERE watchlist = ?", (name,))
                await self._bump_watchlists_version()
            return cur.rowcount > 0

    async def _bump_watchlists_version(self) -> None:
        await self._exec(
            "INSERT INTO meta (key, value) VALUES ('watchlists_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    async def watchlists_version(self) -> int:
        v = await self.get_meta("watchlists_version")
        return int(v) if v else 0

    # ------------------------------------------------------------------ subscriptions

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
    ) -> Subscription:
        await self._exec(
            "INSERT INTO subscriptions (platform, channel, guild, watchlist, mode, origin, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (platform, channel, watchlist) DO UPDATE SET mode = excluded.mode, "
            "guild = excluded.guild, paused_reason = ''",
            (platform, channel, guild, watchlist, mode, origin, iso(now)),
        )
        row = await self._one(
            "SELECT * FROM subscriptions WHERE platform = ? AND channel = ? AND watchlist = ?",
            (platform, channel, watchlist),
        )
        assert row is not None
        return _sub_from_row(row)

    async def unsubscribe(self, platform: str, channel: str, watchlist: str) -> Subscription | None:
        row = await self._one(
            "DELETE FROM subscriptions WHERE platform = ? AND channel = ? AND watchlist = ? "
            "RETURNING *",
            (platform, channel, watchlist),
        )
        return None if row is None else _sub_from_row(row)

    async def subscriptions(
        self, platform: str | None = None, channel: str | None = None
    ) -> list[Subscription]:
        sql = "SELECT * FROM subscriptions"
        where, params = [], []
        if platform:
            where.append("platform = ?")
            params.append(platform)
        if channel:
            where.append("channel = ?")
            params.append(channel)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY platform, channel, watchlist COLLATE NOCASE"
        return [_sub_from_row(r) for r in await self._all(sql, params)]

    async def sync_config_subscriptions(
        self, subs: Iterable[tuple[str, str, str, str, str]], now: datetime
    ) -> None:
        """(platform, channel, watchlist, mode, guild) from the config: present, and
        config-made ones that left the config removed. Chat-made ones stay."""
        wanted = {(p, c, w.casefold()): (p, c, w, m, g) for p, c, w, m, g in subs}
        async with self.transaction():
            for r in await self._all("SELECT * FROM subscriptions WHERE origin = 'config'"):
                if (r["platform"], r["channel"], r["watchlist"].casefold()) not in wanted:
                    await self._exec("DELETE FROM subscriptions WHERE id = ?", (r["id"],))
            for p, c, w, m, g in wanted.values():
                await self._exec(
                    "INSERT INTO subscriptions (platform, channel, guild, watchlist, mode, "
                    "origin, created_at) VALUES (?, ?, ?, ?, ?, 'config', ?) "
                    "ON CONFLICT (platform, channel, watchlist) DO UPDATE SET mode = excluded.mode",
                    (p, c, g, w, m, iso(now)),
                )


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        buf.append(line)
        text = "\n".join(buf)
        if stripped.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    if buf:
        statements.append("\n".join(buf))
    return statements
