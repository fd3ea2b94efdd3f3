"""The Discord "earlier post" link from a fresh process: the guild is stored, not
remembered in memory. Real discord.py REST against the loopback fake, real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.chat.discord.client import DiscordBot
from bot.config import parse_config
from bot.core.cluster import bands, fingerprint
from bot.core.models import Match, Story
from bot.pipeline import Deliverer
from bot.store import open_store
from bot.store.base import NewStory, PollResult
from tests.fakes.discord_api import FakeDiscordAPI

GUILD = 111111111111111111
CHANNEL = 222222222222222222
NOW = datetime.now(UTC)


def story(feed: str, guid: str) -> NewStory:
    title, text = "KFOR patrols the border", "Troops of KFOR patrolled near Jarinje."
    fp = fingerprint(title, text)
    s = Story(feed, guid, f"{feed}/{guid}", title, text, NOW, feed)
    return NewStory(
        s, s.url, [Match("KFOR", "KFOR", "KFOR", "title", 0, 4)],
        alert=True, clustered=True, fp=fp, bands=bands(fp),
    )  # fmt: skip


async def test_a_post_after_the_edit_window_links_the_earlier_one_from_a_new_process(
    tmp_path: Path, database: str
) -> None:
    async with FakeDiscordAPI() as api:
        api.add_channel(CHANNEL, GUILD)
        env = {"DISCORD_TOKEN": "test-token", "ALERTBOT_DISCORD_API_URL": api.base}
        config = parse_config({"bot": {"database": database}}, tmp_path / "alertbot.toml", env)
        store = await open_store(database)
        try:
            await store.subscribe("discord", str(CHANNEL), "KFOR", now=NOW)
            feed = "https://a.example/rss"
            f = await store.add_feed(feed, NOW)
            result = PollResult(feed, "A", None, None, None, None, None, NOW)
            await store.save_poll(f.id, result, [story(feed, "1")], NOW)
            first = DiscordBot(config, None)
            await first.start()
            try:
                done = await Deliverer(store, config, {"discord": first.sender}).drain()
                assert done.posted == 1
            finally:
                await first.close()
            [posted] = api.messages(CHANNEL)
            assert await store.channel_place("discord", str(CHANNEL)) == str(GUILD)

            # Another outlet joins the event two days later, past the edit window;
            # a new process (nothing in memory) posts anew and links the first post.
            feed = "https://b.example/rss"
            f = await store.add_feed(feed, NOW)
            item = story(feed, "2")
            cands = await store.cluster_candidates(item.bands, NOW - timedelta(days=1))
            item.cluster_id = cands[0].cluster_id
            result = PollResult(feed, "B", None, None, None, None, None, NOW)
            await store.save_poll(f.id, result, [item], NOW)
            later = NOW + timedelta(days=2)
            second = DiscordBot(config, None)
            await second.start()
            try:
                assert second.sender.permalink(str(CHANNEL), posted["id"]) is None
                deliverer = Deliverer(
                    store, config, {"discord": second.sender}, clock=lambda: later
                )
                done = await deliverer.drain()
                assert done.posted == 1 and done.edited == 0
            finally:
                await second.close()
        finally:
            await store.close()
        link = f"https://discord.com/channels/{GUILD}/{CHANNEL}/{posted['id']}"
        reposts = api.messages(CHANNEL)[1:]
        assert len(reposts) == 1 and link in str(reposts[0]["embeds"]), reposts
