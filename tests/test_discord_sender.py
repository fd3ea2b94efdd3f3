"""Delivery over discord.py's real REST layer against the loopback fake API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat.base import DeliveryError
from bot.chat.discord import DiscordBot, api_base, nonce_for
from bot.config import parse_config
from bot.core.models import Alert, Source, Span, Summary
from tests.fakes.discord_api import FakeDiscordAPI

GUILD = 111111111111111111
CHANNEL = 222222222222222222
GONE = 333333333333333333
HIDDEN = 444444444444444444
READONLY = 555555555555555555


def alert(title: str = "KFOR patrols the border", *sources: Source) -> Alert:
    return Alert(
        cluster_id=1,
        title=title,
        url="https://news.example/1",
        summary=Summary((Span("Troops of "), Span("KFOR", True), Span(" patrolled."))),
        watchlists=("KFOR",),
        terms=("KFOR",),
        sources=sources or (Source("Outlet A", "https://news.example/1", title),),
        published=datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeDiscordAPI]:
    async with FakeDiscordAPI() as fake:
        fake.add_channel(CHANNEL, GUILD)
        fake.add_channel(HIDDEN, GUILD, forbidden=50001)
        fake.add_channel(READONLY, GUILD, forbidden=50013)
        yield fake


@pytest.fixture
async def bot(api: FakeDiscordAPI, tmp_path: Path) -> AsyncIterator[DiscordBot]:
    env = {"DISCORD_TOKEN": "test-token", "ALERTBOT_DISCORD_API_URL": api.base}
    config = parse_config({}, tmp_path / "alertbot.toml", env)
    b = DiscordBot(config, None)
    await b.start()
    yield b
    await b.close()


def test_api_base_adds_the_version_path() -> None:
    assert api_base("http://127.0.0.1:9/") == "http://127.0.0.1:9/api/v10"
    assert api_base("http://proxy/api/v10") == "http://proxy/api/v10"
    assert api_base("") == "https://discord.com/api/v10"


async def test_login_uses_the_fake_and_needs_no_gateway(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    paths = [r.path for r in api.requests]
    assert paths[:2] == ["/users/@me", "/oauth2/applications/@me"]
    assert api.requests[0].headers["Authorization"] == "Bot test-token"
    assert bot.client.ws is None  # REST only


async def test_post_sends_an_embed_with_no_allowed_mentions_and_a_nonce(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    ref = await bot.sender.post(str(CHANNEL), alert(), key="sub1:cluster1")
    [req] = api.calls("POST", rf"^/channels/{CHANNEL}/messages$")
    body = req.json
    assert body["allowed_mentions"] == {"parse": []}
    assert body["nonce"] == nonce_for("sub1:cluster1") and len(body["nonce"]) <= 25
    assert body["enforce_nonce"] is True
    [embed] = body["embeds"]
    assert embed["title"] == "KFOR patrols the border"
    assert embed["url"] == "https://news.example/1"
    assert embed["description"] == "Troops of **KFOR** patrolled."
    assert ref == api.messages(CHANNEL)[0]["id"]
    assert bot.sender.permalink(str(CHANNEL), ref) == (
        f"https://discord.com/channels/{GUILD}/{CHANNEL}/{ref}"
    )


async def test_a_retried_post_with_the_same_key_is_not_doubled(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    first = await bot.sender.post(str(CHANNEL), alert(), key="sub1:cluster9")
    again = await bot.sender.post(str(CHANNEL), alert(), key="sub1:cluster9")
    assert first == again
    assert len(api.messages(CHANNEL)) == 1


async def test_feed_title_with_everyone_and_role_mention_is_delivered_inert(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    hostile = "@everyone <@&123> look [here](https://evil.example)"
    await bot.sender.post(
        str(CHANNEL), alert(hostile, Source(hostile, "https://n.example", hostile)), key="k"
    )
    [req] = api.calls("POST", rf"^/channels/{CHANNEL}/messages$")
    assert req.json["allowed_mentions"] == {"parse": []}
    sent = str(req.json["embeds"])
    assert "@everyone" not in sent
    assert "<@&123>" not in sent
    [embed] = req.json["embeds"]
    # Title, description and fields render markdown: no masked link survives there.
    # (The author name is plain text in Discord: brackets there are just brackets.)
    marked = str([embed["title"], embed.get("description"), embed["fields"]])
    assert "](https://evil.example)" not in marked.replace("\\\\]", "")


async def test_cluster_update_edits_the_original_message(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    ref = await bot.sender.post(str(CHANNEL), alert(), key="k1")
    updated = alert(
        "KFOR patrols the border",
        Source("Outlet A", "https://news.example/1", "t"),
        Source("Outlet B", "https://other.example/2", "t"),
    )
    assert await bot.sender.edit(str(CHANNEL), ref, updated) == ref
    [req] = api.calls("PATCH", rf"^/channels/{CHANNEL}/messages/{ref}$")
    assert req.json["allowed_mentions"] == {"parse": []}
    fields = {f["name"]: f["value"] for f in req.json["embeds"][0]["fields"]}
    assert fields["Also reported by"] == "[Outlet B](https://other.example/2)"
    [msg] = api.messages(CHANNEL)
    assert msg["edited_timestamp"] and "Also reported by" in str(msg["embeds"])


async def test_editing_a_deleted_alert_does_not_repost_it(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    assert await bot.sender.edit(str(CHANNEL), "999", alert()) == "999"
    assert api.messages(CHANNEL) == []


async def test_digest_is_one_message(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    alerts = [alert(f"Story {i}") for i in range(40)]
    await bot.sender.post_digest(str(CHANNEL), alerts, key="digest:1")
    [msg] = api.messages(CHANNEL)
    assert msg["embeds"][0]["title"] == "40 new alerts"


async def test_429_from_the_fake_is_waited_out_and_retried(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    api.rate_limit("POST", rf"^/channels/{CHANNEL}/messages$", retry_after=0.05)
    ref = await bot.sender.post(str(CHANNEL), alert(), key="k429")
    posts = [r for r in api.requests if r.method == "POST" and "/messages" in r.path]
    assert [p.status for p in posts] == [429, 200]
    assert [m["id"] for m in api.messages(CHANNEL)] == [ref]


async def test_long_429_comes_back_to_the_outbox_with_retry_after(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    api.rate_limit("POST", r"/messages$", retry_after=120)
    with pytest.raises(DeliveryError) as info:
        await bot.sender.post(str(CHANNEL), alert(), key="k")
    assert not info.value.permanent and info.value.retry_after == 120


async def test_429_without_via_is_not_retried_but_reported(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    api.rate_limit("POST", r"/messages$", retry_after=7, via=False)
    with pytest.raises(DeliveryError) as info:
        await bot.sender.post(str(CHANNEL), alert(), key="k")
    assert not info.value.permanent and info.value.retry_after == 7


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        (GONE, "Unknown Channel"),
        (HIDDEN, "Missing Access"),
        (READONLY, "Missing Permissions"),
    ],
)
async def test_gone_or_forbidden_channel_is_a_permanent_failure(
    bot: DiscordBot, channel: int, reason: str
) -> None:
    with pytest.raises(DeliveryError) as info:
        await bot.sender.post(str(channel), alert(), key="k")
    assert info.value.permanent
    assert reason in info.value.reason


async def test_other_channels_keep_working_after_one_fails(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    with pytest.raises(DeliveryError):
        await bot.sender.post(str(GONE), alert(), key="a")
    await bot.sender.post(str(CHANNEL), alert(), key="b")
    assert len(api.messages(CHANNEL)) == 1


async def test_not_a_channel_id_is_permanent(bot: DiscordBot) -> None:
    with pytest.raises(DeliveryError) as info:
        await bot.sender.post("#general", alert(), key="k")
    assert info.value.permanent and "Copy Channel ID" in info.value.reason


async def test_revoked_token_is_permanent(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    api.token_ok = False
    with pytest.raises(DeliveryError) as info:
        await bot.sender.post(str(CHANNEL), alert(), key="k")
    assert info.value.permanent and "DISCORD_TOKEN" in info.value.reason


async def test_bad_token_fails_start_with_a_fix(api: FakeDiscordAPI, tmp_path: Path) -> None:
    api.token_ok = False
    env = {"DISCORD_TOKEN": "nope", "ALERTBOT_DISCORD_API_URL": api.base}
    b = DiscordBot(parse_config({}, tmp_path / "a.toml", env), None)
    with pytest.raises(RuntimeError, match=re.escape("Reset Token")):
        await b.start()
    await b.close()
