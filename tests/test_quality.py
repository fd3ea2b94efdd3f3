"""Issue 12: what a reader sees from real feeds — clean text, a wire lede, the story's
own hits, a real outlet name. Inline fixtures always run; the corpus cases skip with a
reason when ../shared/corpus is absent."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache

import pytest

from bot.core.matching import compile_matcher
from bot.core.models import Match, Story, Term, Watchlist
from bot.core.outlet import is_generic_name, outlet_name
from bot.core.summarize import main_text, summarize
from bot.core.text import html_to_text, one_line, plain_text, strip_invisible
from bot.feeds.parse import parse_feed
from tests.conftest import CORPUS, ROOT, needs_corpus

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


# ------------------------------------------------------------------ summaries (inline)


def hits(text: str, *names: str) -> list[Match]:
    return [
        Match("W", name, name, "text", m.start(), m.end())
        for name in names
        for m in re.finditer(re.escape(name), text)
    ]


def test_the_lede_not_a_video_card_before_it() -> None:
    text = (
        "The Brief October 24, 2025\n"
        "Trump says he’s terminated trade talks with Canada, four ways to get happier, and more\n"
        "Podcast ID – Short Length: 4f286743-605c\n"
        "[time-brightcove not-tgx=”true”]\n"
        "OpenAI relaxed safeguards that would have prevented ChatGPT from engaging in "
        "conversations about self-harm, an amended complaint alleges. The family says so."
    )
    s = summarize("OpenAI removed safeguards", text, [])
    assert s.text.startswith("OpenAI relaxed safeguards")
    assert "Brief" not in s.text and "Trump" not in s.text and "Podcast" not in s.text
    assert main_text("OpenAI removed safeguards", text).startswith("OpenAI relaxed")


def test_sub_headline_bullets_section_heading_and_colon_dateline_are_not_the_lede() -> None:
    dawn = (
        "• Italy offers to train Gaza police force\n"
        "• Trump announces $5bn pledge\n"
        "CAIRO: The board chaired by the president met on Monday for the first time. "
        "Members agreed on a plan."
    )
    assert summarize("Board meets", dawn, []).text == (
        "The board chaired by the president met on Monday for the first time. "
        "Members agreed on a plan."
    )
    blog = (
        "1- In the Ocean of Misinformation and Fastfoodization\n"
        "It has been two weeks since my first notes on the events. Much has changed."
    )
    assert summarize("Notes", blog, []).text.startswith("It has been two weeks")
    numbered = "1- It is important to understand the context of the protests. More follows."
    assert summarize("Notes", numbered, []).text.startswith("It is important")


def test_captions_credits_and_labels_are_dropped() -> None:
    text = (
        "(Image credit: Kevin Frayer)\n"
        "Photo: Ministry of Defence\n"
        "FULL VIDEO: https://video.example/watch?v=1 Officials said the test was "
        "caused by a nuclear device. (AP Photo/Vahid Salemi)\n"
        "Getty Images"
    )
    s = summarize("Test", text, [])
    assert s.text == "Officials said the test was caused by a nuclear device."


def test_headline_repeated_in_other_case_or_with_a_subtitle_is_skipped() -> None:
    title = "For the Love of Iframes"
    assert summarize(title, "For The Love of iframes.\nI adore a good iframe.", []).text == (
        "I adore a good iframe."
    )
    ipv = "IPv4 vs IPv6 - the evolution of the Internet Protocol\nAddresses ran out. So it goes."
    assert summarize("IPv4 vs IPv6", ipv, []).text == "Addresses ran out. So it goes."
    # A sentence about the title's subject is not a repeat.
    about = summarize("Onward", 'Onward was newly added and is "Running"', [])
    assert about.text == 'Onward was newly added and is "Running"'


def test_a_teaser_cut_by_its_feed_ends_at_its_last_full_sentence_or_with_an_ellipsis() -> None:
    japan = "Trump has vowed to bring the island to its knees. A blockade of…"
    assert summarize("Cuba", japan, []).text == "Trump has vowed to bring the island to its knees."
    no_mark = "Sweet 16 was created to reduce code size. He wrote i"
    assert summarize("Sweet 16", no_mark, []).text == "Sweet 16 was created to reduce code size."
    one = "Havana Syndrome refers to incidents characterized by headaches, dizziness, and"
    s = summarize("Havana", one, [])
    assert s.text == "Havana Syndrome refers to incidents characterized by headaches, dizziness…"
    whole = "Prime Minister Anutin has revived the Thai right’s electoral fortunes"
    assert summarize("Thailand", whole, []).text == whole  # a subtitle, not a cut


def test_every_term_hit_is_shown_even_deep_in_an_article_body() -> None:
    filler = " ".join(f"Paragraph {n} talks about the weather in detail." for n in range(40))
    text = (
        "The ministry announced a new procurement round on Monday. "
        + filler
        + "\nLater, officials confirmed that Bayraktar drones were part of the deal. "
        + filler
        + "\nKFOR said it was informed."
    )
    s = summarize("Procurement round", text, hits(text, "Bayraktar", "KFOR"), budget=300)
    assert len(s.text) <= 300
    assert [x.text for x in s.spans if x.highlight] == ["Bayraktar", "KFOR"]
    assert s.text.startswith("The ministry announced")
    assert "Bayraktar drones were part of the deal." in s.text


def test_a_hit_in_a_sentence_too_long_for_the_budget_is_shown_in_a_window() -> None:
    lead = "The ministry announced a new procurement round on Monday after long talks."
    long = (
        "In a statement "
        + "that ran on and on " * 30
        + "it named Bayraktar as a supplier "
        + ("and went on " * 30)
    )
    text = lead + " " + long.strip() + "."
    s = summarize("Procurement", text, hits(text, "Bayraktar"), budget=250)
    assert len(s.text) <= 250
    assert [x.text for x in s.spans if x.highlight] == ["Bayraktar"]
    assert "…" in s.text and s.text.startswith(lead)


# -------------------------------------------------------- matching on the story (inline)

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>World</title>
<link>https://www.washingtonpost.com</link><item><title>Safeguards removed, suit claims</title>
<link>https://www.washingtonpost.com/a</link><guid>a1</guid><description><![CDATA[
<p>The Brief October 24, 2025</p>
<p>Trump says he’s terminated trade talks with Canada, and more</p>
<p>(Photo: Bayraktar Media)</p>
<p>OpenAI relaxed safeguards before a teenager’s death, an amended complaint alleges.
The family’s lawyers said the change was deliberate.</p>
<p>Deep in the article, a NATO official declined to comment on the case.</p>
]]></description></item></channel></rss>"""


def test_chrome_does_not_fire_a_watchlist_and_body_hits_are_shown() -> None:
    watchlist = Watchlist(
        "news",
        (Term("Trump", ("Trump",)), Term("NATO", ("NATO",)), Term("Bayraktar", ("Bayraktar",))),
    )
    (s,) = parse_feed(RSS.encode(), "https://www.washingtonpost.com/feed").stories
    assert s.outlet == "washingtonpost.com"  # "World" is a section, not an outlet
    assert "Brief" not in s.text and "Trump" not in s.text and "Photo" not in s.text
    matches = compile_matcher([watchlist]).match(s.title, s.text)
    assert {m.term for m in matches} == {"NATO"}  # Trump and Bayraktar were only chrome
    summary = summarize(s.title, s.text, matches, budget=200)
    assert summary.text.startswith("OpenAI relaxed safeguards")
    assert [x.text for x in summary.spans if x.highlight] == ["NATO"]


# ----------------------------------------------------------------- outlets (inline)


@pytest.mark.parametrize(
    ("title", "site", "alternates", "expected"),
    [
        ("NDTV News Search Records Found 1000", "https://www.ndtv.com/", (), "NDTV News"),
        ("World", "https://www.washingtonpost.com", (), "washingtonpost.com"),
        ("World - CBSNews.com", "https://www.cbsnews.com/", (), "CBSNews.com"),
        (
            "Japan Today - Category World",
            "https://japantoday.com/category/world",
            (),
            "Japan Today",
        ),
        ("Tech – TIME", "https://time.com", (), "TIME"),
        ("NYT > World News", "https://www.nytimes.com/section/world", (), "NYT"),
        ("NPR Topics: World", "https://www.npr.org/sections/world/", (), "NPR"),
        ("TheWeek feed", "https://theweek.com", (), "TheWeek"),
        ("RSS", "https://explog.in/", ("kb@example.org (K B)",), "explog.in"),
        ("Top Stories", "https://www.abc.net.au/news", ("© 2026 ABC News",), "ABC News"),
        ("Web • Tech • Audio", "https://www.morningtempo.com/", (), "Web • Tech • Audio"),
        ("Balkan <b>Wire</b>", "https://wire.example", (), "Balkan <b>Wire</b>"),
        (
            "World News: Breaking news, crime, tech, and more",
            "https://www.boston.com/",
            (),
            "boston.com",
        ),
        (
            "Stratechery by Ben Thompson",
            "https://stratechery.com",
            (),
            "Stratechery by Ben Thompson",
        ),
    ],
)
def test_outlet_name(title: str, site: str, alternates: tuple[str, ...], expected: str) -> None:
    assert outlet_name(title, site, alternates) == expected


def test_generic_names() -> None:
    assert is_generic_name("World") and is_generic_name("Latest News") and is_generic_name("")
    assert not is_generic_name("Dawn") and not is_generic_name("Rest of World")


# -------------------------------------------------------------- the corpus (issue 12)

TIME = "realfeeds/5da3b20f957be51d.xml"
JAPAN_TODAY = "realfeeds/18138c717652f678.xml"
DAWN = "realfeeds/ce5f942d1cd40fc0.xml"
BLOG = "realfeeds/2fdd6727be89a7ea.xml"
NPR = "realfeeds/7be307059415227d.xml"
NDTV = "realfeeds/08f1ee71883dbcde.xml"
WAPO = "realfeeds/4bf53cb602417030.xml"


@needs_corpus
def test_time_video_card_neither_leads_nor_fires() -> None:
    s = story(TIME, "OpenAI Removed Safeguards")
    summary = summarize(s.title, s.text, [])
    assert summary.text.startswith("OpenAI relaxed safeguards that would have prevented ChatGPT")
    trump = Watchlist("issue", (Term("Trump", ("Trump",)),))
    assert compile_matcher([trump]).match(s.title, s.text) == []  # only the card named him
    for other in corpus_stories(TIME):
        assert not other.text.startswith("The Brief"), other.title


@needs_corpus
def test_japan_today_teaser_ends_at_its_last_full_sentence() -> None:
    s = story(JAPAN_TODAY, "Cuba buckling")
    assert s.text.endswith("A blockade of…")
    text = summarize(s.title, s.text, []).text
    assert text.endswith("to bring the communist island to its knees.")


@needs_corpus
def test_blog_heading_and_dawn_bullets_are_not_the_lede() -> None:
    s = story(BLOG, "Protests in Iran 2.0")
    assert summarize(s.title, s.text, []).text.startswith("It has been two weeks")
    d = story(DAWN, "British Museum under fire")
    text = summarize(d.title, d.text, []).text
    assert text.startswith("The British Museum has removed the word ‘Palestine’")
    assert "•" not in text and "LONDON" not in text


@needs_corpus
def test_npr_image_credit_and_ndtv_cut_teaser() -> None:
    s = story(NPR, "secret Chinese nuclear test")
    assert "Image credit" not in s.text
    h = story(NDTV, "Havana Syndrome Explained")
    text = summarize(h.title, h.text, []).text
    assert text.endswith("…") and not text.endswith(" …")
    assert text[:-1].split()[-1] in h.text.split()  # a whole word before the "…"


@needs_corpus
def test_outlets_of_generic_or_noisy_feed_titles() -> None:
    assert {s.outlet for s in corpus_stories(NDTV)} == {"NDTV News"}
    assert {s.outlet for s in corpus_stories(WAPO)} == {"washingtonpost.com"}
    assert {s.outlet for s in corpus_stories(TIME)} == {"TIME"}
    assert {s.outlet for s in corpus_stories(JAPAN_TODAY)} == {"Japan Today"}


def test_quality_bench_smoke_run() -> None:
    """bench/quality.py --quick stays alive (untimed): its rules and sample print."""
    if not (CORPUS / "realfeeds").is_dir():
        pytest.skip(f"needs ../shared/corpus (the shared corpus beside the repo): {CORPUS}")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "quality.py"), "--quick", "--sample", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for rule in ("invisible", "cut", "bullet_or_heading", "repeats_title", "outlet_generic"):
        assert f"defect {rule}" in out
    assert "3 random summaries (seed 12):" in out


def test_a_title_only_story_alerts_with_its_title_and_no_summary_everywhere() -> None:
    from bot.chat.discord import render as discord_render
    from bot.chat.slack import render as slack_render
    from bot.core.alerts import build_alert
    from bot.core.render import render_console

    title = "KFOR steps up patrols\u202e in the north"
    s = Story(
        "f", "1", "https://a.example/1", title, "KFOR steps up patrols in the north", None, "A"
    )
    matches = compile_matcher([Watchlist("KFOR", (Term("KFOR", ("KFOR",)),))]).match(
        s.title, s.text
    )
    alert = build_alert(1, [s], {0: matches}, ["KFOR"])
    assert alert.summary.spans == ()
    embed = discord_render.alert_embed(alert)
    assert "description" not in embed and embed["title"] == "KFOR steps up patrols in the north"
    _, blocks = slack_render.alert_message(alert)
    assert len([b for b in blocks if b["type"] == "section"]) == 1  # the title, no summary
    assert "\u202e" not in str(blocks)
    console = render_console(alert, action="post", channel="c")
    assert console.count("KFOR steps up patrols") == 1 and "\u202e" not in console


def test_a_short_first_sentence_or_an_introduction_to_code_is_still_the_lede() -> None:
    text = "Humans invent technology. It eases their lives. Then it becomes their lives."
    assert main_text("Cycles", text) == text
    code = (
        "Here is a bit of simple sql, which gives different answers on different engines:\n"
        "drop table if exists x\n"
        "Postgres is right here, and the others are wrong."
    )
    assert main_text("Error messages", code) == code  # the introduction is kept
    assert summarize("Error messages", code, []).text.startswith("Here is a bit of simple sql")


@needs_corpus
def test_every_term_of_a_long_time_article_is_shown_in_its_summary() -> None:
    # TIME's full-text feed: "Ukraine" first appears thousands of characters in.
    s = story("realfeeds-more/9f9555d69283aeda.xml", "NATO May Not Survive the Trump Era")
    names = Watchlist("issue", tuple(Term(n, (n,)) for n in ("Ukraine", "NATO", "Trump")))
    matches = compile_matcher([names]).match(s.title, s.text)
    first_ukraine = min(m.start for m in matches if m.term == "Ukraine")
    assert first_ukraine > 2_000
    summary = summarize(s.title, s.text, matches, budget=600)
    assert len(summary.text) <= 600
    assert summary.text.startswith("Europe was anxious after World War I.")
    # Ukraine, named only deep in the body, is shown; NATO and Trump are in the title.
    assert "Ukraine" in {x.text for x in summary.spans if x.highlight}
