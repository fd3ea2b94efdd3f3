"""Do the config's mentions name a role or group that exists? Asked once a platform is in.

``bot.core.subscription.check_mention`` checks the shape of ``role:ID`` /
``group:ID``. Each platform module supplies the check against the platform
(``bot.chat.discord.client.roles_check``: the guild's roles; ``bot.chat.slack.client.groups_check``:
``usergroups.list``), registered as ``Service.mention_checks``; commands from chat
and the CLI use it directly. The config is read offline, so its mentions are
checked here, once the platform is logged in, and a wrong one is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.service import CommandError, Service

log = logging.getLogger(__name__)


async def config_mention_problems(
    service: Service, platform: str, guild_of: Callable[[str], Awaitable[str]]
) -> list[str]:
    """What is wrong with the mentions of the config's subscriptions on ``platform``,
    asked of the platform (``guild_of`` finds a channel's guild when the config
    names none). A wrong id pings nobody; the operator is told which to fix."""
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

    async def no_guild(channel: str) -> str:
        return ""

    guild_of = getattr(bot, "channel_guild", no_guild)
    try:
        problems = await config_mention_problems(service, platform, guild_of)
    except Exception:  # a check that cannot run must not stop delivery
        log.warning("could not check the config's %s mentions", platform, exc_info=True)
        return
    for p in problems:
        log.error("%s (that alert pings nobody until it is fixed)", p)
