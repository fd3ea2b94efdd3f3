"""Slash commands through the real CommandTree, the real service and SQLite store.

Interactions are built from gateway payloads and fed to discord.py's own
connection state, which dispatches them to our tree; the answers are the
requests the loopback fake of the Discord API received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.chat.discord.client import DiscordBot, command_payload
from bot.config import parse_config
from bot.core.models import Match, Story
from bot.service import Caller, Service
from bot.store.base import NewStory, PollResult
from tests.fakes.discord_api import (
    MANAGE_CHANNELS,
    MANAGE_GUILD,
    FakeDiscordAPI,
    Recorded,
    interaction_payload,
)

GUILD = 111111111111111111
CHANNEL = 222222222222222222
USER = 333333333333333333
ADMIN_ROLE = 444444444444444444
MANAGER_USER = 555555555555555555
FEED = "https://feeds.example/rss"
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EPHEMERAL = 64


@dataclass
class Env:
    api: FakeDiscordAPI
    bot: DiscordBot
    service: Service

    async def run(
        self,
        command: str,
        options: dict[str, str] | None = None,
        *,
        permissions: int = 0,
        roles: tuple[int, ...] = (),
        user: int = USER,
        focused: str | None = None,
    ) -> Answer:
        payload = interaction_payload(
            command,
            options,
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=user,
            permissions=permissions or (1 << 10),
            roles=roles,
            focused=focused,
        )
        # The gateway's INTERACTION_CREATE path: discord.py builds the Interaction
        # and schedules the tree's invoker task, which we then wait for.
        state = self.bot.client._connection
        state.parse_interaction_create(payload)  # type: ignore[arg-type]  # a plain dict stands in for the TypedDict
        await asyncio.gather(
            *(t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker")
        )
        token = payload["token"]
        return Answer([r for r in self.api.requests if token in r.path])


@dataclass
class Answer:
    requests: list[Recorded]

    @property
    def callback(self) -> Recorded:
        [cb] = [r for r in self.requests if r.path.endswith("/callback")]
        assert cb.query == {"with_response": "1"}
        return cb

    @property
    def kind(self) -> int:
        return int(self.callback.json["type"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.callback.json.get("data") or {})

    @property
    def ephemeral(self) -> bool:
        return bool(self.data.get("flags", 0) & EPHEMERAL)

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def embed(self) -> dict[str, Any]:
        [e] = self.data["embeds"]
        return dict(e)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    wl = tmp_path / "watchlists"
    wl.mkdir()
    (wl / "kfor.toml").write_text(
        'name = "KFOR"\ndescription = "NATO in Kosovo"\n'
        '[[terms]]\nname = "KFOR"\nforms = ["KFOR", "Kosovo Force"]\n',
        encoding="utf-8",
    )
    (wl / "mke.toml").write_text(
        'name = "MKE"\n[[terms]]\nname = "MKE"\nforms = ["MKE"]\n', encoding="utf-8"
    )
    async with FakeDiscordAPI() as api:
        api.add_channel(CHANNEL, GUILD)
        raw = {
            "bot": {"database": "data/alertbot.db", "watchlists": "watchlists"},
            "feeds": [{"url": FEED}],
            "fetch": {"allow_private": True},
            "discord": {
                "admin_roles": [str(ADMIN_ROLE)],
                "manager_users": [str(MANAGER_USER)],
                "guilds": [str(GUILD)],  # Manage Server counts only in trusted servers
            },
        }
        secrets = {"DISCORD_TOKEN": "test-token", "ALERTBOT_DISCORD_API_URL": api.base}
        config = parse_config(raw, tmp_path / "alertbot.toml", secrets)
        service = await Service.open(config)
        bot = DiscordBot(config, service)
        try:
            await bot.start()
            yield Env(api, bot, service)
        finally:
            await bot.close()
            await service.close()


def here() -> Caller:
    return Caller("discord", str(USER), str(CHANNEL), str(GUILD))


# --------------------------------------------------------------------------- subscribe


async def test_subscribe_as_channel_manager_answers_publicly_and_subscribes(env: Env) -> None:
    a = await env.run(
        "subscribe", {"watchlist": "kfor", "mode": "digest"}, permissions=MANAGE_CHANNELS
    )
    assert a.kind == 4 and not a.ephemeral
    assert "now gets **KFOR** alerts (digest)" in a.content
    assert a.data["allowed_mentions"] == {"parse": []}
    [sub] = await env.service.subscriptions(here())
    assert (sub.watchlist, sub.mode, sub.guild) == ("KFOR", "digest", str(GUILD))


async def test_subscribe_without_manage_channels_is_refused_ephemerally(env: Env) -> None:
    a = await env.run("subscribe", {"watchlist": "KFOR"})
    assert a.kind == 4 and a.ephemeral
    assert "Manage Channels" in a.content
    assert await env.service.subscriptions(here()) == []


async def test_manager_from_config_may_subscribe(env: Env) -> None:
    a = await env.run("subscribe", {"watchlist": "KFOR"}, user=MANAGER_USER)
    assert not a.ephemeral and "now gets" in a.content


async def test_subscribe_to_unknown_watchlist_says_which_exist(env: Env) -> None:
    a = await env.run("subscribe", {"watchlist": "Nope"}, permissions=MANAGE_CHANNELS)
    assert a.ephemeral
    assert "No watchlist named" in a.content and "KFOR" in a.content and "MKE" in a.content


async def test_user_input_echoed_in_errors_cannot_ping(env: Env) -> None:
    a = await env.run("subscribe", {"watchlist": "@everyone <@&123>"}, permissions=MANAGE_CHANNELS)
    assert a.ephemeral
    assert "@everyone" not in a.content and "<@&123>" not in a.content
    assert a.data["allowed_mentions"] == {"parse": []}


async def test_unsubscribe_and_subscriptions(env: Env) -> None:
    await env.run("subscribe", {"watchlist": "KFOR"}, permissions=MANAGE_CHANNELS)
    listed = await env.run("subscriptions")
    assert listed.ephemeral and "**KFOR** (realtime)" in listed.content
    a = await env.run("unsubscribe", {"watchlist": "KFOR"}, permissions=MANAGE_CHANNELS)
    assert not a.ephemeral and "no longer gets **KFOR**" in a.content
    again = await env.run("unsubscribe", {"watchlist": "KFOR"}, permissions=MANAGE_CHANNELS)
    assert again.ephemeral and "not subscribed" in again.content
    empty = await env.run("subscriptions")
    assert "no subscriptions" in empty.content


# --------------------------------------------------------------------------- lookup


async def _store_story(service: Service) -> None:
    feed = await service.store.feed(FEED)
    assert feed is not None
    story = Story(
        FEED,
        "g1",
        "https://news.example/kfor",
        "KFOR patrols the border",
        "Troops of KFOR patrolled near Jarinje.",
        WHEN,
        "Balkan Outlet",
    )
    result = PollResult(FEED, "Feed", None, None, None, None, None, WHEN)
    match = Match("KFOR", "KFOR", "KFOR", "title", 0, 4)
    await service.store.save_poll(feed.id, result, [NewStory(story, None, [match])], WHEN)


async def test_lookup_lists_stories_with_link_outlet_time_and_terms_only_to_the_asker(
    env: Env,
) -> None:
    await _store_story(env.service)
    a = await env.run("lookup", {"query": "patrols"})
    assert a.kind == 4 and a.ephemeral
    e = a.embed
    assert "[KFOR patrols the border](https://news.example/kfor)" in e["description"]
    assert "Balkan Outlet" in e["description"]
    assert f"<t:{int(WHEN.timestamp())}:f>" in e["description"]
    assert "matched KFOR" in e["description"]


async def test_lookup_with_bad_duration_explains_the_format(env: Env) -> None:
    a = await env.run("lookup", {"query": "kfor", "since": "a week"})
    assert a.ephemeral and "Bad 'since'" in a.content and "7d" in a.content


async def test_lookup_with_unknown_watchlist_is_a_helpful_error(env: Env) -> None:
    a = await env.run("lookup", {"query": "kfor", "watchlist": "Nope"})
    assert a.ephemeral and "No watchlist named 'Nope'" in a.content


async def test_slow_work_is_deferred_then_the_original_is_edited(env: Env) -> None:
    await _store_story(env.service)
    env.bot.defer_after = 0  # any work now counts as slow
    a = await env.run("lookup", {"query": "patrols"})
    assert a.kind == 5 and a.ephemeral  # "thinking…", private
    [edit] = [r for r in a.requests if r.method == "PATCH"]
    assert edit.path.endswith("/messages/@original")
    assert "KFOR patrols the border" in str(edit.json["embeds"])


async def test_error_after_a_public_defer_is_still_private(env: Env) -> None:
    env.bot.defer_after = 0
    a = await env.run("subscribe", {"watchlist": "Nope"}, permissions=MANAGE_CHANNELS)
    assert a.kind == 5 and not a.ephemeral
    methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in a.requests]
    assert ("DELETE", "@original") in methods
    [follow] = [r for r in a.requests if r.method == "POST" and "/webhooks/" in r.path]
    assert follow.json["flags"] & EPHEMERAL and "No watchlist named" in follow.json["content"]


# --------------------------------------------------------------------------- watchlists


async def test_watchlist_list_and_show(env: Env) -> None:
    a = await env.run("watchlist list")
    assert a.ephemeral and "**KFOR** · 1 term — NATO in Kosovo" in a.embed["description"]
    b = await env.run("watchlist show", {"name": "kfor"})
    assert b.embed["title"] == "Watchlist KFOR"
    assert "**KFOR**: `KFOR`, `Kosovo Force`" in b.embed["description"]
    c = await env.run("watchlist show", {"name": "Nope"})
    assert c.ephemeral and "No watchlist named" in c.content


async def test_watchlist_edits_by_admin(env: Env) -> None:
    a = await env.run(
        "watchlist create", {"name": "Drones", "description": "UAVs"}, permissions=MANAGE_GUILD
    )
    assert not a.ephemeral and "Created watchlist **Drones**" in a.content
    a = await env.run(
        "watchlist add-term",
        {
            "watchlist": "Drones",
            "term": "Bayraktar TB2",
            "forms": "TB2, Bayraktar TB2",
            "case": "exact",
        },
        permissions=MANAGE_GUILD,
    )
    assert "now watches **Bayraktar TB2**" in a.content
    a = await env.run(
        "watchlist add-form",
        {"watchlist": "Drones", "term": "Bayraktar TB2", "form": "TB-2"},
        permissions=MANAGE_GUILD,
    )
    assert "now also matches `TB-2`" in a.content
    w = await env.service.watchlist("Drones")
    assert w.terms[0].forms == ("TB2", "Bayraktar TB2", "TB-2") and w.terms[0].case == "exact"
    a = await env.run(
        "watchlist remove-form",
        {"watchlist": "Drones", "term": "Bayraktar TB2", "form": "TB-2"},
        permissions=MANAGE_GUILD,
    )
    assert "no longer matches `TB-2`" in a.content
    a = await env.run(
        "watchlist remove-term",
        {"watchlist": "Drones", "term": "Bayraktar TB2"},
        permissions=MANAGE_GUILD,
    )
    assert "no longer watches" in a.content
    a = await env.run("watchlist delete", {"name": "Drones"}, permissions=MANAGE_GUILD)
    assert "Deleted watchlist **Drones**" in a.content
    assert "Drones" not in await env.service.watchlist_names()


async def test_watchlist_edit_refused_for_channel_manager_names_manage_server(env: Env) -> None:
    a = await env.run("watchlist create", {"name": "X"}, permissions=MANAGE_CHANNELS)
    assert a.ephemeral and "Manage Server" in a.content
    assert "X" not in await env.service.watchlist_names()


async def test_admin_role_from_config_may_edit(env: Env) -> None:
    a = await env.run("watchlist create", {"name": "Y"}, roles=(ADMIN_ROLE,))
    assert not a.ephemeral and "Created" in a.content


async def test_bad_watchlist_edits_are_helpful(env: Env) -> None:
    a = await env.run(
        "watchlist add-form",
        {"watchlist": "KFOR", "term": "Nope", "form": "x"},
        permissions=MANAGE_GUILD,
    )
    assert a.ephemeral and "has no term 'Nope'" in a.content and "KFOR" in a.content
    a = await env.run(
        "watchlist remove-form",
        {"watchlist": "MKE", "term": "MKE", "form": "MKE"},
        permissions=MANAGE_GUILD,
    )
    assert a.ephemeral and "last form" in a.content


# --------------------------------------------------------------------------- feeds


async def test_feeds_list_status_add_remove(env: Env) -> None:
    a = await env.run("feeds list")
    assert a.ephemeral and FEED in a.embed["description"]
    a = await env.run("feeds add", {"url": "http://127.0.0.1:9/new.xml"}, permissions=MANAGE_GUILD)
    assert not a.ephemeral and "Added feed `http://127.0.0.1:9/new.xml`" in a.content
    a = await env.run("feeds status")
    assert a.embed["title"] == "Feed status: 0 of 2 failing"
    assert "added in chat" in a.embed["description"]
    a = await env.run(
        "feeds remove", {"url": "http://127.0.0.1:9/new.xml"}, permissions=MANAGE_GUILD
    )
    assert "Removed feed" in a.content
    assert await env.service.feed_urls() == [FEED]


async def test_bad_feed_url_and_refusals(env: Env) -> None:
    a = await env.run("feeds add", {"url": "ftp://example.org/rss"}, permissions=MANAGE_GUILD)
    assert a.ephemeral and "ftp" in a.content
    a = await env.run("feeds add", {"url": "https://example.org/rss"}, permissions=MANAGE_CHANNELS)
    assert a.ephemeral and "Manage Server" in a.content
    a = await env.run("feeds remove", {"url": FEED}, permissions=MANAGE_GUILD)
    assert a.ephemeral and "config file" in a.content


async def test_help_lists_every_command_with_examples(env: Env) -> None:
    a = await env.run("help")
    assert a.ephemeral
    names = [f["name"] for f in a.embed["fields"]]
    assert "/subscribe [WATCHLIST] [realtime|digest] [feed:URL] [format:FORMAT]" in names[0]
    assert all("Example:" in f["value"] for f in a.embed["fields"])


# --------------------------------------------------------------------------- autocomplete


async def test_autocomplete_watchlists_feeds_terms_and_forms(env: Env) -> None:
    a = await env.run("subscribe", {"watchlist": "k"}, focused="watchlist")
    assert a.kind == 8
    # Prefix matches first, then names containing the text.
    assert a.data["choices"] == [{"name": "KFOR", "value": "KFOR"}, {"name": "MKE", "value": "MKE"}]
    a = await env.run("feeds remove", {"url": "feeds"}, focused="url")
    assert a.data["choices"] == [{"name": FEED, "value": FEED}]
    a = await env.run("watchlist remove-term", {"watchlist": "KFOR", "term": ""}, focused="term")
    assert [c["value"] for c in a.data["choices"]] == ["KFOR"]
    a = await env.run(
        "watchlist remove-form",
        {"watchlist": "KFOR", "term": "KFOR", "form": "kos"},
        focused="form",
    )
    assert [c["value"] for c in a.data["choices"]] == ["Kosovo Force"]
    a = await env.run("watchlist remove-term", {"watchlist": "Nope", "term": ""}, focused="term")
    assert a.data["choices"] == []


# --------------------------------------------------------------------------- the tree


def test_tree_has_every_command_of_the_table(env: Env) -> None:
    payload = command_payload(env.bot.tree)
    top = {c["name"]: c for c in payload}
    assert set(top) == {
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "lookup",
        "help",
        "watchlist",
        "feeds",
    }
    subs = {o["name"] for o in top["watchlist"]["options"]}
    assert subs == {
        "list",
        "show",
        "create",
        "delete",
        "add-term",
        "remove-term",
        "add-form",
        "remove-form",
    }
    assert {o["name"] for o in top["feeds"]["options"]} == {
        "list",
        "status",
        "export",
        "add",
        "remove",
    }
    sub_opts = {o["name"]: o for o in top["subscribe"]["options"]}
    assert sub_opts["watchlist"]["autocomplete"] is True and sub_opts["watchlist"]["description"]
    assert [c["value"] for c in sub_opts["mode"]["choices"]] == ["realtime", "digest"]
    for cmd in payload:
        assert cmd["description"]
        assert cmd.get("contexts") == [0]  # guild only


async def test_sync_pushes_only_when_the_tree_changed(env: Env) -> None:
    [first] = await env.bot.sync_commands(guild="global")
    assert first.pushed and first.target == "global"
    assert [c["name"] for c in env.api.commands["global"]][:2] == ["subscribe", "unsubscribe"]
    [second] = await env.bot.sync_commands(guild="global")
    assert not second.pushed and second.sha256 == first.sha256
    assert len(env.api.calls("PUT")) == 1

    @env.bot.tree.command(name="extra", description="A new command")
    async def extra(interaction: Any) -> None: ...

    [third] = await env.bot.sync_commands(guild="global")
    assert third.pushed and third.sha256 != first.sha256
    [guild] = await env.bot.sync_commands(guild=str(GUILD))
    assert guild.pushed and str(GUILD) in env.api.commands
    [forced] = await env.bot.sync_commands(force=True)
    assert forced.pushed and len(env.api.calls("PUT")) == 4


async def test_lookup_pages_with_buttons_through_discord_py(env: Env) -> None:
    """32 stories: the answer shows 1–10 of 32 with previous/next buttons; clicks go
    through discord.py's own component dispatch and edit the private answer in place."""
    from tests.fakes.discord_api import component_payload

    feed = await env.service.store.feed(FEED)
    assert feed is not None
    items = [
        NewStory(
            Story(FEED, f"b{i}", f"https://news.example/{i}", f"Bayraktar drones story {i}",
                  "Text.", WHEN.replace(hour=i % 24, minute=i), "Balkan Outlet"),
            None,
            [Match("KFOR", "KFOR", "KFOR", "title", 0, 4)],
        )
        for i in range(32)
    ]  # fmt: skip
    footballer = Story(FEED, "fb", "https://news.example/fb", "Bayraktar scores", "", WHEN, "S")
    items.append(NewStory(footballer, None, []))
    result = PollResult(FEED, "Feed", None, None, None, None, None, WHEN)
    await env.service.store.save_poll(feed.id, result, items, WHEN)

    a = await env.run("lookup", {"query": "drone"})  # stemmed: finds "drones"
    assert a.ephemeral and a.embed["footer"]["text"] == "Stories 1–10 of 32"
    [row] = a.data["components"]
    prev_button, next_button = row["components"]
    assert prev_button["disabled"] and not next_button.get("disabled", False)
    message = env.api.original[a.callback.path.split("/")[-2]]

    async def click(button: dict[str, Any], user: int = USER) -> Answer:
        payload = component_payload(
            message, button["custom_id"], guild_id=GUILD, channel_id=CHANNEL, user_id=user
        )
        env.bot.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]  # a plain dict stands in for the TypedDict
        for _ in range(50):  # the view's dispatch runs as its own task
            done = [r for r in env.api.requests if payload["token"] in r.path]
            if done:
                break
            await asyncio.sleep(0.02)
        return Answer([r for r in env.api.requests if payload["token"] in r.path])

    second = await click(next_button)
    assert second.kind == 7  # UPDATE_MESSAGE: the same private answer, edited
    assert second.embed["footer"]["text"] == "Stories 11–20 of 32"
    assert second.embed["description"].startswith("11\\. ")
    row = second.data["components"][0]["components"]
    assert not row[0].get("disabled", False) and not row[1].get("disabled", False)
    await click(next_button)
    last = await click(next_button)
    assert last.embed["footer"]["text"] == "Stories 31–32 of 32"
    assert last.data["components"][0]["components"][1]["disabled"]
    back = await click(prev_button)
    assert back.embed["footer"]["text"] == "Stories 21–30 of 32"
    # Someone else's click turns nothing (the answer is the asker's).
    other = await click(next_button, user=MANAGER_USER)
    assert all(r.json is None or r.json.get("type") != 7 for r in other.requests)
    # "all" includes the story that fired no watchlist.
    every = await env.run("lookup", {"query": "Bayraktar", "all": "true"})
    assert every.embed["footer"]["text"] == "Stories 1–10 of 33"


# --------------------------------------------------------------------------- feeds export


async def test_feeds_export_answers_with_the_opml_file(env: Env) -> None:
    from bot.feeds.opml import read_opml

    await env.service.store.add_feed("https://other.example/atom", WHEN, origin="user")
    a = await env.run("feeds export")
    assert a.kind == 4 and a.ephemeral
    assert "2 feeds as OPML: `alertbot-feeds.opml`" in a.content
    [(name, body)] = a.callback.files
    assert name == "alertbot-feeds.opml"
    assert [f.url for f in read_opml(body)] == [
        "https://feeds.example/rss",
        "https://other.example/atom",
    ]
    assert a.data["attachments"][0]["filename"] == "alertbot-feeds.opml"
    # Slow work defers; the file then comes with the edit of the original answer.
    env.bot.defer_after = 0
    b = await env.run("feeds export")
    assert b.kind == 5
    [edit] = [r for r in b.requests if r.method == "PATCH"]
    assert [n for n, _ in edit.files] == ["alertbot-feeds.opml"]
