"""Neutral views of alerts and command results: what a message says, not how it looks.

Each result a platform shows (an alert, a digest, a page of lookup results,
help, a confirmation, subscriptions, the feeds and their status, the
watchlists, one watchlist) is built here once, as plain
values: lines of :class:`Piece` s that say what each bit of text is (our own
words, a name from a user or a feed, a literal, a link, a time, a channel, a
command to type, a status icon). A platform renderer
(``bot.chat.discord.render``, ``bot.chat.slack.render``, :func:`plain_text`
for the console and the CLI) turns pieces into its markup, escapes what came
from users and feeds, and cuts to its size limits; it decides nothing about
wording, order or what is shown.

Pure: no I/O, no clock (times come in with the values), no platform imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.core.lookup import LookupPage
from bot.core.models import Alert, FeedStatus, Subscription, Summary, Watchlist
from bot.core.summarize import summarize
from bot.core.text import redact_url

PieceKind = Literal["plain", "name", "literal", "link", "time", "channel", "command", "icon"]
"""``plain``: our own words. ``name``: a watchlist, term or other name (shown
strong; from users, so escaped). ``literal``: text shown as typed (forms, URLs;
code style). ``link``: ``text`` linking ``url``. ``time``: ``when``, relative
where the platform can. ``channel``: a channel id, shown as the platform's
reference. ``command``: a command to type, without the platform's prefix.
``icon``: one of :data:`ICONS`."""

Icon = Literal["ok", "warning", "error", "new", "paused"]
ICONS: tuple[Icon, ...] = ("ok", "warning", "error", "new", "paused")


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    kind: PieceKind = "plain"
    url: str = ""
    when: datetime | None = None
    limit: int = 0
    """Cut the raw text to this many characters (0: the platform's limits only)."""


Line = tuple[Piece, ...]


def plain(text: str) -> Piece:
    return Piece(text)


def name(text: str, limit: int = 0) -> Piece:
    return Piece(text, "name", limit=limit)


def literal(text: str, limit: int = 0) -> Piece:
    return Piece(text, "literal", limit=limit)


def link(text: str, url: str, limit: int = 0) -> Piece:
    return Piece(text, "link", url=url, limit=limit)


def time(when: datetime) -> Piece:
    return Piece("", "time", when=when)


def channel(channel_id: str) -> Piece:
    return Piece(channel_id, "channel")


def command(text: str) -> Piece:
    return Piece(text, "command")


def icon(which: Icon) -> Piece:
    return Piece(which, "icon")


def format_time(when: datetime | None) -> str:
    """``2026-02-17 09:30 UTC``; empty for None."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def plain_text(line: Line, command: Callable[[str], str] = lambda c: c) -> str:
    """A line as plain text (the console and the CLI): no markup at all; ``command``
    spells a chat command the way this place runs it."""
    out: list[str] = []
    for p in line:
        text = p.text[: p.limit] if p.limit and len(p.text) > p.limit else p.text
        if p.kind == "link":
            out.append(f"{text} <{p.url}>" if text and text != p.url else p.url)
        elif p.kind == "time":
            out.append(format_time(p.when))
        elif p.kind == "command":
            out.append(command(text))
        elif p.kind == "icon":
            out.append(
                {"ok": "OK", "warning": "WARN", "error": "ERR", "new": "NEW"}.get(text, text)
            )
        else:
            out.append(text)
    return "".join(out)


# --------------------------------------------------------------------------- fitting


def more_note(n: int) -> str:
    """What stands for ``n`` items left out of a line: ``…and 3 more``."""
    return f"…and {n} more"


def fit_count(
    sizes: Sequence[int], limit: int, sep: int = 0, more: Callable[[int], int] | None = None
) -> int:
    """How many items (from the first), of these rendered ``sizes`` joined by a
    separator of ``sep``, fit in ``limit``, leaving room for a separator and
    ``more(rest)`` whenever ``rest`` items are left out. Platforms measure in their
    own units; whole items only, never a cut one."""
    if sum(sizes) + sep * max(0, len(sizes) - 1) <= limit:
        return len(sizes)
    used = 0
    for i, size in enumerate(sizes):
        used += size + (sep if i else 0)
        rest = len(sizes) - i - 1
        if used + (sep + more(rest) if rest and more else 0) > limit:
            return i
    return len(sizes)


def join_fitting(
    items: Sequence[str], limit: int, sep: str, size: Callable[[str], int] = len
) -> str:
    """Rendered ``items`` joined by ``sep`` within ``limit``, the rest counted by
    :func:`more_note` (``a · b · …and 3 more``); empty when not even that fits."""
    n = fit_count([size(i) for i in items], limit, size(sep), lambda r: size(more_note(r)))
    text = sep.join([*items[:n], *([more_note(len(items) - n)] if n < len(items) else [])])
    return text if size(text) <= limit else ""


# --------------------------------------------------------------------------- confirmations


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A command did what was asked: one line; ``done`` marks a new thing added."""

    line: Line
    done: bool = True


def _feeds(urls: Sequence[str]) -> Line:
    out: Line = ()
    for i, url in enumerate(urls):
        out += ((plain(", ") if i else plain("")), literal(url, 300))
    return out


def _gets(s: Subscription, noun: str = " alerts") -> Line:
    """What a subscription gets: ``KFOR alerts``, ``KFOR alerts from URL``, ``every item
    of URL`` (lists leave out the ``noun``)."""
    if not s.watchlist:
        return (plain("every item of "), *_feeds(s.feeds))
    line: Line = (name(s.watchlist), plain(noun))
    return line + ((plain(" from "), *_feeds(s.feeds)) if s.feeds else ())


def _how(s: Subscription) -> Piece:
    """`` (realtime)``, `` (digest, compact, mention role:1, quiet 22:00-07:00 UTC)``."""
    return plain(f" ({', '.join(o for o in (s.mode, s.options) if o)})")


def subscribed(s: Subscription, where: str = "This channel") -> Confirmation:
    """``where``: the channel, as the asker sees it (the CLI names platform and id)."""
    return Confirmation((plain(f"{where} now gets "), *_gets(s), _how(s), plain(".")))


def unsubscribed(
    s: Subscription, where: str = "This channel", feeds: Sequence[str] = ()
) -> Confirmation:
    """``feeds``: the feeds a feed subscription stopped following (it may follow others)."""
    if s.watchlist:
        what: Line = (name(s.watchlist), plain(" alerts"))
    else:
        what = (plain("every item of "), *_feeds(feeds or s.feeds))
    return Confirmation((plain(f"{where} no longer gets "), *what, plain(".")), False)


def watchlist_created(watchlist: str) -> Confirmation:
    return Confirmation(
        (
            plain("Created watchlist "),
            name(watchlist),
            plain(". Add terms with "),
            command("watchlist add-term"),
            plain(", then "),
            command("subscribe"),
            plain(" a channel."),
        )
    )


def watchlist_deleted(watchlist: str) -> Confirmation:
    return Confirmation(
        (plain("Deleted watchlist "), name(watchlist), plain(" and its subscriptions.")), False
    )


def term_added(watchlist: str, term: str) -> Confirmation:
    return Confirmation((name(watchlist), plain(" now watches "), name(term), plain(".")))


def term_removed(watchlist: str, term: str) -> Confirmation:
    return Confirmation(
        (name(watchlist), plain(" no longer watches "), name(term), plain(".")), False
    )


def _form(watchlist: str, term: str, matches: str, form: str, done: bool) -> Confirmation:
    line = (name(term), plain(" in "), name(watchlist), plain(matches), literal(form), plain("."))
    return Confirmation(line, done)


def form_added(watchlist: str, term: str, form: str) -> Confirmation:
    return _form(watchlist, term, " now also matches ", form, True)


def form_removed(watchlist: str, term: str, form: str) -> Confirmation:
    return _form(watchlist, term, " no longer matches ", form, False)


def feed_added(url: str, title: str = "") -> Confirmation:
    line: Line = (plain("Added feed "), literal(redact_url(url)))
    if title.strip():
        line += (plain(" ("), name(title, 120), plain(")"))
    return Confirmation((*line, plain("; it is polled from the next cycle.")))


def feed_removed(url: str) -> Confirmation:
    return Confirmation((plain("Removed feed "), literal(redact_url(url)), plain(".")), False)


OPML_FILENAME = "alertbot-feeds.opml"


def feeds_exported(count: int, where: str = "") -> Confirmation:
    """The OPML file is attached (or was uploaded ``where``)."""
    line: Line = (plain(f"{_plural(count, 'feed')} as OPML: "), literal(OPML_FILENAME))
    if where:
        line += (plain(f", uploaded to {where}"),)
    return Confirmation((*line, plain(". Import it into any feed reader.")))


# --------------------------------------------------------------------------- lists


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a list: its head line and, optionally, a line of details."""

    head: Line
    detail: Line = ()


@dataclass(frozen=True, slots=True)
class ListView:
    """A titled list; ``empty`` is shown instead when there are no items.

    Renderers show as many whole items as fit and count the rest (``noun``).
    """

    title: str
    items: tuple[Item, ...]
    empty: Line
    noun: str
    intro: Line = ()


def _subscription(s: Subscription, *, where: bool) -> Item:
    head: Line = _gets(s, noun="")
    if where:
        head += (plain(" in "), channel(s.channel))
    head += (_how(s),)
    if s.paused_reason:
        head += (plain(" — "), icon("paused"), plain(" paused: "), literal(s.paused_reason, 300))
    return Item(head)


def subscriptions_view(subs: Sequence[Subscription], channel_id: str) -> ListView:
    """What one channel gets."""
    return ListView(
        "Subscriptions",
        tuple(_subscription(s, where=False) for s in subs),
        empty=(
            plain("This channel has no subscriptions. A channel manager can add one with "),
            command("subscribe WATCHLIST"),
            plain(" or "),
            command("subscribe feed:URL"),
            plain("."),
        ),
        noun="subscriptions",
        intro=(channel(channel_id), plain(" gets:")) if subs else (),
    )


def workspace_subscription(s: Subscription) -> Item:
    """A subscription in a list of many channels (Slack's App Home)."""
    return _subscription(s, where=True)


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def watchlists_view(watchlists: Sequence[Watchlist]) -> ListView:
    items = []
    for w in watchlists:
        head: Line = (name(w.name), plain(" · " + _plural(len(w.terms), "term")))
        if w.description.strip():
            head += (plain(" — "), plain_from_user(w.description, 200))
        items.append(Item(head))
    return ListView(
        "Watchlists",
        tuple(items),
        empty=(
            plain("No watchlists yet. An admin can add one with "),
            command("watchlist create NAME"),
            plain("."),
        ),
        noun="watchlists",
    )


def plain_from_user(text: str, limit: int = 0) -> Piece:
    """Text from a user or a feed shown as ordinary text (escaped, not strong)."""
    return Piece(text, "plain", limit=limit)


def watchlist_view(w: Watchlist) -> ListView:
    """One watchlist: its description, rules, and each term with its forms."""
    intro: list[Line] = []
    if w.description.strip():
        intro.append((plain_from_user(w.description, 500),))
    if w.require:
        intro.append(_joined("Requires all of: ", [name(r) for r in w.require]))
    if w.exclude:
        intro.append(_joined("Skips stories containing: ", [literal(x) for x in w.exclude[:20]]))
    items = [Item(line) for line in intro]
    for t in w.terms:
        head: Line = (name(t.name), plain(": "), *_list([literal(f) for f in t.forms]))
        if t.case != "auto":
            head += (plain(f" (case: {t.case})"),)
        if t.exclude:
            head += _joined(" — except in: ", [literal(x) for x in t.exclude])
        items.append(Item(head))
    if not w.terms:
        items.append(
            Item(
                (
                    plain("No terms yet: an admin can add one with "),
                    command("watchlist add-term"),
                    plain("."),
                )
            )
        )
    return ListView(f"Watchlist {w.name}", tuple(items), empty=(), noun="terms")


def _list(pieces: Sequence[Piece]) -> Line:
    out: list[Piece] = []
    for i, p in enumerate(pieces):
        if i:
            out.append(plain(", "))
        out.append(p)
    return tuple(out) or (plain("—"),)


def _joined(label: str, pieces: Sequence[Piece]) -> Line:
    return (plain(label), *_list(pieces))


def feeds_view(feeds: Sequence[FeedStatus], *, status: bool = False) -> ListView:
    """The feeds; with ``status`` their health too (last success, errors, next poll)."""
    items = []
    for f in feeds:
        mark: Icon = (
            "error" if f.error else "warning" if f.warning else "ok" if f.last_ok else "new"
        )
        head: Line = (icon(mark), plain(" "), literal(redact_url(f.url)))
        if f.title.strip():
            head += (plain(" — "), plain_from_user(f.title, 120))
        detail: list[Piece] = []
        if status:
            detail.append(plain(_plural(f.stories, "story", "stories")))
            if f.last_ok:
                detail += [plain(" · ok "), time(f.last_ok)]
            elif f.last_fetched:
                detail.append(plain(" · never succeeded"))
            else:
                detail.append(plain(" · not fetched yet"))
            if f.error:
                detail += [plain(f" · {f.error_count}× "), plain_from_user(f.error, 200)]
            elif f.warning:
                detail += [plain(" · broken but readable: "), plain_from_user(f.warning, 200)]
            if f.next_due:
                detail += [plain(" · next "), time(f.next_due)]
            if f.origin == "user":
                detail.append(plain(" · added in chat"))
        items.append(Item(head, tuple(detail)))
    failing = sum(1 for f in feeds if f.error)
    title = f"Feed status: {failing} of {len(feeds)} failing" if status else f"Feeds ({len(feeds)})"
    return ListView(
        title,
        tuple(items),
        empty=(
            plain("No feeds yet. An admin can add one with "),
            command("feeds add URL"),
            plain("."),
        ),
        noun="feeds",
    )


# --------------------------------------------------------------------------- help


@dataclass(frozen=True, slots=True)
class HelpEntry:
    """One command in help: ``usage`` and ``example`` without the platform's prefix."""

    usage: str
    does: str
    example: str
    who: str  # "anyone" | "channel managers" | "admins"


@dataclass(frozen=True, slots=True)
class HelpView:
    title: str
    intro: str
    entries: tuple[HelpEntry, ...]
    typing_tips: tuple[Line, ...]
    """Hints for platforms where commands are typed as text (quoting, keys)."""


def help_view(entries: Sequence[HelpEntry]) -> HelpView:
    return HelpView(
        "alertbot commands",
        "Alerts about the names on watchlists, from news feeds. "
        "Channel managers subscribe channels; admins edit watchlists and feeds.",
        tuple(entries),
        typing_tips=(
            (
                plain("Quote names with spaces: "),
                command('watchlist add-form KFOR "Kosovo Force"'),
                plain(". Lookup takes "),
                literal("since:7d"),
                plain(" and "),
                literal("watchlist:NAME"),
                plain("."),
            ),
        ),
    )


# --------------------------------------------------------------------------- alerts

UNTITLED = "(untitled)"


@dataclass(frozen=True, slots=True)
class SourceLink:
    """An outlet that carried the story: its name (else the story's title, else its
    link) and the link."""

    label: str
    url: str


def _source(outlet: str, title: str, url: str) -> SourceLink:
    return SourceLink(outlet.strip() or title.strip() or url.strip(), url)


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert, as every platform shows it.

    ``source`` is the outlet of the story the alert was made from, ``also`` the
    other outlets of the event ("Also reported by"). ``earlier`` links the earlier
    message about the same event when the edit window had passed (else empty).
    ``mentions`` (``role:ID`` / ``group:ID``) are pinged, by the platform's own
    markup only. A ``compact`` alert is the headline, its link, outlets, time and
    the earlier link: its ``summary``, ``watchlists`` and ``terms`` are empty.
    """

    title: str
    url: str
    summary: Summary
    source: SourceLink | None
    also: tuple[SourceLink, ...]
    watchlists: tuple[str, ...]
    terms: tuple[str, ...]
    published: datetime | None
    earlier: str
    mentions: tuple[str, ...]
    compact: bool


def alert_view(alert: Alert) -> AlertView:
    compact = alert.format == "compact"
    links = tuple(_source(s.outlet, s.title, s.url) for s in alert.sources)
    return AlertView(
        title=alert.title.strip() or UNTITLED,
        url=alert.url,
        summary=Summary(()) if compact else alert.summary,
        source=links[0] if links else None,
        also=links[1:],
        watchlists=() if compact else alert.watchlists,
        terms=() if compact else alert.terms,
        published=alert.published,
        earlier=alert.previous_url or "",
        mentions=alert.mentions,
        compact=compact,
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One story in a digest or a page of lookup results: its linked headline, a line
    of details, and (lookup) its place across pages and the lede of its text."""

    title: str
    url: str
    detail: Line
    number: int = 0
    snippet: str = ""


NAMES_SHOWN = 10
"""Watchlists or terms named in one entry's details; the rest are counted."""


def _names_line(names: Sequence[str], strong: bool) -> Line:
    """Up to :data:`NAMES_SHOWN` names of at most 60 characters, then ``…and N more``:
    an entry's details stay a few hundred characters on every platform."""
    shown = [name(n, 60) if strong else plain_from_user(n, 60) for n in names[:NAMES_SHOWN]]
    rest = len(names) - NAMES_SHOWN
    return _list(shown) + ((plain(", " + more_note(rest)),) if rest > 0 else ())


def _details(parts: Sequence[Line]) -> Line:
    out: Line = ()
    for part in parts:
        if part:
            out += ((plain(" · "),) if out else ()) + part
    return out


def mentions_of(alerts: Sequence[Alert]) -> tuple[str, ...]:
    """Every mention the alerts of one digest carry, once each, in order."""
    return tuple(dict.fromkeys(m for a in alerts for m in a.mentions))


@dataclass(frozen=True, slots=True)
class DigestView:
    """Several alerts in one message: one entry each, the mentions of them all once."""

    title: str
    entries: tuple[Entry, ...]
    mentions: tuple[str, ...]


def digest_entry(alert: Alert) -> Entry:
    """``Outlet (+2 more) · KFOR, MKE · terms: KFOR · time`` under the linked headline."""
    outlet: Line = ()
    if alert.sources:
        first = alert.sources[0]
        outlet = (plain_from_user(first.outlet.strip() or first.title.strip(), 80),)
        if len(alert.sources) > 1:
            outlet += (plain(f" (+{len(alert.sources) - 1} more)"),)
    detail = _details(
        (
            outlet,
            _names_line(alert.watchlists, strong=True) if alert.watchlists else (),
            (plain("terms: "), *_names_line(alert.terms, strong=False)) if alert.terms else (),
            (time(alert.published),) if alert.published else (),
        )
    )
    return Entry(alert.title.strip() or alert.url.strip() or UNTITLED, alert.url, detail)


def digest_view(alerts: Sequence[Alert]) -> DigestView:
    return DigestView(
        f"{_plural(len(alerts), 'new alert')}",
        tuple(digest_entry(a) for a in alerts),
        mentions_of(alerts),
    )


# --------------------------------------------------------------------------- lookup

SNIPPET_CHARS = 280


@dataclass(frozen=True, slots=True)
class LookupView:
    """One page of lookup results: ``span`` is "11–20 of 32"; ``empty`` is shown when
    the page has no stories; ``page`` gives the paging (previous, next)."""

    title: str
    query: str
    span: str
    entries: tuple[Entry, ...]
    empty: Line
    page: LookupPage


def lookup_page_view(query: str, found: LookupPage, since: str | None = None) -> LookupView:
    """Each story numbered across pages, with outlet, time and the matched terms (else
    its watchlists), and the lede of its text (photo credits and page chrome left out)."""
    q = " ".join(query.split())[:100]
    entries = []
    for number, hit in enumerate(found.hits, found.first):
        s = hit.story
        matched: Line = ()
        if hit.terms:
            matched = (plain("matched "), *_names_line(hit.terms, strong=False))
        elif hit.watchlists:
            matched = _names_line(hit.watchlists, strong=True)
        detail = _details(
            (
                (plain_from_user(s.outlet, 80),) if s.outlet.strip() else (),
                (time(s.published),) if s.published else (),
                matched,
            )
        )
        lede = summarize(s.title, s.text, (), budget=SNIPPET_CHARS).text
        entries.append(
            Entry(s.title.strip() or s.url.strip() or UNTITLED, s.url, detail, number, lede)
        )
    title = f"Stories matching {q}" if q else "Stories"
    if since:
        title += f" (last {' '.join(since.split())})"
    if found.total == 0:
        empty: Line = (
            plain("No stored story matches"),
            *((plain(" "), name(q)) if q else ()),
            plain(". Try fewer words, another spelling or a longer "),
            literal("since"),
            plain("."),
        )
    else:
        empty = (plain(f"Nothing on page {found.page}: there are {found.total} stories."),)
    return LookupView(title, q, found.span(), tuple(entries), empty, found)
