"""Article extraction from page bytes (no network: the caller fetches)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from bot.feeds.article import MAX_HTML_BYTES, MIN_TEXT_CHARS, _without_code, extract_article

DATA = Path(__file__).parent / "data"
URL = "https://balkanwire.example/news/kfor-patrols"


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to open a socket (trafilatura must not fetch)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_cluttered_page_gives_the_article_text(no_network):
    text = extract_article((DATA / "article_cluttered.html").read_bytes(), URL)
    assert text is not None
    paragraphs = text.split("\n")
    assert paragraphs[0].startswith("PRISTINA, Kosovo (AP) — NATO-led peacekeepers")
    assert paragraphs[-1] == (
        "The KFOR mission, which has about 4,500 troops from 27 countries, has kept the "
        "peace in Kosovo since 1999."
    )
    assert len(paragraphs) == 6
    assert "Vučić" in text  # the encoding was read from the page
    for cruft in [
        "cookie",
        "Accept all",
        "Share on",
        "Subscribe",
        "Log in",
        "Related posts",
        "Read also",
        "Advertisement",
        "Photo",
        "Getty",
        "By Arta",
        "February 17, 2026",
        "Sign up",
        "newsletter",
        "rights reserved",
        "Most read",
        "Comments",
        "Tags:",
        "dataLayer",
    ]:
        assert cruft.casefold() not in text.casefold(), cruft


def test_headline_is_not_repeated_in_the_text():
    text = extract_article((DATA / "article_cluttered.html").read_bytes(), URL)
    assert text is not None
    assert "KFOR steps up patrols as Kosovo takes delivery" not in text


@pytest.mark.parametrize(
    "html",
    [
        b"",
        b"   ",
        b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
        b"<html><body><p>Too short to be an article.</p></body></html>",
        b"\xff\xfe\x00<<<<" * 500,
        b"<" * 100_000,
        b"<html><body><script>document.write('all in js')</script></body></html>",
    ],
)
def test_empty_short_or_broken_pages_give_none(html, no_network):
    assert extract_article(html, URL) is None


def test_latin1_page_without_charset_meta_is_decoded():
    paras = "".join(
        f"<p>Paragraphe {i} : les soldats de la KFOR ont renforcé leurs patrouilles près de "
        "Jarinje mardi, a indiqué la mission dirigée par l'OTAN dans un communiqué.</p>"
        for i in range(4)
    )
    html = f"<html><body><article>{paras}</article></body></html>".encode("latin-1")
    text = extract_article(html, URL)
    assert text is not None and "renforcé" in text
    assert len(text) >= MIN_TEXT_CHARS


def test_input_is_capped():
    paras = "".join(
        f"<p>Update {i}: KFOR patrols continued along the boundary line on Tuesday, officials "
        "in Pristina said, adding that the situation remained calm but tense.</p>"
        for i in range(8)
    )
    link = "<li><a href='/x'>More</a></li>"
    junk = "<ul>" + link * ((MAX_HTML_BYTES + 100_000) // len(link)) + "</ul>"
    html = f"<html><body><article>{paras}</article><aside>{junk}</aside></body></html>"
    assert len(html) > MAX_HTML_BYTES
    text = extract_article(html.encode(), URL)
    assert text is not None and "Update 7: KFOR patrols" in text
    assert "More" not in text


def test_inline_scripts_do_not_push_the_article_past_the_cap():
    blob = "<script>window.__STATE__ = {" + '"k": "v", ' * (MAX_HTML_BYTES // 8) + "}</script>"
    paras = "".join(
        f"<p>Item {i}: KFOR said its troops patrolled near Jarinje and Brnjak on Tuesday "
        "and that the situation in northern Kosovo remained calm.</p>"
        for i in range(5)
    )
    html = f"<html><head>{blob}<style>p{{color:red}}</style></head><body><article>{paras}"
    text = extract_article((html + "</article></body></html>").encode(), URL)
    assert text is not None and "Item 4: KFOR" in text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            b"<p>a</p><script>x</script><p>b</p><STYLE>y</style ><p>c</p>",
            b"<p>a</p> <p>b</p> <p>c</p>",
        ),
        (b"<p>a</p><script>never closed <p>b</p>", b"<p>a</p>"),
        (b"<script></script>" * 50_000, b" " * 50_000),
    ],
)
def test_code_is_removed_in_linear_time(html, expected):
    assert _without_code(html) == expected


def test_runs_in_a_worker_thread():
    out: list[str | None] = []
    html = (DATA / "article_cluttered.html").read_bytes()
    t = threading.Thread(target=lambda: out.append(extract_article(html, URL)))
    t.start()
    t.join(timeout=20)
    assert out and out[0] is not None
