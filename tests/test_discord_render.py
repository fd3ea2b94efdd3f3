"""Alert → Discord payloads: escaping, links, and every Discord limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.discord import render as r
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
from bot.core.views import HelpEntry, help_view

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "@everyone <@&123> <@456> @here [click](https://evil.example) **bold** `x` ||s|| # h"


def alert(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "cluster_id": 7,
        "title": "MKE delivers rifles to Kosovo",
        "url": "https://news.example/a?id=1",
        "summary": Summary((Span("Turkish maker "), Span("MKE", True), Span(" shipped."))),
        "watchlists": ("MKE",),
        "terms": ("MKE",),
        "sources": (Source("Balkan Insight", "https://news.example/a?id=1", "t"),),
        "published": WHEN,
    }
    base.update(kw)
    return Alert(**base)


def all_text(embed: r.Embed) -> str:
    parts = [embed.get("title", ""), embed.get("description", "")]
    parts += [embed.get("author", {}).get("name", ""), embed.get("footer", {}).get("text", "")]
    for f in embed.get("fields", []):
        parts += [f["name"], f["value"]]
    return "\n".join(parts)


def test_escape_makes_mentions_and_markup_inert() -> None:
    out = r.escape(HOSTILE)
    assert "@everyone" not in out and "@here" not in out
    assert "<@&123>" not in out and "<@456>" not in out
    assert "\\[click\\]" in out  # no masked link
    assert "**" not in out.replace("\\*", "")
    assert "\\`" in out and "\\|\\|" in out
    assert r.escape("# Heading").startswith("\\#")
    assert r.escape("- item").startswith("\\-")
    assert r.escape("> quote").startswith("\\>")
    assert r.escape("1. first").startswith("1\\.")
    assert r.escape("a\u202eb\nc") == "ab c"  # bidi override and newline gone


def test_escape_keeps_urls_clickable_but_unable_to_build_markup() -> None:
    out = r.escape("see https://x.example/a_b(c)| now")
    assert "https://x.example/a_b%28c%29%7C" in out


def test_safe_url_allows_only_http_and_https() -> None:
    assert r.safe_url("https://a.example/x") == "https://a.example/x"
    assert r.safe_url("http://a.example") == "http://a.example"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://a.example/",
        "//a.example",
        "https://a.example/ x",
        "https://",
        "",
        None,
        "https://" + "a" * 3000,
    ):
        assert r.safe_url(bad) is None, bad
    assert r.safe_url("https://a.example/x)(y") == "https://a.example/x%29%28y"


def test_links_drop_credentials() -> None:
    assert r.safe_url("https://user:pass@a.example/x?q=1") == "https://a.example/x?q=1"
    # The classic lure: the text before @ looks like the host.
    assert r.safe_url("https://bank.example@evil.example/login") == "https://evil.example/login"
    assert r.safe_url("https://a:b@c@d.example:8443/") == "https://d.example:8443/"


def test_alert_embed_has_linked_title_bold_terms_sources_and_time() -> None:
    a = alert(
        sources=(
            Source("Balkan Insight", "https://bi.example/1", "t"),
            Source("Reuters", "https://reuters.example/2", "t"),
            Source("Bad", "javascript:alert(1)", "t"),
        ),
        watchlists=("MKE", "KFOR"),
        terms=("MKE", "KFOR"),
        previous_url="https://discord.com/channels/1/2/3",
    )
    e = r.alert_embed(a)
    assert e["title"] == "MKE delivers rifles to Kosovo"
    assert e["url"] == "https://news.example/a?id=1"
    assert e["description"] == "Turkish maker **MKE** shipped."
    assert e["author"] == {"name": "Balkan Insight", "url": "https://bi.example/1"}
    fields = {f["name"]: f["value"] for f in e["fields"]}
    assert fields["Also reported by"] == "[Reuters](https://reuters.example/2) · Bad"
    assert fields["Watchlists"] == "MKE, KFOR"
    assert fields["Matched"] == "MKE, KFOR"
    assert "https://discord.com/channels/1/2/3" in fields["Earlier"]
    assert e["timestamp"] == "2026-03-01T12:00:00+00:00"
    assert r.check_limits([e]) == []


def test_hostile_feed_text_is_inert_everywhere_in_the_embed() -> None:
    a = alert(
        title=HOSTILE,
        summary=Summary((Span(HOSTILE), Span("@everyone", True))),
        sources=(
            Source(HOSTILE, "https://a.example", "t"),
            Source(HOSTILE, "https://b.example", ""),
        ),
        watchlists=(HOSTILE,),
        terms=("<@&123>",),
        url="javascript:alert(1)",
    )
    e = r.alert_embed(a)
    text = all_text(e)
    assert "@everyone" not in text and "@here" not in text
    assert "<@&123>" not in text and "<@456>" not in text
    # Markdown parts: no masked link survives (the author name is plain text in Discord).
    markdown = text.replace(e["author"]["name"], "")
    assert "](https://evil.example)" not in markdown.replace("\\]", "")
    assert e["author"]["name"].startswith("@\u200beveryone")
    assert "url" not in e  # javascript: dropped


def test_embed_at_every_limit_is_cut_gracefully() -> None:
    huge = "word " * 5000
    a = alert(
        title="T" * 1000,
        summary=Summary(tuple(Span(huge, i % 2 == 1) for i in range(4))),
        watchlists=tuple(f"list{i}" * 20 for i in range(200)),
        terms=tuple(f"term{i}" * 20 for i in range(200)),
        sources=tuple(
            Source("O" * 300 + str(i), f"https://s{i}.example/" + "p" * 100, "t")
            for i in range(300)
        ),
        previous_url="https://discord.com/channels/1/2/3",
    )
    e = r.alert_embed(a)
    assert r.check_limits([e]) == []
    assert r.embed_length(e) <= 6000
    assert len(e["title"]) == 256 and e["title"].endswith("…")
    assert e["description"].endswith("…")
    assert e["description"].count("**") % 2 == 0  # bold pairs never split
    also = next(f for f in e["fields"] if f["name"] == "Also reported by")["value"]
    assert re.search(r"…and \d+ more$", also)
    assert len(e["author"]["name"]) <= 256


def test_escapes_are_never_split_by_a_cut() -> None:
    e = r.alert_embed(alert(title="*" * 400, summary=Summary((Span("_" * 9000),))))
    assert r.check_limits([e]) == []
    assert not re.search(r"(?<!\\)\\…", e["title"])
    assert not re.search(r"(?<!\\)\\…", e["description"])


def test_digest_of_many_alerts_fits_one_message() -> None:
    alerts = [alert(cluster_id=i, title=f"Story {i} " + "x" * 300) for i in range(300)]
    embeds = r.digest_embeds(alerts)
    assert r.check_limits(embeds) == []
    assert embeds[0]["title"] == "300 new alerts"
    assert "more not shown" in embeds[0]["footer"]["text"]


def test_lookup_results_list_links_outlet_time_and_terms_within_limits() -> None:
    hits = [
        StoryHit(
            Story(
                "f",
                str(i),
                f"https://n.example/{i}",
                f"Title {i} " + "y" * 900,
                "",
                WHEN,
                "Outlet @everyone",
            ),
            watchlists=("KFOR",),
            terms=("KFOR", "Kosovo Force"),
        )
        for i in range(10)
    ]
    e = r.lookup_embed("kfor <@&1>", LookupPage(tuple(hits), 32, 2, 10), since="7d")
    assert r.check_limits([e]) == []
    assert "<@&1>" not in e["title"] and "(last 7d)" in e["title"]
    assert "[Title 0" in e["description"] and "https://n.example/0" in e["description"]
    assert f"<t:{int(WHEN.timestamp())}:f>" in e["description"]
    assert "matched KFOR, Kosovo Force" in e["description"]
    assert "@everyone" not in e["description"]
    # Numbered across pages, with the true total.
    assert e["description"].startswith("11\\. ") and "Stories 11–20 of 32" in e["footer"]["text"]
    empty = r.lookup_embed("nothing", LookupPage((), 0, 1, 10))
    assert "No stored story matches" in empty["description"]


def test_other_replies_stay_within_limits() -> None:
    terms = tuple(Term(f"T{i}" * 30, tuple(f"form{j}" * 10 for j in range(30))) for i in range(60))
    w = Watchlist("KFOR", terms, description="d" * 5000, exclude=("x",), require=("T0",))
    for e in (r.watchlist_embed(w), r.watchlists_embed([w] * 500)):
        assert r.check_limits([e]) == []
    statuses = [
        FeedStatus(
            f"https://f{i}.example/rss" + "q" * 200,
            "Feed `x`",
            WHEN,
            None,
            WHEN,
            "HTTP 500" * 50,
            3,
            10,
        )
        for i in range(200)
    ]
    e = r.feeds_embed(statuses, status=True)
    assert r.check_limits([e]) == [] and "more feeds not shown" in e["footer"]["text"]
    subs = [Subscription(i, "discord", "1", f"W{i}" * 50, paused_reason="gone") for i in range(200)]
    assert len(r.subscriptions_text(subs)) <= 2000
    helps = [HelpEntry(f"cmd{i} " + "A" * 300, "does " * 300, "ex", "anyone") for i in range(40)]
    assert r.check_limits([r.help_embed(help_view(helps))]) == []
    assert len(r.error_text("x" * 5000)) <= 2000


spans = st.lists(
    st.builds(Span, st.text(min_size=0, max_size=3000), st.booleans()), min_size=0, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(max_size=600),
    body=spans,
    outlets=st.lists(st.text(max_size=400), max_size=40),
    names=st.lists(st.text(max_size=100), max_size=40),
)
def test_any_alert_renders_within_limits_and_never_pings(
    title: str, body: list[Span], outlets: list[str], names: list[str]
) -> None:
    a = alert(
        title=title,
        summary=Summary(tuple(body)),
        sources=tuple(Source(o, "https://x.example/" + str(i), "") for i, o in enumerate(outlets)),
        watchlists=tuple(names),
        terms=tuple(names),
    )
    e = r.alert_embed(a)
    assert r.check_limits([e]) == []
    text = all_text(e)
    assert not re.search(r"@(everyone|here)", text)
    assert not re.search(r"<@[!&]?\d", text)


def test_digest_fit_is_exactly_what_one_message_shows() -> None:
    many = [alert(title=f"Story {i} " + "x" * 300) for i in range(80)]
    n = r.digest_fit(many)
    assert 1 <= n < 80
    assert "not shown" not in r.digest_embeds(many[:n])[0]["footer"]["text"]
    assert f"{80 - n} more not shown" in r.digest_embeds(many)[0]["footer"]["text"]


def test_invisible_characters_never_reach_discord() -> None:
    hidden = "\u202e\u2066\u200b\u00ad\ufeff\u2069\u202c"
    embed = r.alert_embed(
        alert(
            title=f"MKE{hidden} delivers",
            summary=Summary(
                (Span(f"Turkish{hidden} maker "), Span("MKE", True), Span(" chai\u00adred."))
            ),
            sources=(Source(f"Balkan{hidden} Insight", "https://news.example/a?id=1", "t"),),
        )
    )
    text = all_text(embed)
    for ch in hidden:
        assert ch not in text.replace("@\u200b", "@"), f"U+{ord(ch):04X} reached Discord"
    assert "chaired." in text and "Balkan Insight" in text
