"""Lookup results: ranking and pages.

The rule
--------
The database finds the stories (full-text match on the folded, stemmed title and text:
"drone" finds "drones", "Akinci" finds "Akıncı") and scores each with its engine's
relevance (SQLite FTS5 ``bm25()``, title weighted twice the text; PostgreSQL
``ts_rank`` with the title as weight A). :func:`rank` then orders them by

    relevance × (1 + 2 ** (-age / RECENCY_HALF_LIFE))

so a story of today counts up to twice a story of long ago with the same words, one a
week old 1.5 times; equal scores go newest first, then by id. Without query words (a
lookup by watchlist only) every relevance is equal and the order is newest first.
The boost is a factor, so the two engines' different relevance scales rank alike.

Known limits: the database hands back at most :data:`RANKED` best-matching stories to
rank (the total is still counted in full), so pages past that show nothing; a very
old story that matches much better can still lead a page of recent ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.models import StoryHit

RECENCY_HALF_LIFE = timedelta(days=7)
PER_PAGE = 10
MAX_PER_PAGE = 50
RANKED = 2000
"""Matching stories read back to rank (the most relevant first)."""


@dataclass(frozen=True, slots=True)
class Scored:
    """A matching story as the database scores it."""

    story_id: int
    relevance: float
    when: datetime


@dataclass(frozen=True, slots=True)
class LookupPage:
    """One page of a lookup: ``hits`` are stories ``first``..``last`` of ``total``."""

    hits: tuple[StoryHit, ...]
    total: int
    page: int
    per_page: int

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.hits else 0

    @property
    def last(self) -> int:
        return self.first + len(self.hits) - 1 if self.hits else 0

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, RANKED) // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def span(self) -> str:
        """ "11–20 of 32" ("1 of 1", "no stories")."""
        if not self.hits:
            if self.total == 0:
                return "no stories"
            return f"no stories on page {self.page} ({self.total} in all)"
        if self.first == self.last:
            return f"{self.first} of {self.total}"
        return f"{self.first}–{self.last} of {self.total}"


def recency_boost(when: datetime, now: datetime) -> float:
    """1 for an old story, up to 2 for one of now (half the extra every half-life)."""
    if when.tzinfo is None:  # stored times are UTC; an old row may lack the offset
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    age: float = max((now - when) / RECENCY_HALF_LIFE, 0.0)
    return 1.0 + float(2.0 ** (-age))


def rank(scored: Iterable[Scored], now: datetime) -> list[int]:
    """Story ids, best first (see the module docstring)."""
    rows = list(scored)
    return [
        s.story_id
        for s in sorted(
            rows,
            key=lambda s: (
                -max(s.relevance, 0.0) * recency_boost(s.when, now),
                -s.when.timestamp(),
                -s.story_id,
            ),
        )
    ]


def page_ids(ranked: Sequence[int], page: int, per_page: int) -> list[int]:
    start = (page - 1) * per_page
    return list(ranked[start : start + per_page])


def clamp_page(page: int, per_page: int) -> tuple[int, int]:
    """A page number of at least 1 and a page size within 1..MAX_PER_PAGE."""
    return max(1, page), max(1, min(per_page, MAX_PER_PAGE))
