"""The outlet's name for a feed: what a reader calls the site, not the feed's label.

The rule
--------
Feed titles often name a section or carry noise: "World" (The Washington Post),
"NDTV News Search Records Found 1000", "Japan Today - Category World", "Tech – TIME",
"NYT > World News", "TheWeek feed", "RSS". :func:`outlet_name`:

1. Cleans the title: invisible characters out, noise phrases cut ("Search Records
   Found 1000", a leading "Comments on:", trailing "RSS", "Feed", "Topics").
2. Splits it into parts at separators (`` - ``, `` – ``, `` | ``, `` > ``, `` » ``,
   `` • ``, ``: ``) and drops the generic parts: sections and feed words only
   ("World", "World News", "Latest", "Category World", "Home").
3. Of the parts left, one that names the site's domain wins ("TIME" for time.com,
   "CBSNews.com", "Japan Today" for japantoday.com); else a single part left wins,
   unless it is a slogan ("Breaking news, politics, crime, and more": a list, or
   seven words or more); else, when several are left, the cleaned title stays as it
   is ("Web • Tech • Audio" is a blog's name, not a section list).
4. When nothing is left (the title is generic or empty), the first usable name from
   the feed's or page's metadata (``alternates``: its image title, its publisher,
   the holder in its copyright line, the page's ``og:site_name``), else the domain
   (``washingtonpost.com``).

Once an article page is read (teasers only), :func:`page_outlet` puts the page's
own site name in place of a bare domain.

Known misses: a generic title in another language ("Mundo", "Welt") is kept, as the
word list is English; a site whose domain is unlike its name ("NYT" at nytimes.com)
is recognised only through the other rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from bot.core.text import strip_invisible

__all__ = ["domain_of", "is_generic_name", "outlet_name", "page_outlet"]

_GENERIC_WORDS = """world news latest home homepage front page rss feed feeds atom blog articles
    article posts post stories story headlines headline top tech technology politics
    business sport sports science health entertainment opinion opinions topics topic
    section sections category categories all main international national local us uk
    europe asia africa americas america middle east updates everything comments
    breaking recent new today's edition channel index default the and of in on for
    video videos podcast podcasts features feature culture lifestyle economy finance
    markets environment climate"""
_GENERIC = frozenset(_GENERIC_WORDS.split())
_NOISE = re.compile(
    r"\bsearch\s+records?\s+found\s*\d*|^\s*comments\s+(?:on|for)\s*:?\s*"
    r"|(?:\s+(?:rss|atom|feed|feeds|topics))+\s*$",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"\s+[-–—|>»•·:]\s+|\s*\|\s*|:\s+|\s+[-–—]\s*$")
_COPYRIGHT = re.compile(
    r"^\s*(?:copyright|©|\(c\))\s*(?:©|\(c\))?\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)?\s*,?\s*"
    r"|\s*[.,]?\s*(?:all\s+rights\s+reserved|for\s+personal\s+use\s+only).*$"
    r"|\s+[-–|]\s+.*$",
    re.IGNORECASE,
)
_HOST_PREFIXES = ("www.", "rss.", "feeds.", "feed.")
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "or", "ne"})
MAX_NAME_CHARS = 80


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def domain_of(url: str) -> str:
    """``washingtonpost.com`` for ``https://www.washingtonpost.com/world``; "" if none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
            break
    return host


def _core(domain: str) -> str:
    """The domain's name label: ``washingtonpost`` of ``washingtonpost.com``, ``bbc`` of
    ``bbc.co.uk``."""
    labels = domain.split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else domain


def is_generic_name(name: str) -> bool:
    """True for a name that is only section and feed words ("World", "Latest News")."""
    words = re.findall(r"[\w']+", name.casefold())
    return not words or all(w in _GENERIC for w in words)


def _names_site(part: str, core: str) -> bool:
    squashed = _squash(part)
    if len(core) < 3 or not squashed:
        return False
    return squashed == core or squashed.startswith(core) or core.startswith(squashed)


def _tagline(part: str) -> bool:
    """A slogan rather than a name: a list ("news, politics, and more") or 7+ words."""
    return ", " in part or len(part.split()) > 6


def _clean(name: str) -> str:
    name = " ".join(strip_invisible(name).split())
    for _ in range(3):
        cut = _NOISE.sub("", name).strip(" -–—|:»•·")
        if cut == name:
            break
        name = cut
    return name


def outlet_name(title: str, site_url: str, alternates: Iterable[str] = ()) -> str:
    """The outlet's name from a feed's ``title`` and its site (see the module docstring).

    ``site_url`` is the feed's site link, else the feed's own URL; ``alternates`` are
    other names the feed or page gives itself, best first.
    """
    domain = domain_of(site_url)
    core = _core(domain) if domain else ""
    cleaned = _clean(title)
    parts = [_clean(p) for p in _SEPARATORS.split(cleaned) if p and p.strip()]
    if any(p.count("(") != p.count(")") for p in parts):
        parts = [cleaned]  # a separator inside brackets: "(Fabio Locati|Fale)'s blog"
    kept = [p for p in parts if p and not is_generic_name(p)]
    if kept:
        named = [p for p in kept if _names_site(p, core)]
        if named:
            return named[0][:MAX_NAME_CHARS]
        if len(kept) > 1:
            return cleaned[:MAX_NAME_CHARS]
        if not (len(parts) > 1 and _tagline(kept[0])):
            return kept[0][:MAX_NAME_CHARS]
        # "World News: Breaking news, politics, crime, tech, and more": a slogan is
        # not a name; look further.
    for alternate in alternates:
        name = _clean(_COPYRIGHT.sub("", strip_invisible(alternate or "")))
        usable = name and not is_generic_name(name) and not _tagline(name)
        if usable and "@" not in name and "://" not in name and len(name) <= MAX_NAME_CHARS:
            return name
    return domain


def page_outlet(outlet: str, url: str, site_name: str) -> str:
    """The outlet once the article page is read: the page's own site name replaces a
    bare domain (what :func:`outlet_name` falls back to); any other name stays."""
    name = _clean(site_name)
    if outlet != domain_of(url) or not name or is_generic_name(name) or _tagline(name):
        return outlet
    return name[:MAX_NAME_CHARS]
