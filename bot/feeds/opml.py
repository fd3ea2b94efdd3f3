"""OPML, the feed-list format every reader exports: read (safely) and write.

Read with lxml with entities unresolved, no DTD, no network and no huge trees: an
OPML file is input from someone else's tool. Folders (nested outlines) mean
nothing here; every outline with an ``xmlUrl`` is a feed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

MAX_BYTES = 5 * 1024 * 1024
MAX_PROLOG = 65_536
MAX_FEEDS = 2000
"""Most feeds one import may add; a bigger list is split by the operator."""


class OpmlError(Exception):
    """Not an OPML feed list we can use; the message says why."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str


def read_opml(body: bytes, *, max_feeds: int = MAX_FEEDS) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order, each URL once."""
    if len(body) > MAX_BYTES:
        raise OpmlError(f"the file is {len(body):,} bytes; at most {MAX_BYTES:,} are read")
    if re.search(rb"<!ENTITY", body[:MAX_PROLOG], re.I):
        # OPML never needs them; libxml2 would expand internal ones even in attributes.
        raise OpmlError("it declares XML entities (<!ENTITY>); refused")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as e:
        raise OpmlError(f"not XML: {e.msg or e}") from None
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise OpmlError(f"not OPML: the document is <{name}>, not <opml>")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for outline in root.iter("{*}outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url or url in seen:
            continue
        seen.add(url)
        title = (outline.get("title") or outline.get("text") or "").strip()
        feeds.append(OpmlFeed(url, " ".join(title.split())[:200]))
        if len(feeds) > max_feeds:
            raise OpmlError(
                f"more than {max_feeds:,} feeds in one file; split it and import the parts"
            )
    if not feeds:
        raise OpmlError("no feeds in it (no <outline> has an xmlUrl)")
    return feeds


def write_opml(feeds: list[OpmlFeed], *, title: str = "alertbot feeds") -> str:
    """An OPML 2.0 document listing ``feeds``."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for f in feeds:
        name = quoteattr(f.title or f.url)
        lines.append(
            f'    <outline type="rss" text={name} title={name} xmlUrl={quoteattr(f.url)}/>'
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
