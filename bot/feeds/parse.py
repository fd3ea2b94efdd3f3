"""Feed bytes → ``ParsedFeed`` of ``Story`` values (lxml first, feedparser as fallback).

Well-formed RSS 2.0, RSS 1.0 and Atom 1.0 go through ``bot.feeds.fastparse`` (lxml,
no entities, no DTD, no network), which reads a feed for a twentieth or less of
feedparser's CPU; whatever it declines (broken XML, odd encodings, declared
entities, unescaped HTML in RSS…) goes through feedparser as described below. Both
feed the same story building, whose text work (``html_to_text``, then
``bot.core.summarize.story_text``: main text and teaser flag in one pass) now costs
more than reading the XML: ``parse_feed`` as a whole is about eleven times cheaper
than ``feedparser.parse`` with its defaults (``bench/parse.py``).

``parse_feed`` is synchronous and CPU-bound: call it off the event loop
(``await asyncio.to_thread(parse_feed, body, url, content_type=...)``). It never
fetches or reads anything: feedparser gets the body wrapped in ``io.BytesIO``,
because given ``bytes`` or ``str`` it first tries them as a URL or a file path.

Defences, beyond what feedparser 6.0.14 and expat 2.5 already do (feedparser drops
DOCTYPE entity declarations that are not plain text, but only when each sits at the
start of a line; expat loads no external entity and caps entity amplification, but a
one-line billion-laughs DOCTYPE still costs it ~1 s and a large body):
- Unsafe entity declarations in the prolog (external ``SYSTEM``/``PUBLIC``,
  parameter entities, values that refer to other entities, also via ``&#38;``) are
  cut out of the body before parsing; their references are left undefined and end
  up as literal ``&name;`` text, and the feed gets a ``warning``. In a UTF-16/32 body
  they are refused with ``ParseError`` instead, since cutting bytes is not safe.
- HTML sanitising and relative-URI resolution inside content are switched off:
  we keep only plain text (``bot.core.text.html_to_text`` drops scripts, styles and
  page chrome itself), and feedparser's sanitiser is most of its run time.
- A body with more than ``MAX_MARKUP`` ``<`` characters is refused: feedparser's
  per-element Python cost would make it a minute of CPU (linear, but a stall).
- Every field is bounded (title ``TITLE_CHARS``, text ``TEXT_CHARS``, ids
  ``bot.core.text.MAX_ID_CHARS``); html_to_text is linear and caps its input.
- Any exception from feedparser becomes ``ParseError``.

Intended differences from plain ``feedparser.parse``: links (and permalink guids) are
resolved against the feed URL, or the channel link when the feed is a file, and
canonicalised (tracking parameters and fragments dropped) and only
http(s) links are kept; titles are plain text; an entry with no title, text, link
or guid is skipped; a second entry with an id already seen in the same feed is
skipped when its link (or, with no links, its title) is the same, and kept under an
id derived from guid, link and title when it is another story; dates before 1990 or
more than 2 days after ``now`` are dropped.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date  # feedparser's date rules, for equal dates

from bot.core.models import Story
from bot.core.outlet import outlet_name
from bot.core.summarize import story_text
from bot.core.text import (
    canonical_url,
    html_to_lines,
    html_to_text,
    join_url,
    one_line,
    plain_text,
    story_id,
)
from bot.feeds.fastparse import read_feed, utf8_repaired
from bot.feeds.fieldcap import FIELD_BYTES, cap_fields

__all__ = ["TEXT_CHARS", "TITLE_CHARS", "ParseError", "ParsedFeed", "parse_date", "parse_feed"]

TITLE_CHARS = 500
TEXT_CHARS = 100_000
OUTLET_CHARS = 200
MESSAGE_CHARS = 300
"""Bound on the feedparser/HTML detail quoted in errors and warnings."""
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
MAX_TTL = timedelta(days=365)
MAX_MARKUP = 500_000
MAX_ENTRIES = 2_000
"""Entries read from one body: twice the longest of 200 real news feeds (1,046). A feed
that sends more costs seconds of CPU and hundreds of MiB for items nobody will read;
the newest ``MAX_ENTRIES`` are kept (the first ones, or the last ones when the feed
lists oldest first) and the rest are dropped with a warning."""
"""Most ``<`` characters a body may hold. feedparser spends 15-25 µs of Python on
every element (strict or loose), so 15 MiB of ``<a/>`` would cost a minute of CPU;
the largest feed of the realfeeds corpus (2.2 MB) has 77 k."""

_HEAD_BYTES = 65_536
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
_DATE_KEYS = ("published", "updated", "created")
_UNPARSED = object()
_FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf", b"<channel")
_HTML_MARKS = (b"<!doctype html", b"<html", b"<head", b"<body")
_DECL_VALUE = re.compile(rb"[\"'>]")
# A reference to another entity, also spelt as a character reference to "&".
_ENTITY_REF = re.compile(rb"&[A-Za-z_:][\w.:-]*;|&#0*38;|&#x0*26;", re.IGNORECASE)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]{0,80})")


class ParseError(Exception):
    """A body that is not a usable feed; the message is one line naming the feed."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    """Feed title, plain text ("" if none)."""
    link: str
    """Site link ("" if none)."""
    ttl: timedelta | None
    """RSS ``<ttl>`` (minutes), else ``sy:updatePeriod`` / ``sy:updateFrequency``."""
    stories: list[Story]
    """In document order (most feeds put the newest first)."""
    warning: str | None
    """feedparser's complaint when the feed was broken but still yielded entries."""


def _one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    return " ".join(text.split())[:limit]


def _ascii_head(body: bytes) -> bytes:
    """The start of ``body`` lower-cased, with NULs removed so UTF-16/32 reads as ASCII."""
    return body[:_HEAD_BYTES].replace(b"\x00", b"").lower()


def _entity_declarations(body: bytes) -> list[tuple[int, int]]:
    """Spans of the ``<!ENTITY …>`` declarations before the root element.

    Walks the prolog: skips ``<?…?>`` and ``<!--…-->`` whole, reads each ``<!ENTITY``
    with its quoted value (which may hold ``<`` and ``>``), steps over other ``<!``
    markup, and stops at the first element. Linear: every search starts where the
    last one ended.
    """
    found: list[tuple[int, int]] = []
    pos = 0
    while True:
        lt = body.find(b"<", pos)
        if lt < 0:
            return found
        if body.startswith(b"<?", lt):
            end = body.find(b"?>", lt + 2)
        elif body.startswith(b"<!--", lt):
            end = body.find(b"-->", lt + 4)
        elif body.startswith(b"<!ENTITY", lt):
            m = _DECL_VALUE.search(body, lt + 8)
            if m is None:
                end = -1
            elif m.group() in (b'"', b"'"):
                close = body.find(m.group(), m.end())
                end = -1 if close < 0 else body.find(b">", close)
            else:
                end = m.start()
            found.append((lt, len(body) if end < 0 else end + 1))
        elif body.startswith(b"<!", lt):
            # DOCTYPE or another declaration: step over its quoted literals (a
            # SYSTEM id may hold "<"), into its internal subset or past its end.
            end = _declaration_step(body, lt + 2)
        else:
            nxt = body[lt + 1 : lt + 2]
            if nxt.isalpha() or nxt == b"_":
                return found
            end = lt
        if end < 0:
            return found
        pos = end + 1


_DECL_STOP = re.compile(rb"[\[>\"']")


def _declaration_step(body: bytes, pos: int) -> int:
    """Where to resume inside a ``<!…`` declaration: its ``[`` or ``>``, quotes skipped."""
    while True:
        m = _DECL_STOP.search(body, pos)
        if m is None:
            return -1
        if m.group() in (b'"', b"'"):
            close = body.find(m.group(), m.end())
            if close < 0:
                return -1
            pos = close + 1
            continue
        return m.start()


def _unsafe(decl: bytes) -> bool:
    """An external entity (file or network), a parameter entity, or one that refers to
    other entities (the seed of exponential expansion)."""
    words = decl[8:].split(None, 2)
    upper = decl.upper()
    return (
        len(words) < 2
        or words[0] == b"%"
        or b"SYSTEM" in upper
        or b"PUBLIC" in upper
        or _ENTITY_REF.search(decl) is not None
    )


def _defuse(body: bytes, feed_url: str) -> tuple[bytes, str | None]:
    """``body`` with unsafe entity declarations removed, and a note when any were.

    Removing them leaves their references undefined: expat then fails and
    feedparser's loose parser keeps ``&name;`` as text. In UTF-16/32 bodies, where
    cutting bytes is not safe, an unsafe declaration is refused with ``ParseError``.
    """
    wide = b"\x00" in body[:4]
    view = body.replace(b"\x00", b"") if wide else body
    if b"<!ENTITY" not in view:
        return body, None
    unsafe = [(a, b) for a, b in _entity_declarations(view) if _unsafe(view[a:b])]
    if not unsafe:
        return body, None
    first = _one_line(view[unsafe[0][0] : unsafe[0][1]].decode("utf-8", "replace"), 80)
    if wide:
        raise ParseError(f"{feed_url}: refused: the DOCTYPE declares an unsafe entity ({first})")
    kept: list[bytes] = []
    pos = 0
    for a, b in unsafe:
        kept.append(body[pos:a])
        pos = b
    kept.append(body[pos:])
    return b"".join(kept), f"removed {len(unsafe)} unsafe entity declaration(s): {first}"


def _html_title(body: bytes) -> str:
    head = body[:_HEAD_BYTES].decode("utf-8", "replace")
    low = head.lower()
    start = low.find("<title")
    if start < 0:
        return ""
    gt = low.find(">", start)
    end = low.find("</title", gt)
    if gt < 0 or end < 0:
        return ""
    return one_line(html_to_text(head[gt + 1 : end], limit=100), limit=100)


def _not_a_feed(body: bytes, feed_url: str, result: Any) -> ParseError:
    if body.startswith(b"\x1f\x8b"):
        return ParseError(f"{feed_url}: not a feed: got gzip-compressed bytes (not decompressed)")
    head = _ascii_head(body)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return ParseError(f"{feed_url}: not a feed: got JSON that is not a JSON Feed")
    if any(mark in head for mark in _HTML_MARKS) and not any(r in head for r in _FEED_ROOTS):
        title = _html_title(body)
        return ParseError(f"{feed_url}: not a feed: got an HTML page ({title or 'untitled'})")
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        return ParseError(f"{feed_url}: not a feed: {_describe(exc)}")
    root = _ROOT.search(head)
    name = root.group(1).decode("ascii", "replace") if root else "none"
    return ParseError(f"{feed_url}: not a feed: XML with no RSS/Atom structure (root <{name}>)")


def _describe(exc: object) -> str:
    if exc is None:
        return "unknown problem"
    return _one_line(f"{type(exc).__name__}: {exc}")


def _truncated(exc: object) -> bool:
    message = str(exc)
    return "no element found" in message or "unclosed token" in message


def _ttl(feed: Any) -> timedelta | None:
    try:
        raw = str(feed.get("ttl") or "").strip()
        if raw.isdigit() and len(raw) < 9:
            ttl = timedelta(minutes=int(raw))
            return ttl if timedelta(0) < ttl <= MAX_TTL else None
        period = _SY_PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
        if period is None:
            return None
        freq = str(feed.get("sy_updatefrequency") or "1").strip()
        times = int(freq) if freq.isdigit() and len(freq) < 9 else 1
        return period / times if times > 0 else None
    except (TypeError, ValueError, OverflowError):
        return None


_MONTHS = {
    m: n
    for n, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
# The two shapes nearly every feed writes its dates in, strictly; anything else goes
# to feedparser's date parser, whose answer these give for them (property test).
_RFC822_DATE = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun), )?(\d{1,2}) (jan|feb|mar|apr|may|jun|jul|aug|sep|oct"
    r"|nov|dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:([+-])(\d{2})(\d{2})|gmt|ut|z)"
)
_W3C_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})t(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:z|([+-])(\d{2}):(\d{2}))"
)


def parse_date(raw: str) -> time.struct_time | None:
    """feedparser's ``_parse_date(raw)`` (a UTC ``struct_time``, or None), read
    directly when ``raw`` is a plain RFC 822 or W3C date-time."""
    low = raw.lower()
    m = _RFC822_DATE.fullmatch(low)
    if m is not None:
        day, month, year, hour, minute, second, sign, tz_h, tz_m = m.groups()
        fields = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
    else:
        m = _W3C_DATE.fullmatch(low)
        if m is None:
            return _parse_date(raw)  # type: ignore[no-any-return]
        year, month, day, hour, minute, second, sign, tz_h, tz_m = m.groups()
        fields = (int(year), int(month), int(day), int(hour), int(minute), int(second))
    try:
        stamp = datetime(*fields)
        if sign:
            offset = timedelta(hours=int(tz_h), minutes=int(tz_m))
            stamp = stamp - offset if sign == "+" else stamp + offset
        return stamp.utctimetuple()
    except (ValueError, OverflowError):
        return _parse_date(raw)  # type: ignore[no-any-return]


def _published(entry: Any, now: datetime | None) -> datetime | None:
    for key in _DATE_KEYS:
        # dict.get: FeedParserDict maps a missing "updated*" to "published*" with a
        # DeprecationWarning; we ask for each key as it is.
        parsed = dict.get(entry, key + "_parsed", _UNPARSED)
        if parsed is _UNPARSED:  # the fast path leaves its dates as text
            raw = dict.get(entry, key)
            parsed = parse_date(raw) if isinstance(raw, str) else None
        if not parsed:
            continue
        try:
            # feedparser converts to UTC before building the struct_time.
            y, mo, d, h, mi, sec = (int(v) for v in parsed[:6])
            when = datetime(y, mo, d, h, mi, min(sec, 59), tzinfo=UTC)
        except (TypeError, ValueError, OverflowError):
            continue
        if when < EARLIEST or (now is not None and when > now + FUTURE_SLACK):
            continue
        return when
    return None


def _text_of(detail: Any, limit: int) -> str:
    """Plain text of a feedparser text construct (a dict with ``value`` and ``type``)."""
    value = detail.get("value") or ""
    if not isinstance(value, str):
        return ""
    if str(detail.get("type") or "text/html") in _HTML_TYPES:
        return html_to_text(value, limit=limit)
    return plain_text(value, limit=limit)


def _line_of(detail: Any, limit: int) -> str:
    """``one_line(_text_of(detail, limit), limit=limit)``, without normalising twice.

    ``_text_of`` already gives paragraphs of single-spaced words joined by "\\n",
    cleaned and within ``limit``, which ``one_line`` would only join with spaces;
    except that a zero-width joiner left between two non-Latin letters can come next
    to a space once the paragraphs are joined, and ``one_line`` then drops it.
    """
    text = _text_of(detail, limit)
    if "\u200c" in text or "\u200d" in text:
        return one_line(text, limit=limit)
    return text.replace("\n", " ")


def _body_text(entry: Any) -> tuple[str, list[str] | None]:
    """The entry's longest body as plain text, and its lines when it was HTML (see
    ``bot.core.summarize.story_text``)."""
    candidates: list[Any] = list(entry.get("content") or [])
    if entry.get("summary_detail"):
        candidates.append(entry["summary_detail"])
    elif entry.get("summary"):
        candidates.append({"value": entry["summary"], "type": "text/html"})
    best = max(candidates, key=lambda d: len(d.get("value") or ""), default=None)
    if best is None:
        return "", None
    value = best.get("value") or ""
    if isinstance(value, str) and str(best.get("type") or "text/html") in _HTML_TYPES:
        return html_to_lines(value, limit=TEXT_CHARS)
    return _text_of(best, TEXT_CHARS), None


def _feed_names(feed: Any) -> list[str]:
    """Other names a feed gives its site, best first: its image's title, its publisher,
    its copyright line (``bot.core.outlet`` takes the holder out of it)."""
    names: list[str] = []
    image = feed.get("image")
    if isinstance(image, dict):
        names.append(image.get("title") or "")
    names.append(feed.get("publisher") or "")
    names.append(feed.get("rights") or "")
    return [one_line(n, limit=OUTLET_CHARS) for n in names if isinstance(n, str) and n]


def _http_url(link: object, base: str) -> str:
    if not isinstance(link, str) or not link.strip():
        return ""
    try:
        absolute = join_url(base, link.strip()) if base else link.strip()
    except ValueError:
        return ""
    url = canonical_url(absolute)
    return url if url.lower().startswith(("http://", "https://")) else ""


def parse_feed(
    body: bytes,
    feed_url: str,
    *,
    content_type: str = "",
    outlet: str = "",
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse one fetched feed body into stories.

    ``content_type`` is the HTTP ``Content-Type`` (it carries the charset);
    ``outlet`` overrides the outlet name (default: the site's name from the feed title
    and metadata, else its domain: ``bot.core.outlet.outlet_name``);
    ``now`` (aware UTC) enables the check against dates in the future. Raises
    ``ParseError`` (and nothing else) for a body that is empty, HTML, JSON, XML
    without feed structure, broken without entries, or hostile; ``ValueError`` only
    for a naive ``now``.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError("parse_feed: now must be timezone-aware")  # a caller's bug, not the feed's
    body = bytes(body)
    if not body or body.isspace():  # not body.strip(): that copies the whole body
        raise ParseError(f"{feed_url}: not a feed: empty body")
    if body[:1] != b"<" and _ascii_head(body).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return _json_feed(body, feed_url, outlet, now)
    body, long_fields = cap_fields(body, FIELD_BYTES)
    if long_fields:
        return _with_note(
            _parse_xml(body, feed_url, content_type, outlet, now),
            f"{long_fields} text field(s) longer than {FIELD_BYTES:,} bytes cut to that length",
        )
    return _parse_xml(body, feed_url, content_type, outlet, now)


def _with_note(parsed: ParsedFeed, note: str) -> ParsedFeed:
    return dataclasses.replace(
        parsed, warning=f"{note}; {parsed.warning}" if parsed.warning else note
    )


def _parse_xml(
    body: bytes, feed_url: str, content_type: str, outlet: str, now: datetime | None
) -> ParsedFeed:
    base = feed_url if feed_url.lower().startswith(("http://", "https://")) else ""
    fast = read_feed(body, base, content_type=content_type, budget=MAX_MARKUP, keep=MAX_ENTRIES + 1)
    if fast is not None:
        markup = int(fast.get("markup") or 0)  # counted there: the same "<" as the body's
        parsed = _guarded_build(fast, body, feed_url, base, outlet, now)
        if markup <= MAX_MARKUP:
            return parsed
        note = (
            f"cut at {MAX_MARKUP:,} of {markup:,} '<' characters (more markup than a feed "
            f"needs): kept the first {len(parsed.stories)} entries"
        )
        return dataclasses.replace(parsed, warning=note)
    # No more "<" than bytes: a body this short needs no count.
    markup = body.count(b"<") if len(body) > MAX_MARKUP else 0
    if markup > MAX_MARKUP:
        raise ParseError(
            f"{feed_url}: refused: {markup:,} '<' characters, more markup than a feed "
            f"needs (limit {MAX_MARKUP:,})"
        )
    original = body
    body, defused = _defuse(body, feed_url)
    # One bad byte in a UTF-8 body would make feedparser read all of it as cp1252.
    body = utf8_repaired(body, content_type)
    # Without a type feedparser reports NonXMLContentType on every feed; a file or a
    # server that says nothing is read by the XML rules (declaration, BOM).
    headers = {"content-type": content_type or "application/xml"}
    if base:
        headers["content-location"] = base
    try:
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        parsed = _build(result, original, feed_url, base, outlet, now)
    except ParseError:
        raise
    except Exception as exc:  # feedparser or a malformed structure: still this feed's error
        raise ParseError(f"{feed_url}: parser failed: {_describe(exc)}") from exc
    if defused is None:
        return parsed
    warning = f"{defused}; {parsed.warning}" if parsed.warning else defused
    return dataclasses.replace(parsed, warning=warning)


def _guarded_build(
    result: Any, body: bytes, feed_url: str, base: str, outlet: str, now: datetime | None
) -> ParsedFeed:
    try:
        return _build(result, body, feed_url, base, outlet, now)
    except ParseError:
        raise
    except Exception as exc:  # a malformed structure: still this feed's error
        raise ParseError(f"{feed_url}: parser failed: {_describe(exc)}") from exc


def _build(
    result: Any, body: bytes, feed_url: str, base: str, outlet: str, now: datetime | None
) -> ParsedFeed:
    feed = result.get("feed") or {}
    entries = result.get("entries") or []
    bozo_exc = result.get("bozo_exception") if result.get("bozo") else None
    if not entries:
        if not result.get("version"):
            raise _not_a_feed(body, feed_url, result)
        harmless = isinstance(bozo_exc, feedparser.ThingsNobodyCaresAboutButMe)
        # A broken feed that still shows its channel is an empty feed with a warning,
        # unless it ended early: then its items may simply have been cut off.
        if bozo_exc is not None and not harmless and (not feed or _truncated(bozo_exc)):
            raise ParseError(f"{feed_url}: broken feed with no entries: {_describe(bozo_exc)}")
    title_detail = feed.get("title_detail")
    title = _line_of(title_detail, OUTLET_CHARS) if title_detail else ""
    link = _http_url(feed.get("link"), base)
    if not base:
        base = link
    name = one_line(outlet, limit=OUTLET_CHARS) or outlet_name(
        title, link or feed_url, _feed_names(feed)
    )
    warning = _describe(bozo_exc) if bozo_exc is not None else None
    stories = _stories(entries[:MAX_ENTRIES], feed_url, base, name, now)
    if len(entries) > MAX_ENTRIES:
        if _oldest_first(stories):
            stories = _stories(entries[-MAX_ENTRIES:], feed_url, base, name, now)
            kept = "last"
        else:
            kept = "first"
        note = f"{len(entries):,} entries: kept the {kept} {MAX_ENTRIES:,} (the newest)"
        warning = f"{warning}; {note}" if warning else note
    return ParsedFeed(title=title, link=link, ttl=_ttl(feed), stories=stories, warning=warning)


def _stories(
    entries: list[Any], feed_url: str, base: str, name: str, now: datetime | None
) -> list[Story]:
    stories: list[Story] = []
    seen: dict[str, tuple[str, str]] = {}
    for entry in entries:
        story = _story(entry, feed_url, base, name, now)
        if story is not None:
            _add_unique(stories, seen, story)
    return stories


def _oldest_first(stories: list[Story]) -> bool:
    """Whether dated stories run from oldest to newest (their first is older than their last)."""
    dated = [s.published for s in stories if s.published is not None]
    return len(dated) >= 2 and dated[0] < dated[-1]


def _add_unique(stories: list[Story], seen: dict[str, tuple[str, str]], story: Story) -> None:
    """Append ``story`` unless it repeats one already in ``stories``.

    A second entry with an id already seen is the same story again when its link (or,
    without links, its title) is the same, and is skipped. Otherwise it is another
    story that a broken feed gave the same guid: it is kept under an id derived from
    the guid, its link and its title (stable from poll to poll).
    """
    before = seen.get(story.id)
    if before is not None:
        if (story.url or story.title) == (before[0] or before[1]):
            return
        derived = story_id(None, None, "\n".join((story.id, story.url, story.title)), None)
        if derived in seen:
            return
        story = dataclasses.replace(story, id=derived)
    seen[story.id] = (story.url, story.title)
    stories.append(story)


# ---------------------------------------------------------------- JSON Feed

_JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_JSON_DATE_KEYS = ("date_published", "date_modified", "date_updated")


def _json_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _json_date(value: str, now: datetime | None) -> datetime | None:
    """RFC 3339 (``2026-02-17T09:30:00Z``) → aware UTC; None when absent, bad or absurd."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    when = when.replace(tzinfo=UTC) if when.utcoffset() is None else when.astimezone(UTC)
    if when < EARLIEST or (now is not None and when > now + FUTURE_SLACK):
        return None
    return when


def _json_feed(body: bytes, feed_url: str, outlet: str, now: datetime | None) -> ParsedFeed:
    """A JSON Feed (https://jsonfeed.org, versions 1 and 1.1) into stories."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ParseError(f"{feed_url}: not a feed: invalid JSON ({_describe(e)})") from None
    if not isinstance(doc, dict) or not _json_str(doc.get("version")).startswith(
        _JSON_FEED_VERSION
    ):
        raise ParseError(f"{feed_url}: not a feed: got JSON that is not a JSON Feed")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(f"{feed_url}: broken JSON Feed: 'items' is not a list")
    base = feed_url if feed_url.lower().startswith(("http://", "https://")) else ""
    link = _http_url(doc.get("home_page_url"), base)
    title = one_line(plain_text(_json_str(doc.get("title")), limit=OUTLET_CHARS))
    authors = doc.get("authors") or [doc.get("author")]
    author_names = [
        one_line(_json_str(a.get("name")), limit=OUTLET_CHARS)
        for a in (authors if isinstance(authors, list) else [])
        if isinstance(a, dict)
    ]
    name = one_line(outlet, limit=OUTLET_CHARS) or outlet_name(
        title, link or feed_url, author_names
    )
    stories: list[Story] = []
    seen: dict[str, tuple[str, str]] = {}
    warning = None
    if len(items) > MAX_ENTRIES:  # JSON Feed lists newest first
        warning = f"{len(items):,} entries: kept the first {MAX_ENTRIES:,} (the newest)"
        items = items[:MAX_ENTRIES]
    for item in items:
        if not isinstance(item, dict):
            continue
        url = _http_url(item.get("url") or item.get("external_url"), base or link)
        item_title = one_line(
            plain_text(_json_str(item.get("title")), limit=TITLE_CHARS), limit=TITLE_CHARS
        )
        html = _json_str(item.get("content_html"))
        plain = _json_str(item.get("content_text")) or _json_str(item.get("summary"))
        raw_text = (
            html_to_text(html, limit=TEXT_CHARS) if html else plain_text(plain, limit=TEXT_CHARS)
        )
        raw_id = item.get("id")
        guid = (
            str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
        )
        if not (item_title or raw_text or url or guid):
            continue
        raw_date = next((d for k in _JSON_DATE_KEYS if (d := _json_str(item.get(k)))), None)
        text, teaser = story_text(item_title, raw_text)
        story = Story(
            feed_url=feed_url,
            id=story_id(guid, url, item_title, raw_date),
            url=url,
            title=item_title,
            text=text,
            published=_json_date(raw_date or "", now),
            outlet=name,
            teaser=teaser,
        )
        _add_unique(stories, seen, story)
    return ParsedFeed(title=title, link=link, ttl=None, stories=stories, warning=warning)


def _story(entry: Any, feed_url: str, base: str, outlet: str, now: datetime | None) -> Story | None:
    detail = entry.get("title_detail")
    title = _line_of(detail, TITLE_CHARS) if detail else ""
    url = _http_url(entry.get("link"), base)
    raw_text, lines = _body_text(entry)
    guid = entry.get("id")
    guid = guid if isinstance(guid, str) else None
    if not (title or raw_text or url or (guid and guid.strip())):
        return None
    raw_date = next((d for k in _DATE_KEYS if isinstance(d := dict.get(entry, k), str)), None)
    text, teaser = story_text(title, raw_text, lines=lines)  # main text and teaser at once
    return Story(
        feed_url=feed_url,
        id=story_id(guid, url, title, raw_date),
        url=url,
        title=title,
        text=text,
        published=_published(entry, now),
        outlet=outlet,
        teaser=teaser,
    )
