"""The chat platforms, in one place: what the app, the CLI and the service need to
know about each, without importing any (discord.py and slack-bolt load only when
a token is set or their CLI command runs).

A new platform is a ``bot/chat/<name>`` module or package with a bot class
(``start()``, ``sender``, ``serve()``, ``close()``, answering the catalogue of
:mod:`bot.commands`), one :class:`ChatPlatform` entry in :data:`PLATFORMS`, and a
``[<name>]`` config section with ``admin_users`` / ``manager_users`` and the
platform's role lists (see ``docs/DESIGN.md``, "Adding a chat platform").
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Secrets


@dataclass(frozen=True, slots=True)
class ChatPlatform:
    name: str
    """As stored with subscriptions and used as the config section: ``discord``."""
    title: str
    """As people write it: ``Discord``."""
    bot: str
    """``module:Class`` of its bot, imported when its token is set."""
    token: Callable[[Secrets], str]
    """The secret that turns it on (empty: off)."""
    token_env: str
    """The environment variable of that secret, for messages."""
    cli: str = ""
    """Module whose ``register(subparsers)`` adds ``alertbot <name> …``; empty: none."""
    roles: str = "roles"
    """Config keys of role-like lists are ``{rank}_{roles}``: ``admin_roles``, or
    Slack's ``admin_groups``."""
    needs_admin: str = "admin rights"
    """What a caller refused an admin command lacks, in the platform's words."""
    needs_manager: str = "channel manager rights"
    channel_id: str = ""
    """A regular expression every channel id of the platform matches (empty: any)."""
    channel_hint: str = "the platform's channel id"
    """Where to find a channel id, for the error when one does not match."""

    def load(self) -> Any:
        """The bot class (imports the platform's client library)."""
        module, _, cls = self.bot.partition(":")
        return getattr(importlib.import_module(module), cls)

    def channel_problem(self, channel: str) -> str | None:
        if self.channel_id and not re.fullmatch(self.channel_id, channel):
            return f"{channel!r} is not a {self.name} channel id: use {self.channel_hint}."
        return None


PLATFORMS: dict[str, ChatPlatform] = {
    "discord": ChatPlatform(
        name="discord",
        title="Discord",
        bot="bot.chat.discord:DiscordBot",
        token=lambda s: s.discord_token,
        token_env="DISCORD_TOKEN",
        cli="bot.chat.discord_cli",
        needs_admin="a role or user id in the bot's [discord] admin_roles / admin_users "
        "(or Manage Server in a server listed in [discord] guilds)",
        needs_manager="the Manage Channels permission in this channel",
        channel_id=r"\d{15,21}",
        channel_hint="a numeric channel id such as 123456789012345678 "
        "(Developer Mode → right-click the channel → Copy Channel ID)",
    ),
    "slack": ChatPlatform(
        name="slack",
        title="Slack",
        bot="bot.chat.slack:SlackBot",
        token=lambda s: s.slack_bot_token,
        token_env="SLACK_BOT_TOKEN",
        cli="bot.chat.slack_cli",
        roles="groups",
        needs_admin="to be a workspace admin or listed in the bot's [slack] admin config",
        needs_manager="to be a workspace admin or listed in the bot's [slack] manager config",
        channel_id=r"[CGD][A-Z0-9]+",
        channel_hint="a channel id such as C0123456789 (channel details → About → the id "
        "at the bottom), not its #name",
    ),
}
"""Every chat platform, in the order the app starts them. The console is not one:
it is the sink when none is configured, and has no commands."""


def enabled(secrets: Secrets) -> list[ChatPlatform]:
    """The platforms whose token is set."""
    return [p for p in PLATFORMS.values() if p.token(secrets)]
