"""The ``[discord]`` config section: its dataclass and parser (named by its registry
entry; light, so the config loader can import it without discord.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Reader


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
