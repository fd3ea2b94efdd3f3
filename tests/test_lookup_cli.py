"""``alertbot lookup QUERY [--page N] [--all] --json``: the paging contract of the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.models import Match, Story
from bot.store import open_store
from bot.store.base import NewStory, PollResult
from tests.test_cli import alertbot, write_config

NOW = datetime.now(UTC)


async def test_lookup_json_pages_with_a_true_total_and_all(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    store = await open_store(str(tmp_path / "db" / "alertbot.db"))
    try:
        feed = await store.add_feed("https://feeds.example/rss", NOW)
        hit = Match("Bayraktar", "Bayraktar", "Bayraktar", "title", 0, 9)
        items = [
            NewStory(
                Story(feed.url, f"g{i}", f"https://news.example/{i}", f"Bayraktar drones {i}",
                      "Text.", NOW - timedelta(hours=i), "Wire"),
                None,
                [hit],
            )
            for i in range(32)
        ]  # fmt: skip
        # The footballer: stored, but it fired no watchlist.
        fb = Story(feed.url, "fb", "https://news.example/fb", "Bayraktar scores", "", NOW, "S")
        items.append(NewStory(fb, None, []))
        result = PollResult(feed.url, "Feed", None, None, None, None, None, NOW)
        await store.save_poll(feed.id, result, items, NOW)
    finally:
        await store.close()
    c = ["--config", str(config)]
    code, out, err = await alertbot("lookup", "drone", "--page", "2", "--limit", "10", "--json", *c)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["total"], doc["page"]) == (32, 2)
    assert [s["title"] for s in doc["stories"]] == [f"Bayraktar drones {i}" for i in range(10, 20)]
    code, out, _ = await alertbot("lookup", "Bayraktar", "--all", "--limit", "50", "--json", *c)
    doc = json.loads(out)
    assert doc["total"] == 33 and "Bayraktar scores" in [s["title"] for s in doc["stories"]]
    code, out, err = await alertbot("lookup", "Bayraktar", "--page", "2", *c)
    assert code == 0 and "21–32 of 32" in err
    assert out.startswith("21. ") and "\n   https://" in out  # numbered across pages
    code, _, err = await alertbot("lookup", "x", "--page", "0", *c)
    assert code == 2 and "page number" in err
