"""The chat platforms, in one place: what the app, the CLI and the service need to
know about each, without importing any (discord.py and slack-bolt load only when
a token is set or their CLI command runs).

A new platform is a ``bot/chat/<name>/`` package with a bot class (``start()``,
``sender``, ``serve()``, ``close()``, answering the catalogue of :mod:`bot.commands`)
and a parser for its config section, one :class:`ChatPlatform` entry in
:data:`PLATFORMS` (or :func:`register` at run time), and a ``[<name>]`` config
section with ``admin_users`` / ``manager_users`` and the platform's role lists
(see ``docs/DESIGN.md``, "Adding a chat platform"). Nothing else names it: the
config loader asks this registry for each platform's section parser, its keys
and its secrets' environment variables; subscriptions accept every registered
name; the service asks :attr:`ChatPlatform.trust_admin` whether the platform's
own admin right counts.

This module imports only the pure core (``bot.config`` and ``bot.service`` import
it, and it names neither: hooks and parsers are ``module:function`` strings).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.core.subscription import GROUP, ROLE, MentionKind

CONFIG_TABLES = frozenset({"bot", "feeds", "subscriptions", "fetch", "alerts", "metrics"})
"""The config's own top-level tables (no chat platform may take one's name)."""


class SecretSource(Protocol):
    """Where a platform's secrets are read (``bot.config.Secrets``)."""

    def get(self, name: str) -> str: ...


SectionParser = Callable[[Mapping[str, Any], Any, str], Any]
"""``parse(table, reader, where) -> section``: the platform's ``[<name>]`` table
(already checked for unknown keys) → its typed, frozen section object. ``reader``
is a :class:`bot.config.Reader` (``str_``, ``strs``, ``int_``, ``bool_``, ``dur``,
``err``) that records problems with their key instead of raising; ``where`` is
the key prefix, ``"<name>."``."""


@dataclass(frozen=True, slots=True)
class ChatPlatform:
    name: str
    """As stored with subscriptions and used as the config section: ``discord``."""
    title: str
    """As people write it: ``Discord``."""
    bot: str
    """``module:Class`` of its bot, imported when its token is set."""
    token_env: str
    """The environment variable of the secret that turns it on (empty: off)."""
    section: str
    """``module:function`` parsing its ``[<name>]`` config section (a
    :data:`SectionParser`); the module must be light (no client library)."""
    keys: tuple[str, ...]
    """The keys its config section may hold; any other is reported as unknown."""
    secrets_env: tuple[str, ...] = ()
    """Further environment variables it reads (API URLs for tests, app tokens):
    :meth:`bot.config.Secrets.get` returns them; never shown in ``repr``."""
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

    mention: MentionKind | None = None
    """What its subscriptions' ``mention`` may name (None: nothing). The platform's
    sender pings it; ``Service.mention_checks[name]`` may check that it exists."""
    trust_admin: str = ""
    """``module:function`` of ``trusts(config, caller) -> bool``: whether the
    platform's own admin right (``Caller.is_admin``) makes the caller a bot admin
    here; empty: always. Discord trusts Manage Server only in the servers
    ``[discord] guilds`` lists."""

    def load(self) -> Any:
        """The bot class (imports the platform's client library)."""
        return _attr(self.bot)

    def parser(self) -> SectionParser:
        """Its config section parser."""
        parse: SectionParser = _attr(self.section)
        return parse

    def trusts_admin(self, config: Any, caller: Any) -> bool:
        """Whether ``caller``'s own platform admin right counts here (see
        :attr:`trust_admin`)."""
        return not self.trust_admin or bool(_attr(self.trust_admin)(config, caller))

    def token(self, secrets: SecretSource) -> str:
        """The secret that turns it on (empty: off)."""
        return secrets.get(self.token_env)

    def channel_problem(self, channel: str) -> str | None:
        if self.channel_id and not re.fullmatch(self.channel_id, channel):
            return f"{channel!r} is not a {self.name} channel id: use {self.channel_hint}."
        return None


def _attr(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


PLATFORMS: dict[str, ChatPlatform] = {
    "discord": ChatPlatform(
        name="discord",
        title="Discord",
        bot="bot.chat.discord.client:DiscordBot",
        token_env="DISCORD_TOKEN",
        secrets_env=("ALERTBOT_DISCORD_API_URL", "ALERTBOT_DISCORD_GATEWAY_URL"),
        section="bot.chat.discord.config:parse",
        keys=("admin_roles", "admin_users", "manager_roles", "manager_users", "guilds"),
        mention=ROLE,
        trust_admin="bot.chat.discord.config:trusts_admin",
        cli="bot.chat.discord.cli",
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
        bot="bot.chat.slack.client:SlackBot",
        token_env="SLACK_BOT_TOKEN",
        secrets_env=("SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "ALERTBOT_SLACK_API_URL"),
        section="bot.chat.slack.config:parse",
        keys=(
            "admin_users",
            "admin_groups",
            "manager_users",
            "manager_groups",
            "http_port",
            "http_path",
            "command",
        ),
        cli="bot.chat.slack.cli",
        roles="groups",
        mention=GROUP,
        needs_admin="to be a workspace admin or listed in the bot's [slack] admin config",
        needs_manager="to be a workspace admin or listed in the bot's [slack] manager config",
        channel_id=r"[CGD][A-Z0-9]+",
        channel_hint="a channel id such as C0123456789 (channel details → About → the id "
        "at the bottom), not its #name",
    ),
}
"""Every chat platform, in the order the app starts them. The console is not one:
it is the sink when none is configured, and has no commands."""


CONSOLE = "console"
"""The platform name of console subscriptions (not a chat platform: no entry)."""


def names() -> tuple[str, ...]:
    """Every platform a subscription may name: the console, then the registry's."""
    return (CONSOLE, *PLATFORMS)


def register(platform: ChatPlatform) -> None:
    """Add a platform at run time (a plugin, a test). A platform shipped with the
    bot is an entry in :data:`PLATFORMS` instead. Register before the config is
    loaded: the loader reads the registry."""
    name = platform.name
    if name == CONSOLE or name in CONFIG_TABLES or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"{name!r} cannot name a chat platform")
    if platform.name in PLATFORMS:
        raise ValueError(f"a chat platform named {platform.name!r} is already registered")
    PLATFORMS[platform.name] = platform


def unregister(name: str) -> None:
    """Remove a platform :func:`register` added."""
    PLATFORMS.pop(name, None)


def mention_kinds() -> dict[str, MentionKind]:
    """Platform → the kind of mention its subscriptions may name."""
    return {p.name: p.mention for p in PLATFORMS.values() if p.mention is not None}


def env_names() -> tuple[str, ...]:
    """Every environment variable some platform reads its secrets from."""
    return tuple(e for p in PLATFORMS.values() for e in (p.token_env, *p.secrets_env))


def enabled(secrets: SecretSource) -> list[ChatPlatform]:
    """The platforms whose token is set."""
    return [p for p in PLATFORMS.values() if p.token(secrets)]
