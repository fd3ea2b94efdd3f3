"""Delivery over discord.py's real REST layer against the loopback fake API."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest
import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket

from bot.chat.base import DeliveryError
from bot.chat.discord import render
from bot.chat.discord.client import DEFAULT_GATEWAY, DiscordBot, api_base, nonce_for
from bot.config import parse_config
from bot.core.models import Alert, Source, Span, Summary
from tests.fakes.discord_api import BOT_USER_ID, FakeDiscordAPI

GUILD = 111111111111111111
CHANNEL = 222222222222222222
GONE = 333333333333333333
HIDDEN = 444444444444444444
READONLY = 555555555555555555
NO_HISTORY = 666666666666666666


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
        fake.add_channel(NO_HISTORY, GUILD, read_history=False)
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


# --------------------------------------------------------------------------- find_posted


def tagged(key: str, footer: str = "alertbot") -> list[dict[str, object]]:
    return [{"type": "rich", "title": "t", "footer": {"text": f"{footer} · {render.ref_tag(key)}"}}]


def test_the_footer_tag_is_short_stable_and_on_posts_and_digests() -> None:
    tag = render.ref_tag("alertbot-123")
    assert re.fullmatch(r"ref [0-9a-f]{8}", tag)
    assert tag == render.ref_tag("alertbot-123")
    assert tag != render.ref_tag("alertbot-123-r2")
    [embed] = [render.alert_embed(alert(), key="alertbot-123")]
    assert embed["footer"]["text"] == f"alertbot · {tag}"
    assert render.footer_tag(embed) == tag
    assert render.footer_tag(render.alert_embed(alert())) is None  # edits carry none
    many = [alert("x" * 300) for _ in range(80)]
    [digest] = render.digest_embeds(many, key="alertbot-d-ab")
    assert digest["footer"]["text"].endswith(" more not shown · " + render.ref_tag("alertbot-d-ab"))
    assert render.footer_tag(digest) == render.ref_tag("alertbot-d-ab")


def test_the_footer_tag_keeps_every_limit() -> None:
    huge = alert(
        "@everyone " * 100, *(Source("O" * 300, f"https://o{i}.example", "t") for i in range(30))
    )
    embeds = [render.alert_embed(huge, key="alertbot-1", footer="f" * 3000)]
    assert render.check_limits(embeds) == []
    assert render.footer_tag(embeds[0]) == render.ref_tag("alertbot-1")
    digest = render.digest_embeds([huge] * 50, key="alertbot-d-1")
    assert render.check_limits(digest) == []


async def test_post_and_digest_carry_the_tag(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    await bot.sender.post(str(CHANNEL), alert(), key="alertbot-1")
    await bot.sender.post_digest(str(CHANNEL), [alert(), alert()], key="alertbot-d-2")
    footers = [m["embeds"][0]["footer"]["text"] for m in api.messages(CHANNEL)]
    assert footers == [
        f"alertbot · {render.ref_tag('alertbot-1')}",
        f"alertbot · {render.ref_tag('alertbot-d-2')}",
    ]


async def test_find_posted_finds_posts_and_digests_by_footer_tag(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    ref = await bot.sender.post(str(CHANNEL), alert(), key="alertbot-7")
    api.add_message(CHANNEL, "people talk")
    digest = await bot.sender.post_digest(str(CHANNEL), [alert(), alert()], key="alertbot-d-ab")
    await bot.sender.post(str(CHANNEL), alert(), key="alertbot-8")  # not asked about
    found = await bot.sender.find_posted(
        str(CHANNEL), ["alertbot-7", "alertbot-d-ab", "alertbot-9"], since
    )
    assert found == {"alertbot-7": ref, "alertbot-d-ab": digest}
    [req] = api.calls("GET", rf"^/channels/{CHANNEL}/messages$")
    assert req.query["limit"] == "100"
    assert int(req.query["after"]) == discord.utils.time_snowflake(since) - 1


async def test_find_posted_ignores_other_authors(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    api.add_message(CHANNEL, embeds=tagged("alertbot-1"), at=since + timedelta(seconds=1))
    assert await bot.sender.find_posted(str(CHANNEL), ["alertbot-1"], since) == {}
    mine = api.add_message(
        CHANNEL, embeds=tagged("alertbot-1"), author_id=BOT_USER_ID, at=since + timedelta(seconds=2)
    )
    assert await bot.sender.find_posted(str(CHANNEL), ["alertbot-1"], since) == {"alertbot-1": mine}


async def test_find_posted_respects_since(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    api.add_message(
        CHANNEL, embeds=tagged("alertbot-1"), author_id=BOT_USER_ID, at=since - timedelta(seconds=1)
    )
    exact = api.add_message(CHANNEL, embeds=tagged("alertbot-2"), author_id=BOT_USER_ID, at=since)
    later = api.add_message(
        CHANNEL, embeds=tagged("alertbot-3"), author_id=BOT_USER_ID, at=since + timedelta(hours=1)
    )
    found = await bot.sender.find_posted(
        str(CHANNEL), ["alertbot-1", "alertbot-2", "alertbot-3"], since
    )
    assert found == {"alertbot-2": exact, "alertbot-3": later}


async def test_find_posted_pages_after_since(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for i in range(150):
        api.add_message(CHANNEL, f"chatter {i}", at=since + timedelta(seconds=i))
    ours = api.add_message(
        CHANNEL, embeds=tagged("alertbot-1"), author_id=BOT_USER_ID, at=since + timedelta(hours=1)
    )
    assert await bot.sender.find_posted(str(CHANNEL), ["alertbot-1"], since) == {"alertbot-1": ours}
    first, second = api.calls("GET", rf"^/channels/{CHANNEL}/messages$")
    assert int(second.query["after"]) > int(first.query["after"])


async def test_find_posted_without_keys_asks_nothing(api: FakeDiscordAPI, bot: DiscordBot) -> None:
    assert await bot.sender.find_posted(str(CHANNEL), [], datetime.now(UTC)) == {}
    assert api.calls("GET", r"/messages$") == []


@pytest.mark.parametrize("channel", [GONE, HIDDEN, NO_HISTORY])
async def test_find_posted_where_it_cannot_read_is_empty(
    api: FakeDiscordAPI, bot: DiscordBot, channel: int, caplog: pytest.LogCaptureFixture
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    if channel == NO_HISTORY:
        api.add_message(NO_HISTORY, embeds=tagged("alertbot-1"), author_id=BOT_USER_ID)
    with caplog.at_level(logging.WARNING):
        assert await bot.sender.find_posted(str(channel), ["alertbot-1"], since) == {}
    if channel != NO_HISTORY:  # without Read Message History Discord just answers []
        assert "cannot read the messages" in caplog.text


async def test_find_posted_long_429_is_a_temporary_error(
    api: FakeDiscordAPI, bot: DiscordBot
) -> None:
    api.rate_limit("GET", r"/messages$", retry_after=120)
    with pytest.raises(DeliveryError) as info:
        await bot.sender.find_posted(str(CHANNEL), ["alertbot-1"], datetime.now(UTC))
    assert not info.value.permanent and info.value.retry_after == 120


# --------------------------------------------------------------------------- gateway URL


@pytest.fixture
def default_gateway() -> Iterator[None]:
    saved = DiscordWebSocket.DEFAULT_GATEWAY
    yield
    DiscordWebSocket.DEFAULT_GATEWAY = saved


async def test_gateway_url_from_the_environment_is_where_discord_py_connects(
    api: FakeDiscordAPI, tmp_path: Path, default_gateway: None
) -> None:
    seen: list[yarl.URL] = []
    identify: list[dict[str, object]] = []

    async def gateway(request: web.Request) -> web.WebSocketResponse:
        """Greets, takes the IDENTIFY, then refuses the token (close code 4004)."""
        seen.append(request.url)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45000}})
        async for msg in ws:
            payload = msg.json()
            if payload.get("op") == 2:
                identify.append(payload)
                break
        await ws.close(code=4004, message=b"Authentication failed.")
        return ws

    app = web.Application()
    app.router.add_get("/gw", gateway)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"ws://127.0.0.1:{port}/gw"
    env = {
        "DISCORD_TOKEN": "test-token",
        "ALERTBOT_DISCORD_API_URL": api.base,
        "ALERTBOT_DISCORD_GATEWAY_URL": url,
    }
    b = DiscordBot(parse_config({}, tmp_path / "a.toml", env), None)
    try:
        await b.start()
        assert yarl.URL(url) == DiscordWebSocket.DEFAULT_GATEWAY
        with pytest.raises(discord.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                await b.client.connect(reconnect=False)
        assert closed.value.code == 4004
        assert [(u.host, u.port, u.path) for u in seen] == [("127.0.0.1", port, "/gw")]
        assert seen[0].query["v"] == "10"
        assert identify and identify[0]["d"]["token"] == "test-token"  # type: ignore[index]
    finally:
        await b.close()
        await runner.cleanup()


async def test_no_gateway_url_means_discords_own(
    api: FakeDiscordAPI, tmp_path: Path, default_gateway: None
) -> None:
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("ws://127.0.0.1:9/left-over")
    env = {"DISCORD_TOKEN": "test-token", "ALERTBOT_DISCORD_API_URL": api.base}
    b = DiscordBot(parse_config({}, tmp_path / "a.toml", env), None)
    await b.start()
    await b.close()
    assert yarl.URL(DEFAULT_GATEWAY) == DiscordWebSocket.DEFAULT_GATEWAY


async def test_a_gateway_url_that_is_not_a_websocket_fails_start(
    api: FakeDiscordAPI, tmp_path: Path, default_gateway: None
) -> None:
    env = {
        "DISCORD_TOKEN": "test-token",
        "ALERTBOT_DISCORD_API_URL": api.base,
        "ALERTBOT_DISCORD_GATEWAY_URL": "http://127.0.0.1:9/",
    }
    b = DiscordBot(parse_config({}, tmp_path / "a.toml", env), None)
    with pytest.raises(RuntimeError, match="ALERTBOT_DISCORD_GATEWAY_URL"):
        await b.start()
    await b.close()
