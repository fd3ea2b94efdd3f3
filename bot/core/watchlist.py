"""The watchlist file format: parse, validate and write watchlist TOML.

A watchlist file (users write these by hand)::

    name = "KFOR"
    description = "NATO's Kosovo Force"
    exclude = ["KFOR Street"]      # optional: a story containing any is skipped
    require = ["KFOR"]             # optional: terms that must all hit

    [[terms]]
    name = "KFOR"
    forms = ["KFOR", "Kosovo Force"]
    case = "auto"                  # optional: "auto" (default) | "exact" | "fold"
    exclude = ["KFOR-TV"]          # optional: hits inside these phrases don't count

Everything here is pure: :func:`parse_watchlist` takes the file's text and a
name for messages. Problems are collected, not stopped at, and each names the
file, the line and the key, and says how to fix it. :func:`dump_watchlist`
writes a file that parses back to an equal :class:`Watchlist`.

Line numbers: ``tomllib`` reports none for values, so they are found by
scanning the text for the key inside its table (the top level, or the n-th
``[[terms]]``). Inline tables or dotted keys get the line of the nearest key
found, or none.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast, get_args

from bot.core.fold import fold_form
from bot.core.models import CaseRule, Term, Watchlist

__all__ = [
    "MAX_FORM_LENGTH",
    "MAX_NAME_LENGTH",
    "Problem",
    "WatchlistError",
    "dump_watchlist",
    "parse_watchlist",
    "validate_form",
    "validate_name",
    "validate_watchlist",
]

MAX_NAME_LENGTH = 64
"""Watchlist and term names appear in slash commands and chat; keep them short."""
MAX_FORM_LENGTH = 200
"""Forms and exclude phrases are names and phrases, not paragraphs."""

CASE_RULES: tuple[str, ...] = get_args(CaseRule)
_TOP_KEYS = ("name", "description", "exclude", "require", "terms")
_TERM_KEYS = ("name", "forms", "case", "exclude")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a watchlist file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class WatchlistError(ValueError):
    """A watchlist file is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# ---------------------------------------------------------------- validation


def _bad_chars(value: str) -> str | None:
    for c in value:
        cat = unicodedata.category(c)
        if cat in ("Cc", "Cs", "Co", "Cn") or c in "\u2028\u2029":
            return f"contains the invisible or control character U+{ord(c):04X}; remove it"
    return None


def validate_name(name: str, what: str = "name") -> list[str]:
    """Problems with a watchlist or term name (empty when it is fine)."""
    if not name.strip():
        return [f"{what} is empty; give it a short name such as 'KFOR'"]
    problems: list[str] = []
    if name != name.strip():
        problems.append(f"{what} {name!r} starts or ends with whitespace; remove it")
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"{what} is {len(name)} characters long; shorten it to {MAX_NAME_LENGTH}")
    bad = _bad_chars(name)
    if bad:
        problems.append(f"{what} {name!r} {bad}")
    return problems


def validate_form(form: str, what: str = "form") -> list[str]:
    """Problems with a form or an exclude phrase (empty when it is fine)."""
    if not form.strip():
        return [f"{what} is empty; write the word or phrase to match, e.g. 'Kosovo Force'"]
    problems: list[str] = []
    if form != form.strip():
        problems.append(f"{what} {form!r} starts or ends with whitespace; remove it")
    if len(form) > MAX_FORM_LENGTH:
        problems.append(
            f"{what} is {len(form)} characters long; shorten it to {MAX_FORM_LENGTH} "
            "(forms are names and short phrases)"
        )
    bad = _bad_chars(form)
    if bad:
        problems.append(f"{what} {form!r} {bad}")
    elif not any(c.isalnum() for c in fold_form(form)):
        problems.append(f"{what} {form!r} has no letter or digit; it would match punctuation only")
    return problems


def _validate_phrases(values: Sequence[str], what: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for value in values:
        problems.extend(validate_form(value, what))
        if value in seen:
            problems.append(f"{what} {value!r} is listed twice; remove one")
        seen.add(value)
    return problems


def _validate_term(term: Term) -> list[str]:
    problems = validate_name(term.name, "term name")
    if not term.forms:
        problems.append(
            f"term {term.name!r} has no forms; add at least one, e.g. forms = [{_quote(term.name)}]"
        )
    problems.extend(_validate_phrases(term.forms, f"term {term.name!r}: form"))
    problems.extend(_validate_phrases(term.exclude, f"term {term.name!r}: exclude phrase"))
    if term.case not in CASE_RULES:
        problems.append(
            f"term {term.name!r}: case {term.case!r} is not one of {', '.join(CASE_RULES)}"
        )
    return problems


def validate_watchlist(w: Watchlist) -> list[str]:
    """Every problem with a watchlist, for the service to report on edits."""
    problems = validate_name(w.name, "watchlist name")
    bad = _bad_chars(w.description.replace("\n", "").replace("\t", ""))
    if bad:
        problems.append(f"description {bad}")
    problems.extend(_validate_phrases(w.exclude, "watchlist exclude phrase"))
    seen: dict[str, str] = {}
    for term in w.terms:
        problems.extend(_validate_term(term))
        key = term.name.casefold()
        if key in seen:
            problems.append(
                f"term name {term.name!r} is used twice (as {seen[key]!r} too); "
                "names must differ beyond upper/lower case: rename or merge the forms"
            )
        seen.setdefault(key, term.name)
    names = {t.name for t in w.terms}
    for name in w.require:
        if name not in names:
            problems.append(_unknown_require(name, names))
    if len(set(w.require)) != len(w.require):
        problems.append("require lists a term twice; remove the repeat")
    return problems


def _unknown_require(name: str, names: set[str]) -> str:
    close = [n for n in sorted(names) if n.casefold() == name.casefold()]
    hint = f"did you mean {close[0]!r}?" if close else f"terms are: {', '.join(sorted(names))}"
    if not names:
        hint = "the watchlist has no terms yet"
    return f"require names {name!r}, which is not a term of this watchlist ({hint})"


# ------------------------------------------------------------------- parsing


class _Lines:
    """Find the line of a key in a TOML text, by table."""

    _TERMS = re.compile(r"^\s*\[\[\s*(terms|\"terms\")\s*\]\]")
    _TABLE = re.compile(r"^\s*\[")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.term_starts = [i for i, line in enumerate(self.lines) if self._TERMS.match(line)]
        # The top level ends at the first table header of any kind.
        self.top_end = next(
            (i for i, line in enumerate(self.lines) if self._TABLE.match(line)), len(self.lines)
        )

    def find(self, key: str, term: int | None = None) -> int | None:
        """1-based line of ``key`` at the top level or in the ``term``-th [[terms]]."""
        if term is None:
            lo, hi = 0, self.top_end
        elif term < len(self.term_starts):
            lo = self.term_starts[term]
            hi = self.term_starts[term + 1] if term + 1 < len(self.term_starts) else len(self.lines)
        else:
            # Terms written as inline tables: the best we can do is `terms =`.
            return self.find("terms")
        k = re.escape(key)
        pattern = re.compile(rf"""^\s*(?:{k}|"{k}"|'{k}')\s*=""")
        for i in range(lo, hi):
            if pattern.match(self.lines[i]):
                return i + 1
        # A missing key: point at the table that lacks it.
        return lo + 1 if term is not None else None


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str, term: int | None = None) -> None:
        leaf = key.rsplit(".", 1)[-1].split("[", 1)[0]
        line = self.lines.find(leaf, term)
        shown = key if term is None else f"terms[{term}].{key}"
        self.problems.append(Problem(self.source, line, shown, message))

    def string(self, table: dict[str, object], key: str, term: int | None = None) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(key, f"expected a string in quotes, got {_kind(value)}", term)
            return None
        return value

    def strings(self, table: dict[str, object], key: str, term: int | None = None) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list):
            self.problem(
                key, f'expected a list of strings such as ["a", "b"], got {_kind(value)}', term
            )
            return []
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.problem(f"{key}[{i}]", f"expected a string in quotes, got {_kind(item)}", term)
        return out

    def unknown(self, table: dict[str, object], allowed: Sequence[str], term: int | None) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                self.problem(key, f"unknown key ({hint})", term)

    def term(self, raw: object, i: int) -> Term | None:
        if not isinstance(raw, dict):
            self.problem("terms", f"terms[{i}] must be a table ([[terms]]), got {_kind(raw)}")
            return None
        table = cast(dict[str, object], raw)
        self.unknown(table, _TERM_KEYS, i)
        name = self.string(table, "name", i)
        if name is None:
            if "name" not in table:
                self.problem("name", 'missing; add name = "..." to this [[terms]] table', i)
            return None
        for message in validate_name(name, "term name"):
            self.problem("name", message, i)
        if "forms" not in table:
            self.problem("forms", f"missing; add forms = [{_quote(name)}] (the words to match)", i)
        forms = self.strings(table, "forms", i)
        if "forms" in table and isinstance(table["forms"], list) and not table["forms"]:
            self.problem(
                "forms", f"is empty; add at least one word or phrase, e.g. [{_quote(name)}]", i
            )
        for message in _validate_phrases(forms, "form"):
            self.problem("forms", message, i)
        exclude = self.strings(table, "exclude", i)
        for message in _validate_phrases(exclude, "exclude phrase"):
            self.problem("exclude", message, i)
        case = self.string(table, "case", i)
        if case is None:
            case = "auto"
        elif case not in CASE_RULES:
            self.problem(
                "case",
                f"{case!r} is not a case rule; use one of {', '.join(repr(c) for c in CASE_RULES)}",
                i,
            )
            case = "auto"
        return Term(name, tuple(forms), cast(CaseRule, case), tuple(exclude))

    def parse(self, data: dict[str, object]) -> Watchlist | None:
        self.unknown(data, _TOP_KEYS, None)
        name = self.string(data, "name")
        if name is None and "name" not in data:
            self.problem("name", 'missing; add name = "..." at the top of the file')
        if name is not None:
            for message in validate_name(name, "watchlist name"):
                self.problem("name", message)
        description = self.string(data, "description") or ""
        bad = _bad_chars(description.replace("\n", "").replace("\t", ""))
        if bad:
            self.problem("description", bad)
        exclude = self.strings(data, "exclude")
        for message in _validate_phrases(exclude, "exclude phrase"):
            self.problem("exclude", message)
        require = self.strings(data, "require")
        raw_terms = data.get("terms", [])
        if not isinstance(raw_terms, list):
            self.problem("terms", "expected [[terms]] tables")
            raw_terms = []
        numbered = [
            (i, t) for i, raw in enumerate(raw_terms) if (t := self.term(raw, i)) is not None
        ]
        terms = [t for _, t in numbered]
        seen: dict[str, int] = {}
        for i, term in numbered:
            key = term.name.casefold()
            if key in seen:
                self.problem(
                    "name",
                    f"term name {term.name!r} is already used by terms[{seen[key]}]; "
                    "rename one or merge their forms",
                    i,
                )
            seen.setdefault(key, i)
        names = {t.name for t in terms}
        for j, req in enumerate(require):
            if req not in names:
                self.problem(f"require[{j}]", _unknown_require(req, names))
        if len(set(require)) != len(require):
            self.problem("require", "lists a term twice; remove the repeat")
        if self.problems or name is None:
            return None
        return Watchlist(
            name=name,
            terms=tuple(terms),
            description=description,
            exclude=tuple(exclude),
            require=tuple(require),
        )


def _kind(value: object) -> str:
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


_TOML_LINE = re.compile(r"at line (\d+)")


def parse_watchlist(text: str, source: str) -> Watchlist:
    """Parse and validate a watchlist file's text; ``source`` names it in messages.

    Raises :class:`WatchlistError` listing every problem found.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = _TOML_LINE.search(str(err))
        line = int(m.group(1)) if m else None
        raise WatchlistError(
            [Problem(source, line, "", f"not valid TOML: {err} (check quotes and brackets)")]
        ) from err
    parser = _Parser(text, source)
    watchlist = parser.parse(data)
    if watchlist is None:
        # In file order, so the messages read top to bottom like the file.
        raise WatchlistError(sorted(parser.problems, key=lambda p: p.line or 0))
    return watchlist


# ------------------------------------------------------------------- writing

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _quote(value: str) -> str:
    """A TOML basic string for ``value`` (control characters escaped)."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif unicodedata.category(c) == "Cc":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_quote(v) for v in values) + "]"


def dump_watchlist(w: Watchlist) -> str:
    """TOML text for ``w`` that :func:`parse_watchlist` reads back as an equal value."""
    lines = [f"name = {_quote(w.name)}"]
    if w.description:
        lines.append(f"description = {_quote(w.description)}")
    if w.exclude:
        lines.append(f"exclude = {_array(w.exclude)}")
    if w.require:
        lines.append(f"require = {_array(w.require)}")
    for term in w.terms:
        lines += ["", "[[terms]]", f"name = {_quote(term.name)}", f"forms = {_array(term.forms)}"]
        if term.case != "auto":
            lines.append(f"case = {_quote(term.case)}")
        if term.exclude:
            lines.append(f"exclude = {_array(term.exclude)}")
    return "\n".join(lines) + "\n"
