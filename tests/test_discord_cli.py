"""``alertbot discord commands`` / ``alertbot discord sync`` against the loopback fake."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.chat.discord.cli import register
from tests.fakes.discord_api import FakeDiscordAPI


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="alertbot")
    root.add_argument("--config", default="config/alertbot.toml")
    register(root.add_subparsers(dest="command", required=True))
    return root


def run(*argv: str) -> int:
    args = parser().parse_args(list(argv))
    rc: int = args.func(args)
    return rc


@pytest.fixture
def api() -> Iterator[FakeDiscordAPI]:
    """The fake on its own loop in a thread: the CLI runs its own ``asyncio.run``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeDiscordAPI()
    asyncio.run_coroutine_threadsafe(fake.__aenter__(), loop).result(5)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.__aexit__(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "watchlists").mkdir()
    path = tmp_path / "alertbot.toml"
    path.write_text('[bot]\ndatabase = "data/alertbot.db"\nwatchlists = "watchlists"\n')
    return path


def test_commands_json_is_the_tree_discord_receives(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("discord", "commands", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in payload]
    assert names == [
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "lookup",
        "help",
        "watchlist",
        "feeds",
    ]


def test_commands_human_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("discord", "commands") == 0
    out = capsys.readouterr().out
    assert (
        "/subscribe [watchlist] [mode] [feed] [format] [mention] [quiet] [timezone] — "
        "Post a watchlist's alerts, or a feed's items, in this channel (channel managers)"
    ) in out
    assert "/watchlist add-term watchlist term [forms] [case]" in out
    assert "/feeds remove url" in out
    assert "tree sha256" in out


def test_every_discord_subcommand_has_help() -> None:
    p = parser()
    [sub] = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    discord_parser = sub.choices["discord"]
    [dsub] = [a for a in discord_parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(dsub.choices) == {"commands", "sync"}
    for name, sp in dsub.choices.items():
        assert sp.format_help().strip() and sp.description, name
    helps = {a.dest: a.help for a in dsub._choices_actions}
    assert all(helps.values())


def test_sync_without_token_says_how_to_get_one(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert run("--config", str(config), "discord", "sync") == 2
    assert "DISCORD_TOKEN is not set" in capsys.readouterr().err


def test_sync_pushes_once_then_only_when_asked(
    api: FakeDiscordAPI,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("ALERTBOT_DISCORD_API_URL", api.base)
    assert run("--config", str(config), "discord", "sync") == 0
    assert "pushed 7 commands globally" in capsys.readouterr().out
    assert run("--config", str(config), "discord", "sync") == 0
    assert "unchanged globally: 7 commands" in capsys.readouterr().out
    assert run("--config", str(config), "discord", "sync", "--guild", "123456789012345678") == 0
    assert "pushed 7 commands to server 123456789012345678" in capsys.readouterr().out
    assert run("--config", str(config), "discord", "sync", "--force") == 0
    assert "pushed 7 commands globally" in capsys.readouterr().out
    puts = [r.path for r in api.requests if r.method == "PUT"]
    assert len(puts) == 3
    assert "/guilds/123456789012345678/commands" in puts[1]


def test_sync_with_a_bad_guild_id_is_an_error(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "test-token")
    assert run("--config", str(config), "discord", "sync", "--guild", "general") == 2
    assert "expected a server id" in capsys.readouterr().err
