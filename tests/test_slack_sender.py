"""Delivery over the real slack-sdk AsyncWebClient against the loopback fake Web API."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.base import DeliveryError
from bot.chat.slack.client import SlackBot, SlackDirectory, SlackSender, make_client
from bot.chat.slack.config import SlackConfig
from bot.config import parse_config
from bot.core.models import Alert, Source, Span, Summary
from tests.fakes.slack_api import FakeSlackAPI

TOKEN = "xoxb-test-token"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def alert(title: str = "KFOR patrol", *, sources: int = 1, cluster_id: int = 42) -> Alert:
    return Alert(
        cluster_id=cluster_id,
        title=title,
        url="https://news.example/kfor",
        summary=Summary((Span("The "), Span("KFOR", True), Span(" patrol."))),
        watchlists=("KFOR",),
        terms=("KFOR",),
        sources=tuple(
            Source(f"Outlet {i}", f"https://o{i}.example/kfor", title) for i in range(sources)
        ),
        published=NOW,
    )


@pytest.fixture
async def fake():
    async with FakeSlackAPI() as api:
        yield api


@pytest.fixture
def sender(fake):
    return SlackSender(make_client(TOKEN, fake.base_url), pace=0.0)


async def test_post_sends_blocks_metadata_and_no_unfurls(fake, sender):
    ts = await sender.post("C1", alert(), key="sub1:42")
    (call,) = fake.calls_to("chat.postMessage")
    assert call.token == TOKEN
    args = call.args
    assert args["channel"] == "C1"
    assert args["unfurl_links"] is False and args["unfurl_media"] is False
    assert args["metadata"] == {
        "event_type": "alertbot_alert",
        "event_payload": {"cluster_id": 42, "key": "sub1:42"},
    }
    assert args["text"] == "KFOR patrol [KFOR]"
    assert args["blocks"][0]["text"]["text"] == "*<https://news.example/kfor|KFOR patrol>*"
    assert fake.messages[("C1", ts)] is args


async def test_hostile_title_is_delivered_inert(fake, sender):
    evil = "<!channel> read <https://evil.example|click> now <@U123>"
    await sender.post("C1", alert(evil), key="k")
    (call,) = fake.calls_to("chat.postMessage")
    body = repr(call.args)
    assert "<!channel>" not in body and "<@U123>" not in body
    assert "<https://evil.example|click>" not in body
    assert "&lt;!channel&gt; read &lt;https://evil.example|click&gt;" in call.args["text"]


async def test_cluster_update_edits_the_stored_ts(fake, sender):
    ts = await sender.post("C1", alert(sources=1), key="k")
    ref = await sender.edit("C1", ts, alert(sources=3))
    assert ref == ts
    (call,) = fake.calls_to("chat.update")
    assert call.args["ts"] == ts and call.args["channel"] == "C1"
    ctx = next(b for b in call.args["blocks"] if b["type"] == "context")
    assert "Also reported by" in ctx["elements"][1]["text"]
    assert "o2.example" in ctx["elements"][1]["text"]


async def test_edit_of_a_vanished_message_posts_anew(fake, sender):
    ref = await sender.edit("C1", "1600000000.000001", alert())
    assert ref != "1600000000.000001"
    assert len(fake.calls_to("chat.update")) == 1
    (post,) = fake.calls_to("chat.postMessage")
    assert post.args["metadata"]["event_payload"]["key"] == "edit:1600000000.000001"


async def test_ratelimited_is_retried_honouring_retry_after(fake, sender):
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    ts = await sender.post("C1", alert(), key="k")
    calls = fake.calls_to("chat.postMessage")
    assert len(calls) == 2  # the 429, then the retry
    assert ("C1", ts) in fake.messages


async def test_retry_waits_for_retry_after(fake, sender):
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    await sender.post("C1", alert(), key="k")
    first, second = fake.calls_to("chat.postMessage")
    assert second.at - first.at >= 0.95


async def test_ratelimit_past_the_clients_retries_is_a_temporary_error(fake):
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.rate_limit("chat.postMessage", times=5, retry_after=0)
    with pytest.raises(DeliveryError) as info:
        await SlackSender(client, pace=0).post("C1", alert(), key="k")
    assert not info.value.permanent
    assert info.value.retry_after == 0
    assert len(fake.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_in_channel", "is_archived", "invalid_auth"]
)
async def test_channel_errors_are_permanent_and_others_keep_working(fake, sender, error):
    fake.fail_channel("CBAD", error)
    with pytest.raises(DeliveryError) as info:
        await sender.post("CBAD", alert(), key="k")
    assert info.value.permanent
    assert error in info.value.reason
    assert await sender.post("CGOOD", alert(), key="k2")


async def test_revoked_token_is_permanent(fake):
    fake.revoke("xoxb-revoked")
    sender = SlackSender(make_client("xoxb-revoked", fake.base_url), pace=0)
    with pytest.raises(DeliveryError) as info:
        await sender.post("C1", alert(), key="k")
    assert info.value.permanent and "token_revoked" in info.value.reason


async def test_digest_is_one_message_within_limits(fake, sender):
    alerts = [alert(f"Story {i}", cluster_id=i) for i in range(40)]
    await sender.post_digest("C1", alerts, key="digest:1")
    (call,) = fake.calls_to("chat.postMessage")
    assert len(call.args["blocks"]) <= 50
    assert call.args["metadata"]["event_type"] == "alertbot_digest"
    assert call.args["metadata"]["event_payload"]["cluster_ids"] == list(range(40))
    assert call.args["unfurl_links"] is False


async def test_sends_are_paced_per_channel(fake):
    sender = SlackSender(make_client(TOKEN, fake.base_url), pace=0.15)
    loop = asyncio.get_running_loop()
    stamps: dict[str, list[float]] = {"A": [], "B": []}

    async def send(channel: str) -> None:
        await sender.post(channel, alert(), key="k")
        stamps[channel].append(loop.time())

    await asyncio.gather(send("A"), send("A"), send("B"))
    a1, a2 = sorted(stamps["A"])
    assert a2 - a1 >= 0.14  # the second message in A waited for the pace
    assert stamps["B"][0] < a2  # B did not queue behind A


async def test_permalink_needs_the_workspace_url(fake, sender):
    assert sender.permalink("C1", "1700000000.000200") is None
    sender.workspace_url = "https://fake-workspace.slack.com/"
    assert (
        sender.permalink("C1", "1700000000.000200")
        == "https://fake-workspace.slack.com/archives/C1/p1700000000000200"
    )


async def test_start_alone_is_enough_to_deliver(fake, tmp_path, monkeypatch, caplog):
    """What `alertbot run --once` does: auth.test and Web API sends, no socket, no port.
    With SLACK_BOT_TOKEN in the environment, as in a real run, bolt's warning that our
    client's token wins over it is not logged."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    caplog.set_level(logging.WARNING)
    config = parse_config(
        {"bot": {"database": "db.sqlite", "watchlists": "w"}},
        tmp_path / "alertbot.toml",
        env={
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_APP_TOKEN": "xapp-unused",
            "SLACK_SIGNING_SECRET": "unused",
            "ALERTBOT_SLACK_API_URL": fake.base_url,
        },
    )
    bot = SlackBot(config, service=None, pace=0)  # type: ignore[arg-type]  # sending needs no service
    await bot.start()
    ts = await bot.sender.post("C1", alert(), key="k")
    assert bot.sender.permalink("C1", ts) == (
        f"https://fake-workspace.slack.com/archives/C1/p{ts.replace('.', '')}"
    )
    await bot.close()
    assert [c.method for c in fake.calls] == ["auth.test", "chat.postMessage"]
    assert bot.http_port is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_start_with_a_revoked_token_fails_clearly(fake, tmp_path):
    fake.revoke(TOKEN)
    config = parse_config(
        {},
        tmp_path / "alertbot.toml",
        env={"SLACK_BOT_TOKEN": TOKEN, "ALERTBOT_SLACK_API_URL": fake.base_url},
    )
    bot = SlackBot(config, service=None)  # type: ignore[arg-type]  # never reaches the service
    with pytest.raises(DeliveryError) as info:
        await bot.start()
    assert info.value.permanent and "reinstall the app" in info.value.reason


async def test_directory_caches_admin_flags_and_groups_for_a_while(fake):
    now = [0.0]
    fake.users.update({"UA": {"is_admin": True}, "UB": {}})
    fake.usergroups["S0OPS"] = ["UB"]
    config = SlackConfig(admin_groups=("S0OPS",), manager_groups=("@missing",))
    directory = SlackDirectory(
        make_client(TOKEN, fake.base_url), config, ttl=60, clock=lambda: now[0]
    )
    caller = await directory.caller(user="UA", channel="C1", team="T1")
    assert caller.is_admin and caller.manages_channel and caller.roles == ()
    caller = await directory.caller(user="UB", channel="C1", team="T1")
    assert not caller.is_admin and caller.roles == ("S0OPS",)
    await directory.caller(user="UB", channel="C2", team="T1")
    assert len(fake.calls_to("users.info")) == 2
    assert len(fake.calls_to("usergroups.users.list")) == 1
    now[0] = 61.0  # past the TTL: Slack is asked again
    fake.users["UA"]["is_admin"] = False
    caller = await directory.caller(user="UA", channel="C1", team="T1")
    assert not caller.is_admin
    assert len(fake.calls_to("users.info")) == 3
    # an unknown user is simply not an admin
    assert not (await directory.caller(user="UGHOST", channel="C1", team="T1")).is_admin


# --------------------------------------------------------------------------- find_posted


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_find_posted_finds_an_alert_and_a_digest_by_key(fake, sender):
    since = at(fake.now())
    fake.advance(1)
    ts = await sender.post("C1", alert(), key="alertbot-7")
    fake.add_message("C1", "a person talks")
    digest_ts = await sender.post_digest("C1", [alert(), alert("Other")], key="alertbot-d-ab12")
    await sender.post("C1", alert(), key="alertbot-8")  # posted, but not asked about
    await sender.post("C2", alert(), key="alertbot-9")  # asked about, but in another channel

    found = await sender.find_posted(
        "C1", ["alertbot-7", "alertbot-d-ab12", "alertbot-9", "alertbot-10"], since
    )

    assert found == {"alertbot-7": ts, "alertbot-d-ab12": digest_ts}
    (call,) = fake.calls_to("conversations.history")
    assert call.args["channel"] == "C1"
    assert call.args["include_all_metadata"] in ("1", "true", True)
    assert call.args["limit"] == "200"
    assert float(call.args["oldest"]) == pytest.approx(since.timestamp())


async def test_find_posted_ignores_messages_before_since(fake, sender):
    await sender.post("C1", alert(), key="alertbot-1")
    fake.advance(60)
    since = at(fake.now() + 1)
    fake.advance(30)
    later = await sender.post("C1", alert(), key="alertbot-2")
    assert await sender.find_posted("C1", ["alertbot-1", "alertbot-2"], since) == {
        "alertbot-2": later
    }


async def test_find_posted_ignores_metadata_it_did_not_write(fake, sender):
    since = at(fake.now())
    fake.advance(1)
    other_app = {"event_type": "alertbot_alert", "event_payload": {"key": "alertbot-1"}}
    fake.add_message("C1", "forged", user="U0OTHER", metadata=other_app)
    fake.add_message(
        "C1",
        "other type",
        metadata={"event_type": "deploy", "event_payload": {"key": "alertbot-2"}},
    )
    sender.bot_user = "U0BOT"  # what SlackBot.start learns from auth.test
    assert await sender.find_posted("C1", ["alertbot-1", "alertbot-2"], since) == {}


async def test_find_posted_pages_through_a_busy_channel(fake, sender):
    since = at(fake.now())
    fake.advance(1)
    first = await sender.post("C1", alert(), key="alertbot-1")
    for i in range(450):
        fake.add_message("C1", f"chatter {i}")
    found = await sender.find_posted("C1", ["alertbot-1"], since)
    assert found == {"alertbot-1": first}
    calls = fake.calls_to("conversations.history")
    assert len(calls) == 3  # 200 + 200 + 51, newest first: ours is the oldest
    assert "cursor" not in calls[0].args
    assert calls[1].args["cursor"] and calls[2].args["cursor"] != calls[1].args["cursor"]


async def test_find_posted_stops_paging_once_every_key_is_found(fake, sender):
    since = at(fake.now())
    fake.advance(1)
    for i in range(300):
        fake.add_message("C1", f"chatter {i}")
    ts = await sender.post("C1", alert(), key="alertbot-1")
    assert await sender.find_posted("C1", ["alertbot-1"], since) == {"alertbot-1": ts}
    assert len(fake.calls_to("conversations.history")) == 1


async def test_find_posted_reads_at_most_a_few_pages(fake, sender):
    fake.history_max_limit = 15  # what Slack allows apps outside its Marketplace
    since = at(fake.now())
    fake.advance(1)
    await sender.post("C1", alert(), key="alertbot-1")
    for i in range(200):
        fake.add_message("C1", f"chatter {i}")
    assert await sender.find_posted("C1", ["alertbot-1"], since) == {}
    assert len(fake.calls_to("conversations.history")) == 5


async def test_find_posted_survives_a_ratelimited_answer(fake, sender):
    since = at(fake.now())
    fake.advance(1)
    ts = await sender.post("C1", alert(), key="alertbot-1")
    fake.rate_limit("conversations.history", times=1, retry_after=0)
    assert await sender.find_posted("C1", ["alertbot-1"], since) == {"alertbot-1": ts}
    assert len(fake.calls_to("conversations.history")) == 2  # the 429, then the retry


async def test_find_posted_ratelimited_past_retries_is_a_temporary_error(fake):
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.rate_limit("conversations.history", times=5, retry_after=0)
    with pytest.raises(DeliveryError) as info:
        await SlackSender(client, pace=0).find_posted("C1", ["alertbot-1"], NOW)
    assert not info.value.permanent


@pytest.mark.parametrize("error", ["missing_scope", "not_in_channel", "channel_not_found"])
async def test_find_posted_in_a_channel_it_cannot_read_is_empty(fake, sender, error, caplog):
    fake.fail_channel("C1", error, methods=("conversations.history",))
    assert await sender.find_posted("C1", ["alertbot-1"], NOW) == {}
    assert error in caplog.text


async def test_find_posted_with_no_keys_asks_nothing(fake, sender):
    assert await sender.find_posted("C1", [], NOW) == {}
    assert fake.calls == []


async def test_find_posted_is_paced_with_sends(fake):
    sender = SlackSender(make_client(TOKEN, fake.base_url), pace=0.15)
    await sender.post("C1", alert(), key="alertbot-1")
    await sender.find_posted("C1", ["alertbot-1"], NOW)
    post, history = fake.calls_to("chat.postMessage")[0], fake.calls_to("conversations.history")[0]
    assert history.at - post.at >= 0.14


async def test_started_bot_looks_only_at_its_own_messages(fake, tmp_path):
    config = parse_config(
        {},
        tmp_path / "alertbot.toml",
        env={"SLACK_BOT_TOKEN": TOKEN, "ALERTBOT_SLACK_API_URL": fake.base_url},
    )
    bot = SlackBot(config, service=None, pace=0)  # type: ignore[arg-type]  # sending needs no service
    await bot.start()
    assert bot.sender.bot_user == "U0BOT"
    since = at(fake.now())
    fake.advance(1)
    ts = await bot.sender.post("C1", alert(), key="alertbot-1")
    assert await bot.sender.find_posted("C1", {"alertbot-1"}, since) == {"alertbot-1": ts}
    await bot.close()
