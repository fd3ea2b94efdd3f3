"""The ``[discord]`` config section: its dataclass and parser (named by its registry
entry; light, so the config loader can import it without discord.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config, Reader
    from bot.service import Caller


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    admin_roles: tuple[str, ...] = ()
    admin_users: tuple[str, ...] = ()
    manager_roles: tuple[str, ...] = ()
    manager_users: tuple[str, ...] = ()
    guilds: tuple[str, ...] = ()
    """Guild ids to sync commands to instantly; empty = global commands."""


def parse(t: Mapping[str, Any], r: Reader, where: str) -> DiscordConfig:
    """The ``[discord]`` section (its registry entry names this parser)."""
    d = dict(t)
    return DiscordConfig(
        admin_roles=r.strs(d, "admin_roles", where),
        admin_users=r.strs(d, "admin_users", where),
        manager_roles=r.strs(d, "manager_roles", where),
        manager_users=r.strs(d, "manager_users", where),
        guilds=r.strs(d, "guilds", where),
    )


def of(config: Config) -> DiscordConfig:
    """The ``[discord]`` section of ``config`` (its defaults when there is none)."""
    section = config.sections.get("discord")
    return section if isinstance(section, DiscordConfig) else DiscordConfig()


def trusts_admin(config: Config, caller: Caller) -> bool:
    """Whether Manage Server makes ``caller`` a bot admin (the registry's hook).

    Watchlists and feeds are shared by every server the bot is in: Manage Server
    counts only in the servers ``[discord] guilds`` names as trusted, or anyone who
    invites the bot to a server of their own would be an admin."""
    return caller.guild in of(config).guilds
