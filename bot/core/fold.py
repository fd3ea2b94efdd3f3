"""Unicode folding for comparison, with a map back to the original offsets.

Rule. Text is rewritten one character at a time, so every character of the
result comes from exactly one character of the input:

- any run of whitespace (spaces, tabs, newlines, no-break spaces, any ``Zs``)
  becomes one space; hyphens and dashes become a space too, so "MKE-built",
  "Kosovo–Force" and "Kosovo\\n  Force" compare like words separated by a space;
- curly and modifier apostrophes and primes become ``'``, curly double quotes
  become ``"``;
- invisible format characters (soft hyphen, zero-width space/joiners, BOM) are
  dropped;
- with ``case=True`` (the default) letters are also decomposed (NFKD), their
  combining marks dropped and the rest case-folded, plus a small table for
  letters that have no decomposition: Türkiye → turkiye, Erdoğan → erdogan,
  Akıncı → akinci (dotless ı and dotted İ both → i), đ → d, ø → o, ł → l,
  æ → ae, œ → oe, ß → ss.

Whitespace at either end is dropped. ``case=False`` keeps letters as written
and only applies the typographic rules; matching uses it to check forms that
must match exactly (acronyms). :class:`Folded` maps any folded offset back to
the original text (worked out on first use, as most texts never hit).

Known misses: the rewrite is per character, so text and forms are not put in
NFC first: in ``case=False`` mode a decomposed "é" (e + U+0301) differs from a
precomposed one (folded mode does not care). Letters of other scripts are only
case-folded (no transliteration: Cyrillic "КФОР" is not "KFOR"). Full-width and
other compatibility forms are decomposed only in folded mode.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache

__all__ = ["Folded", "fold", "fold_form", "is_word_char"]

# Characters that become a space: hyphens and dashes (U+2010..U+2015, minus
# sign, small/full-width hyphen-minus). Whitespace is recognised by category.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
# Apostrophe look-alikes: curly quotes, modifier letter apostrophe, prime,
# acute and grave accents used as apostrophes, full-width apostrophe.
_APOSTROPHES = frozenset("'\u2018\u2019\u201a\u201b\u02bc\u02b9\u2032\u00b4\u0060\uff07")
_QUOTES = frozenset('"\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\uff02')
# Letters with no canonical decomposition that readers still treat as their
# base letter (Serbian/Croatian đ, Nordic ø, Polish ł, ligatures).
_EXTRA = {
    "ı": "i",
    "đ": "d",
    "ð": "d",
    "ø": "o",
    "ł": "l",
    "ħ": "h",
    "ŧ": "t",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
}
# Folding runs in C for the common case: ``str.translate`` maps every character
# whose fold is exactly one character (which keeps offsets unchanged), and
# marks the rest (dropped or expanded characters) with _IRREGULAR; a regex then
# finds the marks and runs of spaces, the only places where offsets shift.
_IRREGULAR = "\x00"
_SHIFTS = re.compile(r" {2,}|\x00")
_TABLE_LIMIT = 200_000  # characters remembered per table (hostile input can't grow it unbounded)


class _OneToOne(dict[int, str]):
    """``str.translate`` table: code point -> its one-character fold, or the mark."""

    def __init__(self, case: bool) -> None:
        super().__init__()
        self.case = case

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code), self.case)
        value = folded if len(folded) == 1 and folded != _IRREGULAR else _IRREGULAR
        if len(self) < _TABLE_LIMIT:
            self[code] = value
        return value


@lru_cache(maxsize=65536)
def _fold_char(c: str, case: bool) -> str:
    """The replacement of one character (possibly empty or several characters)."""
    if c.isspace() or c in _DASHES:
        return " "
    if c in _APOSTROPHES:
        return "'"
    if c in _QUOTES:
        return '"'
    category = unicodedata.category(c)
    if category == "Zs":
        return " "
    if category == "Cf":
        return ""
    if not case:
        return c
    out = []
    for d in unicodedata.normalize("NFKD", c):
        if unicodedata.combining(d):
            continue
        for f in d.casefold():
            if f.isspace():
                out.append(" ")
            elif not unicodedata.combining(f):
                out.append(_EXTRA.get(f, f))
    return "".join(out)


_TABLES = {True: _OneToOne(True), False: _OneToOne(False)}


def is_word_char(c: str) -> bool:
    """True for characters that continue a word (letters, digits, marks, ``_``)."""
    return c.isalnum() or c == "_" or unicodedata.category(c)[0] == "M"


class Folded:
    """A folded text and the way back to the text it came from.

    ``text`` is the folded text. Offsets are kept as anchors: from
    ``_fold_at[k]`` on, folded offsets advance in step with original offsets
    starting at ``_orig_at[k]``, until the next anchor. Most texts are scanned
    and never hit, so the anchors are only worked out on the first
    :meth:`origin` call.
    """

    __slots__ = ("_case", "_draft", "_fold_at", "_orig_at", "_tail", "original", "text")

    def __init__(self, original: str, text: str, draft: str, case: bool) -> None:
        self.original = original
        self.text = text
        self._draft = draft
        self._case = case
        self._fold_at: list[int] = []
        self._orig_at: list[int] = []
        self._tail = len(original)

    def __repr__(self) -> str:
        return f"Folded({self.text!r})"

    def origin(self, i: int) -> int:
        """Offset in the original text of the character that folded to ``text[i]``.

        Past the end: where the trailing whitespace of the original starts.
        """
        if not self._fold_at:
            _, self._fold_at, self._orig_at, self._tail = _assemble(
                self.original, self._draft, self._case
            )
        if i >= len(self.text):
            return self._tail
        k = bisect_right(self._fold_at, i) - 1
        return self._orig_at[k] + i - self._fold_at[k]

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Map the folded slice ``[start, end)`` (non-empty) to the original text.

        The end is stretched over characters that folded to nothing (combining
        marks, soft hyphens) right after the last character of the slice.
        ``None`` when the slice cuts an original character in two (it starts
        or ends inside the "ss" that "ß" folds to).
        """
        first = self.origin(start)
        last = self.origin(end - 1)
        after = self.origin(end)
        if (start > 0 and self.origin(start - 1) == first) or after == last:
            return None
        return first, max(last + 1, after)


def fold(text: str, *, case: bool = True) -> Folded:
    """Fold ``text`` for comparison (see the module docstring).

    ``case=False`` applies only the typographic rules (whitespace, dashes,
    apostrophes, quotes, invisible characters) and keeps letters as written.
    Leading and trailing whitespace is dropped.
    """
    draft = text.translate(_TABLES[case])  # same length as text, offsets unchanged
    # Without irregular characters the draft's only whitespace is " ", and
    # collapsing its runs is all that is left to do.
    folded = _assemble(text, draft, case)[0] if _IRREGULAR in draft else " ".join(draft.split())
    return Folded(text, folded, draft, case)


def _assemble(text: str, draft: str, case: bool) -> tuple[str, list[int], list[int], int]:
    """The folded text, its anchors and where the trailing whitespace starts,
    from the one-for-one ``draft``."""
    parts: list[str] = []
    fold_at: list[int] = [0]
    orig_at: list[int] = [0]
    n = 0  # length of the folded text so far
    pos = 0  # next offset of ``text`` to copy from
    last_space = True  # True at the start: leading whitespace is dropped
    for m in _SHIFTS.finditer(draft):
        start = m.start()
        # Copy draft[pos:cut] one for one: up to and including the first
        # space of a run, or up to an irregular character.
        spaces = draft[start] == " "
        cut = start + 1 if spaces else start
        if pos < cut and last_space and draft[pos] == " ":
            pos += 1  # the previous piece already ended with a space
        if pos < cut:
            # Record an anchor only where the previous one does not already
            # extrapolate to here: plain text costs no anchors.
            if pos - orig_at[-1] != n - fold_at[-1]:
                fold_at.append(n)
                orig_at.append(pos)
            parts.append(draft[pos:cut])
            n += cut - pos
            last_space = draft[cut - 1] == " "
        if spaces:
            pos = max(pos, m.end())
            continue
        # An irregular character: dropped, or folded to several characters
        # that all map back to it.
        for ch in _fold_char(text[start], case):
            if ch == " ":
                if last_space:
                    continue
                last_space = True
            else:
                last_space = False
            if start - orig_at[-1] != n - fold_at[-1]:
                fold_at.append(n)
                orig_at.append(start)
            parts.append(ch)
            n += 1
            # Several characters from one: the next one needs its own anchor.
            fold_at.append(n)
            orig_at.append(start)
        pos = start + 1
    if pos < len(text) and last_space and draft[pos] == " ":
        pos += 1
    if pos < len(text):
        if pos - orig_at[-1] != n - fold_at[-1]:
            fold_at.append(n)
            orig_at.append(pos)
        parts.append(draft[pos:])
        n += len(text) - pos
    folded = "".join(parts)
    if not folded.endswith(" "):
        return folded, fold_at, orig_at, len(text)
    # The trailing space is dropped; it came from the start of the trailing run.
    k = bisect_right(fold_at, n - 1) - 1
    return folded[:-1], fold_at, orig_at, orig_at[k] + n - 1 - fold_at[k]


def fold_form(form: str, *, case: bool = True) -> str:
    """Fold a watchlist form or phrase the way texts are folded."""
    return fold(form, case=case).text
