"""Block Kit rendering: hostile feed text stays inert, every Slack limit holds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.slack import render as r
from bot.core.lookup import LookupPage
from bot.core.models import (
    Alert,
    FeedStatus,
    Source,
    Span,
    Story,
    StoryHit,
    Subscription,
    Summary,
    Term,
    Watchlist,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EVIL_TITLE = "<!channel> Bayraktar & <@U123> <https://evil.example|click> *bold* _it_ ~s~ `c`"


def make_alert(
    *,
    title: str = "MKE signs deal",
    url: str = "https://news.example/a?x=1&y=2",
    spans: tuple[Span, ...] = (Span("The "), Span("MKE", True), Span(" deal was signed.")),
    sources: tuple[Source, ...] | None = None,
    watchlists: tuple[str, ...] = ("MKE",),
    terms: tuple[str, ...] = ("MKE",),
    previous_url: str | None = None,
) -> Alert:
    if sources is None:
        sources = (Source("Balkan Insight", url, title, NOW),)
    return Alert(
        cluster_id=7,
        title=title,
        url=url,
        summary=Summary(spans),
        watchlists=watchlists,
        terms=terms,
        sources=sources,
        published=NOW,
        previous_url=previous_url,
    )


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text string Slack would parse as mrkdwn/plain text in these blocks."""
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            out.append(e["text"]["text"] if isinstance(e["text"], dict) else e["text"])
    return out


# Links and mentions that only our code may create: Slack's <…> syntax.
ANGLE = re.compile(r"<([^<>]*)>")


def forged(text: str) -> list[str]:
    """Angle-bracket entities that are not our own http(s) links or date tokens."""
    bad = []
    for m in ANGLE.finditer(text):
        inner = m.group(1)
        if inner.startswith(("http://", "https://", "!date^", "#C")):
            continue
        bad.append(inner)
    return bad


def check_limits(blocks: list[dict[str, Any]], *, max_blocks: int = r.MESSAGE_BLOCKS_LIMIT) -> None:
    assert len(blocks) <= max_blocks
    for b in blocks:
        if b["type"] == "section":
            assert 0 < len(b["text"]["text"]) <= r.SECTION_TEXT_LIMIT
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= r.HEADER_TEXT_LIMIT
            assert b["text"]["type"] == "plain_text"
        if b["type"] == "context":
            assert 1 <= len(b["elements"]) <= r.CONTEXT_ELEMENTS_LIMIT
            for e in b["elements"]:
                assert len(e["text"]) <= r.CONTEXT_TEXT_LIMIT


def test_alert_layout_linked_title_bold_names_sources_and_terms():
    alert = make_alert(
        sources=(
            Source("Balkan Insight", "https://bi.example/1", "t"),
            Source("Reuters", "https://reuters.example/2", "t"),
        ),
        terms=("MKE", "Makine ve Kimya"),
    )
    text, blocks = r.alert_message(alert)
    assert text == "MKE signs deal [MKE]"
    assert blocks[0]["text"]["text"] == "*<https://news.example/a?x=1&amp;y=2|MKE signs deal>*"
    assert blocks[1]["text"]["text"] == "The \u200b*MKE*\u200b deal was signed."
    src = [e["text"] for e in blocks[2]["elements"]]
    assert src == [
        "Source: <https://bi.example/1|Balkan Insight>",
        "Also reported by: <https://reuters.example/2|Reuters>",
    ]
    meta = [e["text"] for e in blocks[3]["elements"]]
    assert meta[0] == "Watchlists: \u200b*MKE*\u200b"
    assert meta[1] == "Terms: MKE, Makine ve Kimya"
    assert meta[2].startswith(f"<!date^{int(NOW.timestamp())}^")
    check_limits(blocks)


def test_hostile_title_and_summary_are_inert():
    alert = make_alert(
        title=EVIL_TITLE,
        spans=(Span("<!here> "), Span("<@U999|boss>", True), Span(" <!subteam^S1> &amp;")),
        sources=(Source("<!everyone>", "https://ok.example/x", "t"),),
        watchlists=("<!channel>",),
        terms=("<@U1>",),
    )
    text, blocks = r.alert_message(alert)
    for t in [text, *texts(blocks)]:
        assert forged(t) == [], t
        assert "*bold*" not in t and "_it_" not in t and "`c`" not in t
    body = json.dumps(blocks)
    assert "&lt;!channel&gt;" in body and "&lt;@U123&gt;" in body
    assert "&lt;https://evil.example|click&gt;" in body
    assert "&amp;amp;" in body  # a literal entity in the feed stays literal


def test_highlight_containing_star_cannot_break_bold():
    out = r.spans_mrkdwn((Span("x"), Span(" Sky*dagger* ", True), Span("y")))
    assert out == "x \u200b*Sky∗dagger∗*\u200b y"
    assert out.count("*") == 2


def test_links_only_http_and_delimiters_escaped():
    assert r.link("javascript:alert(1)", "x") == "x"
    assert r.link("ftp://files.example/a", "a") == "a"
    assert r.link("https://ex.example/a|b>c<d e&f", "L|a>b") == (
        "<https://ex.example/a%7Cb%3Ec%3Cd%20e&amp;f|L|a&gt;b>"
    )
    alert = make_alert(url="data:text/html,<script>", previous_url="javascript:x")
    _, blocks = r.alert_message(alert)
    assert blocks[0]["text"]["text"] == "\u200b*MKE signs deal*\u200b"
    assert "javascript" not in json.dumps(blocks)


def test_every_limit_at_once():
    huge = "Ω<&>" * 5000
    sources = tuple(
        Source(f"Outlet {i} " + "x" * 200, f"https://o{i}.example/", "t") for i in range(60)
    )
    alert = make_alert(
        title=huge,
        spans=tuple(Span("A&B<C> " * 200, i % 2 == 0) for i in range(20)),
        sources=sources,
        watchlists=tuple(f"W{i}" for i in range(40)),
        terms=tuple(f"term{i}" * 10 for i in range(400)),
    )
    text, blocks = r.alert_message(alert)
    check_limits(blocks)
    assert len(text) <= r.FALLBACK_CHARS
    for t in texts(blocks):
        # never cut inside an entity
        assert not re.search(r"&[a-z]{0,3}$", t)
    _, digest = r.digest_message([alert] * 100)
    check_limits(digest)
    assert len(digest) == r.MESSAGE_BLOCKS_LIMIT
    assert "and 76 more" in digest[-1]["elements"][0]["text"]


def test_digest_header_and_fallback():
    text, blocks = r.digest_message([make_alert(title="A <!here>"), make_alert(title="B")])
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "2 new alerts", "emoji": False},
    }
    assert text == "2 new alerts: A &lt;!here&gt;; B"
    check_limits(blocks)


def test_replies_render_within_limits():
    story = Story(
        "https://f.example/rss", "1", "https://n.example/1", "<!channel> T", "body &", NOW, "Out"
    )
    found = LookupPage((StoryHit(story, ("KFOR",)),) * 40, 95, 2, 40)
    _, blocks = r.hits_reply("q", found, {"query": "q" * 300})
    check_limits(blocks)
    assert blocks[0]["text"]["text"].startswith("41–80 of 95")
    buttons = blocks[-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["lookup_previous", "lookup_next"]
    assert [json.loads(b["value"])["page"] for b in buttons] == [1, 3]
    assert all(forged(t) == [] for t in texts(blocks))
    subs = [
        Subscription(i, "slack", f"C{i}", "KFOR", paused_reason="<!channel>") for i in range(500)
    ]
    _, blocks = r.subscriptions_reply(subs)
    check_limits(blocks)
    wl = Watchlist("KFOR", (Term("KFOR", ("KFOR", "Kosovo Force")),), "NATO <b>")
    _, blocks = r.watchlist_reply(wl)
    assert "`Kosovo Force`" in blocks[1]["text"]["text"]
    feeds = [
        FeedStatus(f"https://f{i}.example/", "F", NOW, NOW, NOW, "boom" if i % 2 else "", i, 3)
        for i in range(300)
    ]
    _, blocks = r.feeds_reply(feeds)
    check_limits(blocks)
    view = r.home_view(subs, [wl] * 300, feeds)
    check_limits(view["blocks"], max_blocks=r.HOME_BLOCKS_LIMIT)


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=400),
    spans=st.lists(st.tuples(st.text(max_size=300), st.booleans()), max_size=20),
    outlet=st.text(max_size=100),
    url=st.text(max_size=100),
)
def test_property_no_feed_text_becomes_markup(title, spans, outlet, url):
    alert = make_alert(
        title=title,
        url=url,
        spans=tuple(Span(t, h) for t, h in spans),
        sources=(Source(outlet, url, title),),
    )
    text, blocks = r.alert_message(alert)
    check_limits(blocks)
    for t in [text, *texts(blocks)]:
        assert forged(t) == []
        # every '<' that remains opens one of our own links, whose target is http(s)
        for m in ANGLE.finditer(t):
            target = m.group(1).split("|", 1)[0]
            assert target.startswith(("http://", "https://", "!date^"))
            if not target.startswith("!date^"):
                assert not any(c.isspace() for c in target)


def test_digest_fit_is_exactly_what_one_message_shows() -> None:
    many = [make_alert(title=f"Story {i}") for i in range(80)]
    n = r.digest_fit(many)
    assert 1 <= n < 80
    _, blocks = r.digest_message(many[:n])
    assert "not shown" not in str(blocks)
    _, blocks = r.digest_message(many)
    assert f"{80 - n} more not shown" in str(blocks)


def test_bidi_overrides_and_invisible_characters_never_reach_slack() -> None:
    # Issue 12: Slack kept U+202E and U+2066 in titles while Discord stripped them.
    hidden = "\u202e\u2066\u200b\u00ad\ufeff\u2069\u202c"
    alert = make_alert(
        title=f"{hidden}MKE signs{hidden} deal",
        spans=(Span(f"The{hidden} "), Span("MKE", True), Span(f" deal was chai\u00adred.{hidden}")),
        sources=(Source(f"Balkan{hidden} Insight", "https://news.example/a", "t", NOW),),
    )
    text, blocks = r.alert_message(alert)
    payload = json.dumps([text, blocks, r.header(f"{hidden}Header")], ensure_ascii=False)
    assert "\u200b*MKE*\u200b" in payload  # our own highlight markers are kept
    ours = payload.replace("\u200b*", "*").replace("*\u200b", "*")
    for ch in hidden:
        assert ch not in ours, f"U+{ord(ch):04X} reached Slack"
    assert "deal was chaired." in payload and "Balkan Insight" in payload


def test_links_drop_credentials() -> None:
    assert r.safe_url("https://user:pass@a.example/x?q=1") == "https://a.example/x?q=1"
    assert r.safe_url("https://bank.example@evil.example/login") == "https://evil.example/login"
    assert r.link("https://u:p@a.example/", "A") == "<https://a.example/|A>"


def test_lookup_snippets_are_the_lede_not_the_photo_credit():
    story = Story(
        "https://f.example/rss",
        "1",
        "https://n.example/1",
        "Kosovo buys Bayraktar TB2",
        "Photo: Ministry of Defence\nKosovo has bought Bayraktar TB2 drones from Baykar, "
        "the defence minister said on Monday.",
        NOW,
        "Out",
    )
    _, blocks = r.hits_reply("tb2", LookupPage((StoryHit(story),), 1, 1, 10), {"query": "tb2"})
    text = blocks[1]["text"]["text"]
    assert "Kosovo has bought" in text and "Photo:" not in text
