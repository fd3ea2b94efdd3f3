"""Does a subscription's mention name a role or group that exists? Asked of the platform.

``bot.core.subscription.check_mention`` checks the shape of ``role:ID`` /
``group:ID``; these ask Discord for the guild's roles (``GET
/guilds/{id}/roles``) and Slack for the workspace's user groups
(``usergroups.list``) and raise :class:`CommandError` naming the argument when the
id is not there. The chat adapters register them as ``Service.mention_checks``;
the CLI does when the platform's token is set.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.subscription import mention_id
from bot.service import CommandError, Service

log = logging.getLogger(__name__)

ROLE_HELP = "Server Settings → Roles → ⋯ → Copy Role ID (Developer Mode on)"
GROUP_HELP = "the id in the user group's URL, or usergroups.list"


def discord_roles_check(http: discord.http.HTTPClient) -> Callable[[str, str], Awaitable[None]]:
    """A ``Service.mention_checks`` entry: the role must be one of the guild's, and not
    @everyone (whose id is the guild's)."""

    async def check(guild: str, mention: str) -> None:
        role = mention_id(mention)
        if not guild.isdigit():
            raise CommandError(
                "mention: a role can only be checked in a server: run subscribe in the "
                "server's channel (or pass the server id as --guild)"
            )
        if role == guild:
            raise CommandError("mention: that id is @everyone; name a role (never @everyone)")
        try:
            roles = await http.get_roles(int(guild))
        except discord.NotFound:
            raise CommandError(
                f"mention: the bot cannot see server {guild}: invite it there first"
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as e:
            raise CommandError(
                f"mention: Discord could not list the server's roles ({e})"
            ) from None
        if role not in {str(r["id"]) for r in roles}:
            raise CommandError(
                f"mention: {role} is not a role of this server; copy the role's id "
                f"({ROLE_HELP}) and write role:ID"
            )

    return check


def slack_groups_check(client: AsyncWebClient) -> Callable[[str, str], Awaitable[None]]:
    """A ``Service.mention_checks`` entry: the group must be one of the workspace's."""

    async def check(guild: str, mention: str) -> None:
        group = mention_id(mention)
        try:
            resp = await client.usergroups_list()
        except SlackApiError as e:
            code = e.response.get("error", "error") if e.response is not None else "error"
            raise CommandError(
                f"mention: Slack could not list the user groups ({code}); the app needs the "
                "usergroups:read scope"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise CommandError(f"mention: Slack could not be asked ({e!r})") from None
        groups = {str(g.get("id", "")): g for g in resp.get("usergroups") or []}
        if group not in groups:
            raise CommandError(
                f"mention: {group} is not a user group of this workspace; use its id "
                f"({GROUP_HELP}) and write group:ID"
            )

    return check


async def discord_guild_of(http: discord.http.HTTPClient, channel: str) -> str:
    """The guild id of a Discord channel ("" when Discord will not say)."""
    try:
        data = await http.get_channel(int(channel))
    except (ValueError, discord.HTTPException, aiohttp.ClientError, TimeoutError):
        return ""
    return str(data.get("guild_id") or "")


async def config_mention_problems(
    service: Service, platform: str, guild_of: Callable[[str], Awaitable[str]]
) -> list[str]:
    """What is wrong with the mentions of the config's subscriptions on ``platform``,
    asked of the platform once it is logged in (the config itself is read offline).
    A wrong id pings nobody; the operator is told which subscription to fix."""
    check = service.mention_checks.get(platform)
    if check is None:
        return []
    problems: list[str] = []
    for i, s in enumerate(service.config.subscriptions):
        if s.platform != platform or not s.mention:
            continue
        guild = s.guild or await guild_of(s.channel)
        try:
            await check(guild, s.mention)
        except CommandError as e:
            problems.append(f"{service.config.path}: subscriptions[{i}].{e}")
    return problems


async def warn_config_mentions(bot: Any, platform: str) -> None:
    """Once a platform is logged in: log an error for each config subscription whose
    mention names no role or group there. Never fails the login."""
    service = getattr(bot, "service", None)
    if not isinstance(service, Service):
        return

    async def guild_of(channel: str) -> str:
        if platform == "discord":
            return await discord_guild_of(bot.client.http, channel)
        return ""

    try:
        problems = await config_mention_problems(service, platform, guild_of)
    except Exception:  # a check that cannot run must not stop delivery
        log.warning("could not check the config's %s mentions", platform, exc_info=True)
        return
    for p in problems:
        log.error("%s (that alert pings nobody until it is fixed)", p)
