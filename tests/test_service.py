"""The platform-neutral commands: permissions, helpful errors, edits that stick."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.service import Caller, CommandError, PermissionDenied, Service
from tests.conftest import MakeConfig

MEMBER = Caller(platform="discord", user="u1", channel="111111111111111111", guild="g1")
MANAGER = Caller(
    platform="discord", user="u2", channel="111111111111111111", guild="g1", manages_channel=True
)
ADMIN = Caller(
    platform="discord", user="u3", channel="111111111111111111", guild="g1", is_admin=True
)
ROLE_ADMIN = Caller(
    platform="discord", user="u4", channel="111111111111111111", guild="g1", roles=("r-admin",)
)
SLACK_LISTED = Caller(platform="slack", user="U9", channel="C1", guild="T1")


@pytest_asyncio.fixture
async def service(make_config: MakeConfig, database: str) -> AsyncIterator[Service]:
    config = make_config(
        [],
        discord={"admin_roles": ["r-admin"], "guilds": ["g1"]},
        slack={"manager_users": ["U9"]},
        database=database,
    )
    svc = await Service.open(config)
    try:
        yield svc
    finally:
        await svc.close()


async def test_subscribe_needs_a_channel_manager(service: Service) -> None:
    with pytest.raises(PermissionDenied, match="Manage Channels"):
        await service.subscribe(MEMBER, "KFOR")
    sub = await service.subscribe(MANAGER, "kfor", "digest")
    assert (sub.watchlist, sub.mode, sub.guild) == ("KFOR", "digest", "g1")
    assert [s.watchlist for s in await service.subscriptions(MEMBER)] == ["KFOR"]
    slack = await service.subscribe(SLACK_LISTED, "MKE")  # listed in [slack] manager_users
    assert slack.platform == "slack"
    assert [s.channel for s in await service.workspace_subscriptions("slack", "T1")] == ["C1"]


async def test_helpful_errors(service: Service) -> None:
    with pytest.raises(CommandError, match=r"No watchlist named 'Nope'\. Known watchlists: "):
        await service.subscribe(MANAGER, "Nope")
    with pytest.raises(CommandError, match=r"realtime .* or digest"):
        await service.subscribe(MANAGER, "KFOR", "weekly")
    with pytest.raises(CommandError, match=r"not subscribed to 'MKE' .*it gets: nothing"):
        await service.unsubscribe(MANAGER, "MKE")
    with pytest.raises(CommandError, match=r"Bad 'since'.*not a duration"):
        await service.lookup(MEMBER, "x", since="yesterday")
    with pytest.raises(CommandError, match="Say what to look for"):
        await service.lookup(MEMBER, "  ")


async def test_watchlist_edits_need_admin_and_validate(service: Service) -> None:
    with pytest.raises(PermissionDenied, match="Manage Server"):
        await service.watchlist_create(MANAGER, "Drones")
    w = await service.watchlist_create(ROLE_ADMIN, "Drones", "Turkish drones")
    assert w.terms == ()
    with pytest.raises(CommandError, match="already exists"):
        await service.watchlist_create(ADMIN, "drones")
    w = await service.watchlist_add_term(ADMIN, "Drones", "Anka", ["Anka", "TAI Anka"])
    w = await service.watchlist_add_form(ADMIN, "drones", "anka", "Anka-3")
    assert w.terms[0].forms == ("Anka", "TAI Anka", "Anka-3")
    with pytest.raises(CommandError, match="already has the form"):
        await service.watchlist_add_form(ADMIN, "Drones", "Anka", "Anka")
    with pytest.raises(CommandError, match=r"has no term 'Hürjet'\. Its terms: Anka"):
        await service.watchlist_add_form(ADMIN, "Drones", "Hürjet", "x")
    with pytest.raises(CommandError, match="empty"):
        await service.watchlist_add_form(ADMIN, "Drones", "Anka", "   ")
    await service.watchlist_remove_form(ADMIN, "Drones", "Anka", "Anka")
    await service.watchlist_remove_form(ADMIN, "Drones", "Anka", "TAI Anka")
    with pytest.raises(CommandError, match="last form"):
        await service.watchlist_remove_form(ADMIN, "Drones", "Anka", "Anka-3")
    await service.subscribe(ADMIN, "Drones")


async def test_edits_survive_a_restart_and_delete_drops_subscriptions(
    make_config: MakeConfig,
) -> None:
    config = make_config([], discord={"guilds": ["g1"]})
    svc = await Service.open(config)
    try:
        await svc.watchlist_create(ADMIN, "Drones")
        await svc.watchlist_add_term(ADMIN, "Drones", "Anka")
        await svc.subscribe(ADMIN, "Drones")
    finally:
        await svc.close()
    svc = await Service.open(config)  # the files only seed; edits live in the database
    try:
        assert (await svc.watchlist("Drones")).terms[0].forms == ("Anka",)
        await svc.watchlist_delete(ADMIN, "Drones")
        assert await svc.subscriptions(ADMIN) == []
    finally:
        await svc.close()


async def test_feed_edits(service: Service) -> None:
    with pytest.raises(PermissionDenied):
        await service.feed_add(MANAGER, "https://news.example/rss")
    for bad in ("ftp://x.example/f", "javascript:alert(1)", "not a url"):
        with pytest.raises(CommandError):
            await service.feed_add(ADMIN, bad)
    status = await service.feed_add(ADMIN, "<https://news.example/rss>")
    assert status.url == "https://news.example/rss" and status.origin == "user"
    with pytest.raises(CommandError, match="already polled"):
        await service.feed_add(ADMIN, "https://news.example/rss")
    assert "https://news.example/rss" in await service.feed_urls()
    await service.feed_remove(ADMIN, "https://news.example/rss")
    with pytest.raises(CommandError, match="is not polled"):
        await service.feed_remove(ADMIN, "https://news.example/rss")


async def test_private_addresses_refused_unless_allowed(make_config: MakeConfig) -> None:
    config = make_config([], discord={"guilds": ["g1"]}, fetch={"allow_private": False})
    svc = await Service.open(config)
    try:
        for url in ("http://127.0.0.1/feed", "http://169.254.169.254/latest", "http://[::1]/"):
            with pytest.raises(CommandError):
                await svc.feed_add(ADMIN, url)
    finally:
        await svc.close()


async def test_config_watchlist_files_seed_and_follow_unedited_changes(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "wl"
    folder.mkdir()
    f = folder / "one.toml"
    f.write_text('name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha"]\n')
    config = make_config([], discord={"guilds": ["g1"]}, subscriptions=[], watchlists=folder)
    svc = await Service.open(config)
    await svc.close()
    f.write_text('name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha", "Alfa"]\n')
    svc = await Service.open(config)
    try:
        assert (await svc.watchlist("One")).terms[0].forms == ("Alpha", "Alfa")
        await svc.watchlist_add_form(ADMIN, "One", "Alpha", "Alef")  # edited in chat
    finally:
        await svc.close()
    f.write_text('name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha"]\n')
    svc = await Service.open(config)
    try:  # chat edits win over a later file change
        assert (await svc.watchlist("One")).terms[0].forms == ("Alpha", "Alfa", "Alef")
    finally:
        await svc.close()


async def test_without_trusted_guilds_manage_server_is_not_bot_admin(
    make_config: MakeConfig,
) -> None:
    """The default: anyone can invite the bot to a server where they hold Manage
    Server; that must not let them edit the watchlists and feeds all servers share."""
    config = make_config([], discord={"admin_users": ["u-ops"]})
    svc = await Service.open(config)
    try:
        with pytest.raises(PermissionDenied, match=r"\[discord\] admin_roles / admin_users"):
            await svc.watchlist_create(ADMIN, "Mine")
        with pytest.raises(PermissionDenied):
            await svc.feed_add(ADMIN, "https://news.example/rss")
        ops = Caller(platform="discord", user="u-ops", channel="111111111111111111", guild="g1")
        assert (await svc.watchlist_create(ops, "Ops")).name == "Ops"
        # Channel managers still subscribe their own channels.
        assert (await svc.subscribe(ADMIN, "KFOR")).watchlist == "KFOR"
    finally:
        await svc.close()


async def test_manage_server_elsewhere_is_not_bot_admin(make_config: MakeConfig) -> None:
    config = make_config([], discord={"guilds": ["g1"]})
    svc = await Service.open(config)
    try:
        await svc.watchlist_create(ADMIN, "Trusted")  # Manage Server in g1
        outsider = Caller(
            platform="discord", user="x", channel="999999999999999999", guild="g9", is_admin=True
        )
        with pytest.raises(PermissionDenied):
            await svc.watchlist_create(outsider, "Mine")
        # Channel-level rights still work in their own server.
        sub = await svc.subscribe(
            Caller(
                platform="discord",
                user="x",
                channel="999999999999999999",
                guild="g9",
                manages_channel=True,
            ),
            "KFOR",
        )
        assert sub.guild == "g9"
    finally:
        await svc.close()


async def test_deleting_a_file_watchlist_lasts_and_import_restores_it(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "wl"
    folder.mkdir()
    body = 'name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha"]\n'
    (folder / "one.toml").write_text(body)
    config = make_config([], discord={"guilds": ["g1"]}, subscriptions=[], watchlists=folder)
    svc = await Service.open(config)
    try:
        await svc.watchlist_delete(ADMIN, "One")
    finally:
        await svc.close()
    svc = await Service.open(config)  # the file is still there: not seeded back
    try:
        assert await svc.watchlist_names() == []
        (folder / "one.toml").write_text(body.replace('"Alpha"]', '"Alpha", "Alfa"]'))
        warnings = await svc.reseed()
        assert await svc.watchlist_names() == []
        assert any("deleted from chat" in w and "import" in w for w in warnings)
        await svc.watchlist_import(ADMIN, body, "one.toml")
        assert await svc.watchlist_names() == ["One"]
    finally:
        await svc.close()


async def test_file_edits_are_read_while_running(make_config: MakeConfig, tmp_path: Path) -> None:
    folder = tmp_path / "wl"
    folder.mkdir()
    f = folder / "one.toml"
    f.write_text('name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha"]\n')
    svc = await Service.open(
        make_config([], discord={"guilds": ["g1"]}, subscriptions=[], watchlists=folder)
    )
    try:
        assert await svc.reseed() == []  # nothing changed: not even read
        f.write_text('name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha", "Alfa"]\n')
        os.utime(f, ns=(1, 1))  # a new signature even on coarse file-system clocks
        await svc.reseed()
        assert (await svc.watchlist("One")).terms[0].forms == ("Alpha", "Alfa")
        # Edited from chat: a later file change is reported, not applied.
        await svc.watchlist_add_form(ADMIN, "One", "Alpha", "Alef")
        f.write_text('name = "One"\n[[terms]]\nname = "Alpha"\nforms = ["Alpha"]\n')
        os.utime(f, ns=(2, 2))
        warnings = await svc.reseed()
        assert any("edited from chat" in w for w in warnings)
        assert (await svc.watchlist("One")).terms[0].forms == ("Alpha", "Alfa", "Alef")
    finally:
        await svc.close()


async def test_config_subscriptions_are_changed_in_the_config_only(make_config: MakeConfig) -> None:
    config = make_config(
        [],
        subscriptions=[{"platform": "slack", "channel": "C0CONFIG", "watchlists": ["KFOR"]}],
    )
    svc = await Service.open(config)
    try:
        here = Caller(platform="slack", user="U1", channel="C0CONFIG", is_admin=True)
        with pytest.raises(CommandError, match=r"set in the bot's config file .* remove it there"):
            await svc.unsubscribe(here, "KFOR")
        with pytest.raises(CommandError, match="change it there"):
            await svc.subscribe(here, "KFOR", "digest")
        assert (await svc.subscribe(here, "KFOR")).origin == "config"  # same: a no-op
        await svc.subscribe(here, "MKE")  # others are the channel's own
        await svc.unsubscribe(here, "MKE")
    finally:
        await svc.close()


async def test_channel_ids_are_checked(service: Service) -> None:
    for platform, channel in (("discord", "#general"), ("discord", "general"), ("slack", "#desk")):
        who = Caller(platform=platform, user="u", channel=channel, is_admin=True)  # type: ignore[arg-type]  # platform names from the loop
        with pytest.raises(CommandError, match=r"not a .* channel id"):
            await service.subscribe(who, "KFOR")
    with pytest.raises(CommandError, match="empty"):
        await service.subscribe(Caller(platform="console", user="u", channel=" "), "KFOR")
