"""Slash commands as signed HTTP requests through the real bolt AsyncApp.

The bot serves bolt's aiohttp adapter on 127.0.0.1; the real slack-sdk client
talks to the loopback fake Web API, and ``response_url`` points at the fake too,
so every reply is read back from what the fake recorded. bolt acks first and runs
the listener afterwards: tests wait for the recorded reply, never assume order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.chat.slack.client import SlackBot
from bot.config import parse_config
from bot.core.models import Match, Story
from bot.service import Service
from bot.store.base import NewStory, PollResult
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackAPI

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
NOW = datetime.now(UTC)

KFOR = 'name = "KFOR"\n[[terms]]\nname = "KFOR"\nforms = ["KFOR"]\n'
MKE = (
    'name = "MKE"\ndescription = "Turkish state arms maker"\n'
    '[[terms]]\nname = "MKE"\nforms = ["MKE"]\n'
    '[[terms]]\nname = "Roketsan"\nforms = ["Roketsan"]\n'
)

ADMIN = "UADMIN"  # workspace admin per users.info
OWNER = "UOWNER"
EDITOR = "UEDITOR"  # in the @editors user group (managers in the config)
CFG_ADMIN = "UCFGADMIN"  # listed in [slack] admin_users
NOBODY = "UNOBODY"


def sign(body: str, ts: str, secret: str = SECRET) -> str:
    base = f"v0:{ts}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Harness:
    def __init__(self, fake: FakeSlackAPI, bot: SlackBot, service: Service, port: int):
        self.fake = fake
        self.bot = bot
        self.service = service
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self._n = itertools.count()

    async def post(
        self,
        body: str,
        content_type: str = "application/x-www-form-urlencoded",
        *,
        secret: str = SECRET,
        ts: str | None = None,
    ) -> tuple[int, str]:
        ts = ts or str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(body, ts, secret),
        }
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.url, data=body.encode(), headers=headers) as resp,
        ):
            return resp.status, await resp.text()

    def command_body(self, text: str, *, user: str, channel: str, name: str) -> str:
        return urlencode(
            {
                "token": "deprecated-verification-token",
                "team_id": TEAM_ID,
                "team_domain": "fake-workspace",
                "channel_id": channel,
                "channel_name": "news",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/alertbot",
                "text": text,
                "api_app_id": "A0APP",
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url(name),
                "trigger_id": "1.2.3",
            }
        )

    async def slash(
        self, text: str, *, user: str = ADMIN, channel: str = "CNEWS"
    ) -> dict[str, Any]:
        """Send ``/alertbot text``; return what the bot sent to the response_url."""
        name = f"r{next(self._n)}"
        status, ack = await self.post(
            self.command_body(text, user=user, channel=channel, name=name)
        )
        assert status == 200, ack
        (call,) = await self.fake.wait_for(f"response:{name}")
        reply = call.args
        assert reply["response_type"] == "ephemeral"
        return reply


def reply_text(reply: dict[str, Any]) -> str:
    """Everything the user sees in a reply, as one string."""
    parts = [reply.get("text", "")]
    for b in reply.get("blocks") or []:
        if "text" in b:
            parts.append(b["text"]["text"])
        for e in b.get("elements", []):
            parts.append(e["text"]["text"] if isinstance(e["text"], dict) else e["text"])
    return "\n".join(parts)


@pytest.fixture
async def h(tmp_path):
    wdir = tmp_path / "watchlists"
    wdir.mkdir()
    (wdir / "kfor.toml").write_text(KFOR, encoding="utf-8")
    (wdir / "mke.toml").write_text(MKE, encoding="utf-8")
    async with FakeSlackAPI() as fake:
        fake.users.update(
            {
                ADMIN: {"is_admin": True},
                OWNER: {"is_owner": True},
                EDITOR: {},
                CFG_ADMIN: {},
                NOBODY: {},
            }
        )
        fake.usergroups["S0EDITORS"] = [EDITOR]
        fake.usergroup_handles["S0EDITORS"] = "editors"
        config = parse_config(
            {
                "bot": {"database": "data/alertbot.db", "watchlists": "watchlists"},
                "slack": {"admin_users": [CFG_ADMIN], "manager_groups": ["@editors"]},
            },
            tmp_path / "alertbot.toml",
            env={
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "ALERTBOT_SLACK_API_URL": fake.base_url,
            },
        )
        (tmp_path / "data").mkdir()
        service = await Service.open(config)
        bot = SlackBot(config, service, pace=0)
        try:
            await bot.start()
            port = await bot.start_http(host="127.0.0.1", port=0)
            yield Harness(fake, bot, service, port)
        finally:
            await bot.close()
            await service.close()


# --------------------------------------------------------------------------- transport


async def test_bad_signature_is_rejected(h):
    body = h.command_body("help", user=ADMIN, channel="C1", name="bad")
    status, _ = await h.post(body, secret="not-the-secret")
    assert status == 401
    status, _ = await h.post(body, ts=str(int(time.time()) - 3600))  # replayed: too old
    assert status == 401
    for ts in ("soon", "1e9", "-5", " 12"):  # bolt alone answered these with a 500
        status, _ = await h.post(body, ts=ts)
        assert status == 401, ts
    assert h.fake.calls_to("response:bad") == []


async def test_start_checks_the_token_and_bolt_authorizes_on_first_request(h):
    assert h.bot.ids.team == TEAM_ID and h.bot.ids.bot_user == BOT_USER_ID
    assert h.bot.sender.workspace_url == "https://fake-workspace.slack.com/"
    before = len(h.fake.calls_to("auth.test"))
    await h.slash("help")
    await h.fake.wait_for("auth.test", count=before + 1)


async def test_help_lists_every_command_with_examples(h):
    reply = await h.slash("help")
    text = reply_text(reply)
    for word in ("subscribe", "lookup", "watchlist add-form", "feeds add", "Example:"):
        assert word in text
    assert reply_text(await h.slash("")) == text  # bare /alertbot shows help too


# --------------------------------------------------------------------------- subscriptions


async def test_subscribe_unsubscribe_and_list(h):
    reply = await h.slash("subscribe KFOR digest", channel="CNEWS")
    assert "now gets" in reply_text(reply) and "digest" in reply_text(reply)
    subs = await h.service.store.subscriptions("slack", "CNEWS")
    assert [(s.watchlist, s.mode, s.guild) for s in subs] == [("KFOR", "digest", TEAM_ID)]

    text = reply_text(await h.slash("subscriptions", user=NOBODY, channel="CNEWS"))
    assert "KFOR" in text and "<#CNEWS>" in text

    reply = await h.slash("unsubscribe KFOR", channel="CNEWS")
    assert "no longer gets" in reply_text(reply)
    assert await h.service.store.subscriptions("slack", "CNEWS") == []


async def test_user_group_member_may_subscribe_and_lookups_are_cached(h):
    reply = await h.slash("subscribe MKE", user=EDITOR, channel="CED")
    assert "now gets" in reply_text(reply)
    await h.slash("unsubscribe MKE", user=EDITOR, channel="CED")
    # users.info and usergroups.* asked once for both commands
    assert len([c for c in h.fake.calls_to("users.info") if c.args["user"] == EDITOR]) == 1
    assert len(h.fake.calls_to("usergroups.users.list")) == 1
    assert len(h.fake.calls_to("usergroups.list")) == 1


async def test_permission_refusal_says_why(h):
    reply = await h.slash("subscribe KFOR", user=NOBODY)
    text = reply_text(reply)
    assert "Only channel managers" in text and "[slack] manager config" in text
    reply = await h.slash('watchlist create Drones "Turkish drones"', user=EDITOR)
    assert "Only admins" in reply_text(reply)
    assert await h.service.store.subscriptions("slack") == []
    # the owner (users.info is_owner) and a config-listed admin may edit
    assert "Created" in reply_text(await h.slash("watchlist create Drones", user=OWNER))
    assert "Deleted" in reply_text(await h.slash("watchlist delete Drones", user=CFG_ADMIN))


async def test_bad_arguments_get_a_helpful_ephemeral_message(h):
    text = reply_text(await h.slash("subscribe"))
    assert "Name a watchlist (subscribe KFOR) or a feed (subscribe feed:https://" in text
    text = reply_text(await h.slash("subscribe KFOR hourly"))
    assert "realtime or digest" in text
    text = reply_text(await h.slash("subscribe NOPE"))
    assert "No watchlist named 'NOPE'" in text and "KFOR" in text
    text = reply_text(await h.slash("subscirbe KFOR"))
    assert "Unknown command" in text and "Did you mean `subscribe`?" in text
    text = reply_text(await h.slash("watchlist frobnicate"))
    assert "Unknown watchlist command" in text
    text = reply_text(await h.slash("lookup kfor since:often"))
    assert "Bad 'since'" in text


# --------------------------------------------------------------------------- watchlists


async def test_watchlist_list_and_show(h):
    text = reply_text(await h.slash("watchlist list", user=NOBODY))
    assert "KFOR" in text and "MKE" in text
    text = reply_text(await h.slash("watchlist show MKE", user=NOBODY))
    assert "Turkish state arms maker" in text and "Roketsan" in text


async def test_watchlist_edits_with_quoting(h):
    reply = await h.slash('watchlist create Drones "Turkish drones"')
    assert "Created" in reply_text(reply)
    assert (await h.service.watchlist("Drones")).description == "Turkish drones"

    await h.slash('watchlist add-term Drones "Bayraktar TB2" TB2 "Bayraktar TB2"')
    w = await h.service.watchlist("Drones")
    assert [(t.name, t.forms) for t in w.terms] == [("Bayraktar TB2", ("TB2", "Bayraktar TB2"))]

    # the example: the term is left out (KFOR has one term); curly quotes work
    reply = await h.slash("watchlist add-form KFOR “Kosovo Force”")
    assert "now also matches" in reply_text(reply)
    assert (await h.service.watchlist("KFOR")).terms[0].forms == ("KFOR", "Kosovo Force")

    await h.slash("watchlist add-form MKE Roketsan 'Roketsan A.Ş.'")
    assert (await h.service.watchlist("MKE")).terms[1].forms == ("Roketsan", "Roketsan A.Ş.")
    await h.slash('watchlist remove-form MKE Roketsan "Roketsan A.Ş."')
    assert (await h.service.watchlist("MKE")).terms[1].forms == ("Roketsan",)

    await h.slash('watchlist remove-form KFOR "Kosovo Force"')
    assert (await h.service.watchlist("KFOR")).terms[0].forms == ("KFOR",)

    await h.slash('watchlist remove-term Drones "Bayraktar TB2"')
    assert (await h.service.watchlist("Drones")).terms == ()
    await h.slash("watchlist delete Drones")
    assert "Drones" not in await h.service.watchlist_names()


async def test_ambiguous_term_and_unclosed_quote(h):
    # MKE has two terms; one is named like the watchlist, so it is the default
    await h.slash('watchlist add-form MKE "Makine ve Kimya"')
    assert (await h.service.watchlist("MKE")).terms[0].forms == ("MKE", "Makine ve Kimya")
    await h.slash("watchlist create Drones")
    await h.slash("watchlist add-term Drones TB2")
    await h.slash("watchlist add-term Drones Akinci")
    text = reply_text(await h.slash('watchlist add-form Drones "TB-2"'))
    assert "has several terms (TB2, Akinci)" in text
    text = reply_text(await h.slash('watchlist add-form KFOR "Kosovo Force'))
    assert "never closed" in text and "Kosovo Force" in text
    assert (await h.service.watchlist("KFOR")).terms[0].forms == ("KFOR",)


# --------------------------------------------------------------------------- lookup, feeds


async def test_lookup_finds_stored_stories(h):
    store = h.service.store
    feed = await store.add_feed("https://feeds.example/rss", NOW, origin="user")
    stories = [
        Story(
            "https://feeds.example/rss",
            f"g{i}",
            f"https://news.example/{i}",
            title,
            "Skydagger laser air defence system was shown <!channel>.",
            NOW - timedelta(days=age),
            "Defence News",
        )
        for i, (title, age) in enumerate(
            [("Skydagger shown at IDEF", 1), ("Old Skydagger story", 30)]
        )
    ]
    result = PollResult(feed.url, "Feed", None, None, None, None, None, NOW + timedelta(hours=1))
    match = Match("MKE", "MKE", "MKE", "title", 0, 3)
    await store.save_poll(feed.id, result, [NewStory(s, None, [match]) for s in stories], NOW)

    reply = await h.slash('lookup "Skydagger" since:7d', user=NOBODY)
    text = reply_text(reply)
    assert "Skydagger shown at IDEF" in text and "Old Skydagger" not in text
    assert "<https://news.example/0|Skydagger shown at IDEF>" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    text = reply_text(await h.slash("lookup nothing-like-this", user=NOBODY))
    assert "No stored story matches" in text  # one wording on every platform (core.views)
    text = reply_text(await h.slash("lookup watchlist:MKE", user=NOBODY))
    assert "Old Skydagger story" in text


async def test_lookup_pages_with_buttons_through_bolt(h):
    """25 stories that fired a watchlist (and one that did not): the answer shows
    1–10 of 25 with a Next button; clicks are block_actions through bolt, answered by
    replacing the private message through its response_url."""
    store = h.service.store
    feed = await store.add_feed("https://feeds.example/rss", NOW, origin="user")
    match = Match("MKE", "MKE", "MKE", "title", 0, 3)
    items = [
        NewStory(
            Story("https://feeds.example/rss", f"g{i}", f"https://news.example/{i}",
                  f"Akıncı drones story {i}", "Text.", NOW - timedelta(hours=i), "Wire"),
            None,
            [match],
        )
        for i in range(25)
    ]  # fmt: skip
    lone = Story("https://feeds.example/rss", "x", "https://n.example/x", "Akinci", "", NOW, "W")
    items.append(NewStory(lone, None, []))
    result = PollResult(feed.url, "Feed", None, None, None, None, None, NOW + timedelta(hours=1))
    await store.save_poll(feed.id, result, items, NOW)

    reply = await h.slash("lookup akinci drone", user=NOBODY)  # folded and stemmed
    assert reply["blocks"][0]["text"]["text"] == "1–10 of 25 for akinci drone"
    [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
    [nxt] = actions["elements"]
    assert nxt["action_id"] == "lookup_next"

    async def click(button: dict[str, Any], name: str) -> dict[str, Any]:
        payload = {
            "type": "block_actions",
            "user": {"id": NOBODY, "team_id": TEAM_ID},
            "team": {"id": TEAM_ID, "domain": "fake-workspace"},
            "channel": {"id": "CNEWS", "name": "news"},
            "api_app_id": "A0APP",
            "token": "deprecated-verification-token",
            "container": {"type": "message", "is_ephemeral": True},
            "trigger_id": "1.2.3",
            "response_url": h.fake.response_url(name),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "lookup_pages",
                    "value": button["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        status, ack = await h.post(urlencode({"payload": json.dumps(payload)}))
        assert status == 200, ack
        (call,) = await h.fake.wait_for(f"response:{name}")
        return dict(call.args)

    second = await click(nxt, "page2")
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert second["blocks"][0]["text"]["text"] == "11–20 of 25 for akinci drone"
    prev, nxt = next(b for b in second["blocks"] if b["type"] == "actions")["elements"]
    third = await click(nxt, "page3")
    assert third["blocks"][0]["text"]["text"] == "21–25 of 25 for akinci drone"
    [only_prev] = next(b for b in third["blocks"] if b["type"] == "actions")["elements"]
    assert only_prev["action_id"] == "lookup_previous"
    back = await click(prev, "page1")
    assert back["blocks"][0]["text"]["text"] == "1–10 of 25 for akinci drone"
    every = await h.slash("lookup akinci all", user=NOBODY)
    assert every["blocks"][0]["text"]["text"] == "1–10 of 26 for akinci"
    stale = await click({"action_id": "lookup_next", "value": "{broken"}, "stale")
    assert "out of date" in reply_text(stale)


async def test_feeds_add_status_remove(h):
    text = reply_text(await h.slash("feeds", user=NOBODY))
    assert "No feeds yet" in text
    # Slack sends typed URLs wrapped in <…>, and & escaped
    reply = await h.slash("feeds add <https://example.org/rss?a=1&amp;b=2>")
    assert "Added" in reply_text(reply)
    assert await h.service.feed_urls() == ["https://example.org/rss?a=1&b=2"]
    text = reply_text(await h.slash("feeds status", user=NOBODY))
    assert "Feed status: 0 of 1 failing" in text and "not fetched yet" in text
    text = reply_text(await h.slash("feeds add ftp://example.org/rss"))
    assert "only http:// and https://" in text
    text = reply_text(await h.slash("feeds add https://example.org/other", user=NOBODY))
    assert "Only admins" in text
    await h.slash("feeds remove https://example.org/rss?a=1&b=2")
    assert await h.service.feed_urls() == []


async def test_feeds_export_uploads_the_opml_file_into_the_channel(h):
    from bot.feeds.opml import read_opml

    for url in ("https://example.org/rss", "https://example.net/atom?a=1&b=2"):
        await h.service.store.add_feed(url, NOW, origin="user")
    text = reply_text(await h.slash("feeds export", user=NOBODY, channel="CNEWS"))
    assert "2 feeds as OPML: `alertbot-feeds.opml`, uploaded to this channel" in text
    [f] = h.fake.files.values()
    assert (f["filename"], f["title"], f["channel"]) == ("alertbot-feeds.opml",) * 2 + ("CNEWS",)
    assert f["initial_comment"] == f"Feeds exported by <@{NOBODY}>"
    assert f["length"] == len(f["content"])
    urls = [x.url for x in read_opml(f["content"])]
    assert sorted(urls) == ["https://example.net/atom?a=1&b=2", "https://example.org/rss"]
    # files_upload_v2: the URL, the upload, then the share, in that order
    order = [c.method for c in h.fake.calls if c.method.startswith(("files.", "upload"))]
    assert order == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


async def test_feeds_export_inline_when_the_upload_is_refused(h):
    await h.service.store.add_feed("https://example.org/rss?x=<b>", NOW, origin="user")
    h.fake.fail_channel("CPRIV", "not_in_channel", methods=("files.",))
    reply = await h.slash("feeds export", user=NOBODY, channel="CPRIV")
    code = reply["blocks"][1]["text"]["text"]
    # Slack shows &lt; as <: the file reads as written, and nothing in it is markup.
    assert code.startswith("```&lt;?xml") and "x=&amp;lt;b&amp;gt;" in code
    assert "uploaded" not in reply_text(reply)
    for i in range(60):  # too long to show: the reply says what to do instead
        await h.service.store.add_feed(
            f"https://example.org/feed/{i}/" + "x" * 40, NOW, origin="user"
        )
    text = reply_text(await h.slash("feeds export", user=NOBODY, channel="CPRIV"))
    assert "not_in_channel" in text and "files:write" in text and "alertbot feeds export" in text


# --------------------------------------------------------------------------- App Home


async def test_app_home_is_published_on_open(h):
    await h.slash("subscribe KFOR", channel="CHOME")
    event = {
        "token": "x",
        "team_id": TEAM_ID,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": int(time.time()),
        "event": {
            "type": "app_home_opened",
            "user": NOBODY,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1.2",
        },
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "enterprise_id": None}
        ],
    }
    status, _ = await h.post(json.dumps(event), "application/json")
    assert status == 200
    (call,) = await h.fake.wait_for("views.publish")
    assert call.args["user_id"] == NOBODY
    view = call.args["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = json.dumps(view)
    assert "<#CHOME>" in text and "KFOR" in text and "MKE" in text and "Feeds" in text


# --------------------------------------------------------------------------- Socket Mode


async def test_socket_mode_receives_commands_without_a_public_url(tmp_path):
    wdir = tmp_path / "watchlists"
    wdir.mkdir()
    (wdir / "kfor.toml").write_text(KFOR, encoding="utf-8")
    async with FakeSlackAPI() as fake:
        fake.users[ADMIN] = {"is_admin": True}
        config = parse_config(
            {"bot": {"database": "alertbot.db", "watchlists": "watchlists"}},
            tmp_path / "alertbot.toml",
            env={
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_APP_TOKEN": "xapp-test",
                "ALERTBOT_SLACK_API_URL": fake.base_url,
            },
        )
        service = await Service.open(config)
        bot = SlackBot(config, service, pace=0)
        serving = asyncio.create_task(bot.serve())
        try:
            await bot.start()
            payload = {
                "team_id": TEAM_ID,
                "channel_id": "CSOCK",
                "user_id": ADMIN,
                "command": "/alertbot",
                "text": "subscribe KFOR",
                "api_app_id": "A0APP",
                "response_url": fake.response_url("sock"),
                "trigger_id": "1.2.3",
            }
            await fake.socket_send(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": payload,
                }
            )
            (ack,) = await fake.wait_for("socket", lambda c: c.args.get("envelope_id") == "env-1")
            assert ack.args == {"envelope_id": "env-1"}  # acked at once, empty payload
            (reply,) = await fake.wait_for("response:sock")
            assert "now gets" in reply_text(reply.args)
            (opened,) = fake.calls_to("apps.connections.open")
            assert opened.token == "xapp-test"
            subs = await service.store.subscriptions("slack", "CSOCK")
            assert [s.watchlist for s in subs] == ["KFOR"]
        finally:
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
            await bot.close()
            await service.close()
