"""Quiet hours: is an instant inside a channel's quiet hours, and when do they end.

A subscription may say ``quiet = "22:00-07:00"`` with ``timezone =
"Europe/Belgrade"``: alerts that fall due inside those wall-clock hours are held
and go out as one digest when the hours end. A range whose end is earlier than
its start runs over midnight. Wall-clock times are read in the subscription's
zone, so the hours follow daylight saving time: an end that falls into a
spring-forward gap ends the quiet at the moment the clocks jump; an end that
occurs twice in an autumn fold ends it the first time.

Pure: the time zone is handed in as a ``tzinfo`` (the caller builds it with
``zoneinfo``), and so is the current time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
QUIET_EXAMPLE = '"22:00-07:00"'


class QuietError(ValueError):
    """A quiet-hours range that does not parse; the message says how to write one."""


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    zone: tzinfo

    def until(self, now: datetime) -> datetime | None:
        """When the quiet hours around ``now`` end (UTC), or None when ``now`` is not quiet."""
        local = now.astimezone(self.zone)
        wall = local.time().replace(tzinfo=None)
        day = local.date()
        if self.start < self.end:
            if not self.start <= wall < self.end:
                return None
        elif wall >= self.start:
            day += timedelta(days=1)  # over midnight: ends tomorrow
        elif wall >= self.end:
            return None
        return _instant(datetime.combine(day, self.end), self.zone)


def parse_range(text: str) -> tuple[time, time]:
    """``"22:00-07:00"`` → (22:00, 07:00); QuietError naming the fix otherwise."""
    m = _RANGE.match(text)
    if not m:
        raise QuietError(
            f"{text!r} is not a quiet-hours range: write START-END in 24-hour time, "
            f'e.g. {QUIET_EXAMPLE} (over midnight) or "12:00-13:30"'
        )
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise QuietError(f"{text!r}: hours run 00-23 and minutes 00-59, e.g. {QUIET_EXAMPLE}")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise QuietError(
            f"{text!r}: start and end are the same; give a range such as {QUIET_EXAMPLE}"
        )
    return start, end


def held_until(hours: list[QuietHours], now: datetime) -> datetime | None:
    """When an alert due at ``now`` may go out, or None to send it now.

    ``hours`` are the quiet hours of every subscription that wants the alert; it
    is held only while all of them are quiet (one that is awake gets it now),
    until the first of them ends. No hours: never held.
    """
    ends = [h.until(now) for h in hours]
    if not ends or any(e is None for e in ends):
        return None
    return min(e for e in ends if e is not None)


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a naive wall-clock time in ``zone``: the first one when the
    time occurs twice; the moment the clocks jump when it does not occur at all."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=0 reads it with the offset before the jump, fold=1 with the
    # one after; the jump lies between the two readings. Find it to the second.
    lo = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)
