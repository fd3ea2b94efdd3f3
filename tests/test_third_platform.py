"""A third chat platform, added without touching ``bot/``: the package
``tests/fakes/fakechat``, its registry entry (registered at run time here; a
platform shipped with the bot is an entry in ``bot.platforms.PLATFORMS``)
and a ``[fakechat]`` section in the TOML config. Config loading, ``alertbot run
--once`` and a text command through ``bot.chat.textcmd`` all work with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import platforms
from bot.app import open_runtime, run_once
from bot.chat.discord import config as discord_config
from bot.config import ConfigError, load_config
from bot.service import Caller
from tests.cli_support import alertbot
from tests.fakes import fakechat
from tests.test_cli import SAMPLES, write_config

FEEDS = [str(SAMPLES / "balkan-defence-monitor.xml"), str(SAMPLES / "adriatic-wire.xml")]
SECTION = """
[fakechat]
admin_users = ["boss"]
manager_users = ["editor"]
prefix = "!ab"

[[subscriptions]]
platform = "fakechat"
channel = "fc-news"
watchlists = ["KFOR"]
mention = "user:u-ann"
"""
ENV = {"FAKECHAT_TOKEN": "fc-secret-1"}


@pytest.fixture
def fakechat_registered() -> Iterator[platforms.ChatPlatform]:
    platforms.register(fakechat.ENTRY)
    fakechat.POSTED.clear()
    fakechat.SESSIONS.clear()
    try:
        yield fakechat.ENTRY
    finally:
        platforms.unregister(fakechat.ENTRY.name)


def test_config_reads_its_section_and_secret(
    tmp_path: Path, fakechat_registered: platforms.ChatPlatform
) -> None:
    cfg = load_config(write_config(tmp_path, FEEDS, SECTION), env=ENV)
    assert cfg.section("fakechat") == fakechat.FakechatConfig(
        admin_users=("boss",), manager_users=("editor",), prefix="!ab"
    )
    assert cfg.secrets.get("FAKECHAT_TOKEN") == "fc-secret-1"
    assert "fc-secret-1" not in repr(cfg) and "fc-secret-1" not in repr(cfg.secrets)
    assert [p.name for p in platforms.enabled(cfg.secrets)] == ["fakechat"]
    assert [(s.platform, s.mention) for s in cfg.subscriptions] == [
        ("console", ""),
        ("fakechat", "user:u-ann"),
    ]
    # Without its token it is off; Discord and Slack parse as before.
    off = load_config(write_config(tmp_path, FEEDS, SECTION), env={})
    assert platforms.enabled(off.secrets) == [] and discord_config.of(off).guilds == ()

    bad = SECTION.replace('prefix = "!ab"', 'prefix = "two words"\ncolour = "red"')
    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path, FEEDS, bad), env=ENV)
    text = str(e.value)
    assert "fakechat.colour: unknown key (known keys: admin_roles, admin_users" in text
    assert "fakechat.prefix: expected one word" in text

    discord_role = SECTION.replace('"user:u-ann"', '"role:123456789012345678"')
    with pytest.raises(ConfigError, match="names a Discord role, but this is a fakechat channel"):
        load_config(write_config(tmp_path, FEEDS, discord_role), env=ENV)


def test_a_platform_name_must_be_free() -> None:
    from dataclasses import replace

    for name in ("console", "fetch", "discord", "Bad Name"):
        with pytest.raises(ValueError, match=r"cannot name a chat platform|already registered"):
            platforms.register(replace(fakechat.ENTRY, name=name))
    assert "fetch" not in platforms.PLATFORMS and "fakechat" not in platforms.PLATFORMS


def test_unregistered_platform_is_refused_by_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path, FEEDS, SECTION), env=ENV)
    text = str(e.value)
    assert "fakechat: unknown key" in text
    assert "platform: expected one of console, discord, slack, got 'fakechat'" in text


async def test_run_once_delivers_to_it(
    tmp_path: Path, fakechat_registered: platforms.ChatPlatform
) -> None:
    config = write_config(tmp_path, FEEDS, SECTION)
    code, out, err = await alertbot("run", "--once", "--json", "--config", str(config), env=ENV)
    assert code == 0, err
    assert fakechat.SESSIONS == ["fc-secret-1"]
    posts = [p for p in fakechat.POSTED if p["action"] == "post"]
    assert [p["channel"] for p in posts] == ["fc-news"], fakechat.POSTED
    assert posts[0]["text"].startswith("@u-ann "), posts[0]  # its own kind of mention
    assert "KFOR" in posts[0]["text"] or "Kosovo" in posts[0]["text"], posts[0]
    assert '"channel": "alerts"' in out  # the console subscription still gets its alerts
    # Nothing doubled: a second pass finds nothing new.
    code, _, err = await alertbot("run", "--once", "--all", "--config", str(config), env=ENV)
    assert code == 0, err
    assert len([p for p in fakechat.POSTED if p["action"] == "post"]) == 1

    # The CLI knows the name too.
    code, out, err = await alertbot(
        "subscriptions", "list", "--platform", "fakechat", "--config", str(config), env=ENV
    )
    assert code == 0 and "fc-news" in out and "KFOR" in out, (out, err)

    # Its mentions are checked with its bot, logged in, like Discord's and Slack's.
    add = ("subscriptions", "add", "--platform", "fakechat", "--channel", "fc-cli")
    add += ("--watchlist", "KFOR", "--config", str(config))
    code, _, err = await alertbot(*add, "--mention", "user:u-zed", env=ENV)
    assert code == 1 and "mention: u-zed is not a fakechat user" in err, err
    code, out, err = await alertbot(*add, "--mention", "user:u-bob", env=ENV)
    assert code == 0 and "mention user:u-bob" in out, (out, err)
    code, _, err = await alertbot(*add, "--mention", "user:u-bob", env={})
    assert "not checked with fakechat (FAKECHAT_TOKEN is not set)" in err, err

    # A wrong token is refused at login, naming the platform's reason.
    code, _, err = await alertbot(
        "run", "--once", "--config", str(config), env={"FAKECHAT_TOKEN": "nope"}
    )
    assert code != 0 and "fakechat refused the token" in err


async def test_text_commands_reach_the_service(
    tmp_path: Path, fakechat_registered: platforms.ChatPlatform
) -> None:
    cfg = load_config(write_config(tmp_path, FEEDS, SECTION), env=ENV)
    async with open_runtime(cfg) as rt:
        [bot] = rt.bots
        assert isinstance(bot, fakechat.FakechatBot) and rt.deliverer.senders["fakechat"]
        stranger = Caller("fakechat", "someone", "fc-desk")
        editor = Caller("fakechat", "editor", "fc-desk")
        refused = await bot.commands.handle(stranger, "!ab subscribe KFOR")
        assert refused.startswith("error: Only channel managers can")
        typo = await bot.commands.handle(editor, "!ab subscrbe KFOR")
        assert "Did you mean `subscribe`?" in typo and "!ab help" in typo
        done = await bot.commands.handle(editor, '!ab subscribe "KFOR"')
        assert "KFOR" in done and not done.startswith("error")
        nobody = await bot.commands.handle(editor, "!ab subscribe KFOR mention:user:u-zed")
        assert nobody == "error: mention: u-zed is not a fakechat user"
        listed = await bot.commands.handle(editor, "!ab subscriptions")
        assert "KFOR" in listed
        boss = Caller("fakechat", "boss", "fc-boss")  # [fakechat] admin_users
        assert "KFOR" in await bot.commands.handle(boss, "!ab subscribe KFOR")
        platform_admin = Caller("fakechat", "x", "fc-own", is_admin=True)  # no trust_admin hook
        assert "KFOR" in await bot.commands.handle(platform_admin, "!ab subscribe KFOR")
        elsewhere = await bot.commands.handle(editor, "!ab subscribe KFOR")
        assert "KFOR" in elsewhere  # subscribing again is not an error
        assert "watchlist" in await bot.commands.handle(stranger, "!ab help")
        bad_channel = await bot.commands.handle(
            Caller("fakechat", "editor", "#desk"), "!ab subscribe KFOR"
        )
        assert "is not a fakechat channel id: use a channel id such as fc-news" in bad_channel

        await run_once(rt, all_feeds=True)
    channels = sorted(p["channel"] for p in fakechat.POSTED if p["action"] == "post")
    assert channels == ["fc-boss", "fc-desk", "fc-news", "fc-own"], fakechat.POSTED
