"""`alertbot slack manifest` and the checked-in manifest; the command-line parser."""

from __future__ import annotations

import argparse
import json

import pytest

from bot.chat.slack.cli import MANIFEST_FILE, build_manifest, manifest_json, register
from bot.chat.slack.client import parse_command
from bot.chat.textcmd import UsageError, tokenize


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="alertbot")
    parser.add_argument("--config", default="config/alertbot.toml")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_checked_in_manifest_matches_the_code():
    assert MANIFEST_FILE.read_text(encoding="utf-8") == manifest_json(build_manifest()), (
        "config/slack-manifest.json is stale: regenerate it with "
        "`alertbot slack manifest > config/slack-manifest.json`"
    )


def test_manifest_socket_mode(tmp_path, capsys):
    code, out, err = run_cli(["--config", str(tmp_path / "none.toml"), "slack", "manifest"], capsys)
    assert code == 0
    m = json.loads(out)
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["features"]["slash_commands"][0]["command"] == "/alertbot"
    assert "url" not in m["features"]["slash_commands"][0]
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert m["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert set(m["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "chat:write.public",
        "users:read",
        "usergroups:read",
        "channels:history",
        "groups:history",
        "files:write",
    }
    assert "not found" in err


def test_manifest_http_mode_uses_config_command(tmp_path, capsys):
    cfg = tmp_path / "alertbot.toml"
    cfg.write_text('[slack]\ncommand = "/news"\n', encoding="utf-8")
    url = "https://bot.example.org/slack/events"
    code, out, _ = run_cli(
        ["--config", str(cfg), "slack", "manifest", "--mode", "http", "--request-url", url],
        capsys,
    )
    assert code == 0
    m = json.loads(out)
    assert m["settings"]["socket_mode_enabled"] is False
    assert m["settings"]["event_subscriptions"]["request_url"] == url
    # Lookup's Previous / Next buttons arrive as interactivity requests.
    assert m["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert m["features"]["slash_commands"][0] == {
        "command": "/news",
        "description": m["features"]["slash_commands"][0]["description"],
        "usage_hint": m["features"]["slash_commands"][0]["usage_hint"],
        "should_escape": False,
        "url": url,
    }


def test_manifest_http_mode_without_url_is_an_error(tmp_path, capsys):
    code, out, err = run_cli(
        ["--config", str(tmp_path / "x.toml"), "slack", "manifest", "--mode", "http"], capsys
    )
    assert code == 2 and out == ""
    assert "--request-url" in err


def test_manifest_bad_config_is_reported(tmp_path, capsys):
    cfg = tmp_path / "alertbot.toml"
    cfg.write_text("[slack]\nhttp_port = 0\n", encoding="utf-8")
    code, out, err = run_cli(["--config", str(cfg), "slack", "manifest"], capsys)
    assert code == 1 and out == ""
    assert "slack.http_port" in err


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("subscribe KFOR digest", ["subscribe", "KFOR", "digest"]),
        ('lookup "Skydagger" since:7d', ["lookup", "Skydagger", "since:7d"]),
        (
            'watchlist add-form KFOR "Kosovo Force"',
            ["watchlist", "add-form", "KFOR", "Kosovo Force"],
        ),
        (
            "watchlist add-form KFOR “Kosovo Force”",
            ["watchlist", "add-form", "KFOR", "Kosovo Force"],
        ),
        ("add-form KFOR ‘Kosovo Force’", ["add-form", "KFOR", "Kosovo Force"]),
        ("add-form KFOR «Snagе za Kosovo»", ["add-form", "KFOR", "Snagе za Kosovo"]),
        ("lookup O'Brien  visit", ["lookup", "O'Brien", "visit"]),
        ('create X ""', ["create", "X", ""]),
        ("  help  ", ["help"]),
        ("", []),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text", ['add-form KFOR "Kosovo Force', "add-form KFOR “Kosovo Force"])
def test_unbalanced_quote_is_a_helpful_error(text):
    with pytest.raises(UsageError) as info:
        tokenize(text)
    msg = str(info.value)
    assert "never closed" in msg and "Kosovo Force" in msg


def test_slack_escaping_and_references_are_undone():
    text = (
        "feeds add <https://example.org/rss?a=1&amp;b=2> "
        "<#C123|general> <@U42|bob> &lt;tag&gt; <!subteam^S77|@ops>"
    )
    assert parse_command(text) == [
        "feeds",
        "add",
        "https://example.org/rss?a=1&b=2",
        "C123",
        "U42",
        "<tag>",
        "S77",
    ]
