"""Find which watchlists a story touches, and exactly where.

Rule. Every form of every term, every term ``exclude`` phrase and every
watchlist ``exclude`` phrase is compiled once into one Aho-Corasick automaton
(pyahocorasick) over folded text (see ``bot.core.fold``). A story's title and
text are each folded once and scanned once, whatever the number of terms.
Exact forms sit in the same automaton under their folded key; a hit on one is
kept only if the original text, with only typography normalised (whitespace,
dashes, apostrophes), equals the form as written.

- Case: ``case="auto"`` makes a form written with two or more capitals and no
  lower-case letter ("MKE", "KFOR", "TB2", "KFOR-TV") exact; any other form is
  folded (case, diacritics, apostrophes, dashes and whitespace runs ignored).
  ``"exact"`` / ``"fold"`` force one or the other for all forms of a term.
  Exclude phrases follow the same rule (term phrases use their term's rule,
  watchlist phrases ``auto``).
- Whole words: a hit counts only if the characters just outside it in the
  *original* text do not continue a word (letter, digit, mark, ``_``) where the
  hit itself starts/ends with one. So "MKE's", "MKE-built", "(KFOR)" hit;
  "workforce" and "Pristina-KFORce" do not. The same must hold in the folded
  text (checked first, as it is cheap), which also rejects words joined by an
  invisible character ("KFOR\u00adce" with a soft hyphen).
- A term ``exclude`` phrase neutralises a hit of that term lying inside one of
  its occurrences in the same field ("KFOR" inside "KFOR-TV").
- A watchlist ``exclude`` phrase anywhere in the title or text skips that
  watchlist for the story.
- A watchlist fires when it has at least one hit and every term named in its
  ``require`` has a hit. Only firing watchlists appear in the result.
- Of the hits of one term in one field, a hit lying inside another is dropped
  ("Bayraktar" inside "Bayraktar TB2"); of equal spans the earlier form wins.
- Matches are sorted title first, then text, then by start offset (then end,
  watchlist, term, form order). Offsets index the original title/text.

Known misses: whole-word matching does not see inflected words (Serbian
"Kfora", Albanian "dronët", English plural "TB2s") unless those are listed as
forms; words glued by a script without spaces are never split; a hit that
starts or ends inside a one-to-many folding ("s" against the "ss" of "ß") is
dropped. Exact forms compare code points as written (no NFC). A symbol
that folds to letters ("™" → "tm") glues to the word before it in the folded
text: "KFOR™" is not a hit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import ahocorasick

from bot.core.fold import Folded, fold, fold_form, is_word_char
from bot.core.models import CaseRule, Field, Match, Story, Watchlist

__all__ = ["Matcher", "compile_matcher", "is_exact_form"]

_FIELDS: tuple[Field, ...] = ("title", "text")

# What an automaton key stands for.
_HIT = 0  # a form of a term
_TERM_EXCLUDE = 1  # a term's exclude phrase
_LIST_EXCLUDE = 2  # a watchlist's exclude phrase


class _Automaton(Protocol):
    """The part of ``ahocorasick.Automaton`` we use (the package ships no stubs)."""

    def add_word(self, key: str, value: int, /) -> bool: ...

    def make_automaton(self) -> None: ...

    def iter(self, string: str, /) -> Iterator[tuple[int, int]]: ...


def _new_automaton() -> _Automaton:
    # ahocorasick is untyped (Any); the Protocol above pins the three methods
    # we call to the signatures documented by pyahocorasick 2.x.
    automaton: _Automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
    return automaton


def is_exact_form(form: str, case: CaseRule = "auto") -> bool:
    """Whether ``form`` is matched case- and diacritic-sensitively under ``case``."""
    if case != "auto":
        return case == "exact"
    return sum(c.isupper() for c in form) >= 2 and not any(c.islower() for c in form)


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: int
    watchlist: int
    term: int  # -1 for watchlist exclude phrases
    form: int  # index of the form within its term (hits only)
    text: str  # the form / phrase as written
    exact: str | None  # for exact forms: the form with only typography normalised


class _Index:
    """The automaton over folded text, plus what each of its keys means.

    Exact forms are stored under their folded key too (an exact match is
    always also a folded match) and checked against the original text on a
    hit, so a story is folded and scanned once whatever the mix of forms.
    """

    def __init__(self) -> None:
        self.automaton = _new_automaton()
        self.keys: dict[str, int] = {}
        self.payloads: list[tuple[int, list[_Entry]]] = []  # (key length, entries)

    def add(self, kind: int, w: int, t: int, f: int, phrase: str, case: CaseRule) -> None:
        key = fold_form(phrase)
        if not key:
            return  # validation rejects such forms; never match everything
        exact = fold_form(phrase, case=False) if is_exact_form(phrase, case) else None
        slot = self.keys.get(key)
        if slot is None:
            slot = len(self.payloads)
            self.keys[key] = slot
            self.payloads.append((len(key), []))
            self.automaton.add_word(key, slot)
        self.payloads[slot][1].append(_Entry(kind, w, t, f, phrase, exact))

    def build(self) -> None:
        if self.payloads:
            self.automaton.make_automaton()

    def scan(self, original: str) -> Iterator[tuple[int, int, list[_Entry]]]:
        """Yield (start, end, entries) of whole-word hits, offsets in ``original``.

        Exact entries that the original spelling does not match are left out.
        """
        if not self.payloads or not original:
            return
        folded: Folded = fold(original)
        text = folded.text
        size = len(text)
        for last, slot in self.automaton.iter(text):
            length, entries = self.payloads[slot]
            first = last - length + 1
            # Whole word in the folded text first: cheap, and it rejects most
            # raw hits (short keys inside longer words) before any offset work.
            if first > 0 and _word(text[first]) and _word(text[first - 1]):
                continue
            if last + 1 < size and _word(text[last]) and _word(text[last + 1]):
                continue
            span = folded.span(first, last + 1)
            if span is None or not _whole_word(original, *span):
                continue
            start, end = span
            as_written: str | None = None
            chosen = []
            for e in entries:
                if e.exact is not None:
                    if as_written is None:
                        as_written = fold(original[start:end], case=False).text
                    if as_written != e.exact:
                        continue
                chosen.append(e)
            if chosen:
                yield start, end, chosen


def _word(c: str) -> bool:
    # Folded text has no combining marks, so letters, digits and "_" suffice.
    return c.isalnum() or c == "_"


def _whole_word(text: str, start: int, end: int) -> bool:
    if start > 0 and is_word_char(text[start]) and is_word_char(text[start - 1]):
        return False
    return not (end < len(text) and is_word_char(text[end - 1]) and is_word_char(text[end]))


class Matcher:
    """All watchlists compiled into one automaton. Immutable: build a new one
    with :func:`compile_matcher` when a watchlist changes, and swap it in."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        self.watchlists: tuple[Watchlist, ...] = tuple(watchlists)
        self._index = _Index()
        self._required: list[frozenset[int]] = []
        for w, wl in enumerate(self.watchlists):
            term_index = {t.name: i for i, t in enumerate(wl.terms)}
            # Unknown names in ``require`` are a validation error; if one slips
            # through, the watchlist can never fire (index -1 never hits).
            self._required.append(frozenset(term_index.get(name, -1) for name in wl.require))
            for phrase in wl.exclude:
                self._index.add(_LIST_EXCLUDE, w, -1, -1, phrase, "auto")
            for t, term in enumerate(wl.terms):
                for f, form in enumerate(term.forms):
                    self._index.add(_HIT, w, t, f, form, term.case)
                for phrase in term.exclude:
                    self._index.add(_TERM_EXCLUDE, w, t, -1, phrase, term.case)
        self._index.build()

    def match(self, title: str, text: str) -> list[Match]:
        """Matches of the watchlists that fire on a story (see the module docstring)."""
        # (watchlist, term) -> [(field, start, end, form index, form)]
        hits: dict[tuple[int, int], list[tuple[int, int, int, int, str]]] = defaultdict(list)
        # (watchlist, term) -> [(field, start, end)]
        excluded: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
        skipped: set[int] = set()
        for field_no, value in enumerate((title, text)):
            for start, end, entries in self._index.scan(value):
                for e in entries:
                    if e.kind == _HIT:
                        hits[e.watchlist, e.term].append((field_no, start, end, e.form, e.text))
                    elif e.kind == _TERM_EXCLUDE:
                        excluded[e.watchlist, e.term].append((field_no, start, end))
                    else:
                        skipped.add(e.watchlist)

        kept: dict[int, list[tuple[int, int, int, int, int, int, str]]] = defaultdict(list)
        for (w, t), found in hits.items():
            if w in skipped:
                continue
            spans = excluded.get((w, t), ())
            live = [
                h
                for h in found
                if not any(x[0] == h[0] and x[1] <= h[1] and h[2] <= x[2] for x in spans)
            ]
            for field_no, start, end, f, form in _outermost(live):
                kept[w].append((field_no, start, end, w, t, f, form))

        out: list[tuple[int, int, int, int, int, int, str]] = []
        for w, chosen in kept.items():
            if self._required[w] <= {h[4] for h in chosen}:
                out.extend(chosen)
        out.sort()
        return [
            Match(
                watchlist=self.watchlists[w].name,
                term=self.watchlists[w].terms[t].name,
                form=form,
                field=_FIELDS[field_no],
                start=start,
                end=end,
            )
            for field_no, start, end, w, t, _f, form in out
        ]

    def match_story(self, story: Story) -> list[Match]:
        """``match(story.title, story.text)``."""
        return self.match(story.title, story.text)

    def watchlists_for(self, matches: Iterable[Match]) -> list[str]:
        """Names of the watchlists that fired, in watchlist order, each once."""
        names = {m.watchlist for m in matches}
        return [wl.name for wl in self.watchlists if wl.name in names]


def _outermost(
    found: Sequence[tuple[int, int, int, int, str]],
) -> list[tuple[int, int, int, int, str]]:
    """Drop hits that lie inside another hit of the same field (same term)."""
    out: list[tuple[int, int, int, int, str]] = []
    reach: dict[int, int] = {}  # field -> furthest end seen so far
    for h in sorted(found, key=lambda h: (h[0], h[1], -h[2], h[3])):
        if h[2] <= reach.get(h[0], -1):
            continue
        reach[h[0]] = h[2]
        out.append(h)
    return out


def compile_matcher(watchlists: Iterable[Watchlist]) -> Matcher:
    """Compile watchlists into one :class:`Matcher`; do it once per watchlist change."""
    return Matcher(watchlists)
