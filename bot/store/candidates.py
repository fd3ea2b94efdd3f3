"""Candidate lookup for a whole poll: which stored stories each new story is compared with.

A new story is compared with the recent stories that share a band key with it
(``bot.core.cluster``). Looked up one story at a time, that cost two statements per
story inside the poll's write transaction, while every other poll of the process
waited for the store. :class:`PollCandidates` looks up all the stories of one poll
in a few statements: the band keys of every story (a bounded number of stories per
key), the events of the stories found and the rows of the ones compared.

A story that is an exact copy of an indexed one (the same fingerprint: a wire story,
or a template item repeated by many feeds) is looked up by its copy key alone, one
key instead of a hundred, and compared with its original; only if that links
nothing (the original is out of the time window) is it looked up by all its keys.

The lookup runs inside the poll's transaction, under the write lock, so two
processes cannot both start a new event for one story. (Reading before the
transaction and then re-reading what changed meanwhile was tried: with a thousand
polls in flight, most of the lookup had to be read again, and the store did 2.3
times the work.) While the poll's stories are placed one after the other,
:meth:`PollCandidates.placed` follows the events they create and merge, so a later
story of the same poll sees them as a fresh lookup would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.core.cluster import STORIES_PER_KEY, pick_story_ids
from bot.store.base import ClusterCandidateRow, chunks, from_iso, iso, marks


class Queries(Protocol):
    """What the lookup needs of a store (``bot.store.sql.SQLStore`` has it)."""

    NEWEST_BAND: str
    """The newest rows of one band key first."""

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]: ...


__all__ = ["CANDIDATE_ROWS", "YIELD_EVERY", "PollCandidates", "event_of"]

CANDIDATE_ROWS = 500
"""Stories sharing band keys with a new one considered at most (most shared first)."""
KEY_BATCHES = (8, 32, 128)
"""Band keys per statement: a list is padded up to one of these sizes, so the engines
see a few distinct statements (and keep them prepared), not one per list length."""
ID_BATCH = 500
"""Story ids per ``IN (…)`` list."""
YIELD_EVERY = 64
"""Stories looked up or placed between two turns of the event loop."""


def event_of(story_id: int, cluster_id: int | None) -> int:
    """A candidate's event: its cluster, or -id for a story in no event yet."""
    return cluster_id if cluster_id is not None else -story_id


def _padded(keys: Sequence[int]) -> Iterable[list[int]]:
    """``keys`` in statements of :data:`KEY_BATCHES` sizes, the last padded by
    repeating its last key (duplicates are dropped when the rows are read)."""
    biggest = KEY_BATCHES[-1]
    for start in range(0, len(keys), biggest):
        chunk = list(keys[start : start + biggest])
        size = next(n for n in KEY_BATCHES if n >= len(chunk))
        yield chunk + [chunk[-1]] * (size - len(chunk))


class PollCandidates:
    """The candidates of one poll's stories (see the module docstring)."""

    def __init__(
        self,
        store: Queries,
        probes: Sequence[tuple[Sequence[int], int | None]],
        since: datetime,
    ) -> None:
        self.store = store
        self.since = since
        self.probes = probes
        """Per story of the poll: its band keys and its copy key (in the band keys too)."""
        self.keys: dict[int, list[int]] = {}
        """Band key → ids of its newest stories (at most STORIES_PER_KEY)."""
        self.events: dict[int, int] = {}
        """Candidate story id → its event (cluster id, or -id for a story in none)."""
        self.rows: dict[int, ClusterCandidateRow] = {}
        """Candidate story id → what the cluster rule compares (its event set apart)."""
        self.copies: set[int] = set()
        """Stories (their index in ``probes``) looked up by their copy key only."""
        self._picked: dict[int, list[int]] = {}
        """Story → the candidates :meth:`_chosen` picked, while no event has moved."""

    async def read(self) -> None:
        """Look up every story of the poll (inside its transaction)."""
        if not self.probes:
            return
        await self._read_keys(copy for _, copy in self.probes if copy is not None)
        full: list[int] = []
        for n, (bands, copy) in enumerate(self.probes):
            if copy is not None and self.keys.get(copy):
                self.copies.add(n)
            else:
                full.extend(bands)
        await self._read_keys(full)
        await self._read_events(self._hit_ids())
        chosen: set[int] = set()
        for n in range(len(self.probes)):
            chosen.update(self._chosen(n, frozenset()))
            if n % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # a feed of a thousand items: let the loop breathe
        await self._read_rows(chosen)

    async def _read_keys(self, keys: Iterable[int]) -> None:
        """The newest stories of each key not read yet, into :attr:`keys`."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self.keys]
        if not wanted:
            return
        one = (
            "SELECT band, story_id FROM (SELECT band, story_id FROM story_bands "
            f"WHERE band = ? AND seen_at >= ? ORDER BY {self.store.NEWEST_BAND} "
            f"LIMIT {STORIES_PER_KEY}) AS k"
        )
        since = iso(self.since)
        found: dict[int, list[int]] = {}
        for chunk in _padded(wanted):
            params: list[Any] = []
            for k in chunk:
                params += (k, since)
            for r in await self.store._all(" UNION ALL ".join([one] * len(chunk)), params):
                found.setdefault(int(r["band"]), []).append(int(r["story_id"]))
        for k in wanted:
            self.keys[k] = list(dict.fromkeys(found.get(k, ())))  # padding repeats a key

    async def _read_events(self, ids: Iterable[int]) -> None:
        """Current events of stories (indexed ones: with a fingerprint)."""
        for chunk in chunks(sorted(set(ids)), ID_BATCH):
            rows = await self.store._all(
                "SELECT id, cluster_id FROM stories WHERE fingerprint IS NOT NULL "
                f"AND id IN ({marks(len(chunk))})",
                chunk,
            )
            for sid in chunk:
                self.events.pop(sid, None)  # gone (pruned) unless read back
            for r in rows:
                self.events[int(r["id"])] = event_of(int(r["id"]), r["cluster_id"])

    async def _read_rows(self, ids: Iterable[int]) -> None:
        missing = sorted({i for i in ids if i not in self.rows})
        if not missing:
            return
        for chunk in chunks(missing, ID_BATCH):
            rows = await self.store._all(
                "SELECT id, fingerprint, COALESCE(published, seen_at) AS t, feed_url, title "
                f"FROM stories WHERE id IN ({marks(len(chunk))})",
                chunk,
            )
            for r in rows:
                self.rows[int(r["id"])] = ClusterCandidateRow(
                    cluster_id=0,  # set from self.events when handed out
                    fingerprint=bytes(r["fingerprint"]),
                    published=from_iso(r["t"]) or self.since,
                    feed_url=r["feed_url"],
                    title=r["title"],
                )

    def _hit_ids(self) -> set[int]:
        return {sid for ids in self.keys.values() for sid in ids}

    def _keys_of(self, n: int) -> Sequence[int]:
        bands, copy = self.probes[n]
        if n in self.copies and copy is not None:
            return (copy,)
        return bands

    def _chosen(self, n: int, exclude: frozenset[int]) -> list[int]:
        picked = self._picked.get(n)
        if picked is None or not exclude.isdisjoint(picked):
            picked = self._picked[n] = self._pick(n, exclude)
        return picked

    def _pick(self, n: int, exclude: frozenset[int]) -> list[int]:
        """The stories ``item`` is compared with: those sharing the most keys with it
        (at most CANDIDATE_ROWS), then a bounded few per event (``pick_story_ids``)."""
        shared: dict[int, int] = {}
        for key in dict.fromkeys(self._keys_of(n)):
            for sid in self.keys.get(key, ()):
                shared[sid] = shared.get(sid, 0) + 1
        hits = sorted(
            (-count, sid)
            for sid, count in shared.items()
            if sid in self.events and sid not in exclude
        )[:CANDIDATE_ROWS]
        return pick_story_ids((sid, self.events[sid], -neg) for neg, sid in hits)

    async def candidates(self, n: int, exclude: Iterable[int] = ()) -> list[ClusterCandidateRow]:
        """The rows story ``n`` is compared with, with their current events."""
        chosen = self._chosen(n, frozenset(exclude))
        await self._read_rows(chosen)  # usually read by read() already
        return [
            ClusterCandidateRow(
                cluster_id=self.events[sid],
                fingerprint=self.rows[sid].fingerprint,
                published=self.rows[sid].published,
                feed_url=self.rows[sid].feed_url,
                title=self.rows[sid].title,
            )
            for sid in chosen
            if sid in self.rows
        ]

    async def widen(self, n: int) -> bool:
        """Story ``n``, looked up by its copy key, linked nothing (its copy is out of
        the window): look it up by all its keys. True if there is more to compare."""
        if n not in self.copies:
            return False
        self.copies.discard(n)
        self._picked.clear()  # new keys and events: pick again
        bands = self.probes[n][0]
        await self._read_keys(bands)
        await self._read_events(sid for k in bands for sid in self.keys.get(k, ()))
        return True

    def placed(self, cluster_id: int, singles: Sequence[int], merged: Sequence[int]) -> None:
        """A story of this poll went into ``cluster_id``, taking ``singles`` (stories
        in no event) with it and merging the events ``merged`` into it."""
        for sid in singles:
            if sid in self.events:
                self.events[sid] = cluster_id
                self._picked.clear()  # picks depend on events (a few per event)
        if merged:
            gone = set(merged)
            for sid, event in self.events.items():
                if event in gone:
                    self.events[sid] = cluster_id
                    self._picked.clear()
