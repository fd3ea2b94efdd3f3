"""The watchlist TOML format: parsing, every error with file/line/key, the
validators the service uses, and a lossless dump/parse round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import Term, Watchlist
from bot.core.watchlist import (
    MAX_FORM_LENGTH,
    Problem,
    WatchlistError,
    dump_watchlist,
    parse_watchlist,
    validate_form,
    validate_name,
    validate_watchlist,
)

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
name = "KFOR"
description = "NATO's Kosovo Force"
exclude = ["KFOR Street"]            # optional: a story containing any is skipped

[[terms]]
name = "KFOR"
forms = ["KFOR", "Kosovo Force"]     # aliases, other languages, acronyms
# case = "auto" | "exact" | "fold"   # optional, default "auto"
exclude = ["KFOR-TV"]

[[terms]]
name = "Peacekeepers"
forms = ["NATO peacekeepers in Kosovo"]
case = "fold"
"""


def problems(text: str) -> list[Problem]:
    with pytest.raises(WatchlistError) as info:
        parse_watchlist(text, "watchlists/x.toml")
    return list(info.value.problems)


def where(text: str) -> list[tuple[int | None, str]]:
    return [(p.line, p.key) for p in problems(text)]


def test_parses_the_issue_example() -> None:
    w = parse_watchlist(GOOD, "watchlists/kfor.toml")
    assert w == Watchlist(
        name="KFOR",
        description="NATO's Kosovo Force",
        exclude=("KFOR Street",),
        terms=(
            Term("KFOR", ("KFOR", "Kosovo Force"), "auto", ("KFOR-TV",)),
            Term("Peacekeepers", ("NATO peacekeepers in Kosovo",), "fold"),
        ),
    )


def test_unknown_keys_name_file_line_and_key() -> None:
    text = GOOD.replace('case = "fold"', 'case = "fold"\nalias = "x"').replace(
        "description", "descripton"
    )
    found = problems(text)
    assert [(p.file, p.line, p.key) for p in found] == [
        ("watchlists/x.toml", 2, "descripton"),
        ("watchlists/x.toml", 15, "terms[1].alias"),
    ]
    assert "unknown key" in found[0].message
    assert str(found[0]).startswith("watchlists/x.toml:2: descripton: unknown key")


def test_empty_forms_and_missing_forms() -> None:
    text = GOOD.replace('forms = ["NATO peacekeepers in Kosovo"]', "forms = []")
    assert where(text) == [(13, "terms[1].forms")]
    text = GOOD.replace('forms = ["NATO peacekeepers in Kosovo"]\n', "")
    [p] = problems(text)
    assert (p.line, p.key) == (11, "terms[1].forms")  # points at the [[terms]] header
    assert "missing" in p.message


def test_blank_and_whitespace_forms() -> None:
    text = GOOD.replace('"Kosovo Force"', '" "').replace('"KFOR-TV"', '" KFOR-TV"')
    found = problems(text)
    assert [(p.line, p.key) for p in found] == [(7, "terms[0].forms"), (9, "terms[0].exclude")]
    assert "empty" in found[0].message
    assert "whitespace" in found[1].message


def test_duplicate_term_names() -> None:
    text = GOOD.replace('name = "Peacekeepers"', 'name = "kfor"')
    [p] = problems(text)
    assert (p.line, p.key) == (12, "terms[1].name")
    assert "already used by terms[0]" in p.message


def test_require_must_name_a_term() -> None:
    text = 'require = ["kfor", "Drones"]\n' + GOOD
    found = problems(text)
    assert [(p.line, p.key) for p in found] == [(1, "require[0]"), (1, "require[1]")]
    assert "did you mean 'KFOR'?" in found[0].message
    assert "terms are: KFOR, Peacekeepers" in found[1].message


def test_bad_case_value() -> None:
    [p] = problems(GOOD.replace('case = "fold"', 'case = "insensitive"'))
    assert (p.line, p.key) == (14, "terms[1].case")
    assert "'auto', 'exact', 'fold'" in p.message


def test_wrong_types_and_missing_name() -> None:
    text = GOOD.replace('name = "KFOR"\ndescription', "description").replace(
        'exclude = ["KFOR Street"]', 'exclude = "KFOR Street"'
    )
    text = text.replace('forms = ["KFOR", "Kosovo Force"]', 'forms = ["KFOR", 4]')
    found = problems(text)
    assert [(p.line, p.key) for p in found] == [
        (None, "name"),
        (2, "exclude"),
        (6, "terms[0].forms[1]"),
    ]
    assert "add name" in found[0].message


def test_every_problem_is_reported_at_once() -> None:
    text = (
        GOOD.replace('case = "fold"', 'case = "x"')
        .replace('forms = ["NATO', 'form = ["NATO')
        .replace('name = "KFOR"\ndescription', 'name = ""\ndescription')
    )
    assert len(problems(text)) >= 4


def test_toml_syntax_error_has_a_line() -> None:
    [p] = problems('name = "KFOR"\n\n[[terms]]\nname = "KFOR\nforms = []\n')
    assert p.line == 4
    assert "not valid TOML" in p.message


def test_terms_as_inline_tables_still_get_a_line() -> None:
    text = 'name = "A"\nterms = [{name = "t", forms = []}]\n'
    assert where(text) == [(2, "terms[0].forms")]


def test_validators_for_single_edits() -> None:
    assert validate_name("KFOR") == []
    assert "empty" in validate_name("  ")[0]
    assert "whitespace" in validate_name(" KFOR")[0]
    assert "U+0007" in validate_name("KF\aOR")[0]
    assert validate_form("Kosovo Force") == []
    assert "punctuation" in validate_form("--")[0]
    assert "shorten" in validate_form("x" * (MAX_FORM_LENGTH + 1))[0]
    w = Watchlist(
        "W",
        (Term("A", ()), Term("a", ("x", "x"), case="loud"), Term("B", ("y",))),  # type: ignore[arg-type]  # a bad case value on purpose
        require=("C",),
    )
    found = validate_watchlist(w)
    assert any("no forms" in p for p in found)
    assert any("listed twice" in p for p in found)
    assert any("'loud' is not one of" in p for p in found)
    assert any("used twice" in p for p in found)
    assert any("require names 'C'" in p for p in found)


def test_shipped_watchlists_are_valid_and_round_trip() -> None:
    paths = sorted((ROOT / "watchlists").glob("*.toml"))
    names = []
    for path in paths:
        w = parse_watchlist(path.read_text(encoding="utf-8"), str(path))
        assert validate_watchlist(w) == []
        assert parse_watchlist(dump_watchlist(w), "dump") == w
        names.append(w.name)
    assert sorted(names) == ["Bayraktar", "KFOR", "MKE", "Skydagger"]


# ---------------------------------------------------------------- round trip

# Characters that stress TOML quoting and our folding: quotes, backslashes,
# TOML comment/table syntax, non-ASCII letters, tabs/newlines (descriptions).
ALPHABET = st.sampled_from(list("aZ09 -'\"\\#[]=.,{}İıßçğü’–é€😀\t\n\u00a0\x7f"))


def _valid_name(s: str) -> bool:
    return not validate_name(s)


def _valid_form(s: str) -> bool:
    return not validate_form(s)


names = st.text(ALPHABET, min_size=1, max_size=20).filter(_valid_name)
forms = st.text(ALPHABET, min_size=1, max_size=30).filter(_valid_form)


@st.composite
def watchlists(draw: st.DrawFn) -> Watchlist:
    term_names = draw(st.lists(names, max_size=4, unique_by=str.casefold))
    terms = tuple(
        Term(
            name=name,
            forms=tuple(draw(st.lists(forms, min_size=1, max_size=4, unique=True))),
            case=draw(st.sampled_from(["auto", "exact", "fold"])),
            exclude=tuple(draw(st.lists(forms, max_size=2, unique=True))),
        )
        for name in term_names
    )
    return Watchlist(
        name=draw(names),
        terms=terms,
        description=draw(st.text(ALPHABET, max_size=40).filter(lambda d: "\x7f" not in d)),
        exclude=tuple(draw(st.lists(forms, max_size=2, unique=True))),
        require=tuple(draw(st.lists(st.sampled_from(term_names), unique=True)))
        if term_names
        else (),
    )


@settings(max_examples=200, deadline=None)
@given(watchlists())
def test_dump_then_parse_is_lossless(w: Watchlist) -> None:
    assert validate_watchlist(w) == []
    text = dump_watchlist(w)
    assert parse_watchlist(text, "dump.toml") == w
    # Dumping is stable: the same watchlist always gives the same text.
    assert dump_watchlist(parse_watchlist(text, "dump.toml")) == text
