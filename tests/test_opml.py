"""feeds add fetches first; OPML import (all or none) and export, with hostile files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds.opml import OpmlError, OpmlFeed, read_opml, write_opml
from tests.cli_support import alertbot
from tests.fakes.feedserver import FeedServer
from tests.test_cli import SAMPLES, write_config
from tests.test_pipeline import KFOR_A, rss

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My reader</title></head>
  <body>
    <outline text="Balkans">
      <outline type="rss" text="A &amp; B" xmlUrl="{a}"/>
      <outline type="rss" text="Dup" xmlUrl="{a}"/>
    </outline>
    <outline type="rss" title="Second" text="ignored" xmlUrl="{b}"/>
    <outline text="a folder with no feed"/>
  </body>
</opml>
"""


def test_read_opml_flattens_folders_and_skips_duplicates() -> None:
    feeds = read_opml(OPML.format(a="https://a.example/rss", b="https://b.example/atom").encode())
    assert feeds == [
        OpmlFeed("https://a.example/rss", "A & B"),
        OpmlFeed("https://b.example/atom", "Second"),
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not xml at all", "not XML"),
        (b"<rss><channel/></rss>", "not OPML: the document is <rss>"),
        (b"<opml><body><outline text='x'/></body></opml>", "no feeds in it"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            b'<opml><body><outline xmlUrl="https://x.example/&c;"/></body></opml>',
            "declares XML entities",
        ),
    ],
)
def test_bad_opml_says_why(body: bytes, words: str) -> None:
    with pytest.raises(OpmlError, match=words):
        read_opml(body)


def test_ten_thousand_outlines_are_refused() -> None:
    outlines = "".join(f'<outline xmlUrl="https://x.example/{i}"/>' for i in range(10_000))
    with pytest.raises(OpmlError, match="more than 2,000 feeds in one file; split it"):
        read_opml(f"<opml><body>{outlines}</body></opml>".encode())


def test_write_opml_escapes_and_reads_back() -> None:
    feeds = [OpmlFeed('https://a.example/rss?a=1&b="2"', 'Tom & "Jerry" <News>')]
    assert read_opml(write_opml(feeds).encode()) == feeds


async def test_feeds_add_fetches_the_url_once_and_refuses_what_is_not_a_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/good.xml", rss("Good", [KFOR_A], link="https://good.example/"))
    feed_server.add_feed("/page", b"<html><body>a web page</body></html>", content_type="text/html")
    c = ["--config", str(write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")]))]
    code, out, err = await alertbot("feeds", "add", feed_server.url("/good.xml"), *c)
    assert code == 0, err
    assert feed_server.hits("/good.xml") == 1
    code, out, _ = await alertbot("feeds", "list", *c)
    assert f"{feed_server.url('/good.xml')}  Good" in out, "named by the fetch, before any poll"
    code, _, err = await alertbot("feeds", "add", feed_server.url("/page"), *c)
    assert code == 1
    assert f"{feed_server.url('/page')} is not a feed: got an HTML page" in err
    assert "not the web page" in err
    code, _, err = await alertbot("feeds", "add", feed_server.url("/status/404"), *c)
    assert code == 1 and "cannot fetch it: HTTP 404" in err
    code, out, _ = await alertbot("feeds", "list", "--json", *c)
    assert feed_server.url("/page") not in out and feed_server.url("/status/404") not in out
    code, _, err = await alertbot("feeds", "add", feed_server.url("/status/404"), "--no-check", *c)
    assert code == 0, err


async def test_opml_import_is_all_or_none_and_round_trips(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A], link="https://a.example/"))
    feed_server.add_feed("/b.xml", rss("B", [KFOR_A], link="https://b.example/"))
    c = ["--config", str(write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")]))]
    bad = tmp_path / "bad.opml"
    bad.write_text(
        OPML.format(a=feed_server.url("/a.xml"), b=feed_server.url("/status/500")), "utf-8"
    )
    code, _, err = await alertbot("feeds", "import", str(bad), *c)
    assert code == 1
    assert "1 of 2 feeds cannot be added; nothing was imported" in err
    assert f"{feed_server.url('/status/500')}: cannot fetch it" in err
    code, out, _ = await alertbot("feeds", "list", "--json", *c)
    assert feed_server.url("/a.xml") not in out, "nothing half-applied"

    good = tmp_path / "good.opml"
    good.write_text(OPML.format(a=feed_server.url("/a.xml"), b=feed_server.url("/b.xml")), "utf-8")
    code, out, err = await alertbot("feeds", "import", str(good), *c)
    assert code == 0, err
    assert out.endswith("2 feeds added, 0 already polled; new feeds are polled on the next cycle\n")
    code, out, err = await alertbot("feeds", "import", str(good), *c)
    assert out.startswith("0 feeds added, 2 already polled")

    code, exported, err = await alertbot("feeds", "export", "--opml", *c)
    assert code == 0, err
    titles = {f.url: f.title for f in read_opml(exported.encode())}
    # Named by their own titles, fetched at import, before any poll.
    assert titles[feed_server.url("/a.xml")] == "A" and titles[feed_server.url("/b.xml")] == "B"

    other = tmp_path / "other"
    other.mkdir()
    c2 = ["--config", str(write_config(other, []))]
    (tmp_path / "exported.opml").write_text(exported, "utf-8")
    code, out, err = await alertbot(
        "feeds", "import", str(tmp_path / "exported.opml"), "--no-check", *c2
    )
    assert code == 0, err
    code, again, _ = await alertbot("feeds", "export", "--opml", *c2)
    assert read_opml(again.encode()) == read_opml(exported.encode()), "the round trip keeps names"

    code, _, err = await alertbot("feeds", "import", str(tmp_path / "nope.opml"), *c)
    assert code == 1 and "nope.opml: cannot read" in err
    (tmp_path / "rss.opml").write_bytes(b"<rss/>")
    code, _, err = await alertbot("feeds", "import", str(tmp_path / "rss.opml"), *c)
    assert code == 1 and "rss.opml: not OPML" in err
