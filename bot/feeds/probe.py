"""Fetch a URL once and say whether it is a feed: what ``feeds add`` and an OPML
import check before a feed is polled."""

from __future__ import annotations

import asyncio

from bot.feeds.fetch import Fetcher, FetchError, Unchanged
from bot.feeds.parse import ParseError, parse_feed


class ProbeError(Exception):
    """The URL cannot be polled as a feed; the message says why, naming the URL."""


async def probe_feed(fetcher: Fetcher, url: str) -> str:
    """Fetch and parse ``url``; return the feed's title ("" if none)."""
    try:
        got = await fetcher.fetch(url)
    except FetchError as e:
        raise ProbeError(f"{url}: cannot fetch it: {str(e).removeprefix(f'{url}: ')}") from None
    if isinstance(got, Unchanged):  # no validators were sent; a server may say so anyway
        return ""
    try:
        parsed = await asyncio.to_thread(parse_feed, got.body, url, content_type=got.content_type)
    except ParseError as e:
        raise ProbeError(
            f"{url} is not a feed: {str(e).removeprefix(f'{url}: ').removeprefix('not a feed: ')} "
            "(give the RSS, Atom or JSON Feed address, not the web page)"
        ) from None
    return parsed.title
