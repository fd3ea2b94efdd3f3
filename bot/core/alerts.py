"""From a cluster's stored stories to the Alert one channel sees.

The lead story is the first story of the cluster that fired one of the
channel's watchlists (else the first story): its title, link and summary make
the alert. Every other story of the cluster is a source ("Also reported by").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.core.models import Alert, Match, Source, Story
from bot.core.summarize import summarize


def build_alert(
    cluster_id: int,
    stories: Sequence[Story],
    matches: Mapping[int, Sequence[Match]],
    watchlists: Sequence[str],
    *,
    summary_chars: int = 600,
    previous_url: str | None = None,
) -> Alert:
    """``matches`` maps an index into ``stories`` to that story's matches."""
    if not stories:
        raise ValueError(f"cluster {cluster_id} has no stories")
    wanted = {w.casefold() for w in watchlists}

    def relevant(i: int) -> list[Match]:
        return [m for m in matches.get(i, ()) if m.watchlist.casefold() in wanted]

    lead_index = next((i for i in range(len(stories)) if relevant(i)), 0)
    lead = stories[lead_index]
    lead_matches = relevant(lead_index)

    terms: dict[str, None] = {}
    for i in [lead_index, *range(len(stories))]:
        for m in relevant(i):
            terms.setdefault(m.term, None)

    order = [lead_index, *(i for i in range(len(stories)) if i != lead_index)]
    sources: list[Source] = []
    seen: set[tuple[str, str]] = set()  # (feed, outlet)
    for i in order:
        s = stories[i]
        # One entry per outlet: its first story of the event links it.
        key = (s.feed_url, s.outlet.casefold())
        if key in seen:
            continue
        seen.add(key)
        sources.append(Source(outlet=s.outlet, url=s.url, title=s.title, published=s.published))

    return Alert(
        cluster_id=cluster_id,
        title=lead.title,
        url=lead.url,
        summary=summarize(lead.title, lead.text, lead_matches, budget=summary_chars),
        watchlists=tuple(sorted(watchlists, key=str.casefold)),
        terms=tuple(terms),
        sources=tuple(sources),
        published=lead.published,
        previous_url=previous_url,
    )


def next_digest_time(now: datetime, every_seconds: float) -> datetime:
    """The next boundary of a fixed grid of ``every_seconds`` since the epoch (UTC).

    With the default of one day this is the next UTC midnight, the same for
    every channel, so a digest collects everything of one period.
    """
    ts = now.timestamp()
    boundary = (ts // every_seconds + 1) * every_seconds
    return datetime.fromtimestamp(boundary, tz=now.tzinfo)
