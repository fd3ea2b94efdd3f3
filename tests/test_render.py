"""Console rendering, the JSON contract and the "Also reported by" helper."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.core.models import Alert, Source, Span, Summary
from bot.core.render import (
    alert_json,
    format_time,
    render_console,
    render_digest_console,
    summary_markup,
)

WHEN = datetime(2026, 2, 17, 9, 30, tzinfo=UTC)


def make_alert(**kw: object) -> Alert:
    base = dict(
        cluster_id=42,
        title="KFOR steps up patrols as Kosovo takes delivery of Bayraktar drones",
        url="https://balkanwire.example/news/kfor",
        summary=Summary(
            (
                Span("Peacekeepers stepped up patrols, "),
                Span("KFOR", highlight=True),
                Span(" said, after "),
                Span("Bayraktar", highlight=True),
                Span(" TB2 drones arrived."),
            )
        ),
        watchlists=("Bayraktar", "KFOR"),
        terms=("KFOR", "Bayraktar"),
        sources=(
            Source("Balkan Wire", "https://balkanwire.example/news/kfor", "KFOR steps up"),
            Source("DW", "https://dw.example/kfor", "KFOR patrols", WHEN),
            Source("AP", "https://ap.example/x", "Patrols stepped up"),
        ),
        published=WHEN,
    )
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]  # test helper builds from a dict


def test_console_block_shows_everything():
    out = render_console(make_alert(), action="post", channel="#defence")
    lines = out.splitlines()
    assert lines[0] == "[post] #defence · Bayraktar, KFOR · terms: KFOR, Bayraktar"
    assert lines[1] == "KFOR steps up patrols as Kosovo takes delivery of Bayraktar drones"
    assert lines[2] == "https://balkanwire.example/news/kfor  2026-02-17 09:30 UTC"
    assert "**KFOR** said, after **Bayraktar** TB2 drones arrived." in out
    # The story's own outlet once, then every other outlet once, each with its link.
    assert "Source: Balkan Wire\n" in out
    assert (
        "Also reported by:\n  - DW — https://dw.example/kfor\n  - AP — https://ap.example/x\n"
        in out
    )
    assert out.count("dw.example") == 1
    assert "\x1b" not in out
    assert out.endswith("\n")


def test_console_edit_action_and_previous_link():
    out = render_console(
        make_alert(previous_url="https://discord.example/channels/1/2/3"),
        action="edit",
        channel="general",
    )
    assert out.startswith("[edit] general")
    assert "Earlier post: https://discord.example/channels/1/2/3" in out


def test_single_source_has_no_also_reported():
    alert = make_alert(sources=(Source("Balkan Wire", "https://b.example/1", "t"),))
    out = render_console(alert, action="post", channel="c")
    assert "Also reported by" not in out
    assert "Source: Balkan Wire" in out


def test_color_uses_ansi_bold_for_highlights():
    out = render_console(make_alert(), action="post", channel="c", color=True)
    assert "\x1b[1mKFOR\x1b[0m" in out
    assert "**" not in out


def test_feed_text_cannot_inject_terminal_escapes():
    evil = "Title\x1b[2J\x1b]0;pwned\x07 here\r"
    alert = make_alert(
        title=evil,
        summary=Summary((Span("text \x1b[31mred\x9b "), Span("KFOR\x1b[0m", highlight=True))),
        sources=(Source("Out\x1blet", "https://x.example/\x07", "t"),),
    )
    for color in (False, True):
        out = render_console(alert, action="post", channel="c", color=color)
        stripped = out.replace("\x1b[1m", "").replace("\x1b[2m", "").replace("\x1b[0m", "")
        assert "\x1b" not in stripped
        assert "\x07" not in out and "\r" not in out and "\x9b" not in out


def test_long_summary_wraps_without_breaking_words():
    words = ["Bayraktar"] + ["patrol"] * 60
    alert = make_alert(summary=Summary((Span(" ".join(words)),)))
    out = render_console(alert, action="post", channel="c")
    body = out.split("\n\n")[1].splitlines()
    assert len(body) > 1
    assert all(len(line) <= 88 for line in body)
    assert set(" ".join(body).split()) == {"Bayraktar", "patrol"}


def test_alert_json_contract():
    doc = alert_json(make_alert(), action="post", channel="#defence")
    for key in ("action", "channel", "watchlists", "title", "summary", "sources"):
        assert key in doc
    assert doc["action"] == "post"
    assert doc["channel"] == "#defence"
    assert doc["watchlists"] == ["Bayraktar", "KFOR"]
    assert doc["summary"] == (
        "Peacekeepers stepped up patrols, KFOR said, after Bayraktar TB2 drones arrived."
    )
    sources = doc["sources"]
    assert isinstance(sources, list)
    assert [(s["outlet"], s["url"]) for s in sources] == [
        ("Balkan Wire", "https://balkanwire.example/news/kfor"),
        ("DW", "https://dw.example/kfor"),
        ("AP", "https://ap.example/x"),
    ]
    assert doc["cluster_id"] == 42
    assert doc["terms"] == ["KFOR", "Bayraktar"]
    assert doc["highlights"] == ["KFOR", "Bayraktar"]
    assert doc["published"] == "2026-02-17T09:30:00+00:00"
    # One JSON document, round-trippable.
    assert json.loads(json.dumps(doc)) == doc


def test_alert_json_edit_and_missing_times():
    doc = alert_json(make_alert(published=None), action="edit", channel="c")
    assert doc["action"] == "edit"
    assert doc["published"] is None
    assert doc["previous_url"] is None


def test_summary_markup_and_time():
    s = Summary((Span("a "), Span("KFOR", True), Span(" b")))
    assert summary_markup(s) == "a **KFOR** b"
    assert summary_markup(s, bold=lambda t: f"*{t}*") == "a *KFOR* b"
    assert format_time(None) == ""
    assert format_time(WHEN) == "2026-02-17 09:30 UTC"


def test_digest_console():
    a = make_alert()
    b = make_alert(
        cluster_id=7,
        title="Another event",
        url="https://e.example/2",
        sources=(Source("E", "https://e.example/2", "Another event"),),
    )
    out = render_digest_console([a, b], channel="#defence")
    lines = out.splitlines()
    assert lines[0] == "[digest] #defence · 2 alerts"
    assert lines[1] == "1. KFOR steps up patrols as Kosovo takes delivery of Bayraktar drones"
    assert "Balkan Wire (+2 more) · Bayraktar, KFOR · terms: KFOR, Bayraktar" in lines[2]
    assert "2. Another event" in out
    assert render_digest_console([a], channel="c").startswith("[digest] c · 1 alert\n")
