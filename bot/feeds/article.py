"""The main text of an article page, for stories whose feed entry is only a teaser.

The rule
--------
The caller fetches the page (with the project's fetcher: same limits, politeness and
SSRF rules as feeds) and hands the bytes here; this module never touches the network.
Script, style, noscript and template elements are cut out of the first
:data:`MAX_INPUT_BYTES`, and the first :data:`MAX_HTML_BYTES` bytes of what is left
are given to trafilatura's ``bare_extraction`` (precision over recall, no comments,
tables, images or links), which finds the article body and drops navigation,
sidebars, footers, share bars and cookie banners by page structure and link density.
Its plain text is then cleaned line by line:

* the first line is dropped when it repeats the page's headline (trafilatura keeps the
  ``<h1>``; the story already has its title);
* lines that :func:`bot.core.summarize.is_furniture` flags ("Read also: …", "Photo
  credit: …", "Advertisement", bylines, dates alone) are dropped if shorter than
  :data:`bot.core.summarize.LINE_CHARS`;
* whitespace runs become one space; paragraphs are joined with ``"\\n"``;
* :func:`bot.core.summarize.main_text` then drops captions, credits and whatever
  precedes the lede, as for feed text, so chrome on the page cannot fire a watchlist.

:func:`read_article` also returns the site's own name from the page's metadata
(trafilatura's ``sitename``: ``og:site_name`` and the like), used as the outlet
when the feed gave none better than its domain.

``None`` when the page is empty, cannot be parsed, or yields fewer than
:data:`MIN_TEXT_CHARS` characters: the caller then keeps the feed text.

Why trafilatura
---------------
It is actively maintained (monthly releases, used by research and archiving
projects), scores at or near the top of the public article-extraction benchmarks
(ScrapingHub's article-extraction benchmark, its own evaluation against
readability, jusText, goose3, newspaper3k), works offline on bytes, detects the
encoding itself, and already falls back internally to jusText and a readability port
when its own heuristics find too little. readability-lxml is a single-heuristic port
of the 2010 Arc90 script with infrequent releases, and returns HTML that would need a
second cleaning pass; jusText classifies paragraphs well but needs a stop-word list
per language and keeps boilerplate paragraphs that look like prose.
Note: trafilatura 2.x imports jusText, which needs ``lxml_html_clean`` with lxml ≥ 5.2.

Known misses: pages that build the article with JavaScript (the HTML holds no
text) yield ``None``; live blogs and galleries come out as a list of short updates or
captions; a paywalled page yields the teaser again (and is then usually too short).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import trafilatura

from bot.core.summarize import LINE_CHARS, is_furniture, main_text
from bot.core.text import one_line

__all__ = [
    "MAX_HTML_BYTES",
    "MAX_INPUT_BYTES",
    "MIN_TEXT_CHARS",
    "Article",
    "extract_article",
    "read_article",
]

log = logging.getLogger(__name__)

MAX_HTML_BYTES = 512 * 1024
"""Bytes of markup handed to the parser, once scripts and styles are cut out. Article
text sits well inside this (a news page without its scripts is typically 50-300 KiB);
extraction time grows with the input (about 4 s per MiB of dense link lists), and the
caller runs it in a thread of a busy process."""
MAX_INPUT_BYTES = 16 * 1024 * 1024
"""Bytes of the page looked at at all (the fetcher's body cap is 15 MiB)."""
MIN_TEXT_CHARS = 200
"""Less text than this is a teaser, an error page or a paywall, not an article."""

_SPACE = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


_CODE_TAGS = (b"script", b"style", b"noscript", b"template")


def _without_code(html: bytes) -> bytes:
    """``html`` without the contents of script/style elements, in linear time.

    Pages often carry hundreds of kilobytes of inline JSON and CSS before the article;
    removing them first keeps the article inside :data:`MAX_HTML_BYTES`. A regex with a
    lazy ``.*?`` would go quadratic on unterminated tags, so this scans with ``find``.
    An element that is never closed drops the rest of the page.
    """
    lower = html.lower()
    out: list[bytes] = []
    # Next position of each opening tag, refreshed only once passed: every byte is
    # scanned a bounded number of times, even for "<script></script>" * 100_000.
    nxt = {t: lower.find(b"<" + t) for t in _CODE_TAGS}
    pos = 0
    while True:
        for t in _CODE_TAGS:
            if 0 <= nxt[t] < pos:
                nxt[t] = lower.find(b"<" + t, pos)
        found = [(i, t) for t, i in nxt.items() if i >= 0]
        if not found:
            out.append(html[pos:])
            break
        i, tag = min(found)
        out.append(html[pos:i])
        end = lower.find(b"</" + tag, i + 1)
        if end < 0:
            break
        close = lower.find(b">", end)
        pos = len(html) if close < 0 else close + 1
    return b" ".join(out)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


@dataclass(frozen=True, slots=True)
class Article:
    text: str
    """The article's main text, paragraphs separated by newlines."""
    site_name: str = ""
    """The site's own name from the page's metadata (``og:site_name`` and the like)."""


def extract_article(html: bytes, url: str) -> str | None:
    """Plain text of the article in ``html`` (paragraphs separated by newlines), or None.

    Synchronous and CPU-bound: run it in a thread. Never fetches anything.
    """
    article = read_article(html, url)
    return article.text if article is not None else None


def read_article(html: bytes, url: str) -> Article | None:
    """:func:`extract_article` plus the site's name from the page's metadata."""
    if not html or not html.strip():
        return None
    try:
        doc = trafilatura.bare_extraction(
            _without_code(html[:MAX_INPUT_BYTES])[:MAX_HTML_BYTES],
            url=url or None,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            favor_precision=True,
        )
    except Exception as e:  # lxml/trafilatura on hostile markup: keep the feed text
        log.info("%s: article extraction failed: %s", url, e)
        return None
    if doc is None:
        return None
    text = doc.get("text") if isinstance(doc, dict) else getattr(doc, "text", None)
    title = doc.get("title") if isinstance(doc, dict) else getattr(doc, "title", None)
    if not isinstance(text, str) or not text.strip():
        return None
    lines = [_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if lines and isinstance(title, str) and _same(lines[0], title):
        lines = lines[1:]
    kept = [line for line in lines if len(line) >= LINE_CHARS or not is_furniture(line)]
    # The same chrome rules as feed text: captions, credits and what precedes the lede.
    out = main_text(title if isinstance(title, str) else "", "\n".join(kept))
    if len(out) < MIN_TEXT_CHARS:
        return None
    site = doc.get("sitename") if isinstance(doc, dict) else getattr(doc, "sitename", None)
    return Article(out, one_line(site, limit=200) if isinstance(site, str) else "")
