"""Tests that guard the structure: layering and documented commands."""

from __future__ import annotations

import subprocess
import sys

from bot.cli import build_parser
from tests.conftest import ROOT

FORBIDDEN_IN_CORE = ("aiohttp", "aiosqlite", "discord", "slack_sdk", "slack_bolt", "asyncio")


def _loaded(code: str) -> list[str]:
    """Every module loaded once ``code`` ran in a fresh interpreter."""
    code += "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def test_core_imports_no_io_or_platform_libraries() -> None:
    out = _loaded(
        "import pkgutil, importlib, bot.core\n"
        "for m in pkgutil.iter_modules(bot.core.__path__):\n"
        "    importlib.import_module('bot.core.' + m.name)\n"
    )
    leaked = [m for m in out if m.split(".")[0] in FORBIDDEN_IN_CORE]
    assert leaked == []


def test_catalogue_and_renderers_load_no_io_libraries() -> None:
    """The catalogue, the text commands, the views and both renderers are pure: no
    database or HTTP client, no platform library, not the service."""
    out = _loaded(
        "import bot.commands, bot.chat.textcmd, bot.core.views\n"
        "import bot.chat.discord.render, bot.chat.slack.render\n"
    )
    io = ("aiosqlite", "aiohttp", "asyncpg", "discord", "slack_sdk", "slack_bolt")
    leaked = [m for m in out if m.split(".")[0] in io or m == "bot.service"]
    assert leaked == []


def _walk(parser, path=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if name in helps:  # aliases are listed once
                    yield (*path, name), helps[name], sub
                    yield from _walk(sub, (*path, name))


def test_every_subcommand_has_help_and_config_option() -> None:
    commands = list(_walk(build_parser()))
    names = {" ".join(p) for p, _, _ in commands}
    for expected in (
        "run",
        "check",
        "try",
        "lookup",
        "watchlist list",
        "watchlist show",
        "watchlist add-term",
        "watchlist import",
        "watchlist export",
        "feeds list",
        "feeds add",
        "feeds remove",
        "feeds status",
        "subscriptions list",
        "subscriptions add",
        "subscriptions remove",
        "slack manifest",
        "discord commands",
        "discord sync",
    ):
        assert expected in names, expected
    for path, help_text, parser in commands:
        assert help_text, f"alertbot {' '.join(path)} has no help"
        assert any(a.dest == "config" for a in parser._actions), path


def test_readme_documents_every_top_level_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path, _, _ in _walk(build_parser()):
        if len(path) == 1:
            assert f"alertbot {path[0]}" in readme, path[0]
