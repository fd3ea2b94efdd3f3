"""The fast paths of the chrome check say what the plain checks say, for every line.

``_is_chrome`` rules most lines out by their first word and finds banner words through
rarer letters first (see bot/core/summarize.py); the reference below is the check as it
was before, every pattern tried in turn. They are compared on lines built from the
patterns' own words, in every case, joined or spaced, with the non-ASCII letters that
IGNORECASE matches to ASCII ones ("ſ", "K", "ı", "İ"), brackets, quotes and digits.
"""

from __future__ import annotations

import random
import re
import sys
from re import _parser  # type: ignore[attr-defined]  # sre's parser: the pattern's words

import pytest

from bot.core import summarize as S
from bot.core.text import strip_feed_furniture

# ------------------------------------------------------------------ the reference

_OLD_HINT_WORDS = """cookie privacy terms newsletter subscri sign log rights click advertis
    getty photo share follow like appeared unlimited already accept ©"""
_OLD_HINTS = re.compile("|".join(re.escape(w) for w in _OLD_HINT_WORDS.split()))
_OLD_MENU_CHARS = re.compile(r"[|›»•·>/]")


def old_date_only(line: str) -> bool:
    first = S._WORDS.search(line)
    if first is not None and not S._date_word(first.group()):
        return False
    return all(S._date_word(word) for word in S._WORDS.findall(line))


def old_is_chrome(line: str) -> bool:
    """``_is_chrome`` before the first-word gate and the banner pieces."""
    s = line.strip()
    if not s or S._ALNUM.search(s) is None:
        return True
    first = s[0]
    if (first == "[" and S._SHORTCODES.fullmatch(s)) or (first == "(" and S._CREDIT_LINE.match(s)):
        return True
    bare = s.lstrip("([{ ")
    if S._ANCHORED.match(bare) or S._is_byline(s) or S._LABEL_ONLY.fullmatch(s):
        return True
    if len(s) < S.BANNER_CHARS and _OLD_HINTS.search(s.casefold()) and S._BANNER.search(s):
        return True
    if len(s) <= 80 and S._DATE_START.match(s) and old_date_only(s):
        return True
    return (
        len(s) < S.BANNER_CHARS
        and bool(_OLD_MENU_CHARS.search(s))
        and len(S._MENU_SEP.findall(s)) >= 2
    )


# ------------------------------------------------------------------ the lines

_PATTERNS = (
    S._ANCHORED,
    S._BANNER,
    S._BYLINE,
    S._LABEL_ONLY,
    S._DATE_START,
    S._DATE_TOKEN,
    S._CREDIT_LINE,
)
_PROSE_WORDS = """The Drones hit port John Smith Berisha Stojanović Kosovo Balkan Wire Tuesday
    evening crossing reopened World News Europe Most Read shares likely blog design
    Übersicht été naïve İstanbul ıslak straße ﬁnal"""
# Every word the patterns spell, their beginnings ("shar", "photog") and some prose.
_PATTERN_WORDS = sorted({w for p in _PATTERNS for w in re.findall(r"[a-z]+", p.pattern)})
_VOCAB = sorted(
    {*_PATTERN_WORDS}
    | {w[:n] for w in _PATTERN_WORDS for n in range(1, len(w))}
    | set(_PROSE_WORDS.split())
)
_TOKENS = (
    "17",
    "2026",
    "17th",
    "14:05",
    "17.02.2026",
    "a.m",
    "p.m.",
    "3",
    "(5)",
    "x",
    "e-mail",
    "don't",
    "editor's",
    "tl;dr",
    "tl; dr",
    "https://example.com/a",
    "www.example.com",
    "dawn.com/x",
)
_PUNCT = [*"()[]{}:|/›»•·>*_-—–'’,.…“”\"©@#$%+", "‘", "\u0345", "\u0307", "²", "٣"]
_SEPS = ["", " ", " ", " ", "  ", "\t", "\u00a0", "\u2003", ": ", " | ", " / ", " › ", "-"]
_LEADS = ["", "", "", "(", "[", "{", "( ", "([", " ", "*", "**", "_", "“", '"', "• ", "— ", "1. "]
_LOOKALIKES = {"s": "ſ", "k": "\u212a", "i": "ıİ", "S": "ſ", "K": "\u212a", "I": "ıİ"}


def _recase(rng: random.Random, text: str) -> str:
    match rng.randrange(6):
        case 0:
            return text.upper()
        case 1:
            return text.title()
        case 2:
            return "".join(c.upper() if rng.random() < 0.5 else c for c in text)
        case 3:
            # The letters IGNORECASE matches to ASCII ones, and casefold does not all fold.
            return "".join(
                rng.choice(_LOOKALIKES[c]) if c in _LOOKALIKES and rng.random() < 0.4 else c
                for c in text
            )
        case _:
            return text


def _line(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randrange(1, 7)):
        pick = rng.random()
        if pick < 0.7:
            parts.append(rng.choice(_PATTERN_WORDS if rng.random() < 0.6 else _VOCAB))
        elif pick < 0.85:
            parts.append(rng.choice(_TOKENS))
        else:
            parts.append(rng.choice(_PUNCT))
        parts.append(rng.choice(_SEPS))
    line = _recase(rng, rng.choice(_LEADS) + "".join(parts))
    if rng.random() < 0.05:
        line = line * rng.randrange(2, 30)  # past BANNER_CHARS, the date's 80, the cache
    return line


def _pairs() -> list[str]:
    """Two pattern words, joined or spaced, in three cases: every start the gate sees."""
    out = []
    for a in _PATTERN_WORDS:
        for b in _PATTERN_WORDS:
            for sep in ("", " ", ": "):
                line = a + sep + b
                out += [line, line.upper(), line.capitalize()]
    return out


# ------------------------------------------------------------------ the tests


def test_the_pattern_words_start_lines_as_before() -> None:
    lines = _pairs()
    assert [S._is_chrome(x) for x in lines] == [old_is_chrome(x) for x in lines]


@pytest.mark.parametrize("seed", range(4))
def test_generated_lines_are_judged_as_before(seed: int) -> None:
    rng = random.Random(seed)
    lines = [_line(rng) for _ in range(40_000)]
    differ = [x for x in lines if S._is_chrome(x) != old_is_chrome(x)]
    assert differ == []
    # The lines reach every check, chrome and not.
    assert 0.02 < sum(map(old_is_chrome, lines)) / len(lines) < 0.9


def test_date_only_is_as_before() -> None:
    rng = random.Random(5)
    lines = [_line(rng) for _ in range(20_000)]
    lines += ["17.02.2026 14:05", "Wednesday, February 17, 2026", "a.m.", "2025 was", ""]
    assert [S._date_only(x) for x in lines] == [old_date_only(x) for x in lines]


def test_edge_lines_are_judged_as_before() -> None:
    lines = [
        "",
        " ",
        "...",
        "—",
        "_",
        "__video__: https://x.com/a",
        "*Update* :",
        "(Image credit: Kevin Frayer)",
        "[time-brightcove not-tgx=”true”]",
        "Share this article",
        "ſhare on Facebook",
        "SHARE ON ＦACEBOOK",
        "Coo\u212aies",
        "Sıgn up",
        "Sİgn up for our newsletter",
        "prıvacy polıcy",
        "Log ın",
        "Log İn",
        "© 2026",
        "By John Smith",
        "By Tuesday evening the crossing had reopened",
        "Reporting by A. Berisha and M. Stojanović | Balkan Wire",
        "FULL VIDEO: https://example.com/v",
        "Wednesday, February 17, 2026 at 14:05 GMT",
        "17.02.2026 14:05",
        "Updated 3 hours ago",
        "updated2026",
        "Published in Dawn, February 17th, 2026",
        "Home | World | Europe",
        "Home › World › Europe",
        "a | b",
        "a|b|c",
        "News / World / Europe",
        "17/02/2026",
        "Home » World",
        "• Most Read • World",
        "> quoted > twice",
        "(AP Photo/Evan Vucci)",
        "Getty Images",
        "AFPvia Getty",
        "photocredit: x",
        "Most Read",
        "The post Drones appeared first on Balkan Wire.",
        "x",
        "X ",
        "e-mail",
        "Don’t miss",
        "Editor’s picks",
        "a.m.",
        "p",
        "² 3",
        "٣ hours ago",
        "ǅ",
        "ß" * 200,
        "Share " * 100,
        "Drones hit the port. " * 30,
    ]
    assert [S._is_chrome(x) for x in lines] == [old_is_chrome(x) for x in lines]
    assert [S.is_chrome(x) for x in lines] == [old_is_chrome(x) for x in lines]


# ----------------------------------------------- what the fast paths rely on


def test_alnum_is_str_isalnum_for_every_code_point() -> None:
    """``s[0].isalnum()`` stands for ``_ALNUM.search`` when it is true."""
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        assert bool(S._ALNUM.match(c)) == c.isalnum(), hex(cp)


def _ignorecase_letters() -> dict[str, set[str]]:
    """The characters IGNORECASE matches to each ASCII lower-case letter."""
    out: dict[str, set[str]] = {a: set() for a in "abcdefghijklmnopqrstuvwxyz"}
    letters = re.compile("([a-z])", re.IGNORECASE)
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        if letters.fullmatch(c):
            for a in out:
                if re.fullmatch(a, c, re.IGNORECASE):
                    out[a].add(c)
    return out


def test_what_ignorecase_matches_folds_as_the_banner_pieces_expect() -> None:
    """The proof under _BANNER_PIECES: a character IGNORECASE matches to an ASCII letter
    folds to it ("i" aside: "ı" and "İ" fold to "ı" and "i̇"); those off ASCII are
    only "ſ", "K", "ı", "İ" (the first-word gate leaves such words to the old checks);
    white space, "©" and the menu characters fold to themselves."""
    letters = _ignorecase_letters()
    for a, chars in letters.items():
        folds = {c.casefold() for c in chars}
        assert folds == ({"i", "ı", "i\u0307"} if a == "i" else {a}), a
    off_ascii = {c for chars in letters.values() for c in chars if not c.isascii()}
    assert off_ascii == {"ſ", "\u212a", "ı", "İ"}  # the last: Kelvin
    space = re.compile(r"\s")
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        if space.match(c):
            assert c.casefold() == c, hex(cp)
    assert "©".casefold() == "©"
    for c in "|›»•·>/":  # _BANNER_OR_MENU looks for two of them in the casefold
        assert c.casefold() == c


def test_casefold_is_character_by_character() -> None:
    rng = random.Random(7)
    chars = [chr(cp) for cp in range(0x2000)] + ["ſ", "K", "İ", "ﬁ", "ς", "Σ"]
    for _ in range(2000):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(1, 12)))
        assert text.casefold() == "".join(c.casefold() for c in text)


def test_every_banner_match_leaves_a_piece_in_the_casefold() -> None:
    rng = random.Random(3)
    alternatives = _expand(_parser.parse(S._BANNER.pattern, S._BANNER.flags), " \t\u00a0")
    assert len(alternatives) > 30
    for text in sorted(alternatives):
        for _ in range(20):
            variant = _recase(rng, text)
            if S._BANNER.search(variant):
                assert S._BANNER_PIECES.search(variant.casefold()), variant


def _expand(tree: object, space: str = " ") -> set[str]:
    """Strings of the shapes a pattern matches: every literal and branch, repeats up to
    twice (the same string again), a class as one of its characters (``\\s`` as each of
    ``space``, ``\\d`` as "0", a negated class or ``.`` as "x"); anchors and look-arounds
    as ""."""
    out = {""}
    for op, av in tree:  # type: ignore[attr-defined]
        name = str(op)
        if name == "LITERAL":
            step = {chr(av)}
        elif name in ("NOT_LITERAL", "ANY"):
            step = {"x" if av != ord("x") else "y"}
        elif name == "BRANCH":
            step = set().union(*(_expand(alt, space) for alt in av[1]))
        elif name == "SUBPATTERN":
            step = _expand(av[3], space)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            once = _expand(sub, space)
            step = {o * n for o in once for n in range(low, min(high, max(low, 2)) + 1)}
        elif name == "IN":
            step = set()
            for kind, value in av:
                if str(kind) == "NEGATE":
                    step = {"x"}
                    break
                if str(kind) in ("LITERAL", "RANGE"):
                    step.add(chr(value if str(kind) == "LITERAL" else value[0]))
                else:
                    classes = {"DIGIT": "0", "SPACE": space, "WORD": "w", "NOT_WORD": "-"}
                    step |= set(classes.get(str(value).removeprefix("CATEGORY_"), "x"))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            step = {""}
        else:
            raise AssertionError(f"not expanded: {name}")
        out = {o + s for o in out for s in step}
    return out


def test_every_shape_of_a_chrome_line_is_judged_as_before() -> None:
    """What each pattern matches (and near misses: the same with a tail), in the cases
    and look-alikes IGNORECASE matches, after the brackets _ANCHORED skips."""
    rng = random.Random(11)
    for pattern in _PATTERNS:
        shapes = sorted(_expand(_parser.parse(pattern.pattern, pattern.flags)))
        if len(shapes) > 6000:  # a label's links, a credit's names: their starts repeat
            shapes = rng.sample(shapes, 6000)
        lines = []
        for shape in shapes:
            for line in (shape, shape + " x", shape + ": y"):
                lines += [line, line.upper(), _recase(rng, line)]
                lines += [rng.choice(_LEADS) + _recase(rng, line)]
        assert len(lines) > 100, pattern.pattern
        differ = [x for x in lines if S._is_chrome(x) != old_is_chrome(x)]
        assert differ == [], pattern.pattern


def test_the_date_heads_are_the_letter_words_of_the_date_start() -> None:
    """_DATE_HEADS is what _DATE_START accepts as a first word of ASCII letters."""
    words = _expand(_parser.parse("(?:" + S._DATE_WORDS + "|a|p)"))
    assert {w for w in words if w.isalpha()} == S._DATE_HEADS


# ------------------------------------------------ sentences, one at a time


def old_split_sentences(text: str) -> list[tuple[int, int]]:
    """``split_sentences`` before it became a list of ``_iter_sentences``."""
    out: list[tuple[int, int]] = []

    def append(start: int, end: int) -> None:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            out.append((start, end))

    pos = 0
    for line in text.splitlines(keepends=True):
        line_start = pos
        pos += len(line)
        start = line_start
        for m in S._END.finditer(line):
            end = line_start + m.end()
            if S._splits_here(text, end, m.group()):
                append(start, end)
                start = end
        append(start, line_start + len(line))
    return out


def old_is_prose(line: str) -> bool:
    """``_is_prose`` before it split only the first sentence off."""
    words = 0
    for _ in S._WORDS.finditer(line):
        words += 1
        if words == 6:
            break
    if words < 4:
        return False
    s = line.rstrip()
    if S._ends_sentence(s) or (s.endswith(":") and words >= 6):
        return True
    spans = old_split_sentences(line)
    if not spans:
        return False
    a, b = spans[0]
    return b < len(s) and S._ends_sentence(line[a:b])


_SENTENCE_PARTS = [
    "The drones hit the port",
    "Mr. Smith said",
    "J. Smith",
    "the U.S. The talks",
    "No. 5",
    "3.5 percent",
    "e.g. this",
    "Gen. Lt. Col. Jan.",
    "he said:",
    "a heading",
    "Trump says",
    "今日は雨。明日は晴れ",
    "क्या है।",
    "ماذا؟",
    "“Quoted.”",
    "(bracketed.)",
    "wow!",
    "why?",
    "and so…",
    "cut...",
    "x",
    "",
]
_SENTENCE_GLUE = [
    ". ",
    ".",
    "! ",
    "? ",
    "… ",
    "...",
    " ",
    "\n",
    "\r\n",
    "\u2028",
    ":",
    " — ",
    ".\u00a0",
    ".  ",
]


@pytest.mark.parametrize("seed", range(3))
def test_sentences_and_prose_are_as_before(seed: int) -> None:
    rng = random.Random(seed)
    texts = []
    for _ in range(15_000):
        n = rng.randrange(1, 9)
        text = "".join(rng.choice(_SENTENCE_PARTS) + rng.choice(_SENTENCE_GLUE) for _ in range(n))
        texts.append(rng.choice(["", " ", "\n"]) + _recase(rng, text))
    texts += ["", " ", "\n\n", "A b c d. " * 400, "No stop here at all " * 300]
    assert [S.split_sentences(t) for t in texts] == [old_split_sentences(t) for t in texts]
    assert [S._is_prose(t) for t in texts] == [old_is_prose(t) for t in texts]


def old_joined(title: str, body: str) -> str:
    """``_joined`` with the checks as they were."""
    kept = [
        line
        for line in map(str.strip, body.splitlines())
        if line
        and (
            not old_is_chrome(line)
            if len(line) < S.LINE_CHARS
            else not (line[0] == "[" and S._SHORTCODES.fullmatch(line))
        )
    ]
    first = 0
    while first < len(kept) and S.repeats_title(kept[first], title):
        first += 1
    lede = next((n for n in range(first, len(kept)) if old_is_prose(kept[n])), first)
    return "\n".join(kept[lede:])


def test_story_texts_are_as_before() -> None:
    rng = random.Random(9)
    for _ in range(3000):
        lines = []
        for _ in range(rng.randrange(0, 8)):
            if rng.random() < 0.5:
                lines.append(_line(rng))
            else:
                n = rng.randrange(1, 6)
                lines.append("".join(rng.choice(_SENTENCE_PARTS) + ". " for _ in range(n)))
        text = rng.choice(["\n", "\n\n", "\r\n"]).join(lines)
        title = rng.choice(["", "The drones hit the port", lines[0] if lines else "x"])
        body = strip_feed_furniture(text)
        before = old_joined(title, body)
        assert S.main_text(title, text) == before
        assert S.story_text(title, text)[0] == before
        assert "\n".join(body[a:b] for a, b in S.story_lines(title, body)) == before
