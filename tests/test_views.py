"""Neutral alert, digest and lookup-page views, and the three platforms agreeing on them:
what a message says is decided once (``core.views``); Discord, Slack and the console only
mark it up, escape it and cut it to their limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.chat.discord import render as discord_render
from bot.chat.slack import render as slack_render
from bot.core import views
from bot.core.lookup import LookupPage
from bot.core.models import Alert, Source, Span, Story, StoryHit, Summary
from bot.core.render import render_console, render_digest_console, render_lookup_console

WHEN = datetime(2026, 2, 17, 9, 30, tzinfo=UTC)
EARLIER = "https://discord.com/channels/1/2/3"
HOSTILE = "@everyone <@&123> <!channel> <@U1> \x1b[2J*bold* [x](https://evil.example)"


def make_alert(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "cluster_id": 42,
        "title": "KFOR steps up patrols",
        "url": "https://balkanwire.example/kfor",
        "summary": Summary((Span("Peacekeepers of "), Span("KFOR", True), Span(" patrol."))),
        "watchlists": ("Bayraktar", "KFOR"),
        "terms": ("KFOR", "Bayraktar"),
        "sources": (
            Source("Balkan Wire", "https://balkanwire.example/kfor", "KFOR steps up"),
            Source("DW", "https://dw.example/kfor", "KFOR patrols"),
            Source("", "https://ap.example/x", "Patrols stepped up"),
        ),
        "published": WHEN,
    }
    base.update(kw)
    return Alert(**base)


def slack_texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_alert_view_decides_what_a_full_and_a_compact_alert_show() -> None:
    full = views.alert_view(make_alert(previous_url=EARLIER, mentions=("role:1",)))
    assert full.summary.text == "Peacekeepers of KFOR patrol."
    assert full.watchlists == ("Bayraktar", "KFOR") and full.terms == ("KFOR", "Bayraktar")
    assert full.source == views.SourceLink("Balkan Wire", "https://balkanwire.example/kfor")
    # An outlet without a name is labelled by its story's title.
    assert [s.label for s in full.also] == ["DW", "Patrols stepped up"]
    assert (full.earlier, full.mentions, full.compact) == (EARLIER, ("role:1",), False)
    compact = views.alert_view(make_alert(format="compact", previous_url=EARLIER))
    assert compact.summary.spans == () and compact.watchlists == () and compact.terms == ()
    assert compact.also == full.also and compact.published == WHEN and compact.earlier == EARLIER
    assert views.alert_view(make_alert(title="  ")).title == views.UNTITLED


def test_a_compact_alert_shows_the_same_parts_on_every_platform() -> None:
    alert = make_alert(format="compact", previous_url=EARLIER)
    embed = discord_render.alert_embed(alert)
    _, blocks = slack_render.alert_message(alert)
    console = render_console(alert, action="post", channel="c")
    slack = slack_texts(blocks)
    # No summary, watchlists or terms anywhere ...
    assert "description" not in embed and "Peacekeepers" not in slack + console
    assert [f["name"] for f in embed["fields"]] == ["Also reported by", "Earlier"]
    assert "Watchlists" not in slack and "Terms" not in slack and "terms:" not in console
    assert console.splitlines()[0] == "[post] c"
    # ... and the headline, the outlets, the time and the earlier post on all three.
    assert embed["author"]["name"] == "Balkan Wire" and embed["timestamp"].startswith("2026-02-17")
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert "Source: <https://balkanwire.example/kfor|Balkan Wire>" in slack
    assert f"<!date^{int(WHEN.timestamp())}^" in slack and f"<{EARLIER}|earlier post>" in slack
    assert "Source: Balkan Wire" in console and "2026-02-17 09:30 UTC" in console
    assert f"Earlier post: {EARLIER}" in console


def test_digest_entries_carry_the_same_details_everywhere() -> None:
    other = make_alert(
        title="Another event",
        url="https://e.example/2",
        watchlists=("KFOR",),
        terms=(),
        sources=(Source("E", "https://e.example/2", "Another event"),),
        mentions=("role:5", "group:S1"),
    )
    view = views.digest_view([make_alert(mentions=("role:5",)), other])
    assert view.title == "2 new alerts" and view.mentions == ("role:5", "group:S1")
    first = view.entries[0]
    assert (first.title, first.url) == ("KFOR steps up patrols", "https://balkanwire.example/kfor")
    assert views.plain_text(first.detail) == (
        "Balkan Wire (+2 more) · Bayraktar, KFOR · terms: KFOR, Bayraktar · 2026-02-17 09:30 UTC"
    )
    assert views.plain_text(view.entries[1].detail) == "E · KFOR · 2026-02-17 09:30 UTC"

    [embed] = discord_render.digest_embeds([make_alert(), other])
    stamp = f"<t:{int(WHEN.timestamp())}:R>"
    assert (
        f"  Balkan Wire (+2 more) · **Bayraktar**, **KFOR** · terms: KFOR, Bayraktar · {stamp}"
        in embed["description"]
    )
    _, blocks = slack_render.digest_message([make_alert(), other])
    bold = "\u200b*{}*\u200b".format
    assert blocks[2]["elements"][0]["text"].startswith(
        f"Balkan Wire (+2 more) · {bold('Bayraktar')}, {bold('KFOR')} · terms: KFOR, Bayraktar"
    )
    console = render_digest_console([make_alert(), other], channel="c")
    assert "   Balkan Wire (+2 more) · Bayraktar, KFOR · terms: KFOR, Bayraktar" in console


def hit(i: int, *, title: str = "", outlet: str = "Wire", terms: tuple[str, ...] = ()) -> StoryHit:
    story = Story(
        "https://f.example/rss",
        str(i),
        f"https://n.example/{i}",
        title or f"Drones {i}",
        "Photo: Ministry of Defence\nKosovo has bought Bayraktar TB2 drones from Baykar, "
        "the defence minister said on Monday.",
        WHEN,
        outlet,
    )
    return StoryHit(story, ("MKE",), terms)


def test_lookup_page_view_numbers_across_pages_and_says_what_matched() -> None:
    found = LookupPage((hit(11, terms=("TB2", "Baykar")), hit(12)), 32, 2, 10)
    view = views.lookup_page_view("  bayraktar   drones ", found, since="7d")
    assert view.title == "Stories matching bayraktar drones (last 7d)"
    assert view.span == "11–12 of 32" and [e.number for e in view.entries] == [11, 12]
    assert views.plain_text(view.entries[0].detail) == (
        "Wire · 2026-02-17 09:30 UTC · matched TB2, Baykar"
    )
    assert views.plain_text(view.entries[1].detail) == "Wire · 2026-02-17 09:30 UTC · MKE"
    assert view.entries[0].snippet.startswith("Kosovo has bought")  # the lede, no credit
    assert render_lookup_console(view).splitlines()[:3] == [
        "11. Drones 11",
        "   Wire · 2026-02-17 09:30 UTC · matched TB2, Baykar",
        "   https://n.example/11",
    ]
    # The same empty answer on every platform.
    none = views.lookup_page_view("nothing", LookupPage((), 0, 1, 10))
    said = "No stored story matches nothing. Try fewer words, another spelling or a longer since."
    assert views.plain_text(none.empty) == said
    assert "No stored story matches **nothing**" in discord_render.lookup_embed(
        "nothing", LookupPage((), 0, 1, 10)
    ).get("description", "")
    text, _ = slack_render.hits_reply("nothing", LookupPage((), 0, 1, 10), {})
    assert text.startswith("No stored story matches \u200b*nothing*\u200b. Try fewer words")
    past = views.lookup_page_view("x", LookupPage((), 32, 9, 10))
    assert views.plain_text(past.empty) == "Nothing on page 9: there are 32 stories."


def test_feed_text_in_digests_and_lookup_pages_stays_inert() -> None:
    evil = make_alert(
        title=HOSTILE,
        watchlists=(HOSTILE,),
        terms=(HOSTILE,),
        sources=(Source(HOSTILE, "https://a.example", HOSTILE), Source("B", "https://b", "")),
    )
    found = LookupPage((hit(1, title=HOSTILE, outlet=HOSTILE, terms=(HOSTILE,)),), 1, 1, 10)
    [digest] = discord_render.digest_embeds([evil])
    lookup = discord_render.lookup_embed(HOSTILE, found)
    for text in (json.dumps(digest), json.dumps(lookup)):
        assert "@everyone" not in text and "<@&123>" not in text
        assert "](https://evil.example)" not in text.replace("\\\\]", "")
    _, digest_blocks = slack_render.digest_message([evil])
    _, lookup_blocks = slack_render.hits_reply(HOSTILE, found, {})
    for blocks in (digest_blocks, lookup_blocks):
        # Headers are plain text (Slack parses no markup there); the rest is mrkdwn.
        body = slack_texts([b for b in blocks if b["type"] != "header"])
        assert "<!channel>" not in body and "<@U1>" not in body and "*bold*" not in body
    for out in (
        render_digest_console([evil], channel="c"),
        render_lookup_console(views.lookup_page_view(HOSTILE, found)),
    ):
        assert "\x1b" not in out and out.count("\n") == len(out.splitlines())
        assert not re.search(r"\n\s*\n", out)


def test_fitting_keeps_whole_items_and_counts_the_rest() -> None:
    assert views.fit_count([3, 3, 3], 11, sep=1) == 3
    assert views.fit_count([3, 3, 3], 10, sep=1) == 2
    # Room is kept for the note about what is left out.
    assert views.fit_count([3, 3, 3], 10, sep=1, more=lambda rest: 4) == 1
    assert views.join_fitting(["aaa", "bbb", "ccc"], 11, " ") == "aaa bbb ccc"
    assert views.join_fitting(["aaaa", "bbb", "ccc"], 11, " ") == "…and 3 more"
    assert views.join_fitting(["aa", "b" * 12, "c"], 14, " ") == "aa …and 2 more"
    assert views.join_fitting(["aaa"] * 3, 3, " ") == ""  # not even the note fits


def test_an_entry_names_ten_watchlists_or_terms_and_counts_the_rest() -> None:
    many = tuple(f"term{i}" + "x" * 100 for i in range(400))
    entry = views.digest_entry(make_alert(watchlists=many[:12], terms=many))
    text = views.plain_text(entry.detail)
    assert text.count("…and 2 more") == 1 and text.count("…and 390 more") == 1
    assert len(text) < 1500
    [embed] = discord_render.digest_embeds([make_alert(watchlists=many, terms=many)] * 3)
    assert discord_render.check_limits([embed]) == []
    assert embed["description"].count("**") % 2 == 0  # no bold cut open
