"""Issue 12: what a reader sees from real feeds — clean text, a wire lede, the story's
own hits, a real outlet name. Inline fixtures always run; the corpus cases skip with a
reason when ../shared/corpus is absent."""

from __future__ import annotations

from functools import cache

from bot.core.models import Story
from bot.core.text import html_to_text, one_line, plain_text, strip_invisible
from bot.feeds.parse import parse_feed
from tests.conftest import CORPUS, needs_corpus

HIDDEN = (
    "\u00ad\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


@cache
def corpus_stories(name: str) -> tuple[Story, ...]:
    """The stories of one corpus feed (``realfeeds/x.xml``), parsed once per run."""
    path = CORPUS / name
    return tuple(parse_feed(path.read_bytes(), str(path)).stories)


def story(name: str, title_part: str) -> Story:
    found = [s for s in corpus_stories(name) if title_part in s.title]
    assert found, f"no story with {title_part!r} in {name}"
    return found[0]


# ------------------------------------------------------------- invisible characters


def test_invisible_and_bidi_characters_are_removed_from_all_parsed_text() -> None:
    for ch in HIDDEN:
        assert html_to_text(f"<p>chai{ch}red</p>") == "chaired", f"U+{ord(ch):04X}"
        assert plain_text(f"chai{ch}red") == "chaired"
        assert one_line(f"{ch}Title{ch}") == "Title"
    assert html_to_text("<p>Can&shy;aan &#8206;x&#x202E;y</p>") == "Canaan xy"


def test_zero_width_joiners_stay_where_a_script_needs_them() -> None:
    # Persian uses ZWNJ inside words, emoji sequences use ZWJ; next to Latin they are stray.
    assert strip_invisible("می\u200cخواهم") == "می\u200cخواهم"
    assert strip_invisible("\U0001f468\u200d\U0001f469") == "\U0001f468\u200d\U0001f469"
    assert strip_invisible("with \u200ca loaded shotgun") == "with a loaded shotgun"
    assert strip_invisible("toxin\u200c") == "toxin"


@needs_corpus
def test_japan_today_and_dawn_text_has_no_invisible_characters() -> None:
    # Japan Today (Reuters copy) carries U+200C between words; Dawn soft hyphens ("chai­red").
    for name in ("realfeeds/18138c717652f678.xml", "realfeeds/ce5f942d1cd40fc0.xml"):
        for s in corpus_stories(name):
            for field in (s.title, s.text, s.outlet):
                assert not any(ch in field for ch in HIDDEN + "\u200c\u200d"), (name, s.title)
    museum = story("realfeeds/ce5f942d1cd40fc0.xml", "British Museum")
    assert "‘Canaan’" in museum.text and "Dalrymple said" in museum.text
