"""Plain text and stable identities from feed markup.

Pure functions, no I/O: ``html_to_text``, ``plain_text``, ``one_line``,
``canonical_url``, ``story_id``, ``is_teaser`` and ``strip_feed_furniture`` (both at
once: ``strip_and_judge``).

HTML to text
    A small tokenizer, not ``html.parser.HTMLParser``: on Python 3.11.7 the stdlib
    parser is quadratic on unterminated markup (``"<a" * 80_000``, 160 kB, takes 17 s;
    ``"</" * 80_000`` 2 s), and a feed body is hostile input. One compiled regex finds
    the next tag, searched only up to the last ``>`` so no attempt can fail after a
    long scan; comments, CDATA and raw-text elements (script, style…) jump to their end
    with ``str.find``/one search. Nothing is scanned twice, so it is linear in the
    input, which is also capped (``limit * 50`` characters, at least 64 k); it stops
    once it has twice ``limit`` characters of text. On the realfeeds corpus it runs
    2 to 2.7 times faster than a bare ``HTMLParser`` that only collects text. Rules: the
    contents of script, style, noscript, iframe, svg, math, form, nav, footer, aside,
    figcaption, template, button, select, textarea, object, head and title are
    dropped; block elements and ``<br>`` end a paragraph, table cells are separated
    by a space; entities (named, decimal, hex; invalid ones as HTML5 says) are
    decoded; whitespace runs (newlines in the source too) become one space,
    paragraphs are joined with ``"\\n"``; markup left open at the end is dropped, as
    HTML does; control characters are removed, except that C1 codes
    (U+0080..U+009F), which in feeds are almost always mis-decoded Windows-1252,
    become the cp1252 character; lone surrogates are removed; invisible and formatting
    characters (soft hyphen, zero-width space, BOM, bidi controls; stray zero-width
    joiners) are removed (``strip_invisible``).
    Known misses: an element to drop that is never closed (``<nav>`` without
    ``</nav>``) drops the rest of the text; attributes are not parsed, so a ``>``
    inside a quoted attribute value ends the tag early and leaks the rest of the
    value as text; text in ``alt``/``title`` attributes is ignored.

Teasers
    ``is_teaser`` is true when the text, once feed furniture is stripped, is shorter
    than ``TEASER_CHARS`` (280) characters, is just the title, or ends visibly
    truncated: ``…``, ``...``, ``[…]``, ``(more…)``, "Read more", "Continue reading",
    "Keep reading", "Read the full story/article" or similar. WordPress/Yoast's "The
    post X appeared first on Y" counts only when what remains is shorter than
    ``EXCERPT_CHARS`` (1,500): Yoast adds that line to full-text feeds as well.
    Known misses: a teaser of 300+ characters that ends on a full stop with no
    marker is taken as full text; an article that really ends with "…" is a teaser.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from html import _charref as _CHARREF  # type: ignore[attr-defined]  # html.unescape's regex
from html import _replace_charref  # and its rules
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

__all__ = [
    "EXCERPT_CHARS",
    "MAX_ID_CHARS",
    "TEASER_CHARS",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "html_to_lines",
    "html_to_text",
    "is_teaser",
    "join_url",
    "one_line",
    "plain_text",
    "story_id",
    "strip_and_judge",
    "strip_feed_furniture",
    "strip_invisible",
]

TEASER_CHARS = 280
"""Text shorter than this (after furniture is stripped) is a teaser."""
EXCERPT_CHARS = 1_500
"""Below this, a "The post … appeared first on …" tail marks a WordPress excerpt."""
MAX_ID_CHARS = 512
"""A longer guid is replaced by its hash, so ids stay small keys."""

# Elements whose whole content is dropped: code, embedded documents, page chrome.
_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "iframe",
        "svg",
        "math",
        "form",
        "nav",
        "footer",
        "aside",
        "figcaption",
        "template",
        "button",
        "select",
        "textarea",
        "object",
        "head",
        "title",
    }
)
# Raw-text elements: their content is not markup, so we jump to the closing tag.
_RAW = frozenset({"script", "style", "noscript", "iframe", "textarea", "title", "xmp"})
_RAW_END = {
    name: re.compile(r"</" + name + r"(?=[\s/>]|\Z)", re.IGNORECASE) for name in sorted(_RAW)
}
_BLOCK = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "br",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    }
)
_CELL = frozenset({"td", "th"})
_PARA = "\x00"  # paragraph break marker; NULs are removed from the input first
# One token: a start or end tag (its name in group 2, "/" in group 1), the opening of
# a comment or CDATA section (their ends are found with str.find), or a doctype /
# processing instruction / bogus comment ("<!x>", "<?x>", "</ x>"), skipped whole.
_TOKEN = re.compile(r"<(?:(/?)([A-Za-z][^\s/>]*)[^>]*>|!--|!\[CDATA\[|[!?/][^>]*>)")
_OPEN_MARKUP = re.compile(r"<[A-Za-z!?/]")
# The tag alternative of _TOKEN alone, for the one-pass rewrite in _flatten_tags.
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*>")
# The commonest inline tags in feeds, cut out first in C, without a call per tag;
# ASCII case folding and ASCII space after the name: only tags the tokenizer reads
# as these very names match (others are left to the general pass).
_COMMON_INLINE = re.compile(
    r"</?(?:span|a|code|strong|em|img|b|i)(?=[ \t\n\r\f\v/>])[^>]*(?<!--)>",
    re.ASCII | re.IGNORECASE,
)
# The same for the commonest block tags: a break wherever they are (see _flatten_tags).
_COMMON_BLOCK = re.compile(
    r"</?(?:p|li|div|h[1-6]|br|ul|ol|pre)(?=[ \t\n\r\f\v/>])[^>]*(?<!--)>",
    re.ASCII | re.IGNORECASE,
)
# _TAG less the tags ending in "-->" (they may close a comment the loop skips to).
_FLAT_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*(?<!--)>")
# Only those, for the first one that names an element to drop.
_DASHED_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*-->")
_DROP_MARK = "drop"
_TAG_KINDS: dict[str, str] = {name: _PARA for name in _BLOCK}
_TAG_KINDS.update({name: " " for name in _CELL})
_TAG_KINDS.update({name: _DROP_MARK for name in _DROP | _RAW})
# Every byte but "<" and ">", deleted by _lt_before_gt.
_NOT_ANGLE = bytes(c for c in range(256) if c not in b"<>")


def _lt_before_gt(s: str) -> bool:
    """Whether a "<" has another "<" after it before the next ">" (a match of
    ``<[^<>]*<``), at a third of that regex's cost: of the UTF-8 bytes only "<" and
    ">" are kept (no multi-byte sequence holds either), then two "<" in a row are
    looked for."""
    return b"<<" in s.encode("utf-8", "surrogatepass").translate(None, _NOT_ANGLE)


_GAP = "\x01"  # a control character: _finish drops it


def _c1_to_cp1252(code: int) -> str:
    try:
        return bytes([code]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined in cp1252
        return ""


# Control characters to drop or map; \t, \n, \r, \f, \v are whitespace and handled by
# the whitespace rules. Lone surrogates cannot be encoded to UTF-8 (SQLite, JSON).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MAP: dict[str, str] = {chr(c): "" for c in [*range(0x00, 0x09), *range(0x0E, 0x20)]}
_CONTROL_MAP["\x7f"] = ""
_CONTROL_MAP.update({chr(c): _c1_to_cp1252(c) for c in range(0x80, 0xA0)})
_PARA_SEPARATORS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def _clean_controls(text: str) -> str:
    if _SUSPECT.search(text) is None:
        return text  # most texts: one scan says there is nothing to clean
    if _CONTROL.search(text) is not None:
        text = _CONTROL.sub(lambda m: _CONTROL_MAP.get(m.group(), ""), text)
    return strip_invisible(text)


# Invisible and formatting characters (see strip_invisible).
_INVISIBLE_CLASS = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
# One of them, with the zero-width (non-)joiners right after it: a match always starts
# on one of these characters, so the scan skips everything else in C.
_INVISIBLE_RUN = re.compile(f"[{_INVISIBLE_CLASS}][\u200c\u200d]*")
_JOINERS = "\u200c\u200d"


def _invisible_run(m: re.Match[str]) -> str:
    """What is kept of one ``_INVISIBLE_RUN``: the character goes, unless it is a
    joiner, and the joiners go unless a character outside Latin (above U+02FF) is on
    either side of them, in the text as it was."""
    text = m.string
    start, end = m.span()
    if text[start] not in _JOINERS:
        start += 1  # an invisible character: always dropped
        if start == end:
            return ""
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if before and before > "\u02ff" and after and after > "\u02ff":
        return text[start:end]  # between two letters of a script that needs them
    return ""


def strip_invisible(text: str) -> str:
    """``text`` without invisible and formatting characters: soft hyphen, zero-width
    space, word joiner and invisible operators, BOM / zero-width no-break space,
    Mongolian vowel separator, the bidi marks, embeddings, overrides and isolates
    (U+200E/F, U+061C, U+202A-202E, U+2066-2069). Zero-width (non-)joiners are kept
    only between two characters of scripts that need them (Persian, Indic, emoji
    sequences): next to Latin, a space or an edge of the text they are stray
    ("\u200ca loaded shotgun" in a Reuters feed).

    Used on everything parsed from a feed or a page, and again by every chat renderer,
    so text stored before this rule existed is cleaned on its way out too.
    """
    return _INVISIBLE_RUN.sub(_invisible_run, text)


# Every character _CONTROL or _INVISIBLE_RUN finds: one scan instead of two for the
# text that holds none. None of them is printable (str.isprintable: they are control,
# format or surrogate characters), which _one_spaced relies on.
_SUSPECT_CLASS = (
    "\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff"
)
_SUSPECT = re.compile(f"[{_SUSPECT_CLASS}]")


_CHARREF_MEMO: dict[str, str] = {}
_CHARREF_MEMO_SIZE = 4_096
"""References remembered: a feed uses a few dozen (&#8217; &rsquo; &nbsp; …); the
bound keeps a hostile feed's endless distinct ones from growing the memo."""


def _charref(m: re.Match[str]) -> str:
    ref = m[0]
    char = _CHARREF_MEMO.get(ref)
    if char is None:
        char = _replace_charref(m)
        if len(_CHARREF_MEMO) < _CHARREF_MEMO_SIZE:
            _CHARREF_MEMO[ref] = char
    return char


def clear_memos() -> None:
    """Forget the remembered references (a parse worker does after a huge body, as
    with ``bot.core.cluster.clear_memos``)."""
    _CHARREF_MEMO.clear()


def unescape(s: str) -> str:
    """``html.unescape(s)``: the same regex and rules, with each reference's answer
    looked up after its first time (a third cheaper on feed text)."""
    return _CHARREF.sub(_charref, s) if "&" in s else s


def _finish(paragraphs: Iterable[str], limit: int) -> str:
    """Clean controls and invisible characters in each paragraph, collapse its white
    space, drop empty ones, join with "\\n", bound (``_collapsed``). The bound keeps the
    whole paragraphs of the first ``limit`` characters, or cuts the text there at a
    word boundary when a paragraph runs past it.
    """
    return _bounded("\n".join(_collapsed(paragraphs)), limit)


def _finish_lines(paragraphs: Iterable[str], limit: int) -> tuple[str, list[str]]:
    """``_finish(paragraphs, limit)`` and its lines (none empty)."""
    lines = _collapsed(paragraphs)
    text = "\n".join(lines)
    if len(text) <= limit:
        return text, lines
    text = _bounded(text, limit)
    return text, [line for line in text.split("\n") if line]


def _collapsed(paragraphs: Iterable[str]) -> list[str]:
    """Each paragraph cleaned (``_clean_controls``), with its white space runs as one
    space and none at its ends (``" ".join(p.split())``); the empty ones dropped. Most
    paragraphs are empty (two marks in a row) or have nothing to clean or collapse,
    and are neither searched nor split into words."""
    return [p for p in map(_one_spaced, filter(None, paragraphs)) if p]


def _one_spaced(p: str) -> str:
    # isprintable() is false for every white space character but " " (they are control
    # characters or separators) and for every character _clean_controls changes:
    # a printable paragraph with no double space and none at an end is what cleaning
    # and " ".join(p.split()) would make of it, found at a fifth of their cost.
    if p.isprintable():
        if "  " not in p and p[0] != " " and p[-1] != " ":
            return p
        return " ".join(p.split())
    return " ".join(_clean_controls(p).split())


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if text[limit] == "\n":  # the first paragraphs fill the limit exactly
        return text[:limit]
    cut = text.rfind(" ", 0, limit + 1)
    return text[: cut if cut > limit * 0.8 else limit].rstrip()


def _flatten_tags(s: str) -> str:
    """``s`` with the tags the loop of ``html_to_text`` would only turn into a mark
    already turned into it, in one pass (a regex, one small call per tag).

    A tag that ends in ``-->`` stays: that may close a comment the loop skips.
    Inline tags (no rule of their own) become _GAP, which keeps the text on either
    side apart as the loop does (no entity spans it) until the pieces are joined.
    Block tags become _PARA everywhere: inside an element to drop, the loop keeps
    the _PARA marks of the text it drops, as a break inside a dropped element is
    still a break; inside a raw one (script, style…) the loop skips them with the
    rest. Cell tags become a space, but only before the first tag of an element to
    drop or a raw one (also one that ends in ``-->``): after it, the loop must see
    them, as a space is text it could not tell from the dropped text. Those tags
    themselves stay.
    """
    dropped = False

    def flatten(m: re.Match[str]) -> str:
        nonlocal dropped
        kind = _TAG_KINDS.get(m[2].lower())
        if kind is None:
            return _GAP
        if kind is _PARA:
            return kind
        if kind is _DROP_MARK:
            dropped = True
        return m[0] if dropped else kind

    # Inline tags first: they are most of the tags (<span> alone is half in the
    # realfeeds corpus), so the block pass has fewer "<" to try. The two sets are
    # disjoint and no tag holds a "<", so the order does not change the result.
    s = _COMMON_BLOCK.sub(_PARA, _COMMON_INLINE.sub(_GAP, s))
    if "-->" in s:
        dashed = (m for m in _DASHED_TAG.finditer(s) if _TAG_KINDS.get(m[2].lower()) is _DROP_MARK)
        first = next(dashed, None)
        if first is not None:  # no match spans it: there is no "<" inside a tag
            head = _FLAT_TAG.sub(flatten, s[: first.start()])
            dropped = True
            return head + _FLAT_TAG.sub(flatten, s[first.start() :])
    return _FLAT_TAG.sub(flatten, s)


def html_to_text(html_text: str, *, limit: int = 100_000) -> str:
    """Plain text of an HTML fragment or page; never raises, linear time.

    See the module docstring for the rules. The result has no leading or trailing
    whitespace, single spaces inside paragraphs, paragraphs separated by one
    ``"\\n"``, and at most ``limit`` characters (cut at a word boundary when one
    is near).
    """
    return html_to_lines(html_text, limit=limit)[0]


def html_to_lines(html_text: str, *, limit: int = 100_000) -> tuple[str, list[str]]:
    """``html_to_text(html_text, limit=limit)`` and its lines (its paragraphs, as
    ``splitlines`` would give them: none is empty or has white space at an end), for
    a caller that works line by line (``bot.core.summarize.story_text``)."""
    if not html_text or limit <= 0:
        return "", []
    s = html_text[: max(limit * 50, 65_536)].replace(_PARA, "")
    if "<" not in s:
        return _finish_lines([unescape(s) if "&" in s else s], limit)
    pieces: list[str] = []
    size = 0
    budget = 2 * limit + 1_000  # text beyond this cannot survive whitespace collapsing
    if len(s) < budget and _GAP not in s and "<![CDATA[" not in s and not _lt_before_gt(s):
        # Speed only, same result: see _flatten_tags. Safe only when every "<" meets
        # a ">" before another "<" (then both scans split tags alike), with no CDATA
        # (whose text is kept raw), and below the budget (which counts the marks).
        s = _flatten_tags(s)
        if "<" not in s:  # every tag flattened (most texts): no token for the loop
            return _finish_lines(
                (unescape(s) if "&" in s else s).replace(_GAP, "").split(_PARA), limit
            )
    dropping: dict[str, int] = {}  # open elements whose content we drop, by name
    n = len(s)
    # Tags are only searched for up to the last ">": there every "<name" has a ">"
    # after it, so no match attempt can fail after a long scan (which would make
    # the search quadratic). Markup left open after the last ">" runs to the end of
    # the input, and HTML drops it, so only the text before it is kept.
    end = s.rfind(">") + 1
    pos = 0
    search = _TOKEN.search
    while size < budget:
        m = search(s, pos, end)
        start = m.start() if m else n
        if start > pos and not dropping:
            chunk = s[pos:start]
            if m is None:  # the tail: keep what comes before any unclosed markup
                open_markup = _OPEN_MARKUP.search(chunk)
                chunk = chunk[: open_markup.start()] if open_markup else chunk
            if "&" in chunk:
                chunk = unescape(chunk)
            pieces.append(chunk)
            size += len(chunk)
        elif start > pos and s.count(_PARA, pos, start):
            # Dropped text flattened with its block tags: their breaks stay.
            pieces.append(_PARA * s.count(_PARA, pos, start))
        if m is None:
            break
        pos = m.end()
        name = m.group(2)
        if name is not None:
            name = name.lower()
            if m.group(1):  # end tag
                if name in dropping:
                    dropping[name] -= 1
                    if not dropping[name]:
                        del dropping[name]
                elif name in _BLOCK:
                    pieces.append(_PARA)
                elif name in _CELL:
                    pieces.append(" ")
                continue
            self_closing = s[pos - 2] == "/"
            if name in _RAW and not self_closing:
                raw_end = _RAW_END[name].search(s, pos)
                pos = n if raw_end is None else raw_end.start()
            elif name in _DROP:
                if not self_closing:
                    dropping[name] = dropping.get(name, 0) + 1
            elif name in _BLOCK:
                pieces.append(_PARA)
            elif name in _CELL:
                pieces.append(" ")
        elif m.group() == "<!--":
            close = s.find("-->", pos)
            pos = n if close < 0 else close + 3
        elif m.group() == "<![CDATA[":
            close = s.find("]]>", pos)
            stop = n if close < 0 else close
            if not dropping:
                pieces.append(s[pos:stop])
                size += stop - pos
            pos = stop + 3
        # else: a doctype, processing instruction or bogus comment, skipped whole
    return _finish_lines("".join(pieces).replace(_GAP, "").split(_PARA), limit)


def plain_text(text: str, *, limit: int = 100_000) -> str:
    """Normalise text that is not HTML (a ``text/plain`` field): no tags stripped and
    no entities decoded, but controls, whitespace and length as ``html_to_text``."""
    if not text or limit <= 0:
        return ""
    if len(text) <= limit and text.isprintable():  # most titles: one line, no controls
        return _one_spaced(text)  # (no _PARA_SEPARATORS: they are not printable)
    return _finish(_PARA_SEPARATORS.split(text[: max(limit * 50, 65_536)]), limit)


def one_line(text: str, *, limit: int = 500) -> str:
    """``plain_text`` on a single line (paragraph breaks become spaces)."""
    return " ".join(plain_text(text, limit=limit).split())


# --- URLs --------------------------------------------------------------------------

TRACKING_PARAMS = frozenset(
    {
        # ad-click ids: Facebook, Google, Microsoft, Yandex, Instagram, TikTok, Twitter
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "ttclid",
        "twclid",
        "ref_src",
        "ref_url",
        # Mailchimp, HubSpot, Marketo, Vero, Olytics
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "vero_id",
        "oly_anon_id",
        "oly_enc_id",
        # Google Analytics linker, Adobe, AT Internet (xtor), Webtrends, BBC, MSN
        "_ga",
        "_gl",
        "cmpid",
        "cmp",
        "xtor",
        "wt.mc_id",
        "ocid",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        # New York Times, Telegraph, share widgets, Alibaba
        "smid",
        "emc",
        "ito",
        "sr_share",
        "spm",
    }
)
"""Query parameters dropped by ``canonical_url`` (compared case-insensitively).
Generic names that sites also use for content (``ref``, ``source``, ``partner``,
``cid``, ``id``) are deliberately kept."""
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
"""Parameter prefixes dropped too: Google/Matomo/Piwik campaigns, AT Internet."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(part: str) -> bool:
    key = part.split("=", 1)[0]
    if "%" in key or "+" in key:
        key = unquote(key.replace("+", " "))
    key = key.strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


# Printable ASCII but what urllib splits a URL on, less what a part may hold; no
# "[" or "]" (urlsplit checks an IPv6 host).
_HOST_CHARS = r"[^\x00-\x20\x7f/?#\[\]]"
_PATH_CHARS = r"[^\x00-\x20\x7f?#\[\]]"
_QUERY_CHARS = r"[^\x00-\x20\x7f#\[\]]"
_FRAGMENT_CHARS = r"[^\x00-\x20\x7f\[\]]"
# An absolute http(s) URL that urljoin gives back as it is, whatever the base: in
# printable ASCII (nothing for urlsplit to strip or check), with a host, and no
# empty params, query or fragment (urlunparse would drop the ";", "?" or "#").
_JOINED_AS_IS = re.compile(
    rf"https?://{_HOST_CHARS}+(?:/{_PATH_CHARS}*(?<!;))?"
    rf"(?:\?{_QUERY_CHARS}+)?(?:#{_FRAGMENT_CHARS}+)?"
)
# An http(s) URL that is already canonical: a lower-case host without port or user,
# a path, no query or fragment (canonical_url would rebuild it unchanged).
_CANONICAL_AS_IS = re.compile(rf"https?://[a-z0-9.-]+/{_PATH_CHARS}*")


def join_url(base: str, url: str) -> str:
    """``urllib.parse.urljoin(base, url)``, without parsing either for the common
    absolute link that it would give back unchanged. May raise ``ValueError`` as
    urljoin does."""
    if url.isascii() and _JOINED_AS_IS.fullmatch(url):
        return url
    return urljoin(base, url)


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; anything else comes back stripped.

    Lower-cases scheme and host, drops the default port, the fragment (except a
    ``#!`` "hashbang" route, which names content) and tracking parameters
    (``TRACKING_PARAMS``, ``TRACKING_PREFIXES``), keeps the other parameters in their
    order and spelling, and gives an empty path ``/``. Never raises.
    """
    url = url.strip()
    if url.isascii() and _CANONICAL_AS_IS.fullmatch(url):
        return url  # most links: nothing to take out or lower-case
    return _canonical_parsed(url)


def _canonical_parsed(url: str) -> str:
    """``canonical_url`` of a stripped ``url``, by taking it apart."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return url
        host = parts.hostname  # already lower-cased by urllib
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        port = parts.port
        netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
        if parts.username is not None or parts.password is not None:
            netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
        query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
        fragment = parts.fragment if parts.fragment.startswith("!") else ""
        return urlunsplit((scheme, netloc, parts.path or "/", query, fragment))
    except ValueError:  # bad port, bad IPv6 literal, control characters
        return url


# --- ids -----------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _replace_userinfo(url: str, mark: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, mark + host, parts.path, parts.query, parts.fragment))


def redact_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, for showing feed URLs to chat users."""
    return _replace_userinfo(url, "…@")


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` dropped: a feed's link must not carry
    credentials into chat (nor lure readers with ``https://bank.com@evil.example``)."""
    return _replace_userinfo(url, "")


def story_id(guid: str | None, link: str | None, title: str, published: str | None) -> str:
    """A story's stable id within its feed.

    The guid when present (stripped; one longer than ``MAX_ID_CHARS`` becomes
    ``"sha256:" + its hash``), else the canonical link, else ``"sha256:"`` + the hash
    of the title and the raw date string.
    """
    if guid and (guid := guid.strip()):
        return guid if len(guid) <= MAX_ID_CHARS else _sha256(guid)
    if link and (link := canonical_url(link)):
        return link if len(link) <= MAX_ID_CHARS else _sha256(link)
    return _sha256(title + "\n" + (published or ""))


# --- feed furniture and teasers -------------------------------------------------------

_TAIL = 600  # furniture lives at the end; matching only the tail keeps regexes cheap
_AFTER_BREAK = r"(?:^|(?<=[\s.!?…:;,)\]]))"
_APPEARED_FIRST = re.compile(
    _AFTER_BREAK + r"(?:The post|The article|This post|This article)(?:\s.{1,400}?)?"
    r"\s(?:appeared first on|first appeared on|was originally published (?:on|by|in)|"
    r"was first published (?:on|by|in)|is republished from)\s.{1,200}?\Z",
    re.IGNORECASE | re.DOTALL,
)
_MORE_TAIL = re.compile(
    _AFTER_BREAK + r"[(\[|»«>-]?\s*(?:continue reading[^\n]{0,200}?|keep reading|"
    r"read more(?: (?:at|on) [^\n]{1,80}?)?|"
    r"read (?:the )?full (?:story|article|post)(?: (?:at|on) [^\n]{1,80}?)?|"
    r"read the rest of (?:this|the) (?:entry|post|article)|more…|more\.\.\.)"
    r"\s*[)\]»→.…>:!-]*\s*\Z",
    re.IGNORECASE,
)
_ELLIPSIS_TAIL = re.compile(r"\s*[\[(]\s*(?:…|\.\.\.)\s*[\])]\s*\Z")
_ENDS_TRUNCATED = re.compile(r"(?:…|\.\.\.)\s*\Z")
_KINDS = (("appeared", _APPEARED_FIRST), ("more", _MORE_TAIL), ("ellipsis", _ELLIPSIS_TAIL))
# The words each pattern cannot match without (lower case). ``str.lower`` and a plain
# substring test stand for the patterns' IGNORECASE, which also folds four letters
# outside ASCII onto ASCII ones: a tail holding one of those goes to the pattern.
_HINTS = {
    "appeared": (
        "appeared first on",
        "first appeared on",
        "originally published",
        "first published",
        "republished from",
    ),
    "more": (
        "continue reading",
        "keep reading",
        "read more",
        "read full",
        "read the full",
        "read the rest",
        "more…",
        "more...",
    ),
}
# A word that each hint of the kind holds: two searches rule out most tails at once.
_HINT_STEMS = {"appeared": ("publish", "appeared"), "more": ("read", "more")}
_FOLDS_TO_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")  # İ ı ſ K (Kelvin)


def _may_match(kind: str, tail: str, low: str | None) -> bool:
    """A cheap necessary condition for ``kind``'s pattern to match ``tail``: each
    pattern needs one of these words, or this last character (speed only: the
    hints cost a fraction of the patterns). ``low`` is ``tail.lower()``, or None
    when ``tail`` holds a letter that only IGNORECASE folds onto ASCII."""
    if kind == "ellipsis":
        return tail.rstrip()[-1:] in ("]", ")")
    if low is None:
        return True
    contains = low.__contains__
    return any(map(contains, _HINT_STEMS[kind])) and any(map(contains, _HINTS[kind]))


def _strip(text: str) -> tuple[str, set[str]]:
    """``text`` without furniture tails, and which kinds were removed."""
    kinds: set[str] = set()
    for _ in range(5):
        tail = text[-_TAIL:]
        low = None if not tail.isascii() and _FOLDS_TO_ASCII.search(tail) else tail.lower()
        for kind, pattern in _KINDS:
            if not _may_match(kind, tail, low):
                continue
            m = pattern.search(tail)
            if m is not None:
                kinds.add(kind)
                text = (text[:-_TAIL] + tail[: m.start()]).rstrip()
                break
        else:
            break
    return text, kinds


def strip_feed_furniture(text: str) -> str:
    """``text`` without trailing feed boilerplate.

    Removes, repeatedly from the end: "The post X appeared first on Y." (and "first
    appeared on", "was originally published on", "This article is republished
    from"), "Continue reading …", "Read more",
    "Read more at Y", "Read the full story", "Keep reading", "(more…)", "[…]" and
    "[...]". A "…" ending a sentence is kept: it is text, and ``is_teaser`` reads it.
    A sentence that merely starts with "Read more about" is kept. The result is
    always a prefix of ``text`` (``bot.core.summarize`` relies on it for offsets).
    """
    return _strip(text)[0]


def is_teaser(text: str, *, title: str = "") -> bool:
    """True when ``text`` is a teaser rather than the story: see the module docstring."""
    body, kinds = _strip(text)
    return _teaser(body, kinds, title)


def strip_and_judge(text: str, *, title: str = "") -> tuple[str, bool]:
    """``strip_feed_furniture(text)`` and ``is_teaser(text, title=title)``, with the
    furniture stripped once (parsing needs both for every entry)."""
    body, kinds = _strip(text)
    return body, _teaser(body, kinds, title)


def _teaser(body: str, kinds: set[str], title: str) -> bool:
    if len(body) < TEASER_CHARS or "more" in kinds or "ellipsis" in kinds:
        return True
    if body.rstrip().endswith(("…", "...")) and _ENDS_TRUNCATED.search(body[-_TAIL:]):
        return True
    if title:
        # At most one word more than the title is split off: enough to tell.
        title_words = title.split()
        body_words = body.split(None, len(title_words))
        # With more words than the title (the last item is the rest of the text) they
        # cannot be equal: casefolding keeps the count of spaces.
        if (
            len(body_words) <= len(title_words)
            and " ".join(body_words).casefold() == " ".join(title_words).casefold()
        ):
            return True
    return "appeared" in kinds and len(body) < EXCERPT_CHARS


def longest_fit(
    raw: str, make: Callable[[str], str], limit: int, measure: Callable[[str], int] = len
) -> str:
    """The longest ``make(raw[:n])`` that measures at most ``limit``, or "".

    Renderers cut feed text *before* escaping it (so an escape or a markup pair is
    never split) and must fit the escaped result: ``make`` escapes a prefix (and
    adds an ellipsis). It must grow with the prefix, which escaping does, so a
    binary search over ``n`` finds the answer in log(len(raw)) renderings.
    """
    lo, hi = 0, len(raw)
    best = ""
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = make(raw[:mid])
        if measure(candidate) <= limit:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best
