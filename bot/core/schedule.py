"""When to poll a feed next. Pure: the caller passes ``now`` and the jitter.

The rule, in order:

1. **Base delay.** The feed's ``interval`` (default 10 min from config). When the
   feed asks for longer with ``<ttl>`` or ``Cache-Control: max-age``/``Expires``,
   the delay grows to that, but a feed's own hint never stretches it beyond
   ``max_interval`` (default 1 h): a feed saying ``ttl=1440`` must not silence a
   news beat for a day. An ``interval`` the operator set longer than
   ``max_interval`` is their choice and is kept.
2. **Back-off.** After ``error_count`` consecutive errors the delay doubles per
   error: ``base · 2^error_count``, capped at ``MAX_BACKOFF`` (6 h). Six hours
   because a feed that is down still gets four checks a day, so a recovery shows
   up within a quarter day (24 h would hide it for a day on a beat where
   timeliness is the point), while a dead feed costs at most four requests a day.
   The cap never shortens a base delay that is already longer.
3. **Jitter.** ``jitter`` in [0, 1) from the caller (seeded random, or
   ``stable_jitter(url)``) scales the delay by 0.9 … 1.0, so feeds added together
   do not poll together for ever. It only ever makes a poll earlier: a feed is
   never polled later than its interval says (an alert's latency is bounded by
   the interval, not by 110 % of it).
4. **Retry-After.** A server's ``Retry-After`` is honoured: the next poll is never
   before ``now + retry_after``; jitter only adds to it (up to +10 %), so feeds
   of one rate-limited host do not all return in the same second. Values over
   ``MAX_RETRY_AFTER`` (7 days) are clamped: a typo on the server must not
   retire a feed for ever.

The same module answers a smaller question for chat connections:
:func:`reconnect_delay`, how long to wait before the next try at the Discord
gateway or the Slack socket (1 s doubling to a cap, jittered into 50–100 %).

Known misses: back-off is per feed, not per host, so many failing feeds of one
host each back off on their own; the ``ttl`` of RSS is minutes and is converted
by the parser, not here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Final

__all__ = [
    "JITTER_SPREAD",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "next_poll",
    "reconnect_delay",
    "stable_jitter",
]

MAX_BACKOFF: Final = timedelta(hours=6)
MAX_RETRY_AFTER: Final = timedelta(days=7)
JITTER_SPREAD: Final = 0.10
"""Fraction of the delay that jitter may take off (never adds to it)."""

_MAX_DOUBLINGS: Final = 16
"""Enough to reach the cap from one second (2**16 s > 6 h); stops timedelta overflow."""


def next_poll(
    now: datetime,
    *,
    interval: timedelta,
    max_interval: timedelta,
    max_age: timedelta | None = None,
    ttl: timedelta | None = None,
    error_count: int = 0,
    retry_after: timedelta | None = None,
    jitter: float,
) -> datetime:
    """The time of the next poll of one feed (see the module docstring for the rule)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter!r}")
    if interval <= timedelta(0) or max_interval <= timedelta(0):
        raise ValueError("interval and max_interval must be positive")
    if error_count < 0:
        raise ValueError(f"error_count must be ≥ 0, got {error_count}")

    base = interval
    hints = [h for h in (max_age, ttl) if h is not None]
    if hints:
        base = max(base, min(max(hints), max_interval))

    delay = base
    if error_count and base < MAX_BACKOFF:
        delay = min(base * (2 ** min(error_count, _MAX_DOUBLINGS)), MAX_BACKOFF)

    when = now + delay * (1.0 - JITTER_SPREAD * jitter)

    if retry_after is not None and retry_after > timedelta(0):
        wait = min(retry_after, MAX_RETRY_AFTER)
        when = max(when, now + wait * (1.0 + JITTER_SPREAD * jitter))
    return when


def stable_jitter(key: str) -> float:
    """A value in [0, 1) derived from ``key`` (e.g. the feed URL), the same every run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def reconnect_delay(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait before the next try at a chat connection that failed ``failures`` times.

    ``base · 2^(failures-1)``, capped at ``cap``, then scaled by ``jitter`` in
    [0, 1) into its upper half (0.5 … 1.0 of that), so processes that lost the
    same server do not come back in the same second, and the wait never
    collapses to nothing. ``failures`` < 1 counts as 1.
    """
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter!r}")
    if base <= 0 or cap < base:
        raise ValueError(f"need 0 < base <= cap, got base={base!r}, cap={cap!r}")
    doublings = min(max(failures, 1) - 1, _MAX_DOUBLINGS)
    delay = min(base * 2.0**doublings, cap)
    return delay * (0.5 + 0.5 * jitter)
