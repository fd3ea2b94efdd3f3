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

from bot.core.models import Alert, Span, Summary
from bot.core.text import strip_invisible
from bot.core.views import (
    Entry,
    LookupView,
    alert_view,
    digest_view,
    format_time,
    plain_text,
)

__all__ = [
    "alert_json",
    "format_time",
    "render_console",
    "render_digest_console",
    "render_lookup_console",
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

    v = alert_view(alert)
    head = f"[{action}] {channel}"
    if v.mentions:
        head += " · mention " + ", ".join(v.mentions)
    if v.watchlists:
        head += " · " + ", ".join(_line(w) for w in v.watchlists)
    if v.terms:
        head += " · terms: " + ", ".join(_line(t) for t in v.terms)
    lines = [dim(head)]
    title = _line(v.title)
    lines.append(f"{_BOLD}{title}{_RESET}" if color else title)
    meta = [m for m in (_line(v.url), format_time(v.published)) if m]
    if meta:
        lines.append(dim("  ".join(meta)))
    # Clean each span before marking it up: the markup itself may be escape codes.
    clean = Summary(tuple(Span(_safe(s.text), s.highlight) for s in v.summary.spans))
    text = " ".join(summary_markup(clean, bold=bold).split())
    if text:
        lines.append("")
        lines.extend(
            textwrap.wrap(text, WIDTH, break_long_words=False, break_on_hyphens=False) or [""]
        )
    if v.source:
        # The first source is the story above; the others are listed once each.
        lines += ["", f"Source: {_line(v.source.label) or '?'}"]
        if v.also:
            lines.append("Also reported by:")
            for s in v.also:
                outlet = _line(s.label) or "?"
                lines.append(f"  - {outlet} — {_line(s.url)}" if s.url else f"  - {outlet}")
    if v.earlier:
        lines.append(f"Earlier post: {_line(v.earlier)}")
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


def _entries(entries: Sequence[Entry]) -> list[str]:
    """Numbered stories (a digest's or a lookup page's): title, details, link."""
    lines = []
    for i, e in enumerate(entries, 1):
        lines.append(f"{e.number or i}. {_line(e.title)}")
        if e.detail:
            lines.append("   " + _line(plain_text(e.detail)))
        if e.url:
            lines.append("   " + _line(e.url))
    return lines


def render_digest_console(alerts: Sequence[Alert], *, channel: str) -> str:
    """Several alerts as one console message: one numbered entry each."""
    v = digest_view(alerts)
    head = f"[digest] {channel} · {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    if v.mentions:
        head += " · mention " + ", ".join(v.mentions)
    return "\n".join([head, *_entries(v.entries)]) + "\n"


def render_lookup_console(view: LookupView) -> str:
    """A page of lookup results for a terminal (empty when the page has no stories:
    :attr:`LookupView.empty` says why)."""
    return "".join(line + "\n" for line in _entries(view.entries))
