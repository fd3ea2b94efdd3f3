"""The lxml fast path: same stories as the feedparser path, and hostile input kept in bounds."""

from __future__ import annotations

import io
import time
from pathlib import Path

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.fastparse import read_feed, repair_utf8, utf8_repaired
from bot.feeds.parse import parse_feed
from tests.conftest import CORPUS, needs_corpus

FEED_URL = "https://news.example.org/feeds/rss.xml"


def rss(items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> bytes:
    return (
        f'{head}<rss version="2.0"><channel><title>Example</title>'
        f"<link>https://ex.org/</link>{items}</channel></rss>"
    ).encode()


def fallback_stories(body: bytes, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What parse_feed gives through feedparser alone (the fast path switched off)."""
    with monkeypatch.context() as m:
        m.setattr("bot.feeds.parse.read_feed", lambda *a, **k: None)
        return parse_feed(body, FEED_URL).stories  # type: ignore[return-value]


# A sample of real feeds of each shape: RSS 2.0 with content:encoded, Atom with
# xml:base, RDF, media:group galleries, plain RSS.
SAMPLE = [
    "realfeeds/14dda539770f94e3.xml",
    "realfeeds/1a6a99410a2b58f2.xml",
    "realfeeds/a4911bd5d9977a79.xml",
    "realfeeds-more/07403555c6b2ebea.xml",
    "realfeeds-more/2756591d76dda573.xml",
    "miniflux-tests/parser-rdf_UTF8.xml",
    "miniflux-tests/parser-small_atom.xml",
    "miniflux-tests/encoding-iso-8859-1.xml",
]


@needs_corpus
@pytest.mark.parametrize("name", SAMPLE)
def test_fast_path_gives_the_stories_feedparser_gives(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (CORPUS / name).read_bytes()
    assert read_feed(body, FEED_URL) is not None, "this file should take the fast path"
    assert parse_feed(body, FEED_URL).stories == fallback_stories(body, monkeypatch)


@needs_corpus
def test_fast_path_entries_match_feedparser_on_realfeeds() -> None:
    """Entry count, ids, links and dates (as text: parse_feed parses the one it uses) of
    the raw fast-path result against feedparser."""
    checked = 0
    files = sorted((CORPUS / "realfeeds").glob("*.xml"), key=lambda p: p.stat().st_size)
    for path in files[:15]:  # the smaller ones: feedparser is the slow side here
        body = path.read_bytes()
        ours = read_feed(body, FEED_URL)
        if ours is None:
            continue
        theirs = feedparser.parse(
            io.BytesIO(body),
            response_headers={"content-type": "application/xml", "content-location": FEED_URL},
        )
        assert len(ours["entries"]) == len(theirs.entries), path.name
        for mine, their in zip(ours["entries"], theirs.entries, strict=True):
            assert mine.get("id") == their.get("id"), path.name
            assert mine.get("link") == their.get("link"), path.name
            assert mine.get("published") == dict.get(their, "published"), path.name
        checked += 1
    assert checked > 10


def test_declined_bodies_go_to_feedparser() -> None:
    # Unescaped HTML inside an RSS description: feedparser re-serialises it its own way.
    body = rss("<item><title>t</title><description><p>hi <b>there</b></p></description></item>")
    assert read_feed(body, FEED_URL) is None
    assert parse_feed(body, FEED_URL).stories[0].text == "hi there"
    # Broken XML that mending cannot fix (tags that do not nest): feedparser's loose parser.
    broken = rss("<item><title>one</title><b></item><item><title>two</title></item>")
    assert read_feed(broken, FEED_URL) is None
    assert [s.title for s in parse_feed(broken, FEED_URL).stories] == ["one", "two"]


def test_html_entities_and_bare_ampersands_are_mended() -> None:
    body = rss("<item><title>caf&eacute; &nbsp;open &amp; R&D \x02</title></item>")
    assert read_feed(body, FEED_URL) is not None
    assert parse_feed(body, FEED_URL).stories[0].title == "café open & R&D"


def test_entity_expansion_is_not_performed() -> None:
    lol = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']><rss version="2.0"><channel><item><title>&i;</title></item>'
        "<item><title>safe</title></item></channel></rss>"
    ).encode()
    assert read_feed(lol, FEED_URL) is None  # declared entities: left to the defusing path
    start = time.process_time()
    feed = parse_feed(lol, FEED_URL)
    assert time.process_time() - start < 2
    assert all(len(s.title) < 100 for s in feed.stories)
    assert feed.warning is not None and "unsafe entity" in feed.warning


def test_external_entities_and_dtds_are_not_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "file://{secret}">'
        '<rss version="2.0"><channel><item><title>t</title></item></channel></rss>'
    ).encode()
    feed = parse_feed(body, FEED_URL)
    assert [s.title for s in feed.stories] == ["t"]
    assert "TOPSECRET" not in repr(feed)


def test_a_huge_tree_is_not_built() -> None:
    deep = "<x>" * 5_000 + "</x>" * 5_000  # past libxml2's depth limit without huge_tree
    body = rss(f"<item><title>t</title><category>{deep}</category></item>")
    assert read_feed(body, FEED_URL) is None
    big_text = "a" * 11_000_000  # one text node over libxml2's 10 MB limit
    assert read_feed(rss(f"<item><title>{big_text}</title></item>"), FEED_URL) is None


def test_one_bad_byte_spoils_one_item_only() -> None:
    body = rss(
        "<item><title>Türkiye’s vote</title></item>"
        "<item><title>bad \xff byte</title></item>"
        "<item><title>Zürich</title></item>"
    )
    body = body.replace("\xff".encode(), b"\xff")  # a lone invalid byte, not UTF-8 of ÿ
    titles = [s.title for s in parse_feed(body, FEED_URL).stories]
    assert titles == ["Türkiye’s vote", "bad \ufffd byte", "Zürich"]


def test_bad_bytes_are_repaired_on_the_feedparser_path_too() -> None:
    # Unescaped HTML sends this feed to feedparser; the bad byte still spoils one item.
    body = rss(
        "<item><title>Türkiye’s vote</title><description><p>x</p></description></item>"
        "<item><title>bad \x01 byte</title></item>"
    ).replace(b"\x01", b"\xff")
    titles = [s.title for s in parse_feed(body, FEED_URL).stories]
    assert titles == ["Türkiye’s vote", "bad \ufffd byte"]


def test_a_legacy_charset_body_without_a_declaration_is_left_to_feedparser() -> None:
    # Every non-ASCII byte invalid as UTF-8: really cp1252, feedparser's guess is right.
    body = rss("<item><title>caf\xe9 cr\xe8me</title></item>", head="").replace(
        "\xe9".encode(), b"\xe9"
    )
    body = body.replace("\xe8".encode(), b"\xe8")
    assert utf8_repaired(body, "") == body
    assert parse_feed(body, FEED_URL).stories[0].title == "café crème"


def test_declared_charsets_are_decoded() -> None:
    body = (
        '<?xml version="1.0" encoding="windows-1254"?><rss version="2.0"><channel>'
        "<item><title>Türkiye’de seçim</title></item></channel></rss>"
    ).encode("windows-1254")
    assert read_feed(body, FEED_URL) is not None
    assert parse_feed(body, FEED_URL).stories[0].title == "Türkiye’de seçim"


def test_markup_after_the_feed_is_ignored_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # A CDN's e-mail decoder script after </rss> (seen in the realfeeds corpus).
    items = "<item><title>one</title><link>https://ex.org/1</link></item>"
    body = rss(items) + b'\n<script src="/cdn-cgi/scripts/email-decode.min.js"></script>\n'
    fast = read_feed(body, FEED_URL)
    assert fast is not None, "trailing markup should not send the feed to feedparser"
    feed = parse_feed(body, FEED_URL)
    assert feed.stories == fallback_stories(body, monkeypatch)
    assert feed.warning == "TrailingMarkup: markup after the end of the feed at line 3 ignored"
    # A second root element is not trailing junk: left to feedparser as before.
    assert read_feed(rss(items) + rss(items, head=""), FEED_URL) is None


BYTE_PIECES = [
    b"a",
    b" ",
    b"\xc3\xa9",
    b"\xe9",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xe2\x80",
    b"&amp;",
    b"&",
]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(BYTE_PIECES), max_size=12).map(b"".join))
def test_bad_utf8_is_found_by_libxml2_as_by_a_check_before_it(text: bytes) -> None:
    # read_feed no longer checks UTF-8 before parsing: libxml2 refuses a bad sequence
    # anywhere, and the body is then repaired. Same result as repairing it first.
    item = (
        b"<item><title>t " + text + b"</title><description><![CDATA[<p>" + text + b"</p>]]>"
        b"</description><link>https://ex.org/1</link></item>"
    )
    body = rss("ITEM").replace(b"ITEM", item)
    repaired = repair_utf8(body)
    expected = None if repaired is None else read_feed(repaired, FEED_URL)
    assert read_feed(body, FEED_URL) == expected
