"""Does a subscription's mention name a role or group that exists? Asked of the platform.

``bot.core.subscription.check_mention`` checks the shape of ``role:ID`` /
``group:ID``; these ask Discord for the guild's roles (``GET
/guilds/{id}/roles``) and Slack for the workspace's user groups
(``usergroups.list``) and raise :class:`CommandError` naming the argument when the
id is not there. The chat adapters register them as ``Service.mention_checks``;
the CLI does when the platform's token is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import discord
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.subscription import mention_id
from bot.service import CommandError

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
