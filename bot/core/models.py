"""Plain values that flow through the pipeline.

feeds ─fetch→ bytes ─parse→ Story ─dedup/cluster→ Story+cluster ─match→ Match[]
      ─summarize→ Alert ─route→ Delivery ─send→ chat

Everything here is immutable and free of I/O. Times are timezone-aware UTC
``datetime`` values; the clock is read at the edges and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Field = Literal["title", "text"]
"""Which part of a story a match was found in."""

CaseRule = Literal["auto", "exact", "fold"]
"""How a watchlist form is compared: see ``bot.core.matching``."""

Mode = Literal["realtime", "digest"]
"""How a subscription wants its alerts."""

Format = Literal["full", "compact"]
"""How an alert looks: ``full`` (title, summary, outlets, watchlists) or ``compact``
(headline, outlets, link; no summary)."""

Platform = str
"""A platform's name as stored with subscriptions: ``console`` or a chat platform of
the registry (``bot.platforms``), which the config loader and the commands
check names against; the core does not enumerate them."""


@dataclass(frozen=True, slots=True)
class Story:
    """One feed entry, normalised.

    ``id`` is stable within its feed: the entry's guid, else its canonical link,
    else a hash of title and date. ``url`` is canonical (fragment and tracking
    parameters removed) and may be empty when the entry has no link.
    ``text`` is plain text with HTML removed and entities decoded.
    """

    feed_url: str
    id: str
    url: str
    title: str
    text: str
    published: datetime | None
    outlet: str
    teaser: bool = False
    """True when ``text`` looks like a teaser (short or truncated), so the
    article page may be worth fetching for the summary."""


@dataclass(frozen=True, slots=True)
class Term:
    """A watched name and its surface forms (aliases, translations, acronyms)."""

    name: str
    forms: tuple[str, ...]
    case: CaseRule = "auto"
    exclude: tuple[str, ...] = ()
    """Phrases that neutralise a hit when the hit lies inside one of them."""


@dataclass(frozen=True, slots=True)
class Watchlist:
    name: str
    terms: tuple[Term, ...]
    description: str = ""
    exclude: tuple[str, ...] = ()
    """A story containing any of these phrases is skipped for this watchlist."""
    require: tuple[str, ...] = ()
    """Term names that must all hit for the watchlist to fire."""


@dataclass(frozen=True, slots=True)
class Match:
    """Why a story fired: which form of which term, where in which field.

    ``start``/``end`` are character offsets into the original (unfolded)
    ``Story.title`` or ``Story.text``.
    """

    watchlist: str
    term: str
    form: str
    field: Field
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Span:
    """A run of summary text; ``highlight`` marks a watched name."""

    text: str
    highlight: bool = False


@dataclass(frozen=True, slots=True)
class Summary:
    spans: tuple[Span, ...]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans)


@dataclass(frozen=True, slots=True)
class Source:
    """One outlet that carried a story of a cluster."""

    outlet: str
    url: str
    title: str
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """What a channel is told about one cluster (one news event).

    ``sources[0]`` is the story the alert was first made from; later sources
    are the outlets that reported the same event afterwards.
    """

    cluster_id: int
    title: str
    url: str
    summary: Summary
    watchlists: tuple[str, ...]
    terms: tuple[str, ...]
    sources: tuple[Source, ...]
    published: datetime | None
    previous_url: str | None = None
    """Link to an earlier message about the same cluster, when the edit window
    had passed and this alert is posted anew."""
    format: Format = "full"
    mentions: tuple[str, ...] = ()
    """``role:ID`` / ``group:ID`` to ping with this message (set on a first post
    only: an edit or a later post about the same event pings nobody)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    platform: Platform
    channel: str
    watchlist: str
    mode: Mode = "realtime"
    guild: str = ""
    """Discord guild id or Slack team id; empty for the console."""
    paused_reason: str = ""
    """Non-empty when delivery failed permanently (channel gone, no permission)."""
    origin: Literal["config", "chat", "cli"] = "chat"
    """Where it was made; config-made ones are changed in the config file only."""
    feeds: tuple[str, ...] = ()
    """Only items of these feeds; with ``watchlist == ""``, every item of them."""
    format: Format = "full"
    mention: str = ""
    """``role:ID`` (Discord) or ``group:ID`` (Slack) to ping; empty: nobody."""
    quiet: str = ""
    """Quiet hours, ``"22:00-07:00"``; empty: none."""
    timezone: str = ""
    """The IANA zone ``quiet`` is read in (empty: UTC)."""

    @property
    def options(self) -> str:
        """Its options beyond the mode, for people: ``compact, mention role:1, quiet
        22:00-07:00 Europe/Belgrade`` (empty for the defaults)."""
        parts: list[str] = [] if self.format == "full" else [self.format]
        if self.mention:
            parts.append(f"mention {self.mention}")
        if self.quiet:
            parts.append(f"quiet {self.quiet} {self.timezone or 'UTC'}")
        return ", ".join(parts)

    @property
    def label(self) -> str:
        """What the subscription gets, for people: the watchlist, "every item", and feeds."""
        what = self.watchlist or "every item"
        if self.feeds:
            what += " of " + ", ".join(self.feeds)
        return what


@dataclass(frozen=True, slots=True)
class FeedStatus:
    url: str
    title: str
    last_fetched: datetime | None
    last_ok: datetime | None
    next_due: datetime | None
    error: str
    error_count: int
    stories: int
    origin: Literal["config", "user"] = "config"
    warning: str = ""
    """The feed parsed, but is broken (truncated, wrong encoding): shown, not fatal."""


@dataclass(frozen=True, slots=True)
class StoryHit:
    """A stored story found by ``lookup``."""

    story: Story
    watchlists: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
