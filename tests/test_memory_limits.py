"""Limits that bound the memory a body costs: overlong text fields are cut before
parsing (the XML stays well-formed, the feed still yields its items, the poll says
what was cut), and a long feed's middle entries are not kept."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from bot.app import open_runtime, run_once
from bot.feeds.fastparse import read_feed
from bot.feeds.fieldcap import FIELD_BYTES, _long_runs, _may_have_long_runs, cap_fields
from bot.feeds.parse import TEXT_CHARS, parse_feed
from bot.service import Service
from tests.conftest import MakeConfig
from tests.fakes.feedserver import FeedServer

NOW = datetime.now(UTC)
HEAD = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
TAIL = "</channel></rss>"
DATE = NOW.strftime("%a, %d %b %Y %H:%M:%S +0000")


def item(n: int, title: str, description: str) -> str:
    return (
        f"<item><title>{title}</title><link>https://t.example/{n}</link>"
        f"<pubDate>{DATE}</pubDate><description>{description}</description></item>"
    )


def feed(*items: str) -> bytes:
    return (HEAD + "".join(items) + TAIL).encode()


def descriptions(body: bytes) -> list[str]:
    root = etree.fromstring(body)  # raises on anything not well-formed
    return [d.text or "" for d in root.iter("description")]


def test_short_fields_leave_the_body_as_it_is() -> None:
    body = feed(item(1, "a", "x" * 50), item(2, "b", "y" * 50))
    assert cap_fields(body, 60) == (body, 0)
    assert cap_fields(body, len(body)) == (body, 0)


def test_a_long_text_run_is_cut_and_the_rest_of_the_feed_kept() -> None:
    body = feed(item(1, "a", "word " * 100), item(2, "b", "short"))
    capped, cut = cap_fields(body, 64)
    assert cut == 1
    texts = descriptions(capped)
    assert texts == [("word " * 100)[:64], "short"]


@pytest.mark.parametrize("pad", range(4))
def test_the_cut_never_splits_a_character_or_an_entity(pad: int) -> None:
    text = "x" * pad + "é€😀&amp;&#8364;" * 20
    body = feed(item(1, "a", text))
    capped, cut = cap_fields(body, 40)
    assert cut == 1
    (kept,) = descriptions(capped)  # well-formed UTF-8 and entities
    expected = etree.fromstring(feed(item(1, "a", text))).find(".//description").text
    assert expected.startswith(kept) and 0 < len(kept.encode()) <= 40


def test_cdata_sections_are_cut_inside_and_still_closed() -> None:
    html = "<![CDATA[<p>" + "para " * 30 + "</p>" + "<b>x</b>" * 30 + "]]>"
    plain = "<![CDATA[" + "plain " * 30 + "]]>"
    body = feed(item(1, "a", html), item(2, "b", plain), item(3, "c", "tail"))
    capped, cut = cap_fields(body, 50)
    assert cut == 2
    first, second, third = descriptions(capped)
    assert first.startswith("<p>para ") and len(first.encode()) <= 50
    assert second == ("plain " * 30)[:50]
    assert third == "tail"


def test_a_run_that_ends_a_cdata_section_keeps_its_end() -> None:
    # The run after "<p>" holds the end of the CDATA section: it must survive the cut.
    body = feed(item(1, "a", "<![CDATA[<p>" + "z" * 200 + "]]>"))
    capped, cut = cap_fields(body, 50)
    assert cut >= 1
    (kept,) = descriptions(capped)
    assert kept.startswith("<p>zzz") and len(kept) <= 53


def test_utf16_bodies_are_left_alone() -> None:
    body = "\ufeff".encode("utf-16-le") + (HEAD + item(1, "a", "x" * 500) + TAIL).encode(
        "utf-16-le"
    )
    assert cap_fields(body, 64) == (body, 0)


def test_parse_feed_cuts_a_huge_description_and_says_so() -> None:
    body = feed(
        item(1, "Huge", "KFOR patrols. " + "word " * (3 * FIELD_BYTES // 5)),
        item(2, "Small", "KFOR again."),
    )
    parsed = parse_feed(body, "https://t.example/rss", now=NOW)
    assert [s.title for s in parsed.stories] == ["Huge", "Small"]
    assert parsed.warning == f"1 text field(s) longer than {FIELD_BYTES:,} bytes cut to that length"
    assert parsed.stories[0].text.startswith("KFOR patrols. word")
    assert len(parsed.stories[0].text) <= TEXT_CHARS


async def test_a_feed_with_a_huge_field_is_polled_and_alerts(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    """Through the real server and a real worker process: the feed yields all its
    items, the huge one is cut, the status shows the warning, the match alerts."""
    huge = "Kosovo news. " + "filler " * (2 * FIELD_BYTES // 7)
    feed_server.add_feed(
        "/huge-field.xml",
        feed(
            item(1, "A very long report", huge),
            item(2, "KFOR steps up patrols near Jarinje", "NATO's Kosovo Force (KFOR) said."),
        ),
    )
    url = feed_server.url("/huge-field.xml")
    config = make_config([url], fetch={"workers": 1})
    out = io.StringIO()
    async with open_runtime(config, json_lines=True, out=out, chat=False) as rt:
        stats, _ = await run_once(rt, all_feeds=True)
    assert stats.errors == 0 and stats.new_stories == 2
    alerts = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert [a["title"] for a in alerts] == ["KFOR steps up patrols near Jarinje"]
    service = await Service.open(config)
    try:
        (status,) = await service.feeds()
    finally:
        await service.close()
    assert status.error == "" and status.stories == 2
    assert f"longer than {FIELD_BYTES:,} bytes cut" in status.warning


def test_a_long_feed_keeps_the_fields_of_its_ends_only() -> None:
    body = feed(*(item(n, f"Story {n}", f"Text {n}") for n in range(25)))
    full = read_feed(body, "https://t.example/")
    ends = read_feed(body, "https://t.example/", keep=5)
    assert full is not None and ends is not None
    assert len(ends["entries"]) == 25
    assert ends["entries"][:5] == full["entries"][:5]
    assert ends["entries"][-5:] == full["entries"][-5:]
    assert ends["entries"][5:-5] == [{}] * 15
    assert read_feed(body, "https://t.example/", keep=20) == full


@settings(max_examples=2000)
@given(st.lists(st.sampled_from([b"<", b"a", b"bb", b"c" * 7, b">"]), max_size=60).map(b"".join))
def test_the_quick_check_never_misses_a_long_run(body: bytes) -> None:
    # cap_fields skips its regex scan when every half of the limit holds a "<".
    for limit in (1, 2, 3, 8, 13):
        if _long_runs(limit).search(body):
            assert _may_have_long_runs(body, limit)
