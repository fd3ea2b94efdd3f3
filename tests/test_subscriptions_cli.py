"""``alertbot subscriptions add|remove|list`` with feeds, format, mention and quiet hours,
and their bad input, in-process (tests/cli_support.py), with the Slack and Discord
fakes answering the mention checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_support import alertbot
from tests.fakes.discord_api import FakeDiscordAPI
from tests.fakes.feedserver import FeedServer, make_rss
from tests.fakes.slack_api import FakeSlackAPI
from tests.test_cli import SAMPLES, write_config

ADD = ("subscriptions", "add")


async def subs(c: list[str]) -> list[dict[str, Any]]:
    code, out, err = await alertbot("subscriptions", "list", "--json", *c)
    assert code == 0, err
    return [s for s in json.loads(out)["subscriptions"] if s["channel"] != "alerts"]


async def feed_urls(c: list[str]) -> list[str]:
    code, out, err = await alertbot("feeds", "list", "--json", *c)
    assert code == 0, err
    return [f["url"] for f in json.loads(out)["feeds"]]


async def test_a_feed_subscription_fetches_a_new_feed_once_and_refuses_a_page(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/rss.xml", make_rss("Outlet A"))
    feed_server.add_feed("/page.html", b"<html><body>Hello</body></html>", content_type="text/html")
    c = ["--config", str(write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")]))]
    page = feed_server.url("/page.html")
    code, _, err = await alertbot(
        *ADD, "--platform", "slack", "--channel", "C1", "--feed", page, *c
    )
    assert code == 1 and "feed:" in err and "is not a feed" in err, err
    assert page not in await feed_urls(c) and await subs(c) == []  # nothing half-applied
    rss = feed_server.url("/rss.xml")
    code, out, err = await alertbot(
        *ADD, "--platform", "slack", "--channel", "C1", "--feed", rss, "--format", "compact", *c
    )
    assert code == 0, err
    assert out.strip() == f"slack channel C1 now gets every item of {rss} (realtime, compact)."
    assert feed_server.hits("/rss.xml") == 1 and rss in await feed_urls(c)
    [sub] = await subs(c)
    assert sub["watchlist"] == "" and sub["feeds"] == [rss] and sub["format"] == "compact"
    code, out, err = await alertbot(
        "subscriptions", "remove", "--platform", "slack", "--channel", "C1", "--feed", rss, *c
    )
    assert out.strip() == f"slack channel C1 no longer gets every item of {rss}.", err
    assert await subs(c) == []


async def test_bad_options_are_refused_naming_the_argument(tmp_path: Path) -> None:
    c = ["--config", str(write_config(tmp_path, []))]
    base = (*ADD, "--platform", "slack", "--channel", "C1", "--watchlist", "KFOR")
    cases = [
        (("--quiet", "10pm-7am"), "quiet: '10pm-7am' is not a quiet-hours range"),
        (("--quiet", "22:00-07:00", "--timezone", "Mars/Olympus"), "timezone: 'Mars/Olympus'"),
        (("--timezone", "Europe/Belgrade"), "timezone: only means something with quiet"),
        (("--mention", "role:123456789012345678"), "names a Discord role, but this is a slack"),
        (("--mention", "group:nope"), "mention: 'nope' is not a user group id"),
        (("--mention", "@here"), "mention: '@here' is not a mention"),
    ]
    for extra, message in cases:
        code, _, err = await alertbot(*base, *extra, *c)
        assert code == 1 and message in err, (extra, err)
    code, _, err = await alertbot(*base, "--format", "tiny", *c)
    assert code == 2 and "--format: invalid choice: 'tiny'" in err
    assert await subs(c) == []


async def test_a_mention_is_checked_with_slack_when_the_token_is_set(tmp_path: Path) -> None:
    c = ["--config", str(write_config(tmp_path, []))]
    base = (*ADD, "--platform", "slack", "--channel", "C1", "--watchlist", "KFOR")
    async with FakeSlackAPI() as fake:
        fake.usergroups["S0123ABCD"] = ["U1"]
        env = {"SLACK_BOT_TOKEN": "xoxb-t", "ALERTBOT_SLACK_API_URL": fake.base_url}
        code, _, err = await alertbot(*base, "--mention", "group:S0999ZZZZ", *c, env=env)
        assert code == 1 and "mention: S0999ZZZZ is not a user group" in err, err
        assert await subs(c) == []
        code, out, err = await alertbot(
            *base,
            "--mention",
            "group:S0123ABCD",
            "--quiet",
            "22:00-07:00",
            "--timezone",
            "Europe/Belgrade",
            *c,
            env=env,
        )
        assert code == 0, err
        assert "mention group:S0123ABCD, quiet 22:00-07:00 Europe/Belgrade" in out
    [sub] = await subs(c)
    assert (sub["mention"], sub["quiet"], sub["timezone"]) == (
        "group:S0123ABCD",
        "22:00-07:00",
        "Europe/Belgrade",
    )


async def test_a_mention_is_checked_with_discord_through_the_channels_guild(
    tmp_path: Path,
) -> None:
    guild, channel, role = 111111111111111111, 222222222222222222, 333333333333333333
    c = ["--config", str(write_config(tmp_path, []))]
    base = (*ADD, "--platform", "discord", "--channel", str(channel), "--watchlist", "KFOR")
    async with FakeDiscordAPI() as api:
        api.add_channel(channel, guild)
        api.add_role(guild, role)
        env = {"DISCORD_TOKEN": "t", "ALERTBOT_DISCORD_API_URL": api.base}
        code, _, err = await alertbot(*base, "--mention", f"role:{guild + 1}", *c, env=env)
        assert code == 1 and f"mention: {guild + 1} is not a role of this server" in err, err
        code, _, err = await alertbot(*base, "--mention", f"role:{role}", *c, env=env)
        assert code == 0, err
    [sub] = await subs(c)
    assert sub["mention"] == f"role:{role}"


async def test_config_problems_in_subscriptions_are_all_listed(tmp_path: Path) -> None:
    extra = """
[[subscriptions]]
platform = "discord"
channel = "123456789012345678"
feeds = ["https://unlisted.example/rss"]
format = "huge"
mention = "group:S0123ABCD"
quiet = "22-07"
[[subscriptions]]
platform = "slack"
channel = "C1"
watchlists = ["KFOR"]
quiet = "22:00-07:00"
timezone = "Europe/Nowhere"
[[subscriptions]]
platform = "slack"
channel = "C2"
watchlists = ["KFOR"]
quiet = "25:00-07:00"
timezone = "Europe/Belgrad"
"""
    config = write_config(tmp_path, [], extra)
    code, _, err = await alertbot("check", "--config", str(config))
    assert code == 1
    for key, message in (
        ("subscriptions[1].feeds", "is not one of the [[feeds]] urls"),
        ("subscriptions[1].format", "'huge' is not a format"),
        ("subscriptions[1].mention", "names a Slack user group, but this is a discord"),
        ("subscriptions[1].quiet", "'22-07' is not a quiet-hours range"),
        ("subscriptions[2].timezone", "'Europe/Nowhere' is not a time zone"),
        # a bad range does not hide a bad zone beside it
        ("subscriptions[3].quiet", "'25:00-07:00': hours run 00-23"),
        ("subscriptions[3].timezone", "'Europe/Belgrad' is not a time zone"),
    ):
        assert f"{key}: " in err and message in err, (key, err)
