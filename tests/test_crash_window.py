"""A process dies after the platform accepted a message and before the database
recorded it: the next process looks on the platform and does not post again.

The crash is an exception no handler catches (like SIGKILL, nothing more is
written); the real slack-sdk and discord.py clients talk to the loopback fakes;
both database backends.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_runtime
from bot.chat.discord.client import DiscordBot
from bot.chat.slack.client import SlackSender, make_client
from bot.config import parse_config
from bot.core.models import Alert
from bot.pipeline import Deliverer
from tests.conftest import MakeConfig
from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.feedserver import FeedServer, make_rss
from tests.fakes.slack_api import FakeSlackAPI

CHANNEL = 222222222222222222
ITEMS = [
    (f"KFOR patrol {i} near sector {i * 7}", f"KFOR troops patrolled sector {i * 7} on day {i}.")
    for i in range(3)
]


class Crash(BaseException):
    """The process dies here: no handler of ours runs."""


class CrashAfterSend:
    """Wraps a real sender: the message goes out, then the process dies."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.platform = inner.platform

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        await self.inner.post(channel, alert, key=key)
        raise Crash

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        await self.inner.post_digest(channel, alerts, key=key)
        raise Crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def soon() -> datetime:
    """Past the next digest boundary ([alerts] digest_every = 1s)."""
    return datetime.now(UTC) + timedelta(seconds=2)


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1, seconds=5)  # past [bot] lease


async def crash_then_recover(config: Any, platform: str, sender: Any) -> tuple[Any, Any]:
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        dying = Deliverer(
            rt.service.store, config, {platform: CrashAfterSend(sender)}, clock=soon, owner="A"
        )
        with pytest.raises(Crash):
            await dying.drain()
        assert await rt.service.store.pending_count() == len(ITEMS)
        # Another process, after A's lease ran out.
        heir = Deliverer(rt.service.store, config, {platform: sender}, clock=later, owner="B")
        stats = await heir.drain()
        pending = await rt.service.store.pending_count()
    return stats, pending


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as api:
        yield api


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscordAPI]:
    async with FakeDiscordAPI() as fake:
        fake.add_channel(CHANNEL, 111111111111111111)
        yield fake


@pytest.fixture
async def discord_bot(discord_api: FakeDiscordAPI, tmp_path: Path) -> AsyncIterator[DiscordBot]:
    env = {"DISCORD_TOKEN": "test-token", "ALERTBOT_DISCORD_API_URL": discord_api.base}
    b = DiscordBot(parse_config({}, tmp_path / "x.toml", env), None)
    await b.start()
    yield b
    await b.close()


def config_for(
    feed_server: FeedServer, make_config: MakeConfig, database: str, platform: str, channel: str,
    mode: str = "realtime",
) -> Any:  # fmt: skip
    feed_server.add_feed("/a.xml", make_rss("A", ITEMS, link="https://a.example/"))
    return make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[
            {"platform": platform, "channel": channel, "watchlists": ["KFOR"], "mode": mode}
        ],
        alerts={"burst": 1 if mode == "digest" else 10, "digest_every": "1s"},
        database=database,
    )


async def test_slack_alert_posted_before_a_crash_is_not_posted_again(
    feed_server: FeedServer, make_config: MakeConfig, database: str, slack: FakeSlackAPI
) -> None:
    config = config_for(feed_server, make_config, database, "slack", "C1")
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)
    stats, pending = await crash_then_recover(config, "slack", sender)
    posts = slack.calls_to("chat.postMessage")
    titles = [c.args["text"] for c in posts]
    assert len(posts) == len(ITEMS) and len(set(titles)) == len(ITEMS), titles
    assert stats.recovered == 1 and stats.posted == len(ITEMS) - 1
    assert len(slack.calls_to("conversations.history")) == 1
    assert pending == 0


async def test_slack_digest_posted_before_a_crash_is_not_posted_again(
    feed_server: FeedServer, make_config: MakeConfig, database: str, slack: FakeSlackAPI
) -> None:
    config = config_for(feed_server, make_config, database, "slack", "C1", mode="digest")
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)
    stats, pending = await crash_then_recover(config, "slack", sender)
    assert len(slack.calls_to("chat.postMessage")) == 1  # one digest, once
    assert stats.recovered == len(ITEMS) and stats.digests == 0
    assert pending == 0


async def test_discord_alert_posted_before_a_crash_is_found_after_the_nonce_expired(
    feed_server: FeedServer,
    make_config: MakeConfig,
    database: str,
    discord_api: FakeDiscordAPI,
    discord_bot: DiscordBot,
) -> None:
    config = config_for(feed_server, make_config, database, "discord", str(CHANNEL))
    sender = discord_bot.sender

    class Forgetful(CrashAfterSend):
        async def post(self, channel: str, alert: Alert, *, key: str) -> str:
            await self.inner.post(channel, alert, key=key)
            discord_api.forget_nonces()  # minutes pass before another process looks
            raise Crash

    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        dying = Deliverer(rt.service.store, config, {"discord": Forgetful(sender)}, owner="A")
        with pytest.raises(Crash):
            await dying.drain()
        heir = Deliverer(rt.service.store, config, {"discord": sender}, clock=later, owner="B")
        stats = await heir.drain()
        assert await rt.service.store.pending_count() == 0
    assert len(discord_api.messages(CHANNEL)) == len(ITEMS)
    assert len(discord_api.calls("POST")) == len(ITEMS)
    assert stats.recovered == 1


async def test_a_crash_before_the_send_still_delivers(
    feed_server: FeedServer, make_config: MakeConfig, database: str, slack: FakeSlackAPI
) -> None:
    """Nothing was posted: the heir looks, finds nothing, and sends (no loss)."""
    config = config_for(feed_server, make_config, database, "slack", "C1")
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)

    class CrashBefore(CrashAfterSend):
        async def post(self, channel: str, alert: Alert, *, key: str) -> str:
            raise Crash

    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        with pytest.raises(Crash):
            await Deliverer(rt.service.store, config, {"slack": CrashBefore(sender)}).drain()
        stats = await Deliverer(rt.service.store, config, {"slack": sender}, clock=later).drain()
        assert await rt.service.store.pending_count() == 0
    assert stats.posted == len(ITEMS) and stats.recovered == 0
    assert len(slack.calls_to("chat.postMessage")) == len(ITEMS)


async def test_when_the_platform_cannot_be_asked_the_rows_wait(
    feed_server: FeedServer, make_config: MakeConfig, database: str, slack: FakeSlackAPI
) -> None:
    config = config_for(feed_server, make_config, database, "slack", "C1")
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        with pytest.raises(Crash):
            await Deliverer(rt.service.store, config, {"slack": CrashAfterSend(sender)}).drain()
        slack.fail_channel("C1", "internal_error", methods=("conversations.history",))
        stats = await Deliverer(rt.service.store, config, {"slack": sender}, clock=later).drain()
        assert stats.posted == 0 and len(slack.calls_to("chat.postMessage")) == 1
        # Later the platform answers: the one already posted is found, the rest sent.
        slack.heal_channel("C1")

        def much_later() -> datetime:
            return later() + timedelta(minutes=5)

        stats = await Deliverer(
            rt.service.store, config, {"slack": sender}, clock=much_later
        ).drain()
        assert stats.recovered == 1 and stats.posted == len(ITEMS) - 1
        assert await rt.service.store.pending_count() == 0
