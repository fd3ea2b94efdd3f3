"""bot.core.text: HTML to text, canonical URLs, story ids, teasers, feed furniture."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.text import (
    MAX_ID_CHARS,
    _canonical_parsed,
    _lt_before_gt,
    canonical_url,
    html_to_text,
    is_teaser,
    join_url,
    one_line,
    plain_text,
    story_id,
    strip_and_judge,
    strip_feed_furniture,
    strip_invisible,
    unescape,
)

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

# --- html_to_text -----------------------------------------------------------------


def test_paragraphs_and_inline_markup() -> None:
    html = "<p>Hello <b>world</b>.</p><p>Second<br>line</p><div>Third</div>"
    assert html_to_text(html) == "Hello world.\nSecond\nline\nThird"


def test_blocks_keep_sentences_apart_and_inline_does_not_split_words() -> None:
    assert html_to_text("<h2>Title</h2><p>Body</p>") == "Title\nBody"
    assert html_to_text("Ba<span>yrak</span>tar") == "Bayraktar"
    assert html_to_text("<ul><li>one</li><li>two</li></ul>") == "one\ntwo"
    assert html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>") == (
        "a b\nc"
    )


@pytest.mark.parametrize(
    "dropped",
    [
        "<script>var x = '<p>no</p>';</script>",
        "<style>p { color: red }</style>",
        "<noscript>enable js</noscript>",
        "<iframe src=x>frame text</iframe>",
        "<svg><text>svg text</text></svg>",
        "<form><label>Email</label><input></form>",
        "<nav><a href=/>Home</a> | <a href=/news>News</a></nav>",
        "<footer>© Outlet</footer>",
        "<aside>Related posts</aside>",
        "<figure><img src=x><figcaption>Photo: agency</figcaption></figure>",
        "<!-- a comment <p>no</p> -->",
        "<SCRIPT type='text/javascript'>alert(1)</SCRIPT >",
    ],
)
def test_furniture_elements_are_dropped(dropped: str) -> None:
    assert html_to_text(f"<p>before</p>{dropped}<p>after</p>") == "before\nafter"


def test_nested_dropped_elements_close_in_order() -> None:
    html = "<aside>x<aside>y</aside>still aside</aside>kept"
    assert html_to_text(html) == "kept"


def test_entities_named_numeric_and_invalid() -> None:
    assert html_to_text("AT&amp;T &lt;b&gt; caf&eacute; &#8220;q&#x201D; &nbsp;x") == (
        "AT&T <b> café “q” x"
    )
    # Invalid references decode as HTML5 says (U+FFFD) or stay as written; never raise.
    assert html_to_text("a&#0;b &#xD800; &#99999999; &bogus; &#; &") == (
        "a\ufffdb \ufffd \ufffd &bogus; &#; &"
    )


def test_text_that_only_looks_like_markup() -> None:
    assert html_to_text("a < b and c > d, 3<4") == "a < b and c > d, 3<4"
    assert html_to_text("<p>x</p><![CDATA[cdata text]]>") == "x\ncdata text"


def test_whitespace_and_controls() -> None:
    html = "  a \t\r\n b\u00a0c\x00d\x07e <p>\n\n</p><p> f </p>\u2028g"
    assert html_to_text(html) == "a b cde\nf\ng"
    # C1 controls in feeds are mis-decoded Windows-1252 punctuation.
    assert html_to_text("it\x92s \x93quoted\x94 \x81") == "it’s “quoted”"


def test_limit_cuts_at_a_word_boundary() -> None:
    text = html_to_text("<p>" + "word " * 1000 + "</p>", limit=52)
    assert len(text) <= 52
    assert text.endswith("word")
    assert html_to_text("x" * 100, limit=10) == "x" * 10
    assert html_to_text("<p>x</p>", limit=0) == ""


def test_unclosed_dropped_element_drops_the_rest() -> None:
    # Documented miss: an element to drop that is never closed swallows the rest.
    assert html_to_text("<p>kept</p><nav>menu <p>lost") == "kept"


@pytest.mark.parametrize(
    "hostile",
    [
        "<a" * 200_000,  # quadratic in html.parser on 3.11.7
        "</" * 200_000,
        "<?" * 200_000,
        "<!" * 200_000,
        "<a" * 200_000 + ">",
        "<!--" + "x" * 1_000_000,
        "<div>" * 200_000 + "deep" + "</div>" * 200_000,
        "<nav>" * 100_000 + "x",
        "&#" * 200_000,
        "<" * 1_000_000,
        "<p>" + "word " * 2_000_000,
        "<script>" + "<" * 500_000,
    ],
)
def test_hostile_markup_is_linear_and_bounded(hostile: str) -> None:
    # Not timed (tests never time): a quadratic path would make this test take minutes.
    text = html_to_text(hostile)
    assert len(text) <= 100_000


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>/!?-&#;ab pxcriptsvnv\n\x00\x85\ud800é"), max_size=300))
def test_html_to_text_never_raises(html: str) -> None:
    text = html_to_text(html, limit=200)
    assert len(text) <= 200
    assert CONTROL.search(text) is None
    assert text == text.strip()
    assert "\n\n" not in text


@given(st.text(max_size=200))
def test_arbitrary_text_is_encodable(text: str) -> None:
    for out in (html_to_text(text), plain_text(text), one_line(text)):
        out.encode("utf-8")  # no lone surrogates reach SQLite or JSON
    assert "\n" not in one_line(text)


def test_plain_text_keeps_angle_brackets_and_entities() -> None:
    assert plain_text("Q&A: <script> tags &amp; you\n\n next") == (
        "Q&A: <script> tags &amp; you\nnext"
    )
    assert one_line(" a\nb\tc ", limit=3) == "a b"


# --- canonical_url ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/a/B?x=1#frag", "http://example.com/a/B?x=1"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/p", "https://example.com:8443/p"),
        (
            "https://ex.com/p?utm_source=rss&id=7&utm_medium=feed&fbclid=Ab&b=2",
            "https://ex.com/p?id=7&b=2",
        ),
        (
            "https://ex.com/p?gclid=1&mc_cid=2&mc_eid=3&igshid=4&ref_src=5&yclid=6&_hsenc=7"
            "&_hsmi=8&mkt_tok=9&at_medium=a&at_campaign=b&cmpid=c&xtor=RSS-1&UTM_Campaign=x",
            "https://ex.com/p",
        ),
        ("https://ex.com/p?b=2&a=1&&ref=rss", "https://ex.com/p?b=2&a=1&ref=rss"),
        ("https://ex.com/p?q=a%20b&utm%5Fsource=x", "https://ex.com/p?q=a%20b"),
        ("https://ex.com/#!/story/1", "https://ex.com/#!/story/1"),
        ("  https://ex.com/x  ", "https://ex.com/x"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("https://User:Pw@Ex.com/", "https://User:Pw@ex.com/"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "garbage",
    [
        *("", "  ", "not a url", "mailto:a@b.c", "tag:ex.com,2024:1", "javascript:alert(1)"),
        *("http://[::1", "http://x:99999/", "http://", "https://ex.com:port/"),
    ],
)
def test_canonical_url_garbage_comes_back_stripped(garbage: str) -> None:
    assert canonical_url(garbage) == garbage.strip()


def test_canonical_url_drops_control_characters_as_urllib_does() -> None:
    assert canonical_url("\x00https://ex.com/a\nb") == "https://ex.com/ab"


@given(st.text(max_size=100))
def test_canonical_url_never_raises(url: str) -> None:
    assert isinstance(canonical_url(url), str)
    assert canonical_url(canonical_url(url)) == canonical_url(url)


# --- story_id -----------------------------------------------------------------------


def test_story_id_prefers_guid_then_link_then_hash() -> None:
    assert story_id(" urn:uuid:1 ", "https://ex.com/a", "T", None) == "urn:uuid:1"
    assert story_id(None, "HTTPS://Ex.com/a?utm_source=x", "T", None) == "https://ex.com/a"
    assert story_id("", "", "T", "Mon, 01 Jan 2024") == story_id(
        None, None, "T", "Mon, 01 Jan 2024"
    )
    hashed = story_id(None, None, "T", "Mon, 01 Jan 2024")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hashed)
    assert hashed != story_id(None, None, "T", "Tue, 02 Jan 2024")
    assert hashed != story_id(None, None, "U", "Mon, 01 Jan 2024")


def test_story_id_bounds_huge_guids() -> None:
    huge = "g" * (MAX_ID_CHARS + 1)
    assert story_id(huge, None, "T", None).startswith("sha256:")
    assert story_id(huge, None, "T", None) == story_id(huge, "https://x/", "U", None)


# --- furniture and teasers ------------------------------------------------------------

LONG = "The ministry confirmed the delivery of the drones on Tuesday. " * 10


@pytest.mark.parametrize(
    "tail",
    [
        "The post Drones delivered appeared first on Balkan Insight.",
        "The post Drones delivered first appeared on Balkan Insight",
        "This article was originally published on The Conversation.",
        "This article is republished from The Conversation under a Creative Commons license.",
        "Continue reading “Drones delivered” →",
        "Continue reading...",
        "Read more",
        "Read More »",
        "Read more at Reuters",
        "[…]",
        "[...]",
        "(more…)",
        "Read the full story",
        "[…] The post Drones delivered appeared first on Outlet.",
    ],
)
def test_strip_feed_furniture(tail: str) -> None:
    assert strip_feed_furniture(LONG + tail) == LONG.strip()
    assert strip_feed_furniture(LONG + "\n" + tail) == LONG.strip()


def test_furniture_lookalikes_in_prose_are_kept() -> None:
    prose = LONG + "Read more about the contract in our report."
    assert strip_feed_furniture(prose) == prose
    assert strip_feed_furniture("a … b") == "a … b"
    assert strip_feed_furniture("") == ""


def test_teaser_rule() -> None:
    assert is_teaser("")
    assert is_teaser("A short lead.")
    assert not is_teaser(LONG)
    assert is_teaser(LONG + " […]")
    assert is_teaser(LONG + " Continue reading →")
    assert is_teaser(LONG + "and then…")
    assert is_teaser(LONG + "and then...")
    # Yoast adds "The post … appeared first on" to full text too: only short ones count.
    assert is_teaser(LONG + "The post X appeared first on Y.")
    assert not is_teaser(LONG * 3 + "The post X appeared first on Y.")
    assert is_teaser(LONG, title=LONG)


@given(st.text(max_size=700))
def test_furniture_functions_never_raise(text: str) -> None:
    stripped = strip_feed_furniture(text)
    assert text.startswith(stripped)
    assert isinstance(is_teaser(text, title=text[:20]), bool)


# Words of the furniture patterns, and the letters IGNORECASE folds onto ASCII ones
# ("ſ" for "s", Kelvin "K" for "k", "İ", "ı"), which the substring hints must not miss.
_TAIL_WORDS = st.sampled_from(
    [
        "Read more",
        "READ MORE",
        "Continue reading",
        "Keep reading",
        "Read the full story",
        "read the reſt of this post",
        "\u212aeep reading",
        "contİnue reading",
        "more…",
        "More...",
        "[…]",
        "(more…)",
        "The post X appeared first on Y.",
        "This article was originally published on Z.",
        "is republished from",
        "…",
        "word",
        " ",
        "\n",
        ".",
    ]
)


@given(st.lists(_TAIL_WORDS, max_size=12).map("".join), st.sampled_from(["", "Read more", "word"]))
@settings(max_examples=300)
def test_strip_and_judge_is_both_rules_at_once(text: str, title: str) -> None:
    body = LONG + text
    assert strip_and_judge(body, title=title) == (
        strip_feed_furniture(body),
        is_teaser(body, title=title),
    )
    # The substring hints never turn down a tail its pattern matches.
    from bot.core import text as core_text

    tail = body[-core_text._TAIL :]
    low = None if core_text._FOLDS_TO_ASCII.search(tail) else tail.lower()
    for kind, pattern in core_text._KINDS:
        if pattern.search(tail) is not None:
            assert core_text._may_match(kind, tail, low), (kind, tail)


@pytest.mark.parametrize(
    "hostile", ["read more " * 10_000, "The post appeared first on " * 5_000, "( " * 50_000]
)
def test_furniture_on_hostile_tails(hostile: str) -> None:
    assert isinstance(is_teaser(hostile), bool)


def test_redact_url_hides_credentials_only() -> None:
    from bot.core.text import redact_url

    assert (
        redact_url("https://user:s3cret@feeds.example/rss?x=1") == "https://…@feeds.example/rss?x=1"
    )
    assert redact_url("https://feeds.example/rss") == "https://feeds.example/rss"
    assert redact_url("samples/a.xml") == "samples/a.xml"


@pytest.mark.parametrize(
    ("html_text", "expected"),
    [
        # A "tag" whose ">" closes a comment: the comment ends there.
        ("<p>one</p><!-- a > <i-->after</a>", "one\nafter"),
        ("<b>x</b><!-- <b>--><span>y</span>", "xy"),
        # A break inside a dropped element is still a break.
        ("<p>a<nav>b<p>c</nav>d</p>", "a\nd"),
        # Tags between the halves of an entity keep them apart.
        ("caf&eacute<b></b>;<span>x</span>&am<i></i>p;", "café;x&amp;"),
        # After a dropped element, breaks and cells are still read: also the breaks
        # of block tags inside a later dropped element.
        ("<figcaption>cap</figcaption><p>one<td>two</td><nav><p>x</nav>three", "one two\nthree"),
        ("a<nav><div>x</div></nav>b<TD>c", "a\nb c"),
        # A drop tag that ends in "-->" opens a dropped element for the loop too.
        ("a<nav --><td>x</td></nav>b", "a b"),
        ("a<nav --><LI>x</nav>b", "a\nb"),
    ],
)
def test_html_to_text_tag_edge_cases(html_text: str, expected: str) -> None:
    """Cases the one-pass tag flattening in html_to_text must treat like the loop."""
    assert html_to_text(html_text) == expected


_MARKUP = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<P class=x>",
        "<br/>",
        "<li>",
        "</div>",
        "<h2>",
        "<pre>",
        "<td>",
        "</th>",
        "<b>",
        "</i>",
        "<img src=x>",
        "<span>",
        "</a>",
        "<x-y>",
        "<nav>",
        "</nav>",
        "<nav -->",
        "<script>",
        "</script>",
        "<figcaption>",
        "</figcaption>",
        "<style/>",
        "<xmp>",
        "</xmp>",
        "<!--",
        "-->",
        "<!x>",
        "</ x>",
        "<?pi?>",
        "<",
        ">",
        "&amp;",
        "&not",
        "&#8217;",
        "&",
        " ",
        "\n",
        "\xa0",
        "\x1c",
        "\u200b",
        "\x97",
        "word",
        "Word.",
        "bloc\u212aquote",
        "<p\xa0>",
        "<div\x1c>",
        "<b -->",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MARKUP, max_size=40).map("".join), st.sampled_from([10, 40, 100_000]))
def test_flattened_tags_read_as_the_loop_reads_them(html: str, limit: int) -> None:
    """html_to_text turns most tags into marks in a few regex passes before its loop;
    a CDATA section anywhere turns that off (CDATA text is kept raw), and an empty
    one in front changes nothing else: both paths must give the same text."""
    assert html_to_text(html, limit=limit) == html_to_text("<![CDATA[]]>" + html, limit=limit)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (3, "aaa"),
        (4, "aaaa"),
        (5, "aaaa"),
        (8, "aaaa\nbbb"),
        (9, "aaaa\nbbbb"),
        (12, "aaaa\nbbbb cc"),
    ],
)
def test_html_to_text_limit_keeps_whole_paragraphs_or_cuts_at_a_word(
    limit: int, expected: str
) -> None:
    assert html_to_text("<p>aaaa</p><p>bbbb cc</p>", limit=limit) == expected


# --- fast paths: the same answers as the slow ones -----------------------------------

URL_HEADS = ["http://", "https://", "HTTP://", "http:/", "//", "", "https://ex.com", "http://a.b/"]
URL_ALPHABET = "aZ0/?#;:@[]%.-_~ \t\n&=!$'()*+,Ä\x00\x7f"
url_like = st.builds(
    lambda head, rest: head + rest,
    st.sampled_from([*URL_HEADS, "https://ex.com/", "http://A.b/", "https://a.b/c;"]),
    st.text(alphabet=URL_ALPHABET, max_size=16),
)


@settings(max_examples=3000)
@given(
    url_like,
    st.sampled_from(
        ["https://ex.org/a/b", "http://ex.org/", "", "ftp://x/", "https://e.org/a;p?q#f"]
    ),
)
def test_join_url_is_urljoin(url: str, base: str) -> None:
    try:
        expected = urljoin(base, url)
    except ValueError:
        with pytest.raises(ValueError):
            join_url(base, url)
        return
    assert join_url(base, url) == expected


@settings(max_examples=3000)
@given(url_like)
def test_canonical_url_fast_path_agrees_with_taking_the_url_apart(url: str) -> None:
    assert canonical_url(url) == _canonical_parsed(url.strip())


@pytest.mark.parametrize(
    "url",
    ["https://ex.com/a/b.html", "http://ex.com/a;b", "https://ex.com/x?id=1#top", "https://e.x/"],
)
def test_common_links_take_the_fast_paths_unchanged(url: str) -> None:
    assert join_url("https://feed.example/", url) == url == urljoin("https://feed.example/", url)
    assert canonical_url(url) == _canonical_parsed(url)


@settings(max_examples=2000)
@given(st.text(alphabet="<>a \u00e9\u2019\ud800", max_size=30))
def test_lt_before_gt_agrees_with_its_regex(s: str) -> None:
    assert _lt_before_gt(s) == (re.search(r"<[^<>]*<", s) is not None)


ENTITY_PIECES = [
    "&",
    "#",
    "x",
    "X",
    ";",
    "amp",
    "nbsp",
    "rsquo",
    "notin",
    "0",
    "9",
    "38",
    "1114112",
]


@settings(max_examples=3000)
@given(st.lists(st.sampled_from([*ENTITY_PIECES, "a", " ", "\u00e9"]), max_size=30).map("".join))
def test_unescape_is_html_unescape(s: str) -> None:
    # Twice: the second answer for each reference comes from the memo.
    assert unescape(s) == html.unescape(s)
    assert unescape(s) == html.unescape(s)


# The rule strip_invisible had as one regex (its look-behind made re try it at every
# position of every text): the reference for the faster scan.
OLD_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
    "|(?:(?<=[\x00-\u02ff])|^)[\u200c\u200d]+|[\u200c\u200d]+(?=[\x00-\u02ff]|$)"
)
INVISIBLE_PIECES = ["a", " ", "\n", "\x00", "\u0915", "\u0628", "\ud800", "\u00ad", "\u200b"]


@settings(max_examples=3000)
@given(
    st.lists(
        st.sampled_from([*INVISIBLE_PIECES, "\u200c", "\u200d", "\u200e", "\ufeff", "\u02ff"]),
        max_size=14,
    ).map("".join)
)
def test_strip_invisible_keeps_its_rule(text: str) -> None:
    assert strip_invisible(text) == OLD_INVISIBLE.sub("", text)


def test_each_furniture_hint_holds_a_stem_of_its_kind() -> None:
    # _may_match looks for the stems first: a hint without one would never be tried.
    from bot.core.text import _HINT_STEMS, _HINTS

    for kind, hints in _HINTS.items():
        assert all(any(stem in hint for stem in _HINT_STEMS[kind]) for hint in hints), kind


def test_every_white_space_character_but_space_is_unprintable() -> None:
    # _one_spaced keeps a printable paragraph as it is: it relies on this.
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace() and c != " "]
    assert len(spaces) > 20
    assert not any(c.isprintable() for c in spaces)


@settings(max_examples=3000)
@given(
    st.lists(
        st.sampled_from([" ", "  ", "\n", "\xa0", "\u2009", "a", "é", "\u2028", ""]), max_size=12
    )
)
def test_one_spaced_is_split_and_join(pieces: list[str]) -> None:
    from bot.core.text import _one_spaced

    p = "".join(pieces)
    if p:
        assert _one_spaced(p) == " ".join(p.split())


def test_every_character_cleaning_changes_is_unprintable() -> None:
    # _one_spaced skips cleaning for a printable paragraph: it relies on this.
    from bot.core.text import _SUSPECT

    suspects = [c for c in map(chr, range(0x110000)) if _SUSPECT.match(c)]
    assert len(suspects) > 2000  # the surrogates among them
    assert not any(c.isprintable() for c in suspects)


@settings(max_examples=3000)
@given(
    st.lists(
        st.sampled_from(["a", " ", "  ", "\n", "\u2028", "\x85", "\x1c", "é", "\u200b"]),
        max_size=12,
    ),
    st.sampled_from([1, 3, 500]),
)
def test_plain_text_of_a_printable_line_is_its_paragraph_rule(
    pieces: list[str], limit: int
) -> None:
    # plain_text skips the paragraph split for a printable text within the limit.
    from bot.core.text import _PARA_SEPARATORS, _finish

    text = "".join(pieces)
    assert plain_text(text, limit=limit) == _finish(_PARA_SEPARATORS.split(text), limit)
