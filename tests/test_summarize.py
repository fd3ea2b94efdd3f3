"""Extractive summaries: lead + named sentences, highlights, budget, furniture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.matching import compile_matcher
from bot.core.models import Match, Summary, Term, Watchlist
from bot.core.summarize import (
    is_furniture,
    main_text,
    repeats_title,
    split_sentences,
    story_lines,
    story_text,
    summarize,
)
from bot.core.text import html_to_lines, html_to_text, is_teaser, strip_feed_furniture
from bot.feeds.article import extract_article
from tests.conftest import needs_corpus

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realfeeds"


def hits(text: str, *names: str, field: str = "text") -> list[Match]:
    """Matches as the matcher reports them: offsets of each name in ``text``."""
    out = []
    for name in names:
        for m in re.finditer(re.escape(name), text):
            out.append(Match("W", name, name, field, m.start(), m.end()))  # type: ignore[arg-type]  # "text"/"title" literal
    return out


def highlighted(s: Summary) -> list[str]:
    return [span.text for span in s.spans if span.highlight]


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


# ----------------------------------------------------------------- sentence splitting


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith met Gen. Jones in Pristina. They spoke for an hour.",
            ["Mr. Smith met Gen. Jones in Pristina.", "They spoke for an hour."],
        ),
        (
            "The deal was signed in the U.S. The ministry confirmed it.",
            ["The deal was signed in the U.S.", "The ministry confirmed it."],
        ),
        (
            "Officials from the U.S. State Department and the U.N. mission attended.",
            ["Officials from the U.S. State Department and the U.N. mission attended."],
        ),
        (
            "Growth was 3.5 percent. Prices rose 2.1% in January.",
            ["Growth was 3.5 percent.", "Prices rose 2.1% in January."],
        ),
        (
            "It was approved under Resolution No. 1244 in 1999. Then KFOR deployed.",
            ["It was approved under Resolution No. 1244 in 1999.", "Then KFOR deployed."],
        ),
        (
            '"We are ready," he said. "The drones arrive soon." Officials agreed.',
            ['"We are ready," he said.', '"The drones arrive soon."', "Officials agreed."],
        ),
        (
            "J. R. Smith wrote it. Is it true? Yes! Wait… Maybe.",
            ["J. R. Smith wrote it.", "Is it true?", "Yes!", "Wait…", "Maybe."],
        ),
        (
            "Sie kamen um 10 Uhr an. Die KFOR-Soldaten patrouillierten, z.B. in Zvečan.",
            ["Sie kamen um 10 Uhr an.", "Die KFOR-Soldaten patrouillierten, z.B. in Zvečan."],
        ),
        ("Türkiye teslim etti. Kosova'ya ulaştı.", ["Türkiye teslim etti.", "Kosova'ya ulaştı."]),
        ("Вучић је рекао. КФОР је одговорио.", ["Вучић је рекао.", "КФОР је одговорио."]),
        ("无人机已交付。北约表示关切。", ["无人机已交付。", "北约表示关切。"]),
        ("First line without stop\nSecond line.", ["First line without stop", "Second line."]),
        (
            "e.g. the army, i.e. the force, etc. were there.",
            ["e.g. the army, i.e. the force, etc. were there."],
        ),
    ],
)
def test_split_sentences(text, expected):
    assert sentences(text) == expected


# ----------------------------------------------------------------------- furniture

FURNITURE = [
    "",
    "  ···  ",
    "Home | World | Europe | Kosovo",
    "Home › News › Kosovo",
    "Share on Facebook",
    "Share on X",
    "Share on WhatsApp",
    "Share this article",
    "Tweet",
    "Email",
    "Follow us on Facebook, X and Instagram",
    "We use cookies to improve your experience. Accept all",
    "Sign up for our newsletter",
    "Subscribe to read the full story",
    "Already a subscriber? Log in",
    "Related posts",
    "Related Articles",
    "Read also: Serbia protests Kosovo drone purchase",
    "Read more",
    "More from Balkan Insight",
    "You may also like",
    "Most read",
    "By John Smith",
    "By Arta Berisha and Milica Stojanović",
    "Reporting by Fatos Bytyci; Editing by Alex Richardson",
    "Photo: AP Photo/Visar Kryeziu",
    "Photo credit: Getty Images",
    "Getty Images",
    "AP Photo/Darko Vojinovic",
    "Reuters/Ognen Teofilovski",
    "February 17, 2026",
    "17.02.2026 14:05",
    "Tue 17 Feb 2026 12.00 GMT",
    "Updated 3 hours ago",
    "Published: 17 February 2026",
    "Advertisement",
    "Sponsored",
    "© 2026 Balkan Wire. All rights reserved.",
    "All rights reserved",
    "Click here to download the app",
    "The post KFOR steps up patrols appeared first on Balkan Wire.",
    "Continue reading",
    "Most Popular Stories",
]

NOT_FURNITURE = [
    "KFOR said about 200 additional soldiers had been deployed.",
    "The drones were delivered on Monday.",
    "By Tuesday evening the border crossing had reopened, police said.",
    "Photographs published by the ministry showed two TB2 drones at Pristina airport, "
    "where officials said they would be based until a new hangar is ready.",
    "The ministry said in its weekly newsletter that the contract with Baykar, signed in "
    "Ankara on Monday, covers six drones and training for twelve pilots.",
    "Share prices of Aselsan rose 4 percent on the news.",
    "Related to the purchase, Serbia raised its concerns with NATO.",
    "Kosovo Security Force receives Bayraktar drones from Türkiye.",
    "Vučić je rekao da Srbija neće priznati nabavku dronova.",
]


@pytest.mark.parametrize("line", FURNITURE)
def test_furniture_lines(line):
    assert is_furniture(line)


@pytest.mark.parametrize("line", NOT_FURNITURE)
def test_article_lines_are_not_furniture(line):
    assert not is_furniture(line)


# ------------------------------------------------------------------------ summaries

STORY = (
    "Kosovo's parliament met on Tuesday to debate the budget. "
    "The session lasted six hours. "
    "Later, KFOR said its troops had increased patrols near Jarinje. "
    "Weather in Pristina was mild. "
    "Bayraktar TB2 drones were seen at the airport, officials said. "
    "The debate continues on Wednesday."
)


def test_lead_plus_named_sentences_in_text_order():
    s = summarize("Budget debate", STORY, hits(STORY, "KFOR", "Bayraktar"))
    assert s.text == (
        "Kosovo's parliament met on Tuesday to debate the budget. "
        "Later, KFOR said its troops had increased patrols near Jarinje. "
        "Bayraktar TB2 drones were seen at the airport, officials said."
    )
    assert highlighted(s) == ["KFOR", "Bayraktar"]


def test_highlight_spans_match_the_offsets():
    text = "Intro sentence here. The Kosovo Force (KFOR) and KFOR-i patrolled."
    ms = hits(text, "Kosovo Force", "KFOR")
    s = summarize("t", text, ms)
    assert highlighted(s) == ["Kosovo Force", "KFOR", "KFOR"]
    # Each highlight sits where the match said it does, relative to its sentence.
    rebuilt = s.text
    assert rebuilt.index("Kosovo Force") == text.index("Kosovo Force")
    # The spans concatenate back to the summary text.
    assert "".join(x.text for x in s.spans) == s.text


def test_only_the_lead_gets_the_next_sentence_for_context():
    s = summarize("Budget", STORY, [])
    assert s.text == (
        "Kosovo's parliament met on Tuesday to debate the budget. The session lasted six hours."
    )


def test_title_matches_are_not_text_offsets():
    # A title match's offsets point into the title, not the text: never highlight text by it.
    s = summarize("KFOR patrols", STORY, hits("KFOR patrols", "KFOR", field="title"))
    assert highlighted(s) == []


@pytest.mark.parametrize("budget", [40, 80, 120, 200, 600])
def test_budget_is_honoured_and_words_are_whole(budget):
    s = summarize("Budget debate", STORY, hits(STORY, "KFOR", "Bayraktar"), budget=budget)
    assert 0 < len(s.text) <= budget
    words = set(STORY.split())
    for w in s.text.removesuffix("…").split():
        assert w in words, (w, s.text)


def test_sentences_that_do_not_fit_are_skipped_whole():
    s = summarize("Budget debate", STORY, hits(STORY, "KFOR", "Bayraktar"), budget=130)
    assert s.text == (
        "Kosovo's parliament met on Tuesday to debate the budget. "
        "Later, KFOR said its troops had increased patrols near Jarinje."
    )


def test_overlong_lead_is_cut_at_a_word_with_ellipsis_and_never_inside_a_name():
    text = "The " + "very " * 30 + "long sentence mentions Bayraktar Akıncı near the end."
    s = summarize("t", text, hits(text, "Bayraktar Akıncı"), budget=60)
    assert s.text.endswith("…") and len(s.text) <= 60
    assert not s.text.endswith(" …")
    s2 = summarize("t", text, hits(text, "Bayraktar Akıncı"), budget=len(text) - 10)
    assert "Bayraktar Akıncı" in highlighted(s2) or "Bayraktar" not in s2.text


def test_deterministic():
    ms = hits(STORY, "KFOR", "Bayraktar")
    assert summarize("x", STORY, ms) == summarize("x", STORY, list(reversed(ms)))


def test_empty_furniture_only_or_title_only_text_gives_no_summary():
    # The alert shows the title itself; a summary never just repeats it (issue 12).
    title = "KFOR steps up patrols in northern Kosovo"
    for text in ["", "Share on Facebook\nAdvertisement\nBy John Smith", "   ", title, title + "."]:
        s = summarize(title, text, hits(title, "KFOR", field="title"))
        assert s == Summary(())


def test_title_repeated_at_top_of_body_is_skipped():
    title = "KFOR steps up patrols"
    text = "KFOR steps up patrols\nTroops were deployed on Tuesday, KFOR said."
    s = summarize(title, text, hits(text, "KFOR"))
    assert s.text == "Troops were deployed on Tuesday, KFOR said."


def test_dateline_is_trimmed_and_feed_tail_dropped():
    text = (
        "PRISTINA, Kosovo (AP) — KFOR increased patrols on Tuesday. "
        "Officials said more troops would come.\n"
        "The post KFOR increases patrols appeared first on Balkan Wire."
    )
    s = summarize("t", text, hits(text, "KFOR"))
    assert s.text.startswith("KFOR increased patrols on Tuesday.")
    assert "appeared first" not in s.text
    assert highlighted(s) == ["KFOR"]


def test_inline_share_prompts_in_a_one_line_body_are_removed():
    text = (
        "KFOR troops increased patrols near the boundary line on Tuesday, the mission said. "
        "Share on Facebook Share on X. Officials in Belgrade protested the move on Wednesday."
    )
    s = summarize("t", text, hits(text, "KFOR"))
    assert "Share" not in s.text


def test_a_page_full_of_navigation_cruft_yields_a_clean_summary():
    html = (DATA / "article_cluttered.html").read_bytes()
    title = "KFOR steps up patrols as Kosovo takes delivery of Bayraktar drones"
    text = extract_article(html, "https://balkanwire.example/news/kfor-patrols")
    assert text is not None
    watchlists = [
        Watchlist("KFOR", (Term("KFOR", ("KFOR", "Kosovo Force")),)),
        Watchlist("Bayraktar", (Term("Bayraktar", ("Bayraktar", "Baykar")),)),
    ]
    matches = compile_matcher(watchlists).match(title, text)
    s = summarize(title, text, matches, budget=600)
    print("\nsummary of the cluttered page:\n" + s.text)
    assert s.text.startswith("NATO-led peacekeepers in Kosovo stepped up patrols")
    assert len(s.text) <= 600
    for cruft in [
        "cookie",
        "Share",
        "Subscribe",
        "Sign up",
        "Related",
        "Read also",
        "Advertisement",
        "Getty",
        "Photo",
        "By Arta",
        "February 17",
        "rights reserved",
        "Home",
        "Most read",
        "Tweet",
    ]:
        assert cruft.casefold() not in s.text.casefold(), cruft
    assert set(highlighted(s)) >= {"KFOR", "Bayraktar"}


# ------------------------------------------------------------------------ properties

words = st.sampled_from(
    ["KFOR", "patrol", "Mr.", "U.S.", "3.5", "drones", "said", "Türkiye", "—", "…", "\n", "."]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(words, max_size=80).map(" ".join),
    st.integers(min_value=20, max_value=400),
)
def test_any_text_stays_in_budget_with_valid_highlights(text, budget):
    ms = hits(text, "KFOR")
    s = summarize("Title KFOR", text, ms, budget=budget)
    assert len(s.text) <= budget
    assert all(h == "KFOR" for h in highlighted(s))
    assert summarize("Title KFOR", text, ms, budget=budget) == s


@needs_corpus
def test_real_feed_stories_summarize_within_budget():
    import feedparser

    from bot.core.text import html_to_text

    checked = 0
    for name in ["ce5f942d1cd40fc0.xml", "14dda539770f94e3.xml", "6040d25e925318ed.xml"]:
        for e in feedparser.parse(str(CORPUS / name)).entries:
            body = e["content"][0]["value"] if e.get("content") else e.get("summary", "")
            text = html_to_text(body)
            title = e.get("title", "")
            s = summarize(title, text, hits(text, "Iran", "Kenya"), budget=300)
            assert len(s.text) <= 300
            # Empty only when the text is its title or no sentence at all (a bare link).
            assert s.text or repeats_title(text, title) or len(text.split()) < 4, text
            checked += 1
    assert checked > 100


_LINE_PARTS = st.sampled_from(
    ["Drones hit the port", ".", "!", "…", "”", "’", ")", "]", "\n", " ", "Share on X", ":", "a"]
)


@given(st.lists(_LINE_PARTS, max_size=10).map("".join))
@settings(max_examples=300)
def test_sentence_end_read_from_the_end_is_the_pattern(line: str) -> None:
    from bot.core import summarize as core_summarize

    assert core_summarize._ends_sentence(line) == bool(core_summarize._PROSE_END.search(line))


@given(
    st.lists(_LINE_PARTS, max_size=30).map("".join),
    st.sampled_from(["", "Drones hit the port", "drones HIT the port."]),
)
@settings(max_examples=300)
def test_story_text_is_main_text_and_teaser(text: str, title: str) -> None:
    assert story_text(title, text) == (main_text(title, text), is_teaser(text, title=title))
    for line in text.splitlines():
        assert repeats_title(line, title) == _repeats_title_by_the_rule(line, title)


def _repeats_title_by_the_rule(line: str, title: str) -> bool:
    """repeats_title as first written (every word of both, then the rules in order):
    the word-by-word shortcut must say the same."""
    from bot.core import summarize as core_summarize

    a, b = re.findall(r"\w+", line.casefold()), re.findall(r"\w+", title.casefold())
    if not a or not b:
        return False
    if a == b:
        return True
    if core_summarize._PROSE_END.search(line.strip()) or min(len(a), len(b)) < 2:
        return False
    if a[: len(b)] == b:
        words = list(re.finditer(r"\w+", line))
        rest = line[words[len(b) - 1].end() :].lstrip()
        return len(a) > len(b) and rest[:1] in ("-", "–", "—", ":", "|", "(")
    if min(len(a), len(b)) < 3:
        return False
    shared = len(set(a) & set(b))
    return shared / max(len(set(a)), len(set(b))) >= 0.8


_STORY_LINES = st.sampled_from(
    [
        "Drones hit the port",
        "drones HIT the port.",
        "Drones hit the port - what we know",
        "Share on Facebook",
        "By John Smith",
        "February 17, 2026",
        "a.m. 14:05 GMT",
        "Home | World | Europe",
        "[time-brightcove not-tgx=”true”]",
        "(AP Photo/Evan Vucci)",
        "The minister said the deal was off on Tuesday.",
        "Officials said: ",
        "  ",
        "[gallery] " + "long shortcode text " * 8,
        "A long paragraph that runs on past the line limit, " * 4,
    ]
)


@given(
    st.lists(_STORY_LINES, max_size=8).map("\n".join),
    st.sampled_from(["", "Drones hit the port"]),
)
@settings(max_examples=300)
def test_main_text_is_the_story_lines(text: str, title: str) -> None:
    """main_text filters the lines itself (no offsets): the same lines as story_lines."""
    body = strip_feed_furniture(text)
    assert main_text(title, text) == "\n".join(body[a:b] for a, b in story_lines(title, body))


def test_long_lines_are_judged_without_the_cache() -> None:
    """Paragraphs do not fill the chrome cache: a 10,000-item feed's paragraphs held
    20 MiB in every parse worker; only short lines (bylines, prompts) are cached."""
    from bot.core.summarize import CACHED_LINE_CHARS, _is_chrome, _is_chrome_cached, is_chrome

    before = _is_chrome_cached.cache_info().currsize
    long_lines = [f"Paragraph {i} of a long report. " * 20 for i in range(50)]
    assert all(len(line) > CACHED_LINE_CHARS for line in long_lines)
    assert [is_chrome(line) for line in long_lines] == [_is_chrome(line) for line in long_lines]
    assert _is_chrome_cached.cache_info().currsize == before
    for line in ("Share this article", "Photo: Reuters", "Home | World | Europe"):
        assert is_chrome(line) == _is_chrome(line)


HTML_PIECES = [
    *("<p>", "</p>", "<br>", "<li>", "<td>", " ", "\n", "\r", "\u2028", "&nbsp;", "\u00a0"),
    *("Bayraktar drones reached Kosovo.", "Share on Facebook", "By Ana Berisha", "Read more"),
    *("The post Drones appeared first on Balkan Wire.", "(more…)", "[…]", "…", "KFOR"),
]


@settings(max_examples=1500)
@given(
    st.lists(st.sampled_from(HTML_PIECES), max_size=30).map("".join),
    st.sampled_from(["", "KFOR", "Bayraktar drones reached Kosovo."]),
    st.sampled_from([40, 100_000]),
)
def test_story_text_from_the_lines_of_html_is_story_text_of_the_text(
    html: str, title: str, limit: int
) -> None:
    text, lines = html_to_lines(html, limit=limit)
    assert text == html_to_text(html, limit=limit)
    assert lines == [line for line in text.splitlines() if line]
    assert all(line == line.strip() for line in lines)
    assert story_text(title, text, lines=lines) == story_text(title, text)
