"""The ``[slack]`` config section: its dataclass and parser (named by its registry
entry; light, so the config loader can import it without slack-sdk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config, Reader


@dataclass(frozen=True, slots=True)
class SlackConfig:
    admin_users: tuple[str, ...] = ()
    admin_groups: tuple[str, ...] = ()
    manager_users: tuple[str, ...] = ()
    manager_groups: tuple[str, ...] = ()
    http_port: int = 3000
    http_path: str = "/slack/events"
    command: str = "/alertbot"


def parse(t: Mapping[str, Any], r: Reader, where: str) -> SlackConfig:
    """The ``[slack]`` section (its registry entry names this parser)."""
    d = dict(t)
    s0 = SlackConfig()
    slack = SlackConfig(
        admin_users=r.strs(d, "admin_users", where),
        admin_groups=r.strs(d, "admin_groups", where),
        manager_users=r.strs(d, "manager_users", where),
        manager_groups=r.strs(d, "manager_groups", where),
        http_port=r.int_(d, "http_port", where, s0.http_port, lo=1, hi=65535),
        http_path=r.str_(d, "http_path", where, s0.http_path),
        command=r.str_(d, "command", where, s0.command),
    )
    for key, value in (("http_path", slack.http_path), ("command", slack.command)):
        if not value.startswith("/"):
            r.err(f"{where}{key}", f"must start with '/', e.g. '/{value}'")
    return slack


def of(config: Config) -> SlackConfig:
    """The ``[slack]`` section of ``config`` (its defaults when there is none)."""
    section = config.sections.get("slack")
    return section if isinstance(section, SlackConfig) else SlackConfig()
