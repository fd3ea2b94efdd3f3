"""Service.subscribe / unsubscribe with feeds, format, mention and quiet hours: who may
add a feed on the way, the fetch-once check, and nothing half-applied (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.feeds.fetch import Fetcher, create_session
from bot.service import Caller, CommandError, PermissionDenied, Service, fetching_probe
from tests.conftest import MakeConfig
from tests.fakes.feedserver import FeedServer, make_rss

CHANNEL = "111111111111111111"
MANAGER = Caller(platform="discord", user="u2", channel=CHANNEL, guild="g1", manages_channel=True)
ADMIN = Caller(platform="discord", user="u3", channel=CHANNEL, guild="g1", is_admin=True)


@pytest_asyncio.fixture
async def service(
    make_config: MakeConfig, database: str, feed_server: FeedServer
) -> AsyncIterator[Service]:
    feed_server.add_feed("/known.xml", make_rss("Known"))
    config = make_config(
        [feed_server.url("/known.xml")], discord={"guilds": ["g1"]}, database=database
    )
    svc = await Service.open(config)
    async with create_session(config.fetch) as session:
        svc.feed_probe = fetching_probe(Fetcher(session, config.fetch))
        try:
            yield svc
        finally:
            await svc.close()


async def test_a_manager_follows_a_polled_feed_but_cannot_add_one(
    service: Service, feed_server: FeedServer
) -> None:
    known = feed_server.url("/known.xml")
    sub = await service.subscribe(MANAGER, feeds=[known], format="compact")
    assert (sub.watchlist, sub.feeds, sub.format) == ("", (known,), "compact")
    feed_server.add_feed("/new.xml", make_rss("New"))
    new = feed_server.url("/new.xml")
    with pytest.raises(
        PermissionDenied, match=r"^feed: Only admins can add feeds \(.* is not polled yet\)"
    ):
        await service.subscribe(MANAGER, feeds=[new])
    assert await service.store.feed(new) is None
    assert feed_server.hits("/new.xml") == 0
    # An admin's subscribe adds the feed (fetched once) and follows it beside the first.
    sub = await service.subscribe(ADMIN, feeds=[new])
    assert sub.feeds == (known, new) and feed_server.hits("/new.xml") == 1
    assert (await service.store.feed(new)) is not None
    sub = await service.unsubscribe(MANAGER, feeds=[known])
    assert sub.feeds == (new,)
    await service.unsubscribe(MANAGER, feeds=[new])
    assert await service.subscriptions(MANAGER) == []
    with pytest.raises(CommandError, match="not subscribed"):
        await service.unsubscribe(MANAGER, feeds=[new])


async def test_nothing_is_written_when_any_part_is_wrong(
    service: Service, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/page.html", b"<html><p>hi</p></html>", content_type="text/html")
    feed_server.add_feed("/ok.xml", make_rss("OK"))
    page, ok = feed_server.url("/page.html"), feed_server.url("/ok.xml")
    with pytest.raises(CommandError, match=r"^feed: .*is not a feed"):
        await service.subscribe(ADMIN, "KFOR", feeds=[ok, page])
    bad_checks = [
        ({"quiet": "late"}, "^quiet: 'late' is not a quiet-hours range"),
        ({"quiet": "22:00-07:00", "timezone": "Belgrade"}, "^timezone: 'Belgrade'"),
        ({"mention": "group:S0123ABCD"}, "^mention: .*Slack user group, but this is a discord"),
        ({"format": "long"}, "^format: 'long' is not a format"),
    ]
    for options, message in bad_checks:
        with pytest.raises(CommandError, match=message):
            await service.subscribe(ADMIN, "KFOR", feeds=[ok], **options)  # type: ignore[arg-type]
    assert await service.store.feed(ok) is None and await service.store.feed(page) is None
    assert await service.subscriptions(ADMIN) == []
    with pytest.raises(CommandError, match="Name a watchlist"):
        await service.subscribe(ADMIN)


async def test_a_mention_is_checked_by_the_platforms_check(service: Service) -> None:
    asked: list[tuple[str, str]] = []

    async def check(guild: str, mention: str) -> None:
        asked.append((guild, mention))
        if mention != "role:123456789012345678":
            raise CommandError(f"mention: {mention} is not a role of this server")

    service.mention_checks["discord"] = check
    with pytest.raises(CommandError, match="is not a role"):
        await service.subscribe(MANAGER, "KFOR", mention="role:999999999999999999")
    assert await service.subscriptions(MANAGER) == []
    sub = await service.subscribe(MANAGER, "KFOR", mention="role:123456789012345678")
    assert sub.mention == "role:123456789012345678"
    assert asked[-1] == ("g1", "role:123456789012345678")


async def test_unreachable_feed_is_refused_naming_the_argument(service: Service) -> None:
    with pytest.raises(CommandError, match=r"^feed: "):
        await service.subscribe(ADMIN, feeds=["http://127.0.0.1:9/rss"])
    with pytest.raises(CommandError, match=r"^feed: 'not a url' is not a feed URL"):
        await service.subscribe(ADMIN, feeds=["not a url"])


async def test_removing_a_feed_ends_the_subscriptions_limited_to_it_alone(
    service: Service, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/b.xml", make_rss("B"))
    known, b = feed_server.url("/known.xml"), feed_server.url("/b.xml")
    await service.subscribe(ADMIN, feeds=[b])
    await service.subscribe(ADMIN, "KFOR", feeds=[b, known])
    await service.subscribe(ADMIN, "MKE", feeds=[b])
    await service.feed_remove(ADMIN, b)
    left = {s.watchlist: s.feeds for s in await service.subscriptions(ADMIN)}
    assert left == {"KFOR": (known,)}


async def test_a_watchlist_subscription_limited_to_feeds_grows_and_shrinks(
    service: Service, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/b.xml", make_rss("B"))
    known, b = feed_server.url("/known.xml"), feed_server.url("/b.xml")
    assert (await service.subscribe(ADMIN, "KFOR", feeds=[known])).feeds == (known,)
    assert (await service.subscribe(ADMIN, "KFOR", feeds=[b])).feeds == (known, b)
    assert (await service.unsubscribe(ADMIN, "KFOR", feeds=[known])).feeds == (b,)
    with pytest.raises(CommandError, match=r"^feed: this subscription does not name that feed"):
        await service.unsubscribe(ADMIN, "KFOR", feeds=[known])
    await service.unsubscribe(ADMIN, "KFOR", feeds=[b])  # its last feed: it ends
    assert await service.subscriptions(ADMIN) == []
    with pytest.raises(CommandError, match="Name a watchlist"):
        await service.unsubscribe(ADMIN)
