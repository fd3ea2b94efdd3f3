"""``subscribe`` with feeds, format, mention and quiet hours from chat: through the real
discord.py CommandTree and the real bolt app against the loopback fakes, with the
role and group checks answered by the fakes."""

from __future__ import annotations

from typing import Any

from bot.feeds.fetch import Fetcher, create_session
from bot.service import Caller, fetching_probe
from tests.fakes.discord_api import MANAGE_CHANNELS, MANAGE_GUILD
from tests.fakes.feedserver import FeedServer, make_rss
from tests.test_discord_commands import CHANNEL, FEED, GUILD, Env, env, here  # noqa: F401
from tests.test_slack_app import ADMIN, EDITOR, Harness, h, reply_text  # noqa: F401

ROLE = 666666666666666666


async def test_discord_subscribe_to_a_feed_compact_with_a_role(env: Env) -> None:  # noqa: F811
    env.api.add_role(GUILD, ROLE, "desk")
    options = {"feed": FEED, "format": "compact", "mention": f"role:{ROLE}"}
    a = await env.run("subscribe", options, permissions=MANAGE_CHANNELS)
    assert not a.ephemeral, a.content
    assert f"now gets every item of `{FEED}` (realtime, compact, mention role:{ROLE})" in a.content
    [sub] = await env.service.subscriptions(here())
    assert (sub.watchlist, sub.feeds, sub.format, sub.mention) == (
        "",
        (FEED,),
        "compact",
        f"role:{ROLE}",
    )
    listed = await env.run("subscriptions")
    assert f"every item of `{FEED}` (realtime, compact, mention role:{ROLE})" in listed.content
    a = await env.run("unsubscribe", {"feed": FEED}, permissions=MANAGE_CHANNELS)
    assert f"no longer gets every item of `{FEED}`" in a.content
    assert await env.service.subscriptions(here()) == []


async def test_discord_bad_options_are_refused_naming_them(env: Env) -> None:  # noqa: F811
    env.api.add_role(GUILD, ROLE, "desk")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mention": "role:777777777777777777"}, "mention: 777777777777777777 is not a role"),
        ({"mention": f"role:{GUILD}"}, "mention: that id is @"),
        ({"mention": "group:S0123ABCD"}, "names a Slack user group, but this is a discord"),
        ({"quiet": "late"}, "quiet: 'late' is not a quiet-hours range"),
        ({"quiet": "22:00-07:00", "timezone": "Mars/Base"}, "timezone: 'Mars/Base'"),
    ]
    for options, message in cases:
        a = await env.run(
            "subscribe", {"watchlist": "KFOR", **options}, permissions=MANAGE_CHANNELS
        )
        assert a.ephemeral and message in a.content, (options, a.content)
    assert await env.service.subscriptions(here()) == []


async def test_discord_subscribe_feed_adds_it_for_an_admin_only_if_it_is_a_feed(
    env: Env,  # noqa: F811
    feed_server: FeedServer,
) -> None:
    feed_server.add_feed("/new.xml", make_rss("New"))
    feed_server.add_feed("/page.html", b"<html><p>no feed</p></html>", content_type="text/html")
    new, page = feed_server.url("/new.xml"), feed_server.url("/page.html")
    async with create_session(env.service.config.fetch) as session:
        env.service.feed_probe = fetching_probe(Fetcher(session, env.service.config.fetch))
        a = await env.run("subscribe", {"feed": new}, permissions=MANAGE_CHANNELS)
        assert a.ephemeral and "feed: Only admins can add feeds" in a.content
        a = await env.run("subscribe", {"feed": page}, permissions=MANAGE_GUILD)
        assert a.ephemeral and "is not a feed" in a.content
        assert await env.service.store.feed(page) is None
        a = await env.run("subscribe", {"feed": new, "mode": "digest"}, permissions=MANAGE_GUILD)
        assert not a.ephemeral and f"every item of `{new}` (digest)" in a.content
    assert await env.service.store.feed(new) is not None
    assert feed_server.hits("/new.xml") == 1


async def test_slack_subscribe_with_a_group_and_quiet_hours(h: Harness) -> None:  # noqa: F811
    line = "subscribe KFOR mention:group:S0EDITORS quiet:22:00-07:00 tz:Europe/Belgrade"
    text = reply_text(await h.slash(line)).replace("\u200b", "")
    assert "now gets *KFOR* alerts (realtime, mention group:S0EDITORS, quiet 22:00-07:00" in text
    [sub] = await h.service.subscriptions(Caller("slack", ADMIN, "CNEWS"))
    assert (sub.mention, sub.quiet, sub.timezone) == (
        "group:S0EDITORS",
        "22:00-07:00",
        "Europe/Belgrade",
    )
    text = reply_text(await h.slash("subscribe MKE mention:group:S0NOPE123"))
    assert "mention: S0NOPE123 is not a user group of this workspace" in text
    text = reply_text(await h.slash("subscribe MKE mention:role:123456789012345678"))
    assert "names a Discord role, but this is a slack channel" in text
    text = reply_text(await h.slash("subscribe MKE quiet:7-22"))
    assert "quiet: '7-22' is not a quiet-hours range" in text
    text = reply_text(await h.slash("subscribe MKE format:wide"))
    assert "The format must be full or compact" in text
    assert len(await h.service.subscriptions(Caller("slack", ADMIN, "CNEWS"))) == 1


async def test_slack_subscribe_feed_follows_a_polled_feed(h: Harness) -> None:  # noqa: F811
    url = "https://feeds.example/rss"
    await h.service.store.add_feed(url, h.service.clock())
    line = f"subscribe feed:<{url}|feeds.example/rss> digest format:compact"
    text = reply_text(await h.slash(line, user=EDITOR))
    assert f"now gets every item of `{url}` (digest, compact)" in text
    text = reply_text(await h.slash("subscribe feed:https://other.example/rss", user=EDITOR))
    assert "feed: Only admins can add feeds" in text
    text = reply_text(await h.slash("subscriptions"))
    assert f"every item of `{url}` (digest, compact)" in text
