"""Shared fixtures: a real feed server on 127.0.0.1 and configs pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from tests.fakes.feedserver import feed_server  # noqa: F401  # re-exported fixture

ROOT = Path(__file__).resolve().parents[1]
WATCHLISTS = ROOT / "watchlists"
CORPUS = ROOT.parent / "shared" / "corpus"

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """Build a validated Config whose database lives in ``tmp_path``.

    Keyword sections (``fetch={...}``, ``alerts={...}``) are merged over test
    defaults: private addresses allowed (the feed server is on loopback), short
    timeouts, article fetching off unless asked for.
    """

    def make(
        feeds: list[str] | None = None,
        subscriptions: list[dict[str, Any]] | None = None,
        *,
        watchlists: Path = WATCHLISTS,
        backfill: str = "3650d",
        **sections: dict[str, Any],
    ) -> Config:
        raw: dict[str, Any] = {
            "bot": {
                "database": str(tmp_path / "alertbot.db"),
                "watchlists": str(watchlists),
                "backfill": backfill,
            },
            "fetch": {"allow_private": True, "connect_timeout": 2.0, "read_timeout": 2.0},
            "alerts": {"fetch_articles": False},
            "feeds": [{"url": u} for u in feeds or []],
            "subscriptions": subscriptions
            if subscriptions is not None
            else [
                {
                    "platform": "console",
                    "channel": "alerts",
                    "watchlists": ["MKE", "Skydagger", "Bayraktar", "KFOR"],
                }
            ],
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return parse_config(raw, tmp_path / "alertbot.toml", env={})

    return make
