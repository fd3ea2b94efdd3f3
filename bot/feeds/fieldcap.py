"""Cut overlong text fields out of a feed body before it is parsed.

A story's text is cut to ``TEXT_CHARS`` (100,000 characters) anyway, but the parsers
still hold a whole field while they read it: one 14 MiB ``<description>`` is more
than libxml2 takes in a text node without ``huge_tree`` (10 MB), so the fast path
declined it and feedparser read it, peaking at about ten times the body's size.
``cap_fields`` shortens, in the bytes, every run of text (between two tags) and
every CDATA section longer than ``limit`` bytes to its first ``limit`` bytes, so no
parser ever sees a field larger than that. Matching, fingerprints and summaries
never need more than the first ``TEXT_CHARS`` characters of a story.

The cut keeps the XML well-formed: it ends on a UTF-8 character boundary, never
inside an entity or character reference (``&amp;``), and never removes the end of a
CDATA section, comment or processing instruction (``]]>``, ``-->``, ``?>``). Bodies
that are not ASCII-compatible (UTF-16/32) are left as they are.

Cost: one regular-expression scan for long runs (linear: each run is scanned once,
from the ``<`` before it), only when some stretch of half ``limit`` bytes holds no
``<``, and one ``find`` per CDATA section, only in bodies larger than ``limit``.
"""

from __future__ import annotations

import re

__all__ = ["FIELD_BYTES", "cap_fields"]

FIELD_BYTES = 1 << 20
"""Longest text run or CDATA section a body may hold (bytes): ten times what
``TEXT_CHARS`` of text needs even in markup-heavy escaped HTML."""

_CDATA = b"<![CDATA["
_CDATA_END = b"]]>"
_ENDS = (b"]]>", b"-->", b"?>")
_MAX_SECTIONS = 500_000
"""CDATA sections looked at: ``parse_feed`` cuts a body after this many ``<`` anyway."""
_runs: dict[int, re.Pattern[bytes]] = {}


def _long_runs(limit: int) -> re.Pattern[bytes]:
    # A "<" and then at least `limit` bytes that are not "<": each run is scanned once,
    # from the "<" before it, so the scan stays linear in the body.
    pattern = _runs.get(limit)
    if pattern is None:
        pattern = _runs[limit] = re.compile(rb"<[^<]{%d}[^<]*" % limit)
    return pattern


def _boundary(body: bytes, pos: int, start: int) -> int:
    """``pos`` moved back (not before ``start``) off a UTF-8 continuation byte and
    before an entity or character reference that would straddle it."""
    while pos > start and 0x80 <= body[pos] < 0xC0:
        pos -= 1
    amp = body.rfind(b"&", max(start, pos - 40), pos)
    if amp >= 0 and body.find(b";", amp, pos) < 0:
        pos = amp  # "&amp" cut before its ";"
    return pos


def _keep_from(body: bytes, cut: int, end: int) -> int:
    """Where the kept tail of a run starts: ``end``, or the first end of a CDATA
    section, comment or processing instruction inside ``[cut, end)``."""
    found = [p for e in _ENDS if (p := body.find(e, cut, end)) >= 0]
    return min(found, default=end)


def _may_have_long_runs(body: bytes, limit: int) -> bool:
    """False when no ``limit`` bytes in a row lack a "<": every half of ``limit`` holds
    one (a find each, that stops at the first "<"), which the regex need not confirm."""
    half = max(1, limit // 2)
    return any(body.find(b"<", i, i + half) < 0 for i in range(0, len(body), half))


def cap_fields(body: bytes, limit: int = FIELD_BYTES) -> tuple[bytes, int]:
    """``body`` with every text run and CDATA section cut to ``limit`` bytes, and how
    many were cut (``body`` itself when none was)."""
    if len(body) <= limit or body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        return body, 0
    cuts: list[tuple[int, int]] = []  # (from, to): bytes to drop
    for m in _long_runs(limit).finditer(body) if _may_have_long_runs(body, limit) else ():
        start, end = m.span()
        if body.startswith((_CDATA, b"<!--", b"<?"), start):
            continue  # CDATA below; comments and PIs are dropped by the parsers
        gt = body.find(b">", start, end)
        if gt < 0 or end - (gt + 1) <= limit:
            continue  # one huge tag (an attribute): the parsers refuse it themselves
        cut = _boundary(body, gt + 1 + limit, gt + 1)
        cuts.append((cut, _keep_from(body, cut, end)))
    pos = 0
    for _ in range(_MAX_SECTIONS):
        start = body.find(_CDATA, pos)
        if start < 0:
            break
        inner = start + len(_CDATA)
        end = body.find(_CDATA_END, inner)
        if end < 0:
            break
        if end - inner > limit:
            cut = inner + limit
            while cut > inner and 0x80 <= body[cut] < 0xC0:
                cut -= 1
            cuts.append((cut, end))
        pos = end + len(_CDATA_END)
    if not cuts:
        return body, 0
    cuts.sort()
    parts: list[bytes] = []
    kept = 0
    count = 0
    for cut, resume in cuts:
        if cut < kept:  # inside a stretch already dropped (a run within a CDATA section)
            cut = kept
        if resume <= cut:
            continue
        parts.append(body[kept:cut])
        kept = resume
        count += 1
    parts.append(body[kept:])
    return b"".join(parts), count
