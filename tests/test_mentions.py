"""Opt-in mentions and the compact format, through the real discord.py REST layer and
the real slack-sdk client against the loopback fakes: the alert pings exactly the
configured role or group, feed text pings nobody, edits ping nobody, and ids that
do not exist are refused naming the argument."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import open_runtime
from bot.chat.discord.client import DiscordBot, roles_check
from bot.chat.slack.client import SlackSender, groups_check, make_client
from bot.config import Secrets
from bot.core.models import Alert, Source, Span, Summary
from bot.pipeline import Deliverer
from bot.service import CommandError
from tests.conftest import MakeConfig
from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.feedserver import FeedServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.test_discord_sender import bot  # noqa: F401  # the bot on this module's api
from tests.test_pipeline import KFOR_A, KFOR_B, MKE_STORY, rss

GUILD = 111111111111111111
CHANNEL = 222222222222222222
ROLE = 333333333333333333
OTHER_ROLE = 444444444444444444
GROUP = "S0123ABCD"
USER = 555555555555555555
HOSTILE = f"@everyone <@&999999999999999999> <@{USER}> <!channel> <!subteam^SEVIL123> <@U123> ping"


def alert(*, compact: bool = False, mentions: tuple[str, ...] = (), title: str = "") -> Alert:
    title = title or "KFOR steps up patrols near the Jarinje crossing"
    return Alert(
        cluster_id=7,
        title=title,
        url="https://a.example/kfor",
        summary=Summary((Span(f"{HOSTILE}: troops of "), Span("KFOR", True), Span(" patrol."))),
        watchlists=("KFOR",),
        terms=("KFOR",),
        sources=(
            Source("Outlet A", "https://a.example/kfor", title),
            Source(HOSTILE, "https://b.example/kfor", HOSTILE),
        ),
        published=datetime(2026, 12, 1, 21, 5, tzinfo=UTC),
        format="compact" if compact else "full",
        mentions=mentions,
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeDiscordAPI]:
    async with FakeDiscordAPI() as fake:
        fake.add_channel(CHANNEL, GUILD)
        fake.add_role(GUILD, ROLE, "defence-desk")
        yield fake


async def test_discord_alert_pings_exactly_its_role_and_feed_text_pings_nobody(
    api: FakeDiscordAPI,
    bot: DiscordBot,  # noqa: F811
) -> None:
    await bot.sender.post(
        str(CHANNEL), alert(compact=True, mentions=(f"role:{ROLE}",)), key="alertbot-1"
    )
    [req] = api.calls("POST", rf"^/channels/{CHANNEL}/messages$")
    print("DISCORD PAYLOAD", json.dumps(req.json, ensure_ascii=False))
    assert req.json["content"] == f"<@&{ROLE}>"
    assert req.json["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
    [embed] = req.json["embeds"]
    sent = json.dumps(embed, ensure_ascii=False)
    for ping in ("@everyone", "<@&999999999999999999>", f"<@{USER}>"):
        assert ping not in sent
    # Compact: headline, outlets and the link; no summary, watchlists or terms.
    assert "description" not in embed
    assert [f["name"] for f in embed["fields"]] == ["Also reported by"]
    assert embed["title"] == "KFOR steps up patrols near the Jarinje crossing"
    assert embed["url"] == "https://a.example/kfor"


async def test_discord_edit_and_digest_ping_as_they_should(
    api: FakeDiscordAPI,
    bot: DiscordBot,  # noqa: F811
) -> None:
    ref = await bot.sender.post(str(CHANNEL), alert(mentions=(f"role:{ROLE}",)), key="k1")
    # The deliverer builds an edit's alert without mentions; even with one, no ping.
    await bot.sender.edit(str(CHANNEL), ref, alert(mentions=(f"role:{ROLE}",)))
    [patch] = api.calls("PATCH", rf"^/channels/{CHANNEL}/messages/{ref}$")
    assert patch.json["allowed_mentions"] == {"parse": []}
    assert "content" not in patch.json  # the role's name stays, unpinged
    await bot.sender.post_digest(
        str(CHANNEL),
        [alert(mentions=(f"role:{ROLE}",)), alert(mentions=(f"role:{ROLE}",), title="Two")],
        key="d1",
    )
    digest = api.calls("POST", rf"^/channels/{CHANNEL}/messages$")[-1]
    assert digest.json["content"] == f"<@&{ROLE}>"
    assert digest.json["allowed_mentions"] == {"parse": [], "roles": [ROLE]}


async def test_discord_role_check_asks_the_guild(
    api: FakeDiscordAPI,
    bot: DiscordBot,  # noqa: F811
) -> None:
    check = roles_check(bot.client.http)
    await check(str(GUILD), f"role:{ROLE}")
    with pytest.raises(CommandError, match=rf"^mention: {OTHER_ROLE} is not a role"):
        await check(str(GUILD), f"role:{OTHER_ROLE}")
    with pytest.raises(CommandError, match="@everyone"):
        await check(str(GUILD), f"role:{GUILD}")
    with pytest.raises(CommandError, match="cannot see server"):
        await check("999999999999999999", f"role:{ROLE}")
    with pytest.raises(CommandError, match="in a server"):
        await check("", f"role:{ROLE}")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as fake:
        fake.usergroups[GROUP] = ["U1"]
        yield fake


async def test_slack_alert_pings_exactly_its_group_and_feed_text_pings_nobody(
    slack: FakeSlackAPI,
) -> None:
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)
    ts = await sender.post("C1", alert(compact=True, mentions=(f"group:{GROUP}",)), key="k")
    (call,) = slack.calls_to("chat.postMessage")
    print("SLACK PAYLOAD", json.dumps(call.args, ensure_ascii=False))
    assert call.args["text"].startswith(f"<!subteam^{GROUP}> ")
    assert call.args["blocks"][0]["text"]["text"].startswith(f"<!subteam^{GROUP}> *<")
    body = json.dumps(call.args, ensure_ascii=False)
    assert body.count("<!subteam^") == 2  # the text and the title: ours only
    for ping in ("<!channel>", "<!subteam^SEVIL123>", "<@U123>"):
        assert ping not in body
    assert [b["type"] for b in call.args["blocks"]] == ["section", "context"]  # compact
    await sender.edit("C1", ts, alert(compact=True))
    (update,) = slack.calls_to("chat.update")
    assert "<!subteam^" not in json.dumps(update.args)


async def test_slack_group_check_asks_usergroups_list(slack: FakeSlackAPI) -> None:
    check = groups_check(make_client("xoxb-t", slack.base_url))
    await check("T1", f"group:{GROUP}")
    with pytest.raises(CommandError, match=r"^mention: S0999ZZZZ is not a user group"):
        await check("T1", "group:S0999ZZZZ")


async def test_the_first_post_pings_and_the_edit_for_a_new_outlet_does_not(
    feed_server: FeedServer, make_config: MakeConfig, slack: FakeSlackAPI, database: str
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A], link="https://a.example/"))
    a, b = feed_server.url("/a.xml"), feed_server.url("/b.xml")
    config = make_config(
        [a, b],
        subscriptions=[
            {
                "platform": "slack",
                "channel": "C1",
                "watchlists": ["KFOR"],
                "mention": f"group:{GROUP}",
            }
        ],
        database=database,
    )
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        deliverer = Deliverer(rt.service.store, config, {"slack": sender})
        await rt.poller.poll_due(all_feeds=True)
        assert (await deliverer.drain()).posted == 1
        feed_server.add_feed("/b.xml", rss("Outlet B", [KFOR_B], link="https://b.example/"))
        await rt.poller.poll_due(all_feeds=True)
        assert (await deliverer.drain()).edited == 1
    (post,) = slack.calls_to("chat.postMessage")
    (update,) = slack.calls_to("chat.update")
    assert post.args["text"].startswith(f"<!subteam^{GROUP}> ")
    assert "<!subteam^" not in json.dumps(update.args)


async def test_a_config_mention_naming_no_group_is_logged_once_slack_is_in(
    make_config: MakeConfig, slack: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(
        [],
        subscriptions=[
            {
                "platform": "slack",
                "channel": "C1",
                "watchlists": ["KFOR"],
                "mention": f"group:{GROUP}",
            },
            {
                "platform": "slack",
                "channel": "C2",
                "watchlists": ["KFOR"],
                "mention": "group:S0999ZZZZ",
            },
        ],
    )
    secrets = Secrets(slack_bot_token="xoxb-t", slack_api_url=slack.base_url)
    config = dataclasses.replace(config, secrets=secrets)
    async with open_runtime(config, json_lines=True, out=io.StringIO()) as rt:
        assert "slack" in rt.deliverer.senders
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert "subscriptions[1].mention: S0999ZZZZ is not a user group" in errors[0]


async def test_feed_text_with_pings_reaches_discord_inert_beside_the_configured_role(
    feed_server: FeedServer,
    make_config: MakeConfig,
    api: FakeDiscordAPI,
    bot: DiscordBot,  # noqa: F811
) -> None:
    evil = (f"KFOR patrols {HOSTILE}", f"{KFOR_A[1]} {HOSTILE} <@&{ROLE}>")
    feed_server.add_feed("/a.xml", rss(f"Outlet {HOSTILE}", [evil], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[
            {
                "platform": "discord",
                "channel": str(CHANNEL),
                "watchlists": ["KFOR"],
                "mention": f"role:{ROLE}",
            }
        ],
    )
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        assert (await Deliverer(rt.service.store, config, {"discord": bot.sender}).drain()).posted
    [req] = api.calls("POST", rf"^/channels/{CHANNEL}/messages$")
    assert req.json["content"] == f"<@&{ROLE}>"
    assert req.json["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
    sent = json.dumps(req.json["embeds"], ensure_ascii=False)
    assert "KFOR patrols" in sent
    # Embeds never ping, and the text is escaped anyway (@ + zero-width space).
    for ping in ("@everyone", "<@&999999999999999999>", f"<@&{ROLE}>", f"<@{USER}>"):
        assert ping not in sent, ping


async def test_alerts_held_in_quiet_hours_go_to_slack_as_one_digest_pinging_once(
    feed_server: FeedServer, make_config: MakeConfig, slack: FakeSlackAPI
) -> None:
    feed_server.add_feed("/a.xml", rss("Outlet A", [KFOR_A, MKE_STORY], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[
            {
                "platform": "slack",
                "channel": "C1",
                "watchlists": ["KFOR", "MKE"],
                "mention": f"group:{GROUP}",
                "quiet": "22:00-07:00",
                "timezone": "Europe/Belgrade",
            }
        ],
    )
    zone = ZoneInfo("Europe/Belgrade")
    day = (datetime.now(zone) + timedelta(days=1)).date()
    night = datetime.combine(day, time(23, 30), zone)
    morning = datetime.combine(day + timedelta(days=1), time(7, 0), zone)
    sender = SlackSender(make_client("xoxb-t", slack.base_url), pace=0.0)
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.poll_due(all_feeds=True)
        held = await Deliverer(
            rt.service.store, config, {"slack": sender}, clock=lambda: night
        ).drain()
        assert held.posted == held.digests == 0 and slack.calls_to("chat.postMessage") == []
        awake = Deliverer(rt.service.store, config, {"slack": sender}, clock=lambda: morning)
        assert (await awake.drain()).digests == 1
    (digest,) = slack.calls_to("chat.postMessage")
    assert digest.args["text"].startswith(f"<!subteam^{GROUP}> 2 new alerts")
    assert json.dumps(digest.args).count("<!subteam^") == 2  # the text and one block


async def test_discord_never_pings_the_guilds_everyone_role(
    api: FakeDiscordAPI,
    bot: DiscordBot,  # noqa: F811
) -> None:
    mentions = (f"role:{GUILD}", f"role:{ROLE}")
    await bot.sender.post(str(CHANNEL), alert(mentions=mentions), key="k")
    [req] = api.calls("POST", rf"^/channels/{CHANNEL}/messages$")
    assert req.json["content"] == f"<@&{ROLE}>"
    assert req.json["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
