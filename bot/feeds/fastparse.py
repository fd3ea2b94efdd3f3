"""The fast path of ``parse_feed``: RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 read with lxml.

``read_feed`` turns a body into the same shape ``feedparser.parse`` returns (plain
dicts with ``feed``, ``entries`` and ``version``, the keys ``bot.feeds.parse`` uses),
or ``None`` when it cannot read the body the way feedparser would; the caller then
falls back to feedparser. lxml builds the tree in C, so a feed costs a fraction of
feedparser's per-element Python work (bench/parse.py measures it).

Safety: the parser never resolves entities, loads no DTD, touches no network or
file, and keeps libxml2's default limits (no ``huge_tree``: depth 256, text nodes
of 10 MB). Bodies that declare entities go to the fallback, which defuses them.

What it takes from feedparser's rules, so both paths give the same stories:
- Entries are the ``item``/``entry`` elements of the RSS/Atom namespaces anywhere in
  the document; only their direct children are read (plus ``media:title`` and
  ``media:description`` at any depth).
- Title: the first ``title``/``dc:title`` child, else a ``media:title``. RSS text that
  looks like HTML (feedparser's ``looks_like_html``) is typed ``text/html``.
- Link: the last ``link`` text or ``rel="alternate"`` HTML ``href``; a permalink
  ``guid``/``id`` stands in when no link came before it. Links are resolved
  against the feed URL as feedparser does.
- Id: ``guid``/``id``, else RDF's ``rdf:about``. Dates: ``pubDate``/``published``/
  ``issued``/``dcterms:issued``; ``updated``/``modified``/``dc:date``/
  ``dcterms:modified``; ``created``/``dcterms:created`` (the last one of each wins),
  as text: ``bot.feeds.parse`` parses the one it uses with feedparser's own date
  parser (most entries carry two dates and use one).
- Body: every ``content:encoded``, ``content``, ``description``, ``summary`` and
  ``media:description`` is a candidate; ``bot.feeds.parse`` keeps the longest.

Mending: a body that is not well-formed is mended once (HTML named entities become
character references, a bare ``&`` is escaped, control characters XML forbids are
removed) and parsed again; feedparser's loose parser reads such feeds the same way.
Markup after the root element (a CDN's ``<script>`` after ``</rss>``) is cut off
and the feed read with a ``TrailingMarkup`` warning.

It declines (returns ``None``) for: UTF-16/32 bodies, bodies that do not start with
ASCII ``<`` (EBCDIC…), a charset that Python does not know, an HTTP charset that
disagrees with the XML declaration, a DOCTYPE that declares entities, XML that is
still broken once mended, another root element (Atom 0.3, CDF…), an entry with none
of the fields it reads, and a title, link, id, date or body field that holds markup
elements (unescaped HTML in RSS), which feedparser re-serialises its own way.

Decoding: a UTF-8 body with invalid bytes is decoded with U+FFFD for each bad
sequence, so one bad byte spoils one item's text and not the whole feed. libxml2
checks the UTF-8 as it parses (it refuses a bad sequence anywhere in a document),
so the body is repaired only when that parse fails.

Element budget: with ``budget``, a body with more ``<`` than that is cut before the
budget-th ``<`` and parsed in recovery mode; the entries that closed before the cut
are returned and the one cut in half is dropped.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import re
from html.entities import entitydefs, html5
from typing import Any

from feedparser.sanitizer import _HTMLSanitizer  # its looks_like_html tag list
from lxml import etree

from bot.core.text import join_url

__all__ = ["TrailingMarkup", "read_feed", "repair_utf8", "utf8_repaired"]

_RSS_NS = (
    "",
    "http://backend.userland.com/rss",
    "http://blogs.law.harvard.edu/tech/rss",
    "http://purl.org/rss/1.0/",
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://purl.org/rss/1.0/modules/rss091#",
    "http://www.w3.org/2005/Atom",
)
_ATOM = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_DCTERMS = "http://purl.org/dc/terms/"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_SY = (
    "http://purl.org/rss/1.0/modules/syndication/",
    "http://purl.org/rss/modules/syndication/",  # feedparser goes by the "sy" prefix
)
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_MEDIA = ("http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss")
_XHTML_NS = "http://www.w3.org/1999/xhtml"


def _clark(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


# What each child element of an entry (or channel) means: (field, default type).
_FIELDS: dict[str, tuple[str, str]] = {}
for _ns in _RSS_NS:
    for _name, _field in (
        ("title", ("title", "text/plain")),
        ("link", ("link", "")),
        ("guid", ("id", "")),
        ("id", ("id", "")),
        ("pubDate", ("published", "")),
        ("published", ("published", "")),
        ("issued", ("published", "")),
        ("updated", ("updated", "")),
        ("modified", ("updated", "")),
        ("lastBuildDate", ("updated", "")),
        ("created", ("created", "")),
        ("description", ("summary", "text/html")),
        ("summary", ("summary", "text/plain")),
        ("content", ("content", "text/plain")),
        ("ttl", ("ttl", "")),
    ):
        _FIELDS[_clark(_ns, _name)] = _field
_FIELDS.update(
    {
        _clark(_DC, "title"): ("title", "text/plain"),
        _clark(_DC, "date"): ("updated", ""),
        _clark(_DC, "description"): ("summary", "text/html"),
        _clark(_DCTERMS, "issued"): ("published", ""),
        _clark(_DCTERMS, "modified"): ("updated", ""),
        _clark(_DCTERMS, "created"): ("created", ""),
        _clark(_CONTENT, "encoded"): ("content", "text/html"),
    }
)
for _ns in _SY:
    _FIELDS[_clark(_ns, "updatePeriod")] = ("sy_updateperiod", "")
    _FIELDS[_clark(_ns, "updateFrequency")] = ("sy_updatefrequency", "")
for _ns in _MEDIA:
    _FIELDS[_clark(_ns, "title")] = ("title", "text/plain")
    _FIELDS[_clark(_ns, "description")] = ("summary", "text/html")
_MEDIA_TITLE = frozenset(_clark(ns, "title") for ns in _MEDIA)
_MEDIA_BODY = frozenset(_clark(ns, "description") for ns in _MEDIA)
_MEDIA_ANY = tuple(_MEDIA_TITLE | _MEDIA_BODY)
_MEDIA_PARENTS = frozenset(_clark(ns, n) for ns in _MEDIA for n in ("content", "group"))
_USABLE = frozenset({"title", "link", "id", "content", "summary"})
_COPY_TYPES = frozenset({"text/plain", "text/html", "application/xhtml+xml"})
_ENTRY_TAGS = tuple(_clark(ns, name) for ns in _RSS_NS for name in ("item", "entry"))
_CHANNEL_TAGS = frozenset(_clark(ns, "channel") for ns in _RSS_NS)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TYPE_NAMES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}
_TYPE_NAMES["xhtml"] = "application/xhtml+xml"

# feedparser's looks_like_html: a closing tag or an entity, only known HTML tags and
# entities (feedparser.sanitizer._HTMLSanitizer.acceptable_elements, html.entities).
_CLOSE_TAG = re.compile(r"</(\w+)>")
_ENTITY = re.compile(r"&#?\w+;")
_TAG_NAME = re.compile(r"</?(\w+)")
_ENTITY_NAME = re.compile(r"&(\w+);")
_HTML_ELEMENTS = frozenset(_HTMLSanitizer.acceptable_elements)
_WIDE_CHAR = re.compile("[^\x00-\x7f\ufffd]")
_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
_URIFIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_LINK_ENTITY = re.compile(r"&([A-Za-z0-9_]+);")


def _looks_like_html(s: str) -> bool:
    if "&" not in s and "<" not in s:
        return False  # most titles: neither regex can match
    if not (_CLOSE_TAG.search(s) or _ENTITY.search(s)):
        return False
    if any(t.lower() not in _HTML_ELEMENTS for t in _TAG_NAME.findall(s)):
        return False
    return all(e in entitydefs for e in _ENTITY_NAME.findall(s))


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return ""


def _decode(body: bytes, content_type: str, *, check: bool = True) -> tuple[bytes, str] | None:
    """UTF-8 bytes of ``body`` (bad sequences replaced) and the codec name, or None.

    ``check=False``: a body in UTF-8 (or ASCII) comes back as it is, unchecked; the
    caller repairs it (``repair_utf8``) if libxml2 finds a bad sequence, which it
    refuses in every part of a document."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        return None  # UTF-16/32: left to feedparser's detection
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if body.lstrip(b" \t\r\n")[:1] != b"<":
        return None  # not ASCII-compatible markup (EBCDIC…) or not markup at all
    m = _DECL.match(body[:400])
    declared = _codec(m.group(1).decode("ascii")) if m else "utf-8"
    if declared is not None and declared.startswith(("utf-16", "utf-32")):
        declared = "utf-8"  # declared wide, but the bytes are not (no BOM, no NULs)
    http = _charset(content_type)
    given = _codec(http) if http else declared
    if declared is None or given is None:
        return None
    if given != declared and not (given == "utf-8" and declared == "ascii"):
        return None  # feedparser's RFC 3023 rules and retries decide these
    if declared in ("utf-8", "ascii"):
        if not check:
            return body, "utf-8"
        repaired = repair_utf8(body)
        return None if repaired is None else (repaired, "utf-8")
    return body.decode(declared, "replace").encode("utf-8"), declared


def utf8_repaired(body: bytes, content_type: str) -> bytes:
    """``body`` with invalid UTF-8 sequences replaced when it is UTF-8 by its HTTP
    charset or XML declaration (or says nothing); else ``body`` as it is."""
    decoded = _decode(body, content_type)
    return decoded[0] if decoded is not None and decoded[1] == "utf-8" else body


def repair_utf8(body: bytes) -> bytes | None:
    """``body`` with each invalid UTF-8 sequence replaced by U+FFFD; ``body`` itself when
    it is valid; ``None`` when no byte of it is valid multi-byte UTF-8 (then it is
    really in a legacy charset, and feedparser's fallback to cp1252 is right)."""
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "replace")
    if _WIDE_CHAR.search(text) is None:
        return None
    return text.encode("utf-8")


# Every "&" but those of a character reference or one of XML's five entities (they
# stay as they are, and most "&" of a feed are these: not matching them saves a call
# each), with the name of an entity after it, if any.
_AMP = re.compile(
    rb"&(?!#[0-9]{1,8};|#[xX][0-9a-fA-F]{1,8};|(?:amp|lt|gt|quot|apos);)"
    rb"([A-Za-z][A-Za-z0-9]{0,31};)?"
)
_BAD_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _amp(m: re.Match[bytes]) -> bytes:
    ref = m.group(1)
    if ref is None:
        return b"&amp;"  # a bare "&"
    char = html5.get(ref.decode("ascii"))
    if char is None:
        return b"&amp;" + ref  # not an entity: its text, as written
    return "".join(f"&#{ord(c)};" for c in char).encode("ascii")


def _mend(data: bytes) -> bytes:
    """``data`` with HTML named entities as character references, bare ``&`` escaped
    and control characters XML forbids removed."""
    return _AMP.sub(_amp, _BAD_CONTROLS.sub(b"", data))


def _parser(recover: bool) -> etree.XMLParser:
    # A parser per call: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
        collect_ids=False,
    )


class _Decline(Exception):
    """This body is left to feedparser."""


def _cut(body: bytes, budget: int) -> bytes:
    """``body`` up to its ``budget``-th ``<`` (exclusive)."""
    pos = -1
    find = body.find
    for _ in range(budget):
        pos = find(b"<", pos + 1)
        if pos < 0:
            return body
    return body[:pos]


def read_feed(
    body: bytes,
    base: str,
    *,
    content_type: str = "",
    budget: int | None = None,
    keep: int | None = None,
) -> dict[str, Any] | None:
    """A feedparser-shaped result for ``body``, or ``None`` to use feedparser instead.

    ``base`` is the URL links are resolved against (feedparser's content-location);
    ``budget``, when given, is the most ``<`` the body may hold before it is cut;
    ``keep``, when given, keeps only the first and the last ``keep`` entries (``_entries``).
    """
    if body.find(b"<!ENTITY", 0, 65_536) >= 0:
        return None
    decoded = _decode(body, content_type, check=False)
    if decoded is None:
        return None
    data, encoding = decoded
    # No more "<" than bytes: a body this short needs no count.
    markup = data.count(b"<") if budget is not None and len(data) > budget else 0
    cut = budget is not None and markup > budget
    checked = encoding != "utf-8"
    if cut:
        assert budget is not None
        # Recovery mode would read bad UTF-8 its own way: repaired first.
        repaired = data if checked else repair_utf8(data)
        if repaired is None:
            return None
        data, checked = _cut(repaired, budget), True
    junk: int | None = None
    try:
        root = etree.fromstring(data, _parser(recover=cut))
    except etree.XMLSyntaxError as exc:
        root, data, junk = _reparsed(data, exc, recover=cut, checked=checked)
    if root is None:
        return None
    try:
        result = _read_tree(root, base, encoding == "utf-8", cut, keep)
    except _Decline:
        return None
    if result is not None:
        result["markup"] = markup
    if result is not None and junk is not None:
        result["bozo"] = True
        result["bozo_exception"] = TrailingMarkup(
            f"markup after the end of the feed at line {junk} ignored"
        )
    return result


def _reparsed(
    data: bytes, exc: etree.XMLSyntaxError, *, recover: bool, checked: bool
) -> tuple[Any, bytes, int | None]:
    """The tree of ``data`` once what stopped libxml2 is fixed, the data it was read
    from, and the line of markup cut off after the root (or None); the tree is None
    when the body is still broken (or is not UTF-8 at all), for feedparser to read.

    Fixed in turn: bad UTF-8 sequences (``repair_utf8``, unless ``checked``); markup
    after the root element (a CDN's script tag); the usual faults of real feeds,
    HTML entities, a bare "&" and control characters (``_mend``).
    """
    if not checked:
        repaired = repair_utf8(data)
        if repaired is None:
            return None, data, None  # a legacy charset: feedparser's cp1252 is right
        if repaired is not data:
            data = repaired
            try:
                return etree.fromstring(data, _parser(recover)), data, None
            except etree.XMLSyntaxError as again:
                exc = again
    data, junk = _without_trailing_junk(data, exc)
    if junk is not None:
        with contextlib.suppress(etree.XMLSyntaxError):
            return etree.fromstring(data, _parser(recover)), data, junk
    try:
        return etree.fromstring(_mend(data), _parser(recover)), data, junk
    except etree.XMLSyntaxError:
        return None, data, junk


class TrailingMarkup(ValueError):
    """Markup after the root element (feedparser's "junk after document element"):
    read up to the root's end, with a warning on the feed."""


_ROOT_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|RDF)\s*>")
_TAIL_BYTES = 65_536


def _without_trailing_junk(data: bytes, exc: etree.XMLSyntaxError) -> tuple[bytes, int | None]:
    """``data`` cut after the end tag of its root, and the line the junk starts on,
    when libxml2 stopped at content after the root element (a CDN injects a
    ``<script>`` after ``</rss>``); else ``data`` unchanged and None.

    Only the last 64 KiB are searched for the end tag: junk longer than that is
    left to feedparser. The caller parses the cut body strictly again, so a body
    whose root really ended earlier still fails.
    """
    if "Extra content at the end of the document" not in str(exc):
        return data, None
    start = max(0, len(data) - _TAIL_BYTES)
    ends = [m.end() for m in _ROOT_END.finditer(data, start)]
    if not ends:
        return data, None
    end = ends[-1]
    junk = len(data) - len(data[end:].lstrip())  # where the junk starts
    return data[:end], data.count(b"\n", 0, junk) + 1


def _version(root: Any) -> tuple[str, Any] | None:
    tag = root.tag
    if tag == "rss":
        version = str(root.get("version", ""))
        known = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
        name = known.get(version) or ("rss20" if version.startswith("2.") else "rss")
        channel = next((c for c in root if c.tag in _CHANNEL_TAGS), root)
        return name, channel
    if tag == _clark(_ATOM, "feed"):
        return "atom10", root
    if tag == _clark(_RDF, "RDF"):
        channel = next((c for c in root if c.tag in _CHANNEL_TAGS), None)
        name = "rss10" if channel is not None and "rss/1.0" in channel.tag else "rss090"
        return name, channel if channel is not None else root
    return None


def _entries(
    root: Any, base: str, utf8: bool, atom: bool, keep: int | None
) -> list[dict[str, Any]] | None:
    """Every entry's fields, or None when one has none we use. With ``keep``, the
    entries between the first and the last ``keep`` are read and checked but kept as
    empty dicts: ``parse_feed`` uses only the ends of a long feed, and 10,000 entries
    held as dicts cost ~25 MiB."""
    head: list[dict[str, Any]] = []
    tail: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
    dropped = 0
    for e in root.iter(*_ENTRY_TAGS):
        fields = _fields(e, base, utf8, atom, entry=True)
        if not fields.keys() & _USABLE:
            return None  # an entry made of elements only feedparser knows (xhtml:body…)
        if keep is None or len(head) < keep:
            head.append(fields)
            continue
        if len(tail) == keep:
            dropped += 1
        tail.append(fields)
    return head + [{} for _ in range(dropped)] + list(tail)


def _read_tree(
    root: Any, base: str, utf8: bool, cut: bool, keep: int | None = None
) -> dict[str, Any] | None:
    found = _version(root)
    if found is None:
        return None
    version, channel = found
    atom = version.startswith("atom")
    feed = _fields(channel, base, utf8, atom, entry=False)
    entries = _entries(root, base, utf8, atom, keep)
    if entries is None:
        return None
    if cut and entries:
        entries.pop()  # the entry the cut went through (or the last before it): maybe partial
    return {"feed": feed, "entries": entries, "version": version, "bozo": False}


def _value(el: Any, utf8: bool) -> str:
    if len(el):
        raise _Decline
    text = el.text or ""
    if utf8 and not text.isascii():
        # feedparser's repair of UTF-8 that was read as Latin-1 and encoded again.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            text = text.encode("iso-8859-1").decode("utf-8")
    return text.strip()


def _xhtml(el: Any) -> str:
    """The markup inside an Atom ``type="xhtml"`` construct, less its wrapping div."""
    children = list(el)
    if len(children) == 1 and children[0].tag == _clark(_XHTML_NS, "div"):
        el = children[0]
    parts = [el.text or ""]
    parts.extend(etree.tostring(c, encoding="unicode", with_tail=True) for c in el)
    return "".join(parts).strip()


def _text_construct(el: Any, default: str, utf8: bool, atom: bool) -> dict[str, str]:
    kind = str(el.get("type") or default).lower()
    kind = _TYPE_NAMES.get(kind, kind)
    if kind == "application/xhtml+xml" and atom and len(el):
        return {"value": _xhtml(el), "type": kind}
    value = _value(el, utf8)
    if not atom and kind == "text/plain" and _looks_like_html(value):
        kind = "text/html"
    return {"value": value, "type": kind}


def _resolve(uri: str, base: str) -> str:
    if ":///" in uri:  # else the fixer has no slashes to drop
        uri = _URIFIXER.sub(r"\1\3", uri)
    try:
        return join_url(base, uri)
    except ValueError:
        return ""


def _base(el: Any, base: str) -> str:
    """``base`` with the ``xml:base`` of ``el`` and its ancestors applied, outermost first."""
    chain = [b for a in (el, *el.iterancestors()) if (b := a.get(_XML_BASE)) is not None]
    for step in reversed(chain):
        base = _resolve(step, base)
    return base


class _Body:
    """feedparser's rules for an entry's ``content`` and ``summary``.

    ``content:encoded`` and Atom ``content`` are content (and the summary when there
    is none yet); a ``description``/``summary`` is the summary, or more content when
    a summary came first and no content did; a later summary replaces an earlier one
    that is not nested deeper."""

    __slots__ = ("content", "has_content", "summary", "summary_depth")

    def __init__(self) -> None:
        self.content: list[dict[str, str]] = []
        self.has_content = False
        self.summary: dict[str, str] | None = None
        self.summary_depth: int | None = None

    def add_content(self, value: dict[str, str]) -> None:
        self.has_content = True
        self.content.append(value)
        if self.summary is None and value["type"] in _COPY_TYPES:
            self.summary = value

    def add_summary(self, value: dict[str, str], depth: int) -> None:
        if self.summary is not None and not self.has_content:
            self.add_content(value)
        elif self.summary_depth is None or depth <= self.summary_depth:
            self.summary = value
            self.summary_depth = depth


def _fields(el: Any, base: str, utf8: bool, atom: bool, *, entry: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    body = _Body()
    title: dict[str, str] | None = None
    link: str | None = None
    if el.get(_XML_BASE) is not None or (entry and el.getparent().get(_XML_BASE) is not None):
        base = _base(el, base)
    rdf_id = el.get(_clark(_RDF, "about"))
    if entry and rdf_id:
        out["id"] = rdf_id
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        field = _FIELDS.get(tag)
        if field is None:
            if entry and tag in _MEDIA_PARENTS:
                for media in child.iter(*_MEDIA_ANY):
                    if media.tag in _MEDIA_TITLE:
                        if title is None:
                            title = _text_construct(media, "text/plain", utf8, atom)
                        continue
                    depth = (
                        1
                        + sum(1 for _ in media.iterancestors() if _ is not el)
                        - len(list(el.iterancestors()))
                    )
                    body.add_summary(_text_construct(media, "text/html", utf8, atom), depth)
            continue
        name, default = field
        if name == "title":
            if title is None or not title["value"] or tag in _MEDIA_TITLE:
                title = _text_construct(child, default, utf8, atom)
        elif name in ("summary", "content"):
            if entry:
                value = _text_construct(child, default, utf8, atom)
                if name == "content":
                    body.add_content(value)
                else:
                    body.add_summary(value, 1)
        elif name == "link":
            href = child.get("href")
            if href is None:
                text = _value(child, utf8)
                text = _LINK_ENTITY.sub(r"&\g<1>", text.replace("&amp;", "&"))
                link = _resolve(text, base) if text else link
                continue
            rel = str(child.get("rel") or "alternate").lower()
            kind = str(child.get("type") or "text/html").lower()
            if rel == "alternate" and _TYPE_NAMES.get(kind, kind) in _HTML_TYPES:
                link = _resolve(href, _base(child, base) if child.get(_XML_BASE) else base)
        elif name == "id":
            guid = _value(child, utf8)
            permalink = child.get("isPermaLink", child.get("ispermalink", "true")) == "true"
            if guid and permalink:
                guid = _resolve(guid, base)
            out["id"] = guid
            if permalink and link is None:
                link = guid
        elif name in ("published", "updated", "created"):
            out[name] = _value(child, utf8)  # parsed by bot.feeds.parse when read
        else:  # ttl, sy_*: feed-level values
            out[name] = _value(child, utf8)
    if entry:
        if body.content:
            out["content"] = body.content
        if body.summary is not None:
            out["summary_detail"] = body.summary
            out["summary"] = body.summary["value"]
    if title is not None:
        out["title_detail"] = title
        out["title"] = title["value"]
    if link is not None:
        out["link"] = link
    return out
