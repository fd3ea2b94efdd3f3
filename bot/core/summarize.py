"""Extractive summaries: the lead plus the sentences that name a watched term.

The rule
--------
1. The story (:func:`story_lines`, also :func:`main_text`, which parsing stores as the
   story's text so watchlists match only it): feed tails ("The post … appeared first
   on …", "Continue reading") are cut with :func:`bot.core.text.strip_feed_furniture`;
   the text is split into lines (paragraphs); a line shorter than :data:`LINE_CHARS`
   that :func:`is_chrome` flags is dropped whole, and so is a line of shortcodes; a
   first line that repeats the headline (:func:`repeats_title`: same words in any
   case, or for a line without a final stop four fifths of them, or the headline and
   a subtitle after a dash or colon) is dropped; then every line before the **lede**
   — the first line of four words or more whose first sentence, or whole text, ends
   with ``. ! ? …`` (or that introduces what follows with a colon, six words or
   more) — is dropped: on news pages that is a video card ("The Brief October 24,
   2025" / "Trump says…, and more"), sub-headline bullets, a section heading, a
   caption. Without such a line nothing is dropped for coming first.
2. For the summary, lines shorter than :data:`LINE_CHARS` that :func:`is_furniture`
   flags (chrome, or fewer than five words without a final stop) are dropped too;
   the rest is split into sentences (:func:`split_sentences`); sentences that are
   chrome ("Share on Facebook" glued into a one-line feed body) or furniture
   without a final stop are dropped. A sentence loses, at its start, a list mark
   ("• ", "1- ", "## "), a label ("FULL VIDEO: https://…", "Watch:", "TL;DR"), a
   wire dateline ("PRISTINA, Kosovo (AP) — ", "LONDON: "), and at its end a photo
   credit ("(AP Photo/…)", "(Image credit: …)") — never across a watched name.
3. The text's last sentence is **cut by its feed** when it ends with "…" or "...",
   ends without a final stop on a connecting word or mark ("…dizziness, and"), runs
   on past 200 characters without one, or lacks a final stop after other sentences.
   It is then shown only when it is the lead or names a term, and ends with "…";
   without the feed's own mark its last word (maybe cut: "toxin fr") is dropped
   first. So a teaser ends at its last full sentence, or with "…" after a whole word.
4. The summary is the first sentence (the lead); then, for each term hit in the text
   (terms the title does not show first), the first whole sentence naming it (else a
   heading or cut sentence naming it), or when it does not fit, a window of whole
   words around the hit with "…" on the cut sides — so every term's hit is shown,
   also one deep in an article body; then the other whole sentences that name a
   term, in text order, while the total stays within ``budget`` characters. When only
   the lead is chosen, the next whole sentence (not a heading, list item or a line
   ending in ":") is added if it fits. A summary that would end on ":" or on a
   heading ends with "…". A lead longer than the budget on its own is cut at a word
   boundary and ends with "…". Sentences are joined by one space; whitespace runs
   become one space.
5. The text of each text match (``Match.field == "text"``) inside a chosen sentence is
   a highlighted :class:`Span`; a cut never splits a highlighted name.
6. If nothing is left (no text, only the title, chrome or furniture), the summary is
   empty: the alert shows the title, and a summary never just repeats it.

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

Furniture and chrome
--------------------
:func:`is_chrome` is true for a line that is, in order of the checks:
empty or punctuation only; a sharing/social prompt ("Share on Facebook", "Follow us
on X", "Share this article"); a cookie, newsletter, subscription, sign-up or login
banner; a "Related posts / Read also / More from / You may also like" list heading;
a byline ("By John Smith", "Reporting by …") or a photo credit ("Photo: …", "Photo
credit", "Getty Images", "AP Photo/…", "Reuters/…"); "Advertisement", "Sponsored";
"All rights reserved" / "©"; "Click here"; a date or time alone ("February 17,
2026", "Updated 3 hours ago", "17.02.2026 14:05"); a menu (two or more separators
such as ``|``, ``›``, ``•``, ``»`` between short items); a credit alone in brackets
("(Image credit: Kevin Frayer)"); WordPress shortcodes ("[time-brightcove …]"); a
label alone ("FULL VIDEO: https://…"); "Published in Dawn, February 17th, 2026".
:func:`is_furniture` is also true for a line without sentence shape: fewer than five
words and no final punctuation ("Most Read", "World News") — not chrome, as a short
list item ("Bayraktar TB2 drones") is still the story's text for matching.
Keyword checks for banners apply to lines shorter than :data:`BANNER_CHARS`
characters, so an article sentence that mentions a newsletter survives.
Known misses: chrome inside a line longer than :data:`LINE_CHARS` (a caption glued
to a paragraph) is left out of the summary but still matched; a story whose lede
has fewer than four words, or whose feed text has no sentence ending in a stop
before a heading it should keep, loses what precedes the first prose line;
furniture written as a full sentence ("Our journalism depends on
readers like you, so please consider supporting us today.") passes; a short real
paragraph without final punctuation (a caption-like first line) is dropped.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.core.models import Match, Span, Summary
from bot.core.text import strip_and_judge, strip_feed_furniture

__all__ = [
    "BANNER_CHARS",
    "LINE_CHARS",
    "is_chrome",
    "is_furniture",
    "main_text",
    "repeats_title",
    "split_sentences",
    "story_lines",
    "story_text",
    "summarize",
]

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
      | (?:published|printed|appeared)\s+in\s+\S.{0,60}\b\d{4}\s*$
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
# Every match of _BANNER contains one of these (casefolded).
_BANNER_HINT_WORDS = (
    "cookie",
    "privacy",
    "terms",
    "newsletter",
    "subscri",
    "sign",
    "log",
    "rights",
    "click",
    "advertis",
    "getty",
    "photo",
    "share",
    "follow",
    "like",
    "appeared",
    "unlimited",
    "already",
    "accept",
    "©",
)
# One search for any of them: what ``any(word in line for word in _BANNER_HINT_WORDS)``
# says, without a Python step per word.
_BANNER_HINTS = re.compile("|".join(re.escape(w) for w in _BANNER_HINT_WORDS))
# Rarer letters first: pieces of the _BANNER alternatives, searched in the casefolded
# line before _BANNER_HINTS, which sre tries at nearly every position (its words start
# with "t", "s", "a", "c"...), while these start with "k", "v", "m", "w", "b", "g",
# "p", "h", "y" or "©". Every match of _BANNER in a line leaves a match of one of
# them in its casefold: str.casefold maps character by character; a character that
# IGNORECASE matches to an ASCII letter folds to that letter, but for "İ" ("i̇") and
# "ı" (itself), which it matches to "i" and {i} allows; white space and "©" fold to
# themselves (tests/test_summarize_speed.py checks every code point).
_BANNER_PIECES = re.compile(
    r"""
      k(?:{i}e | \s+here | e\s+us\s+on)              # cookie, click here, like us on
    | v(?:acy\s+pol | ert{i}sement)                  # privacy policy, advertisement
    | m(?:s\s+of\s+(?:use|serv) | {i}ted\s+access)  # terms of use, unlimited access
    | w(?:sletter | \s+us\s+on)                     # newsletter, follow us on
    | bscr                                          # subscribe, subscription
    | g(?:n\s+up | \s+{i}n | hts\s+reserved | etty\s+{i}mages)  # sign up, log in, ...
    | p(?:\s+photo | hoto\s+cred | peared\s+f | t\s+all)  # ap photo, ..., accept all
    | hare\s+(?:on|v{i}a)                           # share on, share via
    | y\s+a\s+(?:subscr|member)                      # already a subscriber
    | ©
    """.replace("{i}", "(?:i\u0307?|ı)"),
    re.VERBOSE,
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
_DATE_WORDS = (
    _MONTHS + "|" + _DAYS + r"|\d{1,4}(?:st|nd|rd|th)?|am|pm|a\.m|p\.m|gmt|utc|"
    r"cet|cest|est|edt|pst|pdt|bst|ist|updated|published|posted|ago|minutes?|mins?|"
    r"hours?|hrs?|days?|weeks?|on|at|today|yesterday|last|modified|read|min|h"
)
_DATE_TOKEN = re.compile(r"\b(?:" + _DATE_WORDS + r")\b", re.IGNORECASE)
# What a line whose words are all date tokens (``_date_only``) starts with: its first
# run of word characters is one (or the "a"/"p" of "a.m"/"p.m"). Most lines fail this
# at their first word, without the calls of ``_date_only``.
_DATE_START = re.compile(r"\W*(?:" + _DATE_WORDS + r"|a|p)(?!\w)", re.IGNORECASE)
# The first word of a line, after the "([{ " that _ANCHORED skips, when it is ASCII
# letters only (followed by a character that is not \w): lower-cased, it tells which of
# the start-anchored checks can match, as IGNORECASE compares ASCII letters. The
# non-ASCII "ſ", "K", "ı", "İ" that IGNORECASE also matches to "s", "k", "i" never
# reach the sets below; nor do a digit, "_" or any other letter in the first word (a
# date "17.02.2026", "_video_:"): such a line takes every check the old way.
# The sets are read off the patterns: a word followed by \s+, \b or $ gives the word
# itself; one that \s* may join to the next ("share on Facebook" as
# "shareonfacebook", "photocredit:", "AFPvia", "updatedon") a stem, held by its first
# three letters.
_HEAD = re.compile(r"[([{ ]*+([A-Za-z]++)\b")
_ANCHORED_HEAD_WORDS = (
    _SOCIAL.replace("e-mail", "e")  # "e-mail" starts with the word "e"
    + """|tweet|pin|print|comment|comments|follow|related|recommended|popular|trending|latest
    |top|read|see|also|more|you|most|don|dont|editor|editors|reporting|writing|editing
    |additional|getty|ap|advertisement|sponsored|ad|promoted|subscribe|sign|log|login
    |register|skip|click|tap|listen|last|printed|appeared|continue|the|home"""
)
_ANCHORED_HEADS = frozenset(w.strip() for w in _ANCHORED_HEAD_WORDS.split("|"))
_ANCHORED_STEM_WORDS = """share photo image picture video graphic illustration afp reuters
    anadolu epa shutterstock updated published posted"""
_ANCHORED_STEMS = frozenset(stem[:3] for stem in _ANCHORED_STEM_WORDS.split())
_BYLINE_HEAD_WORDS = "written reporting reported words story text by von par od nga"
_BYLINE_HEADS = frozenset(_BYLINE_HEAD_WORDS.split())
_LABEL_HEAD_WORDS = """watch the full video listen podcast update updated updates tl exclusive
    breaking live analysis opinion"""
_LABEL_HEADS = frozenset(_LABEL_HEAD_WORDS.split())
# The letter words of _DATE_WORDS, and "a"/"p" of "a.m"/"p.m": what _DATE_START
# needs the first word to be (tests/test_summarize_speed.py expands the pattern).
_DATE_HEAD_WORDS = """jan january feb february mar march apr april may jun june jul july aug
    august sep sept september oct october nov november dec december mon monday tue tues
    tuesday wed wednesday thu thur thurs thursday fri friday sat saturday sun sunday am pm
    gmt utc cet cest est edt pst pdt bst ist updated published posted ago minute minutes
    min mins hour hours hr hrs day days week weeks on at today yesterday last modified read
    h a p"""
_DATE_HEADS = frozenset(_DATE_HEAD_WORDS.split())
_HEADS = _ANCHORED_HEADS | _BYLINE_HEADS | _LABEL_HEADS | _DATE_HEADS
_ALNUM = re.compile(r"[^\W_]")  # a character for which str.isalnum() is true
_WORD_PARTS = re.compile(r"['’.-]")
_MENU_SEP = re.compile(r"\s[|›»•·>/]\s|\s*\|\s*")
# Every match of _MENU_SEP holds one of its characters: two matches hold two.
_TWO_MENU_CHARS = re.compile(r"[|›»•·>/][^|›»•·>/]*+[|›»•·>/]")
# One scan of the casefolded line for a banner piece or two menu characters (which fold
# to themselves): most lines hold neither. Each menu character is an alternative of its
# own, as a class would cost the scan its set of first characters.
_BANNER_OR_MENU = re.compile(
    _BANNER_PIECES.pattern
    + "".join(f"| {re.escape(c)}(?=[^|›»•·>/]*+[|›»•·>/])\n" for c in "|›»•·>/"),
    re.VERBOSE,
)
# WordPress/Avada shortcodes left in feed text: "[time-brightcove not-tgx=”true”]".
_SHORTCODES = re.compile(r"(?:\[/?[a-z][\w-]*(?:\s[^\]]*)?\]\s*)+", re.IGNORECASE)
# A photo or video credit standing alone: "(Image credit: Kevin Frayer)", "(AP Photo/…)".
_CREDIT = (
    r"\(\s*(?:(?:AP|AFP|EPA|Reuters|Getty\s+Images|Anadolu|Xinhua|File)\b[^()]{0,80}"
    r"|(?:photo|image|picture|video|illustration)s?\s*(?:credit|courtesy|by)?\s*[:/][^()]{0,80}"
    r"|(?:photo\s+)?credit\s*:[^()]{0,80})\)"
)
_CREDIT_LINE = re.compile(r"^\s*" + _CREDIT + r"\s*$", re.IGNORECASE)
_CREDIT_TAIL = re.compile(r"\s*" + _CREDIT + r"\s*$", re.IGNORECASE)
# A label that opens a line of a video card or a teaser: "FULL VIDEO: https://…",
# "Watch:", "*Update* :", "TL;DR", "EXCLUSIVE:" — trimmed from a sentence's start; a line
# that is only a label (and a link) is chrome.
_LABEL = (
    r"[*_]*(?:(?:watch\s+)?(?:the\s+)?full\s+video|watch(?:\s+now)?|video|listen|podcast|"
    r"update[ds]?|tl;\s?dr|exclusive|breaking(?:\s+news)?|live|analysis|opinion)[*_]*"
    r"(?:\s*:\s*|\s+(?=https?://))(?:(?:https?://|www\.|\w+\.(?:com|be)/)\S+\s*)?"
)
_LEAD_LABEL = re.compile(_LABEL, re.IGNORECASE)
_LABEL_ONLY = re.compile(_LABEL + r"\s*", re.IGNORECASE)
# Sentence-final punctuation, closing quotes and brackets allowed after it.
_PROSE_END = re.compile(r"[.!?…。！？।؟]+[\"'”’»)\]]*$")
_TRUNCATED_END = re.compile(r"(?:…|\.\.\.)[\"'”’»)\]]*$")
# A bullet or list number opening a line: "• ", "1- ", "2) ", "## ".
_LIST_MARK = re.compile(r"(?:[•·▪◦►▶■□●○➤✓✔*#>|–—-]+\s*|\d{1,2}\s?[-.)]\s+)(?=\S)")
# Words a sentence cut off by a feed typically ends on.
_CONNECTIVE_WORDS = """a an the and or but nor of to in on at by for from with as into onto
    about after before over under between than that which who whom whose this these those its his
    her their our your my is are was were be been has have had will would can could
    should may might must not so if while when where"""
_CONNECTIVES = frozenset(_CONNECTIVE_WORDS.split())
_WORDS = re.compile(r"\w+(?:['’.-]\w+)*")
_FINAL = re.compile(r"[.!?…。！？।؟:;\"”’»)]\s*$")


_BYLINE = re.compile(
    r"(?:(?:written|reporting|reported|words|story|text)\s+)?(?:by|von|par|od|nga)\s+(.+)$",
    re.IGNORECASE,
)
_BYLINE_END = re.compile(r"\s*[|–—/]\s*")
_NAME_SEP = re.compile(r"\s*,\s*|\s+(?:and|&|und|i|e|ve|y)\s+|\s+")


def _is_byline(s: str) -> bool:
    """ "By John Smith", "By A. Berisha and M. Stojanović | Balkan Wire": names only."""
    m = _BYLINE.match(s)
    if not m:
        return False
    names = _BYLINE_END.split(m.group(1), maxsplit=1)[0].strip(" .")
    words = [w for w in _NAME_SEP.split(names) if w]
    # Every word capitalised: "By Tuesday evening the crossing had reopened" is a sentence.
    return 1 <= len(words) <= 6 and all(w[0].isupper() for w in words)


def _date_only(line: str) -> bool:
    """Every word is a date or time token."""
    # One pass, stopping at the first word that is not: most lines' first word tells.
    return all(_date_word(word[0]) for word in _WORDS.finditer(line))


@lru_cache(maxsize=4096)
def _date_word(word: str) -> bool:
    """``word`` is a date or time token ("17th", "a.m", "Wednesday"), or made of them
    ("17.02.2026"). Cached: most lines are judged by their first word, and first
    words repeat ("The", "A", "In")."""
    if _DATE_TOKEN.fullmatch(word):
        return True
    return all(not piece or _DATE_TOKEN.fullmatch(piece) for piece in _WORD_PARTS.split(word))


CACHED_LINE_CHARS = 300  # at least LINE_CHARS: _joined relies on it
"""Lines up to this long keep their :func:`is_chrome` verdict in a cache; longer
ones (paragraphs, which rarely repeat) are judged afresh, so the cache stays a few
MiB whatever the feeds send (16,384 paragraphs of a 10,000-item feed held 20 MiB
in every parse worker)."""


def is_chrome(line: str) -> bool:
    """True when ``line`` is page chrome: furniture by pattern, a caption credit, a
    shortcode. Unlike :func:`is_furniture` it does not judge a line by its shape, so a
    short list item ("Bayraktar TB2 drones") is not chrome. Short lines are cached:
    they come back (share prompts, bylines, the entries of a feed polled again)."""
    if len(line) <= CACHED_LINE_CHARS:
        return _is_chrome_cached(line)
    return _is_chrome(line)


def _is_chrome(line: str) -> bool:
    s = line.strip()
    # str.isalnum is what _ALNUM matches, character by character: the first one
    # answers for almost every line without the search.
    if not s or not (s[0].isalnum() or _ALNUM.search(s)):
        return True
    first = s[0]  # shortcodes and a credit line can only start so
    if (first == "[" and _SHORTCODES.fullmatch(s)) or (first == "(" and _CREDIT_LINE.match(s)):
        return True
    # The line's first word rules out the start-anchored checks for most lines at once
    # (see _HEAD); a check it leaves open is then run as it is.
    head = _HEAD.match(s)
    if head is None:
        if _starts_chrome(s):
            return True
    elif (key := head[1].lower()) in _HEADS or key[:3] in _ANCHORED_STEMS:
        if (key in _ANCHORED_HEADS or key[:3] in _ANCHORED_STEMS) and _ANCHORED.match(
            s[head.start(1) :]  # s.lstrip("([{ ")
        ):
            return True
        if (key in _BYLINE_HEADS and _is_byline(s)) or (
            key in _LABEL_HEADS and _LABEL_ONLY.fullmatch(s)
        ):
            return True
        # A date alone is short ("Wednesday, February 17, 2026 at 14:05 GMT").
        if key in _DATE_HEADS and len(s) <= 80 and _date_only(s):
            return True  # _DATE_HEADS: what _DATE_START says of such a first word
    if len(s) >= BANNER_CHARS:
        return False  # banners and menus are short
    # Rarer letters first, then the words: the banner regex costs ten times more, and
    # every short line of every parsed story comes through here.
    folded = s.casefold()
    if _BANNER_OR_MENU.search(folded) is None:
        return False  # most lines: neither a banner piece nor two menu characters
    if _BANNER_PIECES.search(folded) and _BANNER_HINTS.search(folded) and _BANNER.search(s):
        return True
    # "Home | World | Europe": two separators hold two separator characters.
    return _TWO_MENU_CHARS.search(s) is not None and len(_MENU_SEP.findall(s)) >= 2


def _starts_chrome(s: str) -> bool:
    """The start-anchored checks of :func:`_is_chrome`, for a line whose first word
    :data:`_HEAD` does not read: each pattern tried in turn."""
    # Those three start with a letter (a label maybe with "*" or "_" first): a line
    # opening with a digit, a quote or a dash can only be a date.
    opening = s.lstrip("([{ ")[:1]
    if (opening.isalpha() or opening == "_" or s[0] == "*") and (
        _ANCHORED.match(s.lstrip("([{ ")) or _is_byline(s) or _LABEL_ONLY.fullmatch(s)
    ):
        return True
    # A date alone is short ("Wednesday, February 17, 2026 at 14:05 GMT").
    return len(s) <= 80 and _DATE_START.match(s) is not None and _date_only(s)


_is_chrome_cached = lru_cache(maxsize=16_384)(_is_chrome)


def is_furniture(line: str) -> bool:
    """True when ``line`` is page or feed furniture rather than article text.

    See the module docstring for the rule and its known misses.
    """
    if is_chrome(line):
        return True
    s = line.strip()
    return len(_WORDS.findall(s)) < 5 and not _FINAL.search(s)


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


# "LONDON: ", "GAZA CITY: " (Dawn, The News): capitals and a colon before the lede.
_COLON_DATELINE = re.compile(r"[A-ZÀ-ÞĀ-Ž][A-ZÀ-ÞĀ-Ž .'-]{2,30}:\s+(?=[A-Z\"“‘])")


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
    return list(_iter_sentences(text))


def _iter_sentences(text: str) -> Iterator[tuple[int, int]]:
    """:func:`split_sentences` one sentence at a time: :func:`_is_prose` needs only the
    first, of a paragraph that may hold hundreds."""
    pos = 0
    for line in text.splitlines(keepends=True):
        line_start = pos
        pos += len(line)
        start = line_start
        for m in _END.finditer(line):
            end = line_start + m.end()
            if _splits_here(text, end, m.group()):
                if span := _trimmed(text, start, end):
                    yield span
                start = end
        if span := _trimmed(text, start, line_start + len(line)):
            yield span


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` moved inside the white space at its edges; None if only that."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


# ------------------------------------------------------------------- the story


_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def repeats_title(line: str, title: str) -> bool:
    """Whether ``line`` is the headline again: the same words (case, punctuation and
    spacing aside), or, for a line that does not end a sentence, four fifths of them."""
    b = _words(title)
    if not b:
        return False
    if _ends_sentence(line.strip()):
        # Only "the same words" can hold. Compared word by word: a long first
        # paragraph stops at its first word that is not the headline's.
        return _same_words(line, b)
    a = _words(line)
    if not a:
        return False
    if a == b:
        return True
    if min(len(a), len(b)) < 2:
        return False
    if a[: len(b)] == b:
        # The headline and a subtitle after a dash or colon ("IPv4 vs IPv6 - the
        # evolution of…"), not a sentence about it ("Onward was newly added").
        words = list(_WORD.finditer(line))
        rest = line[words[len(b) - 1].end() :].lstrip()
        return len(a) > len(b) and rest[:1] in ("-", "–", "—", ":", "|", "(")
    if min(len(a), len(b)) < 3:
        return False
    shared = len(set(a) & set(b))
    return shared / max(len(set(a)), len(set(b))) >= 0.8


def _same_words(line: str, words: list[str]) -> bool:
    """``_words(line) == words``, stopping at the first word that differs."""
    n = 0
    for m in _WORD.finditer(line.casefold()):
        if n == len(words) or m.group() != words[n]:
            return False
        n += 1
    return n == len(words)


_STOPS = ".!?…。！？।؟"
_CLOSERS = "\"'”’»)]"


def _ends_sentence(s: str) -> bool:
    """``bool(_PROSE_END.search(s))``, read from the end of ``s`` instead of a scan of
    all of it: stops, then closing quotes and brackets, at its end (or before a
    last "\\n", where ``$`` matches too)."""
    end = (s[:-1] if s.endswith("\n") else s).rstrip(_CLOSERS)
    return bool(end) and end[-1] in _STOPS


def _is_prose(line: str) -> bool:
    """A paragraph of the story: four words or more, and its first sentence or the
    whole line ends like a sentence — or, with six words or more, introduces what
    follows with a colon ("…piece of Emacs Lisp I now have in my init file:")."""
    words = 0
    for _ in _WORDS.finditer(line):  # counted up to six: all the rule asks
        words += 1
        if words == 6:
            break
    if words < 4:
        return False
    s = line.rstrip()
    if _ends_sentence(s) or (s.endswith(":") and words >= 6):
        return True
    first = next(_iter_sentences(line), None)
    if first is None:
        return False
    a, b = first
    return b < len(s) and _ends_sentence(line[a:b])


def story_lines(title: str, text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the lines of ``text`` that are the story, in order.

    Dropped: lines that are chrome (:func:`is_chrome`, judged whole when shorter than
    :data:`LINE_CHARS`), the headline repeated, and every line before the lede — the
    first line that reads as prose (:func:`_is_prose`). What precedes it on a news
    page is a video card ("The Brief October 24, 2025 / Trump says…"), sub-headline
    bullets, a section heading or a caption. Without any prose line nothing is
    dropped for coming first.
    """
    lines: list[tuple[int, int]] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        start, pos = pos, pos + len(raw)
        line = raw.strip()
        if not line:
            continue
        a = start + raw.index(line[0])
        b = a + len(line)
        if len(line) < LINE_CHARS and is_chrome(line):
            continue
        if line[0] == "[" and _SHORTCODES.fullmatch(line):  # it can only start so
            continue
        if not lines and repeats_title(line, title):
            continue  # the headline at the top of the body
        lines.append((a, b))
    lede = next((n for n, (a, b) in enumerate(lines) if _is_prose(text[a:b])), 0)
    return lines[lede:]


def main_text(title: str, text: str) -> str:
    """The story's own text: feed tails cut, chrome lines and what precedes the lede
    dropped (:func:`story_lines`), lines joined with ``"\\n"``. Watchlists match this,
    so a caption or a video card before the article cannot fire one."""
    return _joined(title, strip_feed_furniture(text))


def story_text(title: str, text: str, *, lines: list[str] | None = None) -> tuple[str, bool]:
    """``main_text(title, text)`` and ``is_teaser(text, title=title)``
    (:mod:`bot.core.text`), with the feed tails cut once: what parsing stores.

    ``lines``, when given, are the lines of ``text`` as ``bot.core.text.html_to_lines``
    gives them (``text`` split at its line breaks, none empty or with white space at
    an end): they are used as they are, unless a feed tail was cut."""
    body, teaser = strip_and_judge(text, title=title)
    if lines is not None and len(body) != len(text):  # body is a prefix of text
        lines = None  # a tail was cut: the lines are not the body's
    return _joined(title, body, lines), teaser


def _joined(title: str, body: str, lines: list[str] | None = None) -> str:
    """``"\\n".join(body[a:b] for a, b in story_lines(title, body))``: the same rules
    as :func:`story_lines`, on the lines themselves rather than their offsets, in
    comprehensions rather than a loop (every parsed entry comes through here).
    ``lines``: ``body``'s lines, already split and stripped (see :func:`story_text`)."""
    kept = [
        line
        for line in (map(str.strip, body.splitlines()) if lines is None else lines)
        if line
        and (
            # is_chrome(line), which tests shortcodes too, without its own call: a line
            # shorter than LINE_CHARS is within CACHED_LINE_CHARS.
            not _is_chrome_cached(line)
            if len(line) < LINE_CHARS
            else not (line[0] == "[" and _SHORTCODES.fullmatch(line))
        )
    ]
    first = 0  # the headline at the top of the body, maybe more than once
    while first < len(kept) and repeats_title(kept[first], title):
        first += 1
    lede = next((n for n in range(first, len(kept)) if _is_prose(kept[n])), first)
    if lines is not None and lede == 0 and len(kept) == len(lines):
        return body  # every line kept: body is "\n".join(lines) already
    return "\n".join(kept[lede:])


# ------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    fragment: bool = False
    """Cut at its end (the text's last sentence cut by the feed, or a window): "…" after."""
    opens: bool = False
    """Starts inside its sentence (a window around a hit): "…" before."""


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
        if piece.opens:
            spans.append(Span(ELLIPSIS))
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
        if piece.fragment and not _TRUNCATED_END.search(source[piece.start : piece.end]):
            spans.append(Span(ELLIPSIS))
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
        out[-1] = Span(out[-1].text.rstrip(" ,;:—–-…").rstrip("."))
    out.append(Span(ELLIPSIS))
    return _merge(out)


def _looks_cut(sentence: str) -> bool:
    """A last sentence without final punctuation that a feed cut short: it ends on a
    connecting word or mark ("…dizziness, and"), or runs on past 200 characters."""
    s = sentence.rstrip()
    if not s or _PROSE_END.search(s):
        return False
    if s[-1] in ",;:–—-(/&":
        return True
    last = re.search(r"(\w+)\W*$", s)
    return (last is not None and last.group(1).casefold() in _CONNECTIVES) or len(s) > 200


def _trim(text: str, a: int, b: int, marks: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """A sentence's start moved past a dateline, list mark or label, and its end before a
    trailing photo credit — never past a watched name."""

    # Only the marks starting inside [a, b) can be in the way (a sentence's edges are
    # never inside a name): a binary search keeps this cheap for long texts.
    near = marks[bisect_left(marks, (a, -1)) : bisect_left(marks, (b, -1))]

    def free(x: int, y: int) -> bool:
        return not any(ma < y and mb > x for ma, mb in near)

    for pattern in (_LIST_MARK, _LEAD_LABEL):
        m = pattern.match(text, a, b)
        if m and m.end() < b and free(a, m.end()):
            a = m.end()
    m = _DATELINE.match(text, a, b)
    # Only a place with a comma or an agency in brackets is a dateline; "NATO —" alone
    # may be the subject of the sentence. "LONDON: " (capitals and a colon) is one too.
    if m and m.end() < b and ("," in m.group() or "(" in m.group()) and free(a, m.end()):
        a = m.end()
    else:
        m = _COLON_DATELINE.match(text, a, b)
        if m and m.end() < b and free(a, m.end()):
            a = m.end()
    m = _CREDIT_TAIL.search(text, a, b)
    if m and m.start() > a and free(m.start(), b):
        b = m.start()
    return a, b


def _sentences(title: str, text: str, marks: Sequence[tuple[int, int]]) -> list[_Piece]:
    """The story's sentences, furniture and headline repeats out, edges trimmed."""
    out: list[_Piece] = []
    for la, lb in story_lines(title, text):
        line = text[la:lb]
        if len(line) < LINE_CHARS and is_furniture(line) and not _is_prose(line):
            continue  # a short furniture line goes whole; longer ones sentence by sentence
        for a, b in split_sentences(line):
            a, b = a + la, b + la
            if is_furniture(text[a:b]) and not _PROSE_END.search(text[a:b]):
                continue
            if is_chrome(text[a:b]) or (not out and repeats_title(text[a:b], title)):
                continue  # furniture, or the headline repeated at the top of the body
            a, b = _trim(text, a, b, marks)
            if any(ch.isalnum() for ch in text[a:b]):
                out.append(_Piece(a, b))
    if out:
        last = out[-1]
        sentence = text[last.start : last.end]
        # The text's last sentence, cut by the feed: "…to its knees. A blockade of…" or
        # "…symptoms like headaches, dizziness, and" (no mark at all).
        cut_mark = _TRUNCATED_END.search(sentence) is not None
        if cut_mark or _looks_cut(sentence) or (len(out) > 1 and not _PROSE_END.search(sentence)):
            end = last.end
            if not cut_mark:
                # Unmarked: the last word may itself be cut ("toxin fr"); drop it, unless
                # a watched name is there.
                space = text.rfind(" ", last.start, last.end)
                tail_marked = any(mb > space for _, mb in marks if last.start <= mb <= last.end)
                if space > last.start and not tail_marked:
                    end = space
                end = last.start + len(text[last.start : end].rstrip(" ,;:—–-(/&"))
            out[-1] = _Piece(last.start, max(end, last.start + 1), fragment=True)
    return out


def summarize(title: str, text: str, matches: Sequence[Match], *, budget: int = 600) -> Summary:
    """A short extractive summary of a story with the watched names highlighted.

    Empty when the text holds nothing but the title, chrome or furniture: the alert
    shows the title itself, and a summary never repeats it.
    """
    budget = max(budget, 20)
    body_len = len(text)
    stripped = strip_feed_furniture(text)
    if text.startswith(stripped):
        body_len = len(stripped)  # the tail is cut; offsets before it stay valid
    text_matches = [m for m in matches if m.field == "text" and 0 <= m.start < m.end <= body_len]
    marks = sorted({(m.start, m.end) for m in text_matches})
    sentences = _sentences(title, text[:body_len], marks)
    if not sentences:
        return Summary(())
    in_title = {m.term for m in matches if m.field == "title"}
    chosen = _choose(text, sentences, text_matches, budget, in_title)
    last = chosen[-1]
    if text[last.start : last.end].endswith(":") and last.end - last.start > 1:
        # "…a simple command:" introduces what the summary does not show.
        chosen[-1] = _Piece(last.start, last.end - 1, fragment=True, opens=last.opens)
    elif len(chosen) > 1 and not _PROSE_END.search(text[last.start : last.end]):
        # A heading or list item chosen for its hit ends the summary: the story goes on.
        chosen[-1] = _Piece(last.start, last.end, fragment=True, opens=last.opens)
    return Summary(_build(text, chosen, marks, budget))


def _choose(
    text: str,
    sentences: list[_Piece],
    matches: Sequence[Match],
    budget: int,
    in_title: frozenset[str] | set[str] = frozenset(),
) -> list[_Piece]:
    """The lead, then the first sentence naming each term (so every term's hit is shown,
    also one deep in an article body; terms the title does not show come first), then
    other naming sentences, while they fit."""

    def size(p: _Piece) -> int:
        return p.end - p.start + (1 if p.fragment else 0)  # an upper bound

    ordered = sorted(matches, key=lambda m: m.start)
    starts = [m.start for m in ordered]

    def terms_in(p: _Piece) -> set[str]:
        # Binary search: an article of thousands of sentences and hits stays linear-ish.
        return {m.term for m in ordered[bisect_left(starts, p.start) : bisect_left(starts, p.end)]}

    named_by = [terms_in(p) for p in sentences]
    by_piece = {id(p): t for p, t in zip(sentences, named_by, strict=True)}

    def names(p: _Piece, term: str | None = None) -> bool:
        found = by_piece.get(id(p))
        if found is None:
            found = terms_in(p)
        return bool(found) if term is None else term in found

    def whole(p: _Piece) -> bool:
        return not p.fragment and _PROSE_END.search(text[p.start : p.end]) is not None

    lead = sentences[0]
    chosen = [lead]
    used = size(lead)
    terms = list(dict.fromkeys(m.term for m in ordered))
    terms.sort(key=lambda t: t in in_title)  # stable: text order within each group
    for term in terms:
        if any(names(p, term) for p in chosen):
            continue
        # A whole sentence naming the term, else a heading, list item or cut sentence.
        naming = [p for p, found in zip(sentences, named_by, strict=True) if term in found]
        first = next((p for p in naming if whole(p)), naming[0] if naming else None)
        if first is not None and used + 1 + size(first) <= budget:
            chosen.append(first)
            used += 1 + size(first)
        elif first is not None:
            hits = [m for m in matches if m.term == term]
            window = _window(text, first, hits, budget - used - 3)
            if window is not None:
                chosen.append(window)
                used += 3 + size(window)
    for p in sentences[1:]:
        if p not in chosen and whole(p) and names(p) and used + 1 + size(p) <= budget:
            chosen.append(p)
            used += 1 + size(p)
    # Context for a lone lead: the next whole sentence, not a heading, a list item or an
    # introduction to a list ("…has the following 4 parts:").
    rest = [p for p in sentences[1:] if whole(p)]
    if len(chosen) == 1 and rest and used + 1 + size(rest[0]) <= budget:
        chosen.append(rest[0])
    return sorted(chosen, key=lambda p: p.start)


def _window(text: str, piece: _Piece, matches: Sequence[Match], room: int) -> _Piece | None:
    """The whole words of ``piece`` around its first hit that fit ``room`` (with "…")."""
    hit = next((m for m in sorted(matches, key=lambda m: m.start) if m.start >= piece.start), None)
    if hit is None or room < (hit.end - hit.start) + 40:
        return None
    start = max(piece.start, hit.start - (room - (hit.end - hit.start)) // 3)
    if start > piece.start:
        start = min(hit.start, text.find(" ", start) + 1 or hit.start)
    end = min(piece.end, start + room - 2)
    if end < piece.end:
        space = text.rfind(" ", hit.end, end + 1)
        end = space if space > hit.end else max(end, hit.end)
        end = start + len(text[start:end].rstrip(" ,;:—–-"))
    return _Piece(start, end, fragment=end < piece.end, opens=start > piece.start)
