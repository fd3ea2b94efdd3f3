"""The command catalogue against every place that declares commands.

``bot/commands.py`` is the one list; Discord's tree is generated from it, Slack
dispatches by it, the CLI keeps its own argparse tree. These tests fail when a
command or an argument is added, renamed or changed in one place only.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from bot import commands
from bot.chat import textcmd
from bot.chat.discord.client import DiscordBot, command_payload
from bot.chat.slack.client import SlackCommands
from bot.cli import build_parser
from bot.commands import CATALOGUE, CLI_ONLY, Command, find, handler_name, missing_handlers
from bot.config import parse_config

OPTION_TYPES = {"bool": 5, "int": 4, "channel": 7}
"""Discord option types; every other kind is a string (3)."""
COMPLETED = {"watchlist", "feed", "term", "form"}


def test_the_catalogue_is_well_formed() -> None:
    assert commands.problems() == []
    assert {c.path[0] for c in CATALOGUE if len(c.path) > 1} == set(commands.GROUPS)
    for group in commands.GROUPS.values():
        assert find((group.name, group.default)).path == (group.name, group.default)


# --------------------------------------------------------------------------- Discord


@pytest.fixture(scope="module")
def discord_tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The real discord.py tree's sync payload, by command name (``watchlist add-term``)."""
    config = parse_config(
        {"bot": {"database": "x.db"}}, tmp_path_factory.mktemp("c") / "a.toml", {}
    )
    out: dict[str, dict[str, Any]] = {}
    for top in command_payload(DiscordBot(config, None).tree):
        subs = [o for o in top.get("options", []) if o["type"] == 1]
        if subs:
            for sub in subs:
                out[f"{top['name']} {sub['name']}"] = sub
        else:
            out[top["name"]] = top
    return out


def _expected_option(c: Command, a: commands.Arg) -> dict[str, Any]:
    option: dict[str, Any] = {
        "type": OPTION_TYPES.get(a.kind, 3),
        "name": a.name,
        "description": a.help,
        "required": a.required,
    }
    if a.choices:
        option["choices"] = [{"name": x, "value": x} for x in a.choices]
    if a.kind in COMPLETED:
        option["autocomplete"] = True
    low, high = ("min_value", "max_value") if a.kind == "int" else ("min_length", "max_length")
    if a.min is not None:
        option[low] = a.min
    if a.max is not None:
        option[high] = a.max
    return option


def test_discord_tree_is_the_catalogue(discord_tree: dict[str, dict[str, Any]]) -> None:
    assert list(discord_tree) == [c.name for c in CATALOGUE]
    for c in CATALOGUE:
        cmd = discord_tree[c.name]
        assert cmd["description"] == c.description, c.name
        got = {o["name"]: o for o in cmd.get("options", [])}
        assert set(got) == {a.name for a in c.args}, c.name
        for a in c.args:
            want = _expected_option(c, a)
            assert {k: got[a.name].get(k) for k in want} == want, (c.name, a.name)
            # No option carries a limit or a choice the catalogue does not know.
            extra = {"min_length", "max_length", "min_value", "max_value", "choices"} & (
                set(got[a.name]) - set(want)
            )
            assert not extra, (c.name, a.name, extra)


def test_discord_needs_a_handler_for_every_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = parse_config({"bot": {"database": "x.db"}}, tmp_path / "a.toml", {})
    extra = Command(("frobnicate",), "Does a thing", "anyone", "frobnicate")
    monkeypatch.setattr(commands, "CATALOGUE", (*CATALOGUE, extra))
    with pytest.raises(TypeError, match="frobnicate"):
        DiscordBot(config, None)


# --------------------------------------------------------------------------- Slack and text


def _handlers(cls: type) -> set[str]:
    return {n for n in dir(cls) if n.startswith("cmd_")}


def test_slack_answers_exactly_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing_handlers(SlackCommands) == []
    assert _handlers(SlackCommands) == {handler_name(c) for c in CATALOGUE}
    extra = Command(("frobnicate",), "Does a thing", "anyone", "frobnicate")
    monkeypatch.setattr(commands, "CATALOGUE", (*CATALOGUE, extra))
    with pytest.raises(TypeError, match="frobnicate"):
        SlackCommands(service=None)  # type: ignore[arg-type]  # fails before the service is used


def test_discord_handlers_are_exactly_the_catalogue() -> None:
    from bot.chat.discord.client import DiscordCommands

    assert _handlers(DiscordCommands) == {handler_name(c) for c in CATALOGUE}


@pytest.mark.parametrize("command", CATALOGUE, ids=lambda c: c.name)
def test_every_example_parses_as_its_command(command: Command) -> None:
    parsed = textcmd.parse(textcmd.tokenize(command.example), "/alertbot")
    assert parsed.command is command


def test_text_binding_by_the_catalogue() -> None:
    def bind(line: str) -> dict[str, Any]:
        parsed = textcmd.parse(textcmd.tokenize(line), "/x")
        return {"command": parsed.command.name, **dict(parsed.values)}

    assert bind("sub KFOR DIGEST") == {
        "command": "subscribe",
        "watchlist": "KFOR",
        "mode": "digest",
        "feed": None,
        "format": "full",
        "mention": None,
        "quiet": None,
        "timezone": None,
    }
    options = bind(
        "subscribe feed:<https://n.example/rss> format:compact mention:role:123 "
        "quiet:22:00-07:00 tz:Europe/Belgrade"
    )
    assert options == {
        "command": "subscribe",
        "watchlist": None,
        "mode": "realtime",
        "feed": "<https://n.example/rss>",
        "format": "compact",
        "mention": "role:123",
        "quiet": "22:00-07:00",
        "timezone": "Europe/Belgrade",
    }
    assert bind("wl") == {"command": "watchlist list"}
    assert bind('lookup "Kosovo Force" since:7d wl:KFOR all page:2') == {
        "command": "lookup",
        "query": "Kosovo Force",
        "since": "7d",
        "watchlist": "KFOR",
        "all": True,
        "page": 2,
    }
    added = bind('watchlist add-term D "Bayraktar TB2" TB2 "TB 2" case:exact')
    assert added["forms"] == ("TB2", "TB 2") and added["case"] == "exact"
    assert bind("watchlist add-form KFOR Kosovo")["term"] is None  # guessed by the handler
    assert bind("watchlist add-form KFOR KFOR Kosovo")["term"] == "KFOR"
    assert bind('watchlist create Drones "Turkish drones" too')["description"] == (
        "Turkish drones too"
    )
    for line, problem in (
        ("subscribe KFOR format:tiny", "The format must be full or compact, not “tiny”."),
        ("subscribe KFOR hourly", "The mode must be realtime or digest, not “hourly”."),
        ("unsubscribe KFOR MKE", "Too many words: “MKE”."),
        ("lookup x page:0", "The page must be a whole number from 1 to 1000"),
        ("watchlist add-term D T case:loud", "The case must be auto, exact or fold"),
        ("subscirbe KFOR", "Did you mean `subscribe`?"),
        ("feeds rmove x", "Usage: /x feeds list | status | export | add URL | remove URL"),
        ("watchlist create " + "n" * 65, "The name is too long: at most 64 characters."),
    ):
        with pytest.raises(textcmd.UsageError) as info:
            bind(line)
        assert problem in str(info.value), line


# --------------------------------------------------------------------------- the CLI


def _cli_leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    out: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    for action in subs:
        listed = {a.dest for a in action._choices_actions}  # aliases are not listed
        for name, sub in action.choices.items():
            if name in listed:
                out.update(_cli_leaves(sub, (*path, name)))
    return out


IGNORED_DESTS = {"help", "config", "func", "version"}


def test_cli_agrees_with_the_catalogue() -> None:
    from bot.platforms import PLATFORMS

    leaves = _cli_leaves(build_parser())
    mapped = {c.cli: c for c in CATALOGUE if c.cli is not None}
    setup = tuple((p.name,) for p in PLATFORMS.values() if p.cli)
    assert setup == (("discord",), ("slack",))
    for path in leaves:
        if any(path[: len(p)] == p for p in CLI_ONLY + setup):
            continue
        assert path in mapped, f"alertbot {' '.join(path)} is neither in the catalogue nor CLI_ONLY"
    for cli, c in mapped.items():
        assert cli in leaves, f"{c.name}: alertbot {' '.join(cli)} does not exist"
        actions = {a.dest: a for a in leaves[cli]._actions if a.dest not in IGNORED_DESTS}
        names = {a.name for a in c.args}
        assert set(actions) == names | set(c.cli_options), c.name
        for a in c.args:
            action = actions[a.name]
            if a.choices:
                assert tuple(action.choices or ()) == a.choices, (c.name, a.name)
            if a.kind == "bool":
                assert isinstance(action, argparse._StoreTrueAction), (c.name, a.name)
            # argparse marks a positional with nargs "*" required, yet takes none
            needed = action.required and action.nargs not in ("*", "?")
            assert needed == a.required, (c.name, a.name)


# --------------------------------------------------------------------------- platforms


def test_every_chat_platform_is_one_registry_entry(tmp_path: Path) -> None:
    """What the app, the CLI and the service read of a platform is its entry."""
    import importlib

    from bot.config import Reader, Secrets
    from bot.platforms import PLATFORMS, names

    config = parse_config({"bot": {"database": "x.db"}}, tmp_path / "a.toml", {})
    assert names() == ("console", *PLATFORMS)
    for name, chat in PLATFORMS.items():
        assert chat.name == name
        cls = chat.load()
        for method in ("start", "serve", "close"):
            assert callable(getattr(cls, method)), (name, method)
        section = config.section(name)  # its config section
        # its package's typed accessor reads the same section
        assert section is importlib.import_module(f"bot.chat.{name}.config").of(config)
        problems: list[str] = []
        assert section == chat.parser()({}, Reader(tmp_path / "a.toml", problems), f"{name}.")
        assert problems == []
        for rank in ("admin", "manager"):
            assert isinstance(getattr(section, f"{rank}_users"), tuple | list), (name, rank)
            assert isinstance(getattr(section, f"{rank}_{chat.roles}"), tuple | list), name
        assert callable(importlib.import_module(chat.cli).register)
        assert chat.token(Secrets()) == ""
        assert chat.channel_problem("not an id!") is not None


# --------------------------------------------------------------------------- one wording


def test_a_confirmation_reads_the_same_on_every_platform() -> None:
    """Discord, Slack and the CLI differ in markup only."""
    from bot.chat.discord import render as discord_render
    from bot.chat.slack import render as slack_render
    from bot.cli import _cli_command
    from bot.core import views
    from bot.core.models import Subscription

    def words(text: str) -> str:
        for mark in ("✅ ", ":white_check_mark: ", "**", "*", "`", "\u200b", "\\"):
            text = text.replace(mark, "")
        return text.replace("/alertbot ", "").replace("/", "")

    confirmations = [
        views.subscribed(Subscription(0, "slack", "C1", "KFOR", "digest")),
        views.subscribed(
            Subscription(0, "slack", "C1", "", feeds=("https://e.org/rss",), format="compact")
        ),
        views.unsubscribed(Subscription(0, "slack", "C1", "KFOR")),
        views.unsubscribed(Subscription(0, "slack", "C1", ""), feeds=("https://e.org/rss",)),
        views.watchlist_created("Drones"),
        views.watchlist_deleted("Drones"),
        views.term_added("Drones", "Bayraktar TB2"),
        views.term_removed("Drones", "TB2"),
        views.form_added("KFOR", "KFOR", "Kosovo Force"),
        views.form_removed("KFOR", "KFOR", "Kosovo Force"),
        views.feed_added("https://example.org/rss", "Example"),
        views.feed_removed("https://example.org/rss"),
        views.feeds_exported(3),
    ]
    for c in confirmations:
        discord = words(discord_render.confirm_text(c))
        slack = words(slack_render.confirm_reply(c)[0])
        cli = words(views.plain_text(c.line))
        assert discord == slack == cli, (discord, slack, cli)
    # The CLI names its own command where chat names a chat command.
    created = views.plain_text(views.watchlist_created("D").line, _cli_command)
    assert "alertbot watchlist add-term" in created and "alertbot subscriptions add" in created
