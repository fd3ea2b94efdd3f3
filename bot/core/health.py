"""Feed health as channels see it: when to tell a channel that a feed broke, went
quiet, or came back.

Pure decisions over what the store knows of one feed. A feed is *broken* when
its polls have failed for ``after`` (default 6 h) since it last worked, and
*silent* when it published nothing new for far longer than its usual rhythm
(``SILENT_FACTOR`` times the median gap between its new items, and at least
``after``). A problem is announced at most once per feed per
``NOTICE_EVERY``; a flapping feed does not flood a channel. A recovery is
announced only for a problem that was announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import Literal

State = Literal["ok", "broken", "silent"]
NoticeKind = Literal["broken", "silent", "recovered"]

NOTICE_EVERY = timedelta(days=1)
"""At most one problem notice per feed in this time."""
SILENT_FACTOR = 10
"""Silent when quiet for this many usual gaps between new items."""
MIN_GAPS = 4
"""A rhythm needs this many gaps between polls that brought new items."""
MAX_ERROR_CHARS = 160


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """What the store knows of one feed, for :func:`assess`."""

    url: str
    title: str
    error: str
    error_count: int
    added_at: datetime
    last_ok_at: datetime | None
    arrivals: Sequence[datetime]
    """When polls brought new items, newest first, one time per poll."""
    state: State = "ok"
    """The last announced state."""
    noticed_at: datetime | None = None
    """When the last problem notice went out."""


@dataclass(frozen=True, slots=True)
class Change:
    state: State
    """The state to record."""
    notice: NoticeKind | None
    """What to tell the feed's channels, if anything."""
    text: str = ""


def usual_gap(arrivals: Sequence[datetime]) -> timedelta | None:
    """The median time between polls that brought new items; None without enough history."""
    times = sorted(set(arrivals), reverse=True)
    gaps = [(a - b).total_seconds() for a, b in pairwise(times)]
    if len(gaps) < MIN_GAPS:
        return None
    return timedelta(seconds=median(gaps))


def span(d: timedelta) -> str:
    """A duration as people say it: "45 minutes", "7 hours", "3 days"."""
    seconds = int(d.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{max(seconds, 0)} seconds"


def _name(f: FeedHealth) -> str:
    return f"{f.title} ({f.url})" if f.title and f.title != f.url else f.url


def _error(f: FeedHealth) -> str:
    text = f.error.removeprefix(f"{f.url}: ").strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def assess(f: FeedHealth, now: datetime, after: timedelta) -> Change | None:
    """The change to record for ``f`` now, or None when nothing changes."""
    if after <= timedelta(0):
        return None
    may_notice = f.noticed_at is None or now - f.noticed_at >= NOTICE_EVERY
    failing_since = f.last_ok_at or f.added_at
    if f.error_count > 0 and now - failing_since >= after:
        if f.state == "broken" or not may_notice:
            return None
        return Change(
            "broken",
            "broken",
            f"Feed problem: {_name(f)} has failed for {span(now - failing_since)} "
            f"({_error(f)}). Alerts from it stop until it works again; "
            "an admin can see `feeds status`.",
        )
    last_new = max(f.arrivals, default=None)
    if f.state == "broken" and f.error_count == 0:
        return Change("ok", "recovered", f"Feed back: {_name(f)} works again.")
    if f.state == "silent":
        if last_new is not None and f.noticed_at is not None and last_new > f.noticed_at:
            return Change("ok", "recovered", f"Feed back: {_name(f)} publishes again.")
        return None
    if f.error_count > 0 or last_new is None or f.state != "ok":
        return None
    gap = usual_gap(f.arrivals)
    if gap is None:
        return None
    quiet = now - last_new
    if quiet >= max(after, gap * SILENT_FACTOR) and may_notice:
        return Change(
            "silent",
            "silent",
            f"Feed quiet: {_name(f)} has published nothing new for {span(quiet)}; "
            f"it usually does every {span(gap)}. It may have moved or stopped.",
        )
    return None
