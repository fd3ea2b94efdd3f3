"""Extractive summaries: the lead plus the sentences that name a watched term.

The rule
--------
1. Feed tails ("The post … appeared first on …", "Continue reading") are cut with
   :func:`bot.core.text.strip_feed_furniture`; the text is split into lines
   (paragraphs); a line shorter than :data:`LINE_CHARS` that :func:`is_furniture`
   flags is dropped whole.
2. The remaining lines are split into sentences (:func:`split_sentences`); sentences
   that are furniture themselves ("Share on Facebook" glued into a one-line feed
   body) or repeat the title are dropped too, and a leading wire dateline
   ("PRISTINA, Kosovo (AP) — ") is trimmed from a sentence.
3. The summary is the first sentence (the lead) plus every sentence that contains a
   text match, in text order, added while the total stays within ``budget``
   characters; sentences that do not fit are skipped whole, never cut. When only the
   lead is chosen, the sentence after it is added if it fits, so the reader gets two
   sentences of context. A lead longer than the budget on its own is cut at a word
   boundary and ends with "…". Sentences are joined by one space; whitespace runs
   become one space.
4. The text of each text match (``Match.field == "text"``) inside a chosen sentence is
   a highlighted :class:`Span`; a cut never splits a highlighted name.
5. If nothing is left (no text, or only furniture), the title is the summary, with
   its own matches highlighted.

The result depends only on the arguments: same input, same summary.

Sentence splitting
------------------
A sentence ends at ``. ! ? …`` (and ``。！？`` / ``।`` / ``؟``), after any closing
quotes or brackets, when followed by white space and a character that is not a
lower-case letter, or at a line break. It does not end after a known abbreviation
(Mr., Dr., Gen., Lt., No. 5, Jan., etc., e.g., vs.), after a single initial ("J.
Smith"), or after a dotted acronym (U.S., U.N.) unless the next word is a usual
sentence opener (The, He, It, But …). Decimals (3.5) never split: no space follows.
CJK full stops split without a following space.

Known misses: an acronym ending a sentence before a name ("…talks with the U.S.
Trump said") stays one sentence; an abbreviation missing from the list followed by a
capitalised word splits; text whose sentences lack final punctuation (some
languages, lists) becomes one long sentence and is cut at a word.

Furniture
---------
:func:`is_furniture` is true for a line that is, in order of the checks:
empty or punctuation only; a sharing/social prompt ("Share on Facebook", "Follow us
on X", "Share this article"); a cookie, newsletter, subscription, sign-up or login
banner; a "Related posts / Read also / More from / You may also like" list heading;
a byline ("By John Smith", "Reporting by …") or a photo credit ("Photo: …", "Photo
credit", "Getty Images", "AP Photo/…", "Reuters/…"); "Advertisement", "Sponsored";
"All rights reserved" / "©"; "Click here"; a date or time alone ("February 17,
2026", "Updated 3 hours ago", "17.02.2026 14:05"); a menu (two or more separators
such as ``|``, ``›``, ``•``, ``»`` between short items); or a line without sentence
shape: fewer than five words and no final punctuation ("Most Read", "World News").
Keyword checks for banners apply to lines shorter than :data:`BANNER_CHARS`
characters, so an article sentence that mentions a newsletter survives.
Known misses: furniture written as a full sentence ("Our journalism depends on
readers like you, so please consider supporting us today.") passes; a short real
paragraph without final punctuation (a caption-like first line) is dropped.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.models import Match, Span, Summary
from bot.core.text import strip_feed_furniture

__all__ = ["BANNER_CHARS", "LINE_CHARS", "is_furniture", "split_sentences", "summarize"]

BANNER_CHARS = 120
LINE_CHARS = 120
"""Lines shorter than this are judged whole; longer ones one sentence at a time, so a
"Share on Facebook" glued to an article sentence costs only itself."""
ELLIPSIS = "…"

# ---------------------------------------------------------------- furniture patterns

_SOCIAL = (
    r"facebook|twitter|x|whatsapp|linkedin|telegram|reddit|pinterest|email|e-mail|"
    r"messenger|bluesky|threads|instagram|tiktok|youtube|viber|flipboard"
)
# Patterns that mark furniture wherever they appear at the start of a line, any length.
_ANCHORED = re.compile(
    r"""^(?:
        share(?:\s+(?:this|the)\s+(?:article|story|post|page|link)\b
              | \s*(?:on|via|to|with)?\s*(?:"""
    + _SOCIAL
    + r""")\b
              | \s*$)
      | (?:"""
    + _SOCIAL
    + r""")\s*$
      | tweet\b | pin\s+it\b | print\s*$ | comments?\s*(?:\(\d+\))?\s*$
      | follow\s+us\b
      | (?:related|recommended|popular|trending|latest|top)
            \s+(?:posts?|articles?|stories|news|reads?|coverage|content|videos?|topics?)\b
      | read\s+(?:also|more|next|this\s+next)\b | see\s+also\b | also\s+read\b
      | more\s+(?:from|on|about|stories|news|in)\b | you\s+(?:may|might)\s+also\s+like\b
      | most\s+(?:read|popular|viewed|shared)\b | don'?t\s+miss\b | editor'?s\s+picks?\b
      | (?:reporting|writing|editing|additional\s+reporting)\s+by\b
      | (?:photo|photograph|image|picture|video|graphic|illustration)s?
            \s*(?:credit|caption|source|courtesy)?\s*(?::|by\b|/|credit\b|©)
      | (?:getty\s+images|ap\s+photo|afp|reuters|anadolu|epa|shutterstock)\s*(?:/|$|via\b)
      | advertisement\b | sponsored\b | ad\s*$ | promoted\b
      | subscribe\b | sign\s+(?:up|in)\b | log\s*in\b | register\b | skip\s+to\b
      | click\s+here\b | tap\s+here\b | listen\s+to\s+this\b
      | (?:updated|published|posted|last\s+modified)\s*(?::|on\b|at\b|\d)
      | continue\s+reading\b | the\s+post\s+.*\s+appeared\s+first\s+on\b
      | home\s*(?:[|›»>/•·]|$)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Banner words that mark furniture anywhere in a short line.
_BANNER = re.compile(
    r"""\b(?:
        cookies? | privacy\s+policy | terms\s+of\s+(?:use|service) | newsletter
      | subscribe | subscription | sign\s+up | log\s+in | all\s+rights\s+reserved
      | click\s+here | advertisement | getty\s+images | ap\s+photo | photo\s+credit
      | share\s+(?:on|via)\s+(?:"""
    + _SOCIAL
    + r""")
      | (?:follow|like)\s+us\s+on | appeared\s+first\s+on | unlimited\s+access
      | already\s+a\s+(?:subscriber|member) | accept\s+all
    )\b|©""",
    re.IGNORECASE | re.VERBOSE,
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAYS = (
    r"mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?"
)
# Tokens a line made only of a date or time consists of.
_DATE_TOKEN = re.compile(
    r"\b(?:" + _MONTHS + "|" + _DAYS + r"|\d{1,4}(?:st|nd|rd|th)?|am|pm|a\.m|p\.m|gmt|utc|"
    r"cet|cest|est|edt|pst|pdt|bst|ist|updated|published|posted|ago|minutes?|mins?|"
    r"hours?|hrs?|days?|weeks?|on|at|today|yesterday|last|modified|read|min|h)\b",
    re.IGNORECASE,
)
_MENU_SEP = re.compile(r"\s[|›»•·>/]\s|\s*\|\s*")
_WORDS = re.compile(r"\w+(?:['’.-]\w+)*")
_FINAL = re.compile(r"[.!?…。！？।؟:;\"”’»)]\s*$")


_BYLINE = re.compile(
    r"(?:(?:written|reporting|reported|words|story|text)\s+)?(?:by|von|par|od|nga)\s+(.+)$",
    re.IGNORECASE,
)
_NAME_SEP = re.compile(r"\s*,\s*|\s+(?:and|&|und|i|e|ve|y)\s+|\s+")


def _is_byline(s: str) -> bool:
    """ "By John Smith", "By A. Berisha and M. Stojanović | Balkan Wire": names only."""
    m = _BYLINE.match(s)
    if not m:
        return False
    names = re.split(r"\s*[|–—/]\s*", m.group(1))[0].strip(" .")
    words = [w for w in _NAME_SEP.split(names) if w]
    # Every word capitalised: "By Tuesday evening the crossing had reopened" is a sentence.
    return 1 <= len(words) <= 6 and all(w[0].isupper() for w in words)


def is_furniture(line: str) -> bool:
    """True when ``line`` is page or feed furniture rather than article text.

    See the module docstring for the rule and its known misses.
    """
    s = line.strip()
    if not s or not any(ch.isalnum() for ch in s):
        return True
    if _ANCHORED.match(s) or _is_byline(s):
        return True
    if len(s) < BANNER_CHARS and _BANNER.search(s):
        return True
    words = _WORDS.findall(s)
    if not _DATE_TOKEN.sub("", " ".join(words)).strip(" ,.:-–—/"):
        return True  # nothing but date and time words
    if len(s) < BANNER_CHARS and len(_MENU_SEP.findall(s)) >= 2:
        return True  # "Home | World | Europe": items between separators
    return len(words) < 5 and not _FINAL.search(s)


# ------------------------------------------------------------------- sentences

_ABBREVIATION_WORDS = """mr mrs ms dr prof gen lt col maj capt cpt sgt cmdr adm gov sen rep
    rev hon pres
    st jr sr mt ft no nos nr vol vols pp p fig approx ca cf vs etc inc ltd co corp dept
    univ est jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    al art ch op ed eds repr mio mrd bzw usw ggf vgl dr sv str"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_OPENER_WORDS = """the a an he she it they we i you his her its their this that these those there
    but and so yet however meanwhile in on at after before when while if as for
    according"""
_OPENERS = frozenset(_OPENER_WORDS.split())
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？।؟]+[\"'”’»)\]」』]*")
_DOTTED_ACRONYM = re.compile(r"(?:\b\w\.){2,}$")
_DATELINE = re.compile(
    r"[A-ZÀ-ÞĀ-Ž][A-ZÀ-ÞĀ-Ž .'-]{2,40}(?:,\s[A-Z][\w .'-]{1,30})?(?:\s\([\w .]{1,20}\))?"
    r"\s?[—–-]{1,2}\s+"
)


_WINDOW = 64


def _splits_here(text: str, end: int, mark: str) -> bool:
    """Whether a sentence end mark ``text[..end]`` really ends a sentence."""
    # Bounded windows around the mark: slicing the whole rest of a long one-line body at
    # every full stop would make splitting quadratic.
    rest = text[end : end + _WINDOW].lstrip(" \t")
    if not rest:
        return True
    nxt = rest[0]
    if mark[0] in "。！？।؟":
        return True
    if nxt.islower():
        return False
    if mark.rstrip("\"'”’»)]") != ".":
        return True  # "!", "?", "…", "..." before a capital end a sentence
    head = text[max(0, end - _WINDOW) : end].rstrip("\"'”’»)]")[:-1]
    m = re.search(r"(\S+)$", head)
    word = m.group(1) if m else ""
    bare = word.lstrip("(\"'“‘«[").casefold()
    if bare in _ABBREVIATIONS:
        if bare in {"no", "nos", "nr", "vol", "p", "pp", "art", "fig"}:
            return not nxt.isdigit()
        return False
    if len(bare) == 1 and bare.isalpha():
        return False  # an initial: "J. Smith"
    if _DOTTED_ACRONYM.search(word + "."):
        first = re.match(r"\w+", rest)
        return first is not None and first.group().casefold() in _OPENERS
    return True


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the sentences of ``text``, edges trimmed of space."""
    out: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        line_start = pos
        pos += len(line)
        start = line_start
        for m in _END.finditer(line):
            end = line_start + m.end()
            if _splits_here(text, end, m.group()):
                _append(text, out, start, end)
                start = end
        _append(text, out, start, line_start + len(line))
    return out


def _append(text: str, out: list[tuple[int, int]], start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        out.append((start, end))


# ------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _build(
    source: str, pieces: Sequence[_Piece], marks: Sequence[tuple[int, int]], budget: int
) -> tuple[Span, ...]:
    """Spans for the chosen pieces of ``source``, highlighting ``marks``, within ``budget``."""
    spans: list[Span] = []
    for n, piece in enumerate(pieces):
        if n:
            spans.append(Span(" "))
        cuts = sorted(
            (max(a, piece.start), min(b, piece.end))
            for a, b in marks
            if a < piece.end and b > piece.start
        )
        pos = piece.start
        for a, b in cuts:
            if a < pos:
                continue
            if a > pos:
                spans.append(Span(_clean(source[pos:a])))
            spans.append(Span(_clean(source[a:b]), highlight=True))
            pos = b
        if pos < piece.end:
            spans.append(Span(_clean(source[pos : piece.end])))
    merged = _merge(spans)
    if sum(len(s.text) for s in merged) > budget:
        merged = _cut(merged, budget)
    return tuple(merged)


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if not s.text:
            continue
        if out and out[-1].highlight == s.highlight and not s.highlight:
            out[-1] = Span(out[-1].text + s.text)
        else:
            out.append(s)
    return out


def _cut(spans: list[Span], budget: int) -> list[Span]:
    """Cut at a word boundary so the text plus "…" fits ``budget``; never inside a name."""
    room = budget - len(ELLIPSIS)
    out: list[Span] = []
    used = 0
    for s in spans:
        if used + len(s.text) <= room:
            out.append(s)
            used += len(s.text)
            continue
        if not s.highlight:
            part = s.text[: room - used]
            # Back off to the last space so no word is cut; if the next character is a
            # space the whole last word fits as it is.
            if len(s.text) > len(part) and not s.text[len(part)].isspace():
                part = part[: part.rfind(" ") + 1] if " " in part else ""
            if part.strip():
                out.append(Span(part))
        break
    while out and not out[-1].text.strip():
        out.pop()
    if out and not out[-1].highlight:
        out[-1] = Span(out[-1].text.rstrip(" ,;:—–-"))
    out.append(Span(ELLIPSIS))
    return _merge(out)


def summarize(title: str, text: str, matches: Sequence[Match], *, budget: int = 600) -> Summary:
    """A short extractive summary of a story with the watched names highlighted."""
    budget = max(budget, 20)
    body_len = len(text)
    stripped = strip_feed_furniture(text)
    if text.startswith(stripped):
        body_len = len(stripped)  # the tail is cut; offsets before it stay valid
    sentences: list[_Piece] = []
    pos = 0
    for line in text[:body_len].splitlines(keepends=True):
        line_start = pos
        pos += len(line)
        if len(line) < LINE_CHARS and is_furniture(line):
            continue  # a short furniture line goes whole; longer ones sentence by sentence
        for a, b in split_sentences(line):
            a, b = a + line_start, b + line_start
            if is_furniture(text[a:b]) or _same(text[a:b], title):
                continue  # furniture, or the headline repeated at the top of the body
            m = _DATELINE.match(text, a, b)
            # Only a place with a comma or an agency in brackets is a dateline; "NATO —"
            # alone may be the subject of the sentence.
            if m and m.end() < b and ("," in m.group() or "(" in m.group()):
                a = m.end()
            sentences.append(_Piece(a, b))

    text_marks = sorted(
        {(m.start, m.end) for m in matches if m.field == "text" and 0 <= m.start < m.end}
    )
    if sentences:
        chosen = _choose(sentences, text_marks, budget)
        return Summary(_build(text, chosen, text_marks, budget))

    title_marks = sorted(
        {(m.start, m.end) for m in matches if m.field == "title" and 0 <= m.start < m.end}
    )
    t = title.strip()
    if not t:
        return Summary(())
    start = title.index(t)
    return Summary(_build(title, [_Piece(start, start + len(t))], title_marks, budget))


def _choose(sentences: list[_Piece], marks: list[tuple[int, int]], budget: int) -> list[_Piece]:
    def size(p: _Piece) -> int:
        return p.end - p.start  # an upper bound: whitespace runs only shrink

    starts = [a for a, _ in marks]  # sorted, as ``marks`` is

    def named(p: _Piece) -> bool:
        i = bisect_left(starts, p.start)
        return i < len(starts) and starts[i] < p.end

    lead = sentences[0]
    chosen = [lead]
    used = size(lead)
    for p in sentences[1:]:
        if named(p) and used + 1 + size(p) <= budget:
            chosen.append(p)
            used += 1 + size(p)
    if len(chosen) == 1 and len(sentences) > 1 and used + 1 + size(sentences[1]) <= budget:
        chosen.append(sentences[1])
    return chosen
