"""Alerts and command replies as Discord message payloads: pure functions.

Everything here turns plain values into the JSON Discord expects (embed dicts
and plain strings) and guarantees Discord's limits, so a send never fails with
"Invalid Form Body" and a feed never decides what a message looks like:

* limits: embed title 256, description 4096, field name 256 / value 1024,
  footer 2048, author 256, 25 fields, 6000 characters per message over all
  embeds, 10 embeds, content 2000. Lengths are counted in UTF-16 code units,
  which is never less than what Discord counts, so an emoji-heavy title is cut
  a little early rather than rejected.
* hostile text: every string that came from a feed or a user (titles, summary
  text, outlet names, watchlist names, terms, URLs) goes through
  :func:`escape` (markdown, mentions, masked links, headings, bidi controls)
  or :func:`code` (inline code), and every URL through :func:`safe_url`
  (http/https only, else dropped). Messages are also sent with no allowed
  mentions, so even a miss here cannot ping anyone.
* truncation cuts the raw text, then escapes, so an escape sequence or a
  ``**bold**`` pair is never split; a cut ends with "…".

* the outbox key: posts and digests carry a short tag derived from it at the
  end of the footer (``alertbot · ref 7f3a9c21``, see :func:`ref_tag`), because
  Discord does not give a message's nonce back when messages are read; the
  sender finds a post interrupted by a crash by this tag.

Known misses: Discord may autolink a bare URL inside escaped text differently
from what the publisher meant (we keep ``_`` in URLs unescaped, as discord.py
does); grapheme clusters (flags, skin tones) can be cut in the middle.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bot.core import views
from bot.core.lookup import LookupPage
from bot.core.models import (
    Alert,
    FeedStatus,
    Subscription,
    Summary,
    Watchlist,
)
from bot.core.subscription import mention_id
from bot.core.text import longest_fit, strip_invisible, without_userinfo

Embed = dict[str, Any]
"""An embed as Discord's JSON (``discord.Embed.from_dict`` accepts it)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Discord's documented message limits; names follow the API's field names."""

    title: int = 256
    description: int = 4096
    fields: int = 25
    field_name: int = 256
    field_value: int = 1024
    footer: int = 2048
    author: int = 256
    total: int = 6000
    embeds: int = 10
    content: int = 2000
    url: int = 2048
    """Not a documented embed limit; longer URLs are dropped as suspicious."""
    choice: int = 100
    """Autocomplete choice name and string value."""


LIMITS = Limits()

ELLIPSIS = "…"
ZWSP = "\u200b"
COLOUR = 0xB7410E
"""Rust red: one colour for every alert so they are recognisable in a busy channel."""

# --------------------------------------------------------------------------- escaping

_BIDI_AND_CONTROL = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u202a-\u202e\u2066-\u2069\u200e\u200f]"
)
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"https?://[^\s<>]+")
# Characters that start or end Discord markdown anywhere in a line.
_MARKDOWN = re.compile(r"([\\*_~`|<>\[\]#])")
# Inside a URL token only these can build markup around it (masked links,
# spoilers, code, mentions); they are percent-encoded so the link still works.
_URL_UNSAFE = {c: f"%{ord(c):02X}" for c in "[]()<>|*~`\\\"'"}
# Line-start markdown: headings, quotes, lists, subtext ("-#").
_LINE_START = re.compile(r"^(\s*)([-+]|\d+(?=\.))", re.MULTILINE)
_MENTION = re.compile(r"@(everyone|here|[!&]?\d)", re.IGNORECASE)


def measure(text: str) -> int:
    """Length as Discord may count it (UTF-16 code units; ≥ code points)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def clean(text: str) -> str:
    """Drop control, bidi and other invisible characters; collapse whitespace."""
    return _SPACES.sub(" ", strip_invisible(_BIDI_AND_CONTROL.sub("", text))).strip()


def _escape_plain(text: str) -> str:
    text = _MARKDOWN.sub(r"\\\1", text)
    return _MENTION.sub("@" + ZWSP + r"\1", text)


def escape(text: str) -> str:
    """Make feed or user text inert in Discord markdown.

    Backslash-escapes markdown characters (bold, italics, strikethrough, code,
    spoilers, masked-link brackets, ``<…>`` mentions/timestamps/emoji, headings,
    quotes, lists); puts a zero-width space after ``@`` of
    ``@everyone``, ``@here`` and ``<@id>``/``<@&id>`` so they render as text even
    where mentions would otherwise resolve. Bare http(s) URLs stay clickable, with
    characters that could build markup around them percent-encoded.
    """
    text = clean(text)
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        out.append(_escape_plain(text[pos : m.start()]))
        out.append("".join(_URL_UNSAFE.get(c, c) for c in m.group(0)))
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    joined = "".join(out)
    return _LINE_START.sub(_escape_line_start, joined)


def _escape_line_start(m: re.Match[str]) -> str:
    # "- x" → "\- x"; "1. x" → "1\. x" (a backslash before a digit would show).
    lead, marker = m.group(1), m.group(2)
    return lead + (marker + "\\" if marker[0].isdigit() else "\\" + marker)


def plain(text: str) -> str:
    """Text for places Discord shows without markdown (author names, choice labels).

    Backslashes would show there, so only mentions are broken up (and ``<`` of
    ``<@id>`` kept apart from the ``@``) in case a client ever renders them.
    """
    return _MENTION.sub("@" + ZWSP + r"\1", clean(text))


def code(text: str) -> str:
    """Show text literally as inline code (no markdown, no mentions inside)."""
    body = clean(text).replace("`", "ˋ") or " "
    return f"`{body}`"


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL fit for a link, else None.

    Characters that would end a masked link or form markup are percent-encoded.
    """
    if not url:
        return None
    url = url.strip()
    if measure(url) > LIMITS.url or _BIDI_AND_CONTROL.search(url) or re.search(r"\s", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    url = without_userinfo(url)
    return quote(url, safe=":/?#@!$&+,;=%~-._*'") if re.search(r"[()<>\[\]|`\\\"^{}]", url) else url


NOTICE_CHARS = 1900
"""A notice is plain message content (2000 at most), with room to spare."""


def notice_content(text: str) -> str:
    """A bot notice as inert message content: escaped, cut to fit, with a marker."""
    return "⚠️ " + escape_clip(text, NOTICE_CHARS)


def clip(text: str, limit: int) -> str:
    """Cut already-safe text to ``limit`` (Discord units), ending with "…" when cut."""
    if measure(text) <= limit:
        return text
    if limit <= 0:
        return ""
    # Walk back until it fits: code points ≤ units, so start at the limit.
    cut = text[: limit - 1]
    while cut and measure(cut) + 1 > limit:
        cut = cut[:-1]
    # Never end on a lone backslash (it would escape the ellipsis): an odd run
    # of trailing backslashes means the last one starts an escape.
    cut = cut.rstrip()
    if (len(cut) - len(cut.rstrip("\\"))) % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def escape_clip(raw: str, limit: int, render: Callable[[str], str] = escape) -> str:
    """``render(raw)`` cut so that the rendered text fits ``limit``.

    The raw text is cut (then rendered), so escapes and markup are never split.
    """
    full = render(raw)
    if measure(full) <= limit:
        return full
    if limit <= 0:
        return ""
    return longest_fit(
        clean(raw), lambda p: render(p.rstrip()) + ELLIPSIS if p else ELLIPSIS, limit, measure
    )


def link(text: str, url: str | None, limit: int) -> str:
    """A masked link ``[text](url)`` within ``limit``; plain escaped text without a safe URL."""
    target = safe_url(url)
    if target is None:
        return escape_clip(text, limit)
    room = limit - measure(target) - 4
    if room < 2:
        return escape_clip(text, limit)
    return f"[{escape_clip(text or target, room)}]({target})"


def timestamp(when: datetime | None, style: str = "f") -> str:
    """A Discord timestamp (``<t:…>``) shown in each reader's own time zone."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"<t:{int(when.timestamp())}:{style}>"


# --------------------------------------------------------------------------- sizing


def embed_length(embed: Embed) -> int:
    """The characters Discord counts toward the 6000-per-message total."""
    n = measure(embed.get("title", "")) + measure(embed.get("description", ""))
    n += measure(embed.get("footer", {}).get("text", ""))
    n += measure(embed.get("author", {}).get("name", ""))
    for f in embed.get("fields", []):
        n += measure(f["name"]) + measure(f["value"])
    return n


def message_length(embeds: Sequence[Embed]) -> int:
    return sum(embed_length(e) for e in embeds)


def check_limits(embeds: Sequence[Embed], content: str = "") -> list[str]:
    """Every Discord limit the payload breaks (empty when it is valid)."""
    problems: list[str] = []
    if measure(content) > LIMITS.content:
        problems.append(f"content {measure(content)} > {LIMITS.content}")
    if len(embeds) > LIMITS.embeds:
        problems.append(f"{len(embeds)} embeds > {LIMITS.embeds}")
    for i, e in enumerate(embeds):
        for key, limit in (("title", LIMITS.title), ("description", LIMITS.description)):
            if measure(e.get(key, "")) > limit:
                problems.append(f"embed {i} {key} {measure(e[key])} > {limit}")
        if measure(e.get("footer", {}).get("text", "")) > LIMITS.footer:
            problems.append(f"embed {i} footer > {LIMITS.footer}")
        if measure(e.get("author", {}).get("name", "")) > LIMITS.author:
            problems.append(f"embed {i} author > {LIMITS.author}")
        fields = e.get("fields", [])
        if len(fields) > LIMITS.fields:
            problems.append(f"embed {i} has {len(fields)} fields > {LIMITS.fields}")
        for f in fields:
            if not f["name"] or measure(f["name"]) > LIMITS.field_name:
                problems.append(f"embed {i} field name {measure(f['name'])}")
            if not f["value"] or measure(f["value"]) > LIMITS.field_value:
                problems.append(f"embed {i} field value {measure(f['value'])}")
    if message_length(embeds) > LIMITS.total:
        problems.append(f"total {message_length(embeds)} > {LIMITS.total}")
    return problems


# --------------------------------------------------------------------------- alerts


def summary_markdown(summary: Summary, limit: int) -> str:
    """The summary with watched names in bold, escaped, within ``limit``.

    Spans are added whole while they fit; the first one that does not is cut
    (its raw text, then escaped) and closed, so ``**`` pairs always balance.
    """
    out: list[str] = []
    used = 0
    spans = [s for s in summary.spans if s.text]
    for i, span in enumerate(spans):
        raw = _SPACES.sub(" ", span.text)
        if i == 0:
            raw = raw.lstrip()
        if not raw.strip():
            piece = " " if out and not out[-1].endswith(" ") else ""
            if used + measure(piece) > limit:
                break
            out.append(piece)
            used += measure(piece)
            continue
        lead = " " if raw[0] == " " and out and not out[-1].endswith(" ") else ""
        trail = " " if raw[-1] == " " else ""

        def render(t: str, bold: bool = span.highlight) -> str:
            body = escape(t)
            return f"**{body}**" if bold and body else body

        piece = lead + render(raw) + trail
        if used + measure(piece) <= limit:
            out.append(piece)
            used += measure(piece)
            continue
        room = limit - used - measure(lead)
        if span.highlight:
            # Cut inside the bold so the closing ** stays.
            cut = escape_clip(raw, room - 4)
            if cut and cut != ELLIPSIS:
                out.append(lead + "**" + cut.removesuffix(ELLIPSIS) + "**" + ELLIPSIS)
            elif room >= 1:
                out.append(lead + ELLIPSIS)
        else:
            cut = escape_clip(raw, room)
            if cut:
                out.append(lead + cut if cut.endswith(ELLIPSIS) else lead + cut + ELLIPSIS)
        break
    text = "".join(out).strip()
    if measure(text) > limit:  # defensive: the loop above should never overshoot
        text = clip(text, limit)
    return text


def _source_links(sources: Sequence[views.SourceLink], limit: int) -> str:
    """``[Outlet](url) · [Outlet](url) · …and N more`` within ``limit``."""
    items = [link(s.label or "source", s.url, 200) for s in sources]
    return views.join_fitting(items, limit, " · ", measure) or clip("…", limit)


def _names(names: Sequence[str], limit: int) -> str:
    text = ", ".join(escape(n) for n in names if clean(n))
    return clip(text, limit) if text else "—"


REF_HEX = 8
"""Hex digits of the key's sha256 in a footer tag: 32 bits, enough to tell the
few keys asked about in one channel apart."""
_REF_TAG = re.compile(rf"(?:^|\s·\s)(ref [0-9a-f]{{{REF_HEX}}})$")


def ref_tag(key: str) -> str:
    """The footer tag for an outbox key: ``ref`` and the first hex of its sha256.

    Stable for a key and harmless to show: it reveals nothing but itself.
    """
    return "ref " + hashlib.sha256(key.encode()).hexdigest()[:REF_HEX]


def footer_tag(embed: Embed) -> str | None:
    """The :func:`ref_tag` at the end of an embed's footer, if it carries one."""
    footer = embed.get("footer")
    text = footer.get("text") if isinstance(footer, dict) else None
    m = _REF_TAG.search(text) if isinstance(text, str) else None
    return m.group(1) if m else None


def _footer(text: str, key: str | None) -> dict[str, str]:
    """A footer of ``text`` (cut to fit), ending with the key's tag when there is a key."""
    if key is None:
        return {"text": clip(clean(text), LIMITS.footer)}
    tag = ref_tag(key)
    head = clip(clean(text), LIMITS.footer - len(tag) - 3)
    return {"text": f"{head} · {tag}" if head else tag}


def alert_embed(alert: Alert, *, footer: str = "alertbot", key: str | None = None) -> Embed:
    """One alert (:func:`bot.core.views.alert_view`) as an embed: linked title, the
    outlet as author, summary, other outlets, watchlists, terms, the earlier post, time.

    With ``key`` (a post; edits have none) the footer ends with its :func:`ref_tag`.
    """
    v = views.alert_view(alert)
    embed: Embed = {"type": "rich", "title": escape_clip(v.title, LIMITS.title), "color": COLOUR}
    url = safe_url(v.url)
    if url:
        embed["url"] = url
    if v.source is not None and clean(v.source.label):
        # Author names are plain text in Discord (no markdown): no backslashes.
        author: dict[str, str] = {"name": clip(plain(v.source.label), LIMITS.author)}
        if safe_url(v.source.url):
            author["url"] = safe_url(v.source.url) or ""
        embed["author"] = author
    fields: list[dict[str, Any]] = []

    def field(name: str, value: str, inline: bool = True) -> None:
        fields.append({"name": name, "value": value, "inline": inline})

    if v.also:
        field("Also reported by", _source_links(v.also, LIMITS.field_value), inline=False)
    if v.watchlists:
        name = "Watchlists" if len(v.watchlists) > 1 else "Watchlist"
        field(name, _names(v.watchlists, LIMITS.field_value))
    if v.terms:
        field("Matched", _names(v.terms, LIMITS.field_value))
    earlier = safe_url(v.earlier)
    if earlier:
        field("Earlier", f"[Earlier post]({earlier})")
    embed["fields"] = fields[: LIMITS.fields]
    embed["footer"] = _footer(footer, key)
    if v.published is not None:
        when = v.published
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        embed["timestamp"] = when.isoformat()
    # The summary gets whatever the other parts leave of the 6000 total.
    room = min(LIMITS.description, LIMITS.total - embed_length(embed))
    description = summary_markdown(v.summary, room)
    if description:
        embed["description"] = description
    return embed


def role_ids(mentions: Sequence[str]) -> list[int]:
    """The Discord role ids of ``role:ID`` mentions (others ignored), once each."""
    ids = [mention_id(m) for m in mentions if m.startswith("role:")]
    return [int(i) for i in dict.fromkeys(ids) if i.isdigit()]


def mention_content(mentions: Sequence[str]) -> str:
    """The message content that pings the mentioned roles (empty: none). Only these
    ids are allowed to ping (see ``DiscordSender``); feed text never is content."""
    return " ".join(f"<@&{i}>" for i in role_ids(mentions))


def digest_fit(alerts: Sequence[Alert]) -> int:
    """How many of ``alerts`` (from the first) one digest message shows; at least 1."""
    return max(1, len(_entry_lines(views.digest_view(alerts).entries, bullet=True)))


def _entry_lines(entries: Sequence[views.Entry], *, bullet: bool) -> list[str]:
    """One line per entry (a digest's or a lookup page's), as many as fit the
    description: ``• **[title](url)**`` or ``11\\. **[title](url)**``, then its details."""
    lines = []
    for e in entries:
        mark = "•" if bullet else f"{e.number}\\."
        line = f"{mark} **{link(e.title, e.url, 600)}**"
        if e.detail:
            # A digest's times are relative ("2 hours ago"), a lookup's absolute.
            detail = markdown(e.detail, "R" if bullet else "f")
            line += ("\n  " if bullet else "\n") + detail
        lines.append(line)
    return lines[: _fitting_lines(lines)]


def _fitting_lines(lines: Sequence[str]) -> int:
    """How many whole lines fit an embed description, with room for a note."""
    return views.fit_count([measure(x) for x in lines], LIMITS.description - 40, 1)


def digest_embeds(
    alerts: Sequence[Alert], *, title: str = "", key: str | None = None
) -> list[Embed]:
    """A digest (:func:`bot.core.views.digest_view`) in one message: one embed listing
    the alerts, within every limit. Alerts that do not fit are counted in the footer;
    the deliverer sends at most ``digest_fit`` alerts per message, so none are lost.
    With ``key`` the footer ends with its :func:`ref_tag`.
    """
    v = views.digest_view(alerts)
    lines = _entry_lines(v.entries, bullet=True)
    embed: Embed = {
        "type": "rich",
        "title": escape_clip(title or v.title, LIMITS.title),
        "description": "\n".join(lines) or "—",
        "color": COLOUR,
    }
    footer = "alertbot"
    if len(lines) < len(v.entries):
        footer = f"alertbot · {len(v.entries) - len(lines)} more not shown"
    embed["footer"] = _footer(footer, key)
    return [embed]


# --------------------------------------------------------------------------- replies


def text(message: str) -> str:
    """A reply whose text we wrote (may hold user input already escaped) within 2000."""
    return clip(message, LIMITS.content)


def error_text(message: str) -> str:
    """A refusal or error for the asker; service messages may quote user input."""
    return clip("⚠️ " + escape(message), LIMITS.content)


def _lines_embed(title: str, lines: Sequence[str], *, empty: str, noun: str) -> Embed:
    """An embed whose description lists ``lines``; overflow is counted, not cut mid-line."""
    out = lines[: _fitting_lines(lines)]
    embed: Embed = {
        "type": "rich",
        "title": clip(title, LIMITS.title),
        "description": "\n".join(out) or empty,
        "color": COLOUR,
    }
    shown = len(out)
    if shown < len(lines):
        embed["footer"] = {"text": f"{len(lines) - shown} more {noun} not shown"}
    return embed


def lookup_embed(query: str, found: LookupPage, *, since: str | None = None) -> Embed:
    """One page of lookup results (:func:`bot.core.views.lookup_page_view`): linked
    titles with their details, numbered across pages, the true total in the footer
    ("11–20 of 32"). The ledes are left out: ten of them overflow 4096 characters."""
    v = views.lookup_page_view(query, found, since)
    lines = _entry_lines(v.entries, bullet=False)
    embed = _lines_embed(
        clip(escape(v.title), LIMITS.title),
        lines,
        empty=clip(markdown(v.empty), LIMITS.description),
        noun="stories",
    )
    shown, total = len(lines), len(v.entries)
    if found.total:
        more = f" · {total - shown} more stories not shown" if shown < total else ""
        embed["footer"] = {"text": f"Stories {v.span}{more}"}
    return embed


ICONS: dict[str, str] = {"ok": "✅", "warning": "🟡", "error": "⚠️", "new": "⚪", "paused": "⏸️"}


def _escape_piece(text: str) -> str:
    """:func:`escape` keeping the spaces around the text (pieces join into a line)."""
    inner = escape(text)
    if not inner:
        return " " if text[:1].isspace() or text[-1:].isspace() else ""
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    return lead + inner + trail


def _piece(p: views.Piece, style: str = "R") -> str:
    raw = p.text
    if p.limit and len(clean(raw)) > p.limit:
        raw = clean(raw)[: p.limit - 1].rstrip() + ELLIPSIS
    if p.kind == "name":
        body = escape(raw)
        return f"**{body}**" if body else ""
    if p.kind == "literal":
        return code(raw)
    if p.kind == "link":
        return link(raw, p.url, 600)
    if p.kind == "time":
        return timestamp(p.when, style)
    if p.kind == "channel":
        return f"<#{raw}>" if raw.isdigit() else "this channel"
    if p.kind == "command":
        return code("/" + raw)
    if p.kind == "icon":
        return ICONS.get(raw, "")
    return _escape_piece(raw)


def markdown(line: views.Line, time_style: str = "R") -> str:
    """A neutral line as Discord markdown: user text escaped, names bold, literals as
    code, times as ``<t:…>`` in ``time_style`` (relative by default)."""
    return "".join(_piece(p, time_style) for p in line)


def confirm_text(c: views.Confirmation) -> str:
    return text(("✅ " if c.done else "") + markdown(c.line))


def _item(item: views.Item) -> str:
    line = markdown(item.head) + ("\n  " + markdown(item.detail) if item.detail else "")
    return clip(line, 1000)


def list_embed(view: views.ListView) -> Embed:
    """A neutral list as one embed; items that do not fit are counted in the footer."""
    lines = ([markdown(view.intro)] if view.intro else []) + [_item(i) for i in view.items]
    return _lines_embed(
        clip(escape(view.title), LIMITS.title),
        lines,
        empty=clip(markdown(view.empty), LIMITS.description) or "—",
        noun=view.noun,
    )


def list_text(view: views.ListView) -> str:
    """A short neutral list as message content (2000 characters, whole items only)."""
    if not view.items:
        return text(markdown(view.empty))
    out = markdown(view.intro) if view.intro else ""
    for n, item in enumerate(view.items):
        line = "• " + _item(item)
        more = f"\n… and {len(view.items) - n} more {view.noun}"
        if measure(out) + measure(line) + 1 + measure(more) > LIMITS.content:
            return text(out + more)
        out += ("\n" if out else "") + line
    return text(out)


def subscriptions_text(subs: Sequence[Subscription], channel: str = "") -> str:
    return list_text(views.subscriptions_view(subs, channel))


def watchlists_embed(watchlists: Sequence[Watchlist]) -> Embed:
    return list_embed(views.watchlists_view(watchlists))


def watchlist_embed(w: Watchlist) -> Embed:
    """One watchlist: its terms with their forms, case rule and exclusions."""
    return list_embed(views.watchlist_view(w))


def feeds_embed(feeds: Sequence[FeedStatus], *, status: bool = False) -> Embed:
    """Feeds, with their health when ``status`` (last success, errors, stories)."""
    return list_embed(views.feeds_view(feeds, status=status))


def help_embed(view: views.HelpView) -> Embed:
    """Usage with examples, one field per command, within 25 fields and 6000 chars."""
    embed: Embed = {
        "type": "rich",
        "title": view.title,
        "description": view.intro,
        "color": COLOUR,
        "fields": [],
    }
    for e in view.entries:
        example = code("/" + e.example.removeprefix("/"))
        value = clip(f"{e.does}\nExample: {example} · {e.who}", LIMITS.field_value)
        name = clip("/" + e.usage.removeprefix("/"), LIMITS.field_name)
        field = {"name": name, "value": value, "inline": False}
        if len(embed["fields"]) >= LIMITS.fields or (
            embed_length(embed) + measure(name) + measure(value) > LIMITS.total
        ):
            break
        embed["fields"].append(field)
    return embed


def choice_name(text: str) -> str:
    """An autocomplete label within 100 characters (labels are plain text)."""
    return clip(plain(text), LIMITS.choice) or "—"
