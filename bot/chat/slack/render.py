"""Alerts and command replies as Slack Block Kit payloads: pure functions, no I/O.

Every string that came from a feed (titles, summaries, outlet names, URLs) is
hostile. The rules, applied by :func:`esc`, :func:`link` and :func:`bold`:

* invisible and formatting characters (zero-width, soft hyphen, BOM, bidi
  embeddings, overrides and isolates) are removed, as on Discord.
* ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;``, ``&gt;`` (Slack's own
  escaping), so ``<!channel>``, ``<@U123>`` and ``<https://evil|click>`` arrive
  as visible text, never as a ping or a link.
* mrkdwn markers ``*``, ``_``, ``~`` and backticks in feed text are replaced by
  look-alike characters (``∗``, ``ˍ``, ``∼``, ``ˋ``). Slack has no escape for
  them, and a stray ``*`` in a title could otherwise bold half the message or
  break our own highlights. Known miss: someone copying the text gets the
  look-alikes, not the ASCII characters.
* links are built only from ``http``/``https`` URLs; ``|``, ``<``, ``>`` and
  spaces are percent-encoded and ``&`` entity-escaped, so a URL cannot close
  the link or forge a label. Other schemes are dropped (the label stays as text).
* highlights are wrapped as ``\u200b*name*\u200b``: the zero-width spaces let
  Slack see a word boundary even when the name touches a letter or punctuation.

Limits are named constants below and every builder cuts to them *after*
escaping (escaping lengthens text), never inside an entity or a link.
Nothing here reads the clock or the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.core import views
from bot.core.lookup import LookupPage
from bot.core.models import (
    Alert,
    FeedStatus,
    Span,
    Subscription,
    Watchlist,
)
from bot.core.subscription import GROUP_ID, mention_id
from bot.core.text import longest_fit, strip_invisible, without_userinfo

Block = dict[str, Any]
BUTTON_VALUE_CHARS = 2000
"""Slack's limit on a button's value (a lookup query is at most 300 characters)."""

# Slack's documented limits (Block Kit reference, chat.postMessage).
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
CONTEXT_ELEMENTS_LIMIT = 10
CONTEXT_TEXT_LIMIT = 3000
MESSAGE_BLOCKS_LIMIT = 50
HOME_BLOCKS_LIMIT = 100
TEXT_FALLBACK_LIMIT = 40_000
# Our own choices, well inside Slack's limits: a notification preview is short.
FALLBACK_CHARS = 300
SOURCE_LABEL_CHARS = 80
TITLE_CHARS = 300

ZWSP = "\u200b"
ELLIPSIS = "…"

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MARKUP = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
_URL_DELIMITERS = frozenset('|<>"`')


def _url_char(c: str) -> str:
    """Percent-encode the characters that could end a Slack link or hide in it."""
    if c in _URL_DELIMITERS or c.isspace() or not c.isprintable():
        return "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
    return c


# --------------------------------------------------------------------------- escaping


def esc(text: str) -> str:
    """Feed text → inert mrkdwn: invisible and bidi-control characters removed
    (``bot.core.text.strip_invisible``: a U+202E in a title would reverse the rest of
    the line), entities escaped, markup markers replaced."""
    return strip_invisible(text).translate(_ENTITIES).translate(_MARKUP)


def safe_url(url: str) -> str | None:
    """The URL made safe to put inside ``<…|…>``, or None unless it is http(s)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    url = without_userinfo(url)
    return "".join(_url_char(c) for c in url).replace("&", "&amp;")


def link(url: str, label: str) -> str:
    """A mrkdwn link with an escaped label; just the escaped label when the URL is unsafe."""
    target = safe_url(url)
    text = esc(label.strip()) or (esc(url) if target else "")
    if target is None:
        return text
    return f"<{target}|{text or target}>"


def bold(text: str) -> str:
    """Bold feed text safely: surrounding spaces stay outside the markers."""
    inner = text.strip()
    if not inner:
        return esc(text)
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{esc(lead)}{ZWSP}*{esc(inner)}*{ZWSP}{esc(trail)}"


def cut(text: str, limit: int) -> str:
    """Plain text (no markup) cut to ``limit`` characters with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def _cut_raw_to_fit(raw: str, budget: int, render: Callable[[str], str]) -> str:
    """The longest prefix of ``raw`` (plus an ellipsis) whose rendering fits ``budget``."""
    return longest_fit(raw, lambda p: render(p.rstrip() + ELLIPSIS) if p else "", budget)


def esc_fit(raw: str, limit: int) -> str:
    """Escaped feed text, cut (before escaping, never inside an entity) to ``limit`` chars."""
    out = esc(raw)
    return out if len(out) <= limit else _cut_raw_to_fit(raw, limit, esc)


def spans_mrkdwn(spans: Sequence[Span], limit: int = SECTION_TEXT_LIMIT) -> str:
    """Summary spans → mrkdwn with highlights bold, never longer than ``limit``."""
    out: list[str] = []
    used = 0
    for span in spans:
        render = bold if span.highlight else esc
        piece = render(span.text)
        if used + len(piece) <= limit:
            out.append(piece)
            used += len(piece)
            continue
        out.append(_cut_raw_to_fit(span.text, limit - used, render))
        break
    return "".join(out)


# --------------------------------------------------------------------------- blocks


def section(text: str) -> Block:
    if len(text) > SECTION_TEXT_LIMIT:  # a bug in a caller: fail loudly in tests
        raise ValueError(f"section text of {len(text)} chars exceeds {SECTION_TEXT_LIMIT}")
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def header(text: str) -> Block:
    """A header block; plain text, so no escaping is needed: invisible characters out,
    then the length cut."""
    text = cut(strip_invisible(text), HEADER_TEXT_LIMIT)
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": text, "emoji": False},
    }


def context(elements: Sequence[str]) -> Block:
    items = [e[:CONTEXT_TEXT_LIMIT] for e in elements if e][:CONTEXT_ELEMENTS_LIMIT]
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": e} for e in items]}


def divider() -> Block:
    return {"type": "divider"}


def _date(dt: datetime | None) -> str:
    """A Slack date token: shown in each reader's time zone, with a UTC fallback."""
    if dt is None:
        return ""
    ts = int(dt.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{dt:%Y-%m-%d %H:%M} UTC>"


def _source_elements(v: views.AlertView) -> list[str]:
    """Context elements for the outlets: the first one, then "Also reported by"."""
    if v.source is None:
        return []
    labels = [link(s.url, cut(s.label, SOURCE_LABEL_CHARS)) for s in (v.source, *v.also)]
    first = f"Source: {labels[0]}"
    if len(labels) == 1:
        return [first]
    rest = views.join_fitting(labels[1:], CONTEXT_TEXT_LIMIT - 20, " · ")
    return [first, f"Also reported by: {rest}"]


def _headline(title: str, url: str) -> str:
    """A linked, bold headline (bold text alone without a safe link)."""
    title = cut(title, TITLE_CHARS)
    return f"*{link(url, title)}*" if safe_url(url) else bold(title)


def mention_markup(mentions: Sequence[str]) -> str:
    """``<!subteam^ID>`` for each ``group:ID`` mention: the one ping an alert may
    carry (feed text is escaped, so it can never form one)."""
    ids = [mention_id(m) for m in mentions if m.startswith("group:")]
    return " ".join(f"<!subteam^{i}>" for i in dict.fromkeys(ids) if GROUP_ID.fullmatch(i))


def _pinged(ping: str, text: str) -> str:
    return f"{ping} {text}" if ping else text


def alert_blocks(alert: Alert) -> list[Block]:
    """One alert (:func:`bot.core.views.alert_view`): linked title, summary, sources,
    then watchlists, terms, time and the earlier post (≤ 4 blocks). A mention leads the
    title. A compact alert keeps to two blocks: its time and earlier link join the
    sources' context."""
    v = views.alert_view(alert)
    blocks: list[Block] = [section(_pinged(mention_markup(v.mentions), _headline(v.title, v.url)))]
    summary = spans_mrkdwn(v.summary.spans)
    if summary.strip():
        blocks.append(section(summary))
    sources = _source_elements(v)
    meta: list[str] = []
    if v.watchlists:
        meta.append("Watchlists: " + ", ".join(bold(w) for w in v.watchlists))
    if v.terms:
        meta.append("Terms: " + views.join_fitting([esc(t) for t in v.terms], 1000, ", "))
    if v.published is not None:
        meta.append(_date(v.published))
    if safe_url(v.earlier):
        meta.append(link(v.earlier, "earlier post"))
    for elements in [sources + meta] if v.compact else [sources, meta]:
        if elements:
            blocks.append(context(elements))
    return blocks


def alert_text(alert: Alert) -> str:
    """The plain ``text`` fallback (notifications, screen readers): short and escaped."""
    v = views.alert_view(alert)
    title = cut(v.title, FALLBACK_CHARS)
    names = ", ".join(v.watchlists)
    text = f"{title} [{names}]" if names else title
    return _pinged(mention_markup(v.mentions), esc_fit(text, FALLBACK_CHARS))


def alert_message(alert: Alert) -> tuple[str, list[Block]]:
    return alert_text(alert), alert_blocks(alert)


def _entry(e: views.Entry, prefix: str = "/alertbot") -> list[Block]:
    """A digest's or a lookup page's story: linked title (with the lede, if any) and
    one context line of details (2 blocks)."""
    head = _headline(e.title, e.url)
    snippet = esc(cut(e.snippet, views.SNIPPET_CHARS))
    blocks = [section(f"{head}\n{snippet}" if snippet else head)]
    if e.detail:
        blocks.append(context([mrkdwn(e.detail, prefix)[:CONTEXT_TEXT_LIMIT]]))
    return blocks


def digest_fit(alerts: Sequence[Alert]) -> int:
    """How many of ``alerts`` (from the first) one digest message shows; at least 1."""
    return max(1, len(_digest_entries(views.digest_view(alerts))))


def _digest_entries(v: views.DigestView) -> list[list[Block]]:
    """Each entry's blocks, as many as fit beside the header and the note."""
    entries = [_entry(e) for e in v.entries]
    used = 2 if mention_markup(v.mentions) else 1  # the header (and mention)
    # Keep one block free for the "and N more" note.
    return entries[: views.fit_count([len(e) for e in entries], MESSAGE_BLOCKS_LIMIT - 1 - used)]


def digest_message(alerts: Sequence[Alert]) -> tuple[str, list[Block]]:
    """A digest (:func:`bot.core.views.digest_view`) as one message, within 50 blocks;
    the rest counted at the end (the deliverer sends at most ``digest_fit`` alerts per
    message, so none are lost)."""
    v = views.digest_view(alerts)
    blocks: list[Block] = [header(v.title)]
    ping = mention_markup(v.mentions)
    if ping:
        blocks.append(section(ping))
    entries = _digest_entries(v)
    for entry in entries:
        blocks.extend(entry)
    n, shown = len(v.entries), len(entries)
    if shown < n:
        blocks.append(context([f"{ELLIPSIS} and {n - shown} more not shown here"]))
    titles = "; ".join(cut(e.title, 80) for e in v.entries[:3])
    return _pinged(ping, esc_fit(f"{v.title}: {titles}", FALLBACK_CHARS)), blocks


def metadata(cluster_id: int, key: str, event_type: str = "alertbot_alert") -> dict[str, Any]:
    return {"event_type": event_type, "event_payload": {"cluster_id": cluster_id, "key": key}}


# --------------------------------------------------------------------------- replies


def lines_blocks(
    lines: Sequence[str], *, title: str = "", limit: int = MESSAGE_BLOCKS_LIMIT
) -> list[Block]:
    """Rendered mrkdwn lines packed into sections of ≤ 3000 chars and ≤ ``limit`` blocks."""
    blocks: list[Block] = [header(title)] if title else []
    chunk: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        line = line[:SECTION_TEXT_LIMIT]
        if chunk and size + len(line) + 1 > SECTION_TEXT_LIMIT:
            if len(blocks) >= limit - 2:
                blocks.append(context([f"{ELLIPSIS} and {len(lines) - i} more"]))
                return blocks
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


NOTICE_CHARS = 1500


def notice_message(text: str) -> tuple[str, list[Block]]:
    """A bot notice (a feed broke or came back): the whole text is feed-controlled
    in part (titles, URLs), so all of it is escaped; cut to fit."""
    body = esc(cut(text, NOTICE_CHARS))
    return body, [section(":warning: " + body)]


def message_reply(text: str) -> tuple[str, list[Block]]:
    """A one-line reply; ``text`` is our own mrkdwn (callers escape what they insert)."""
    return text, [section(text[:SECTION_TEXT_LIMIT])]


def esc_entities(text: str) -> str:
    """Only ``&``, ``<``, ``>`` escaped: for our own messages that quote what a user typed.

    Mentions and links are impossible after this; the user's own ``*`` or
    backticks may style their own ephemeral reply, which is harmless.
    """
    return text.translate(_ENTITIES)


def error_reply(message: str) -> tuple[str, list[Block]]:
    """A refusal or usage error; it may quote user input, so entities are escaped."""
    text = f":warning: {esc_entities(message)}"
    return text, [section(text[:SECTION_TEXT_LIMIT])]


ICONS: dict[str, str] = {
    "ok": ":large_green_circle:",
    "warning": ":large_yellow_circle:",
    "error": ":red_circle:",
    "new": ":white_circle:",
    "paused": ":double_vertical_bar:",
}


def _piece(p: views.Piece, prefix: str) -> str:
    raw = cut(p.text, p.limit) if p.limit else p.text
    if p.kind == "name":
        return bold(raw)
    if p.kind == "literal":
        return f"`{esc(raw)}`" if raw.strip() else ""
    if p.kind == "link":
        return link(p.url, raw)
    if p.kind == "time":
        return _date(p.when)
    if p.kind == "channel":
        return f"<#{esc(raw)}>" if raw else "this channel"
    if p.kind == "command":
        return f"`{esc(prefix)} {esc(raw)}`"
    if p.kind == "icon":
        return ICONS.get(raw, "")
    return esc(raw)


def mrkdwn(line: views.Line, prefix: str = "/alertbot") -> str:
    """A neutral line as mrkdwn: every piece escaped, names bold, literals as code."""
    return "".join(_piece(p, prefix) for p in line)


def _item(item: views.Item, prefix: str = "/alertbot") -> str:
    text = "• " + mrkdwn(item.head, prefix)
    return text + ("\n    " + mrkdwn(item.detail, prefix) if item.detail else "")


def confirm_reply(c: views.Confirmation, prefix: str = "/alertbot") -> tuple[str, list[Block]]:
    return message_reply(_confirmation(c, prefix))


def _confirmation(c: views.Confirmation, prefix: str = "/alertbot") -> str:
    return (":white_check_mark: " if c.done else "") + mrkdwn(c.line, prefix)


def list_reply(
    view: views.ListView, prefix: str = "/alertbot", note: str = ""
) -> tuple[str, list[Block]]:
    """A neutral list: a header, the intro, one bullet per item (sections of ≤ 3000)."""
    if not view.items:
        text = mrkdwn(view.empty, prefix)
        return message_reply(f"{note}\n{text}" if note else text)
    lines = [note] if note else []
    if view.intro:
        lines.append(mrkdwn(view.intro, prefix))
    lines += [_item(i, prefix) for i in view.items]
    return view.title, lines_blocks(lines, title=view.title)


def file_reply(
    c: views.Confirmation, body: str, prefix: str = "/alertbot"
) -> tuple[str, list[Block]] | None:
    """A text file shown inline as a code block under ``c``; None when it does not fit."""
    block = f"```{esc_entities(body)}```"
    if len(block) > SECTION_TEXT_LIMIT:
        return None
    head = _confirmation(c, prefix)
    return head, [section(head), section(block)]


def subscriptions_reply(subs: Sequence[Subscription], channel: str = "") -> tuple[str, list[Block]]:
    return list_reply(views.subscriptions_view(subs, channel))


LOOKUP_ACTIONS = ("lookup_previous", "lookup_next")
"""``action_id``s of a lookup answer's buttons; their ``value`` is the lookup state."""


def hits_reply(query: str, found: LookupPage, state: dict[str, Any]) -> tuple[str, list[Block]]:
    """One page of lookup results (:func:`bot.core.views.lookup_page_view`) with the
    true total ("11–20 of 32") and previous/next buttons whose values carry ``state``
    (the lookup's words and options) and the page."""
    v = views.lookup_page_view(query, found)
    if not v.entries:
        return message_reply(mrkdwn(v.empty))
    title = f"{v.span} for {v.query}" if v.query else f"{v.span} {v.title.lower()}"
    blocks: list[Block] = [header(title)]
    room = MESSAGE_BLOCKS_LIMIT - (1 if found.pages > 1 else 0)
    for e in v.entries:
        entry = _entry(e)
        if len(blocks) + len(entry) > room:
            break
        blocks.extend(entry)
    if found.pages > 1:
        buttons = []
        for action, label, page, shown in (
            (LOOKUP_ACTIONS[0], "◀ Previous", found.page - 1, found.has_previous),
            (LOOKUP_ACTIONS[1], "Next ▶", found.page + 1, found.has_next),
        ):
            if shown:
                value = json.dumps({**state, "page": page}, ensure_ascii=False)
                buttons.append(
                    {
                        "type": "button",
                        "action_id": action,
                        "text": {"type": "plain_text", "text": label},
                        "value": value[:BUTTON_VALUE_CHARS],
                    }
                )
        blocks.append({"type": "actions", "block_id": "lookup_pages", "elements": buttons})
    return esc(cut(title, FALLBACK_CHARS)), blocks


def watchlists_reply(lists: Sequence[Watchlist]) -> tuple[str, list[Block]]:
    return list_reply(views.watchlists_view(lists))


def watchlist_reply(
    w: Watchlist, note: views.Confirmation | None = None
) -> tuple[str, list[Block]]:
    """One watchlist, under the confirmation of the edit that changed it."""
    return list_reply(views.watchlist_view(w), note=_confirmation(note) if note else "")


def feeds_reply(feeds: Sequence[FeedStatus], *, status: bool = False) -> tuple[str, list[Block]]:
    return list_reply(views.feeds_view(feeds, status=status))


def help_reply(view: views.HelpView, command: str = "/alertbot") -> tuple[str, list[Block]]:
    """Usage with examples, then the tips for typing commands."""
    lines = []
    for e in view.entries:
        lines.append(
            f"*`{command} {esc_entities(e.usage)}`* — {esc_entities(e.does)}\n"
            f"    Example: `{command} {esc_entities(e.example)}` · {e.who}"
        )
    lines += [mrkdwn(t, command) for t in view.typing_tips]
    return f"{command} help", lines_blocks(lines, title=f"{command} help")


def home_view(
    subs: Sequence[Subscription],
    lists: Sequence[Watchlist],
    feeds: Sequence[FeedStatus],
) -> dict[str, Any]:
    """The App Home tab: subscriptions, watchlists, feed health (≤ 100 blocks)."""
    blocks: list[Block] = [header("alertbot")]
    budget = (HOME_BLOCKS_LIMIT - 8) // 3  # three lists share what the headers leave

    def part(title: str, lines: list[str], empty: str) -> None:
        blocks.append(header(title))
        blocks.extend(lines_blocks(lines or [empty], limit=budget))

    part(
        "Subscriptions",
        [_item(views.workspace_subscription(s)) for s in subs],
        "No channel subscribes yet: run `/alertbot subscribe WATCHLIST` in a channel.",
    )
    part(
        "Watchlists",
        [_item(i) for i in views.watchlists_view(lists).items],
        "No watchlists yet.",
    )
    failing = sum(1 for f in feeds if f.error)
    part(
        f"Feeds ({len(feeds)}, {failing} failing)",
        [_item(i) for i in views.feeds_view(feeds, status=True).items],
        "No feeds yet.",
    )
    blocks.append(context(["Type `/alertbot help` in any channel for commands."]))
    return {"type": "home", "blocks": blocks[:HOME_BLOCKS_LIMIT]}
