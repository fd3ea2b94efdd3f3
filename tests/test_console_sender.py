"""The console sender: what it can and cannot do for the deliverer."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bot.chat.console import ConsoleSender
from bot.core.models import Alert, Source, Span, Summary


async def test_find_posted_is_always_empty_a_terminal_cannot_be_read_back() -> None:
    out = io.StringIO()
    sender = ConsoleSender(json_lines=True, out=out)
    alert = Alert(
        cluster_id=1,
        title="KFOR patrol",
        url="https://news.example/1",
        summary=Summary((Span("KFOR", True),)),
        watchlists=("KFOR",),
        terms=("KFOR",),
        sources=(Source("Outlet", "https://news.example/1", "KFOR patrol"),),
        published=datetime(2026, 3, 1, tzinfo=UTC),
    )
    await sender.post("alerts", alert, key="alertbot-1")
    assert out.getvalue()  # it was printed
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert await sender.find_posted("alerts", ["alertbot-1"], since) == {}
