"""Configuration: every problem reported with file, key and what was expected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, Secrets, load_config, parse_duration
from tests.conftest import ROOT


def test_shipped_configs_are_valid() -> None:
    for name in ("alertbot.toml", "alertbot.example.toml"):
        config = load_config(ROOT / "config" / name, env={})
        assert config.feeds and config.subscriptions
        assert config.backfill > timedelta(0)


def test_every_problem_is_reported_with_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        """
[bot]
backfill = "two days"
colour = "blue"

[fetch]
max_redirects = -1
interval = "10s"

[alerts]
cluster_threshold = 3

[[feeds]]
title = "no url"

[[feeds]]
url = "https://a.example/rss"
[[feeds]]
url = "https://a.example/rss"

[[subscriptions]]
platform = "irc"
channel = "x"
watchlists = ["KFOR"]

[[subscriptions]]
platform = "slack"
channel = "C1"
watchlists = []
mode = "weekly"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    problems = info.value.problems
    text = "\n".join(problems)
    for key in (
        "bot.backfill",
        "bot.colour",
        "fetch.max_redirects",
        "fetch.interval",
        "alerts.cluster_threshold",
        "feeds[0].url",
        "feeds[2].url",
        "subscriptions[0].platform",
        "subscriptions[1].watchlists",
        "subscriptions[1].mode",
    ):
        assert key in text, key
    assert all(p.startswith(str(path)) for p in problems)
    assert "unknown key" in text and "known keys" in text


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("[bot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration(" 1.5h ") == timedelta(minutes=90)
    for bad in ("", "7", "d", "-1d", "1y"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_secrets_come_from_env_and_never_show() -> None:
    s = Secrets.from_env({"DISCORD_TOKEN": "sekrit-token", "SLACK_BOT_TOKEN": "xoxb-sekrit"})
    assert s.discord_token == "sekrit-token"
    assert "sekrit" not in repr(s)


def test_keep_must_outlast_backfill(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[bot]\nbackfill = "30d"\nkeep = "7d"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bot\.keep: must be longer than bot\.backfill"):
        load_config(path, env={})


def test_values_in_range_and_of_the_right_kind(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[fetch]\ninterval = "30m"\nmax_interval = "10m"\n'
        '[alerts]\ncluster_threshold = "0.3"\n'
        '[slack]\nhttp_port = 99999\nhttp_path = "slack/events"\ncommand = "alertbot"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = "\n".join(info.value.problems)
    assert "fetch.max_interval: must be at least fetch.interval" in text
    assert "alerts.cluster_threshold: expected a number, got '0.3' (remove the quotes)" in text
    assert "slack.http_port: expected a whole number from 1 to 65535" in text
    assert "slack.http_path: must start with '/'" in text
    assert "slack.command: must start with '/', e.g. '/alertbot'" in text


def test_example_config_documents_every_key() -> None:
    import re

    from bot.config import _KNOWN

    example = (ROOT / "config" / "alertbot.example.toml").read_text(encoding="utf-8")
    undocumented = [
        f"{section}.{key}"
        for section, keys in _KNOWN.items()
        if section
        for key in keys
        if not re.search(rf"^#?\s*{key}\s*=", example, re.M)
    ]
    assert undocumented == []


def test_a_file_feed_may_poll_every_second_an_http_feed_every_minute(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    ok = (
        '[alerts]\ndigest_every = "8s"\n'
        '[[feeds]]\nurl = "feeds/local.xml"\ninterval = "1s"\n'
        '[[feeds]]\nurl = "/srv/feeds/other.rss"\ninterval = "2.5s"\n'
        '[[feeds]]\nurl = "https://a.example/rss"\ninterval = "1m"\n'
    )
    path.write_text(ok, encoding="utf-8")
    config = load_config(path, env={})
    assert [f.interval for f in config.feeds] == [
        timedelta(seconds=1),
        timedelta(seconds=2.5),
        timedelta(minutes=1),
    ]
    assert config.alerts.digest_every == timedelta(seconds=8)

    path.write_text(
        '[fetch]\ninterval = "1s"\n'
        '[[feeds]]\nurl = "https://a.example/rss"\ninterval = "30s"\n'
        '[[feeds]]\nurl = "HTTP://b.example/rss"\ninterval = "1s"\n'
        '[[feeds]]\nurl = "feeds/local.xml"\ninterval = "0.5s"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    problems = info.value.problems
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert "fetch.interval: must be at least 1m (be polite to publishers)" in text
    assert "feeds[0].interval: must be at least 1m for an http(s) feed, got '30s'" in text
    assert "feeds[1].interval: must be at least 1m for an http(s) feed, got '1s'" in text
    assert "feeds[2].interval: must be at least 1s for a file feed, got '0.5s'" in text
