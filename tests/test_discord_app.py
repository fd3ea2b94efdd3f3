"""``alertbot run --once`` with DISCORD_TOKEN: feed → alert → Discord over REST, no gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from bot.app import open_runtime, run_once
from bot.config import parse_config
from tests.fakes.discord_api import FakeDiscordAPI

GUILD = 111111111111111111
CHANNEL = 222222222222222222
GONE = 333333333333333333


def rss(*items: tuple[str, str, str]) -> str:
    when = format_datetime(datetime.now(UTC))
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>{d}</description><pubDate>{when}</pubDate></item>"
        for t, link, d in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Balkan Wire</title>'
        f"<link>https://wire.example/</link>{body}</channel></rss>"
    )


async def test_run_once_delivers_inert_embeds_and_pauses_a_gone_channel(tmp_path: Path) -> None:
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "kfor.toml").write_text(
        'name = "KFOR"\n[[terms]]\nname = "KFOR"\nforms = ["KFOR", "Kosovo Force"]\n'
    )
    (tmp_path / "feed.xml").write_text(
        rss(
            (
                "@everyone KFOR &lt;@&amp;123&gt; troops patrol the border",
                "https://wire.example/kfor-patrol",
                "Soldiers of the Kosovo Force patrolled near Jarinje on Monday.",
            )
        )
    )
    async with FakeDiscordAPI() as api:
        api.add_channel(CHANNEL, GUILD)
        raw = {
            "bot": {"database": "data/alertbot.db", "watchlists": "watchlists"},
            "feeds": [{"url": "feed.xml"}],
            "alerts": {"fetch_articles": False},
            "subscriptions": [
                {"platform": "discord", "channel": str(CHANNEL), "watchlists": ["KFOR"]},
                {"platform": "discord", "channel": str(GONE), "watchlists": ["KFOR"]},
            ],
        }
        env = {"DISCORD_TOKEN": "test-token", "ALERTBOT_DISCORD_API_URL": api.base}
        config = parse_config(raw, tmp_path / "alertbot.toml", env)
        async with open_runtime(config) as rt:
            await run_once(rt)
            [bot] = rt.bots
            assert bot.client.ws is None  # delivered over REST only
            subs = {
                s.channel: s
                for s in await rt.service.store.subscriptions("discord", str(GONE))
                + await rt.service.store.subscriptions("discord", str(CHANNEL))
            }
        [msg] = api.messages(CHANNEL)
        [embed] = msg["embeds"]
        assert "KFOR" in embed["title"] and embed["url"] == "https://wire.example/kfor-patrol"
        assert "@everyone" not in str(embed) and "<@&123>" not in str(embed)
        assert msg["allowed_mentions"] == {"parse": []}
        assert "Unknown Channel" in subs[str(GONE)].paused_reason
        assert subs[str(CHANNEL)].paused_reason == ""
