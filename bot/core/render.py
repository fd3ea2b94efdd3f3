"""Platform-neutral rendering of alerts: the console block, the JSON document, and
the "Also reported by" line that platform renderers can reuse.

Text from feeds is untrusted: before it reaches a terminal, control characters
(ANSI escape sequences, carriage returns, bells) are removed, so a feed cannot
move the cursor, recolour or overwrite earlier output. Highlights are shown as
``**name**`` without colour, bold with colour.

``alert_json`` is a contract that scripts rely on: it always has ``action``,
``channel``, ``watchlists``, ``title``, ``summary`` and ``sources`` (a list of
``{"outlet", "url"}`` objects), plus ``cluster_id``, ``url``, ``terms``,
``published``, ``previous_url``, ``highlights``, ``format`` and ``mentions``.

A ``compact`` alert shows the headline, its outlets and the link, no summary.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.core.models import Alert, Span, Summary
from bot.core.text import strip_invisible

__all__ = [
    "alert_json",
    "digest_mentions",
    "format_time",
    "render_console",
    "render_digest_console",
    "summary_markup",
]

WIDTH = 88
"""Column at which console summaries wrap."""

_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
# C0 controls except tab and newline, DEL, C1 controls (CSI is U+009B), and the
# line/paragraph separators some terminals honour.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _safe(text: str) -> str:
    """Feed text fit for a terminal: control and invisible characters removed."""
    return strip_invisible(_CONTROL.sub("", text))


def _line(text: str) -> str:
    """``_safe`` and on one line."""
    return " ".join(_safe(text).split())


def format_time(when: datetime | None) -> str:
    """``2026-02-17 09:30 UTC``; empty for None."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def summary_markup(summary: Summary, *, bold: Callable[[str], str] | None = None) -> str:
    """The summary's text with highlighted spans passed through ``bold``.

    The default marks them ``**like this**``; a platform renderer passes its own
    (already escaping) function.
    """
    mark = bold or (lambda s: f"**{s}**")
    return "".join(mark(s.text) if s.highlight else s.text for s in summary.spans)


def render_console(alert: Alert, *, action: str, channel: str, color: bool = False) -> str:
    """A readable multi-line block for one alert (``action`` is "post" or "edit")."""

    def bold(s: str) -> str:
        return f"{_BOLD}{s}{_RESET}" if color else f"**{s}**"

    def dim(s: str) -> str:
        return f"{_DIM}{s}{_RESET}" if color else s

    compact = alert.format == "compact"
    head = f"[{action}] {channel}"
    if alert.mentions:
        head += " · mention " + ", ".join(alert.mentions)
    if alert.watchlists:
        head += " · " + ", ".join(_line(w) for w in alert.watchlists)
    if alert.terms and not compact:
        head += " · terms: " + ", ".join(_line(t) for t in alert.terms)
    lines = [dim(head)]
    title = _line(alert.title) or _line(alert.url) or "(untitled)"
    lines.append(f"{_BOLD}{title}{_RESET}" if color else title)
    meta = [m for m in (_line(alert.url), format_time(alert.published)) if m]
    if meta:
        lines.append(dim("  ".join(meta)))
    # Clean each span before marking it up: the markup itself may be escape codes.
    clean = Summary(tuple(Span(_safe(s.text), s.highlight) for s in alert.summary.spans))
    text = "" if compact else " ".join(summary_markup(clean, bold=bold).split())
    if text:
        lines.append("")
        lines.extend(
            textwrap.wrap(text, WIDTH, break_long_words=False, break_on_hyphens=False) or [""]
        )
    if alert.sources:
        # The first source is the story above; the others are listed once each.
        lines.append("")
        first = alert.sources[0]
        lines.append(f"Source: {_line(first.outlet) or _line(first.title) or '?'}")
        if len(alert.sources) > 1:
            lines.append("Also reported by:")
            for s in alert.sources[1:]:
                outlet = _line(s.outlet) or _line(s.title) or "?"
                lines.append(f"  - {outlet} — {_line(s.url)}" if s.url else f"  - {outlet}")
    if alert.previous_url:
        lines.append(f"Earlier post: {_line(alert.previous_url)}")
    return "\n".join(lines) + "\n"


def alert_json(alert: Alert, *, action: str, channel: str) -> dict[str, object]:
    """The alert as one JSON-ready document (the console's ``--json`` contract)."""
    return {
        "action": action,
        "channel": channel,
        "cluster_id": alert.cluster_id,
        "watchlists": list(alert.watchlists),
        "terms": list(alert.terms),
        "title": alert.title,
        "url": alert.url,
        "summary": alert.summary.text,
        "highlights": [s.text for s in alert.summary.spans if s.highlight],
        "sources": [
            {
                "outlet": s.outlet,
                "url": s.url,
                "title": s.title,
                "published": s.published.isoformat() if s.published else None,
            }
            for s in alert.sources
        ],
        "published": alert.published.isoformat() if alert.published else None,
        "previous_url": alert.previous_url,
        "format": alert.format,
        "mentions": list(alert.mentions),
    }


def digest_mentions(alerts: Sequence[Alert]) -> tuple[str, ...]:
    """Every mention the alerts of one digest carry, once each, in order."""
    return tuple(dict.fromkeys(m for a in alerts for m in a.mentions))


def render_digest_console(alerts: Sequence[Alert], *, channel: str) -> str:
    """Several alerts as one compact console message: one numbered entry each."""
    n = len(alerts)
    head = f"[digest] {channel} · {n} alert{'s' if n != 1 else ''}"
    if mentions := digest_mentions(alerts):
        head += " · mention " + ", ".join(mentions)
    lines = [head]
    for i, a in enumerate(alerts, 1):
        title = _line(a.title) or _line(a.url) or "(untitled)"
        lines.append(f"{i}. {title}")
        detail = []
        if a.sources:
            first = _line(a.sources[0].outlet) or _line(a.sources[0].title)
            more = len(a.sources) - 1
            detail.append(first + (f" (+{more} more)" if more else ""))
        if a.watchlists:
            detail.append(", ".join(_line(w) for w in a.watchlists))
        if a.terms:
            detail.append("terms: " + ", ".join(_line(t) for t in a.terms))
        if detail:
            lines.append("   " + " · ".join(detail))
        if a.url:
            lines.append("   " + _line(a.url))
    return "\n".join(lines) + "\n"
