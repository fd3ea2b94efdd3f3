"""Fakechat: a third chat platform, as small as one can be, defined outside ``bot/``.

It exists to prove that adding a platform is one package, one registry entry
and one config section: nothing in ``bot/`` names it. A real platform would
live in ``bot/chat/<name>/`` and be an entry in ``bot.platforms.PLATFORMS``;
this one is registered at run time with :data:`ENTRY` (see
``tests/test_third_platform.py``).

Its "network" is two process-wide lists: :data:`POSTED` (what its sender
posted) and :data:`SESSIONS` (each login, with the token it used). People type
text commands (``!alertbot subscribe KFOR``), parsed and dispatched by
:mod:`bot.chat.textcmd`; replies are plain text from the neutral views.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.chat.textcmd import Dispatcher, UsageError, tokenize
from bot.commands import CommandError, Values, help_entries
from bot.config import Config, Reader
from bot.core import views
from bot.core.models import Alert
from bot.core.render import render_digest_console
from bot.core.subscription import MentionKind, mention_id
from bot.platforms import ChatPlatform
from bot.service import Caller, Service

POSTED: list[dict[str, Any]] = []
"""Every message the sender posted, edited or noticed, in order."""
SESSIONS: list[str] = []
"""The token of each login."""
USERS = {"u-ann", "u-bob"}
"""Who exists on fakechat (what a ``user:ID`` mention is checked against)."""


@dataclass(frozen=True, slots=True)
class FakechatConfig:
    """The ``[fakechat]`` section."""

    admin_users: tuple[str, ...] = ()
    admin_roles: tuple[str, ...] = ()
    manager_users: tuple[str, ...] = ()
    manager_roles: tuple[str, ...] = ()
    prefix: str = "!alertbot"


def parse_section(t: Mapping[str, Any], r: Reader, where: str) -> FakechatConfig:
    d = dict(t)
    prefix = r.str_(d, "prefix", where, "!alertbot").strip()
    if not prefix or " " in prefix:
        r.err(where + "prefix", f"expected one word such as !alertbot, got {prefix!r}")
        prefix = "!alertbot"
    return FakechatConfig(
        admin_users=r.strs(d, "admin_users", where),
        admin_roles=r.strs(d, "admin_roles", where),
        manager_users=r.strs(d, "manager_users", where),
        manager_roles=r.strs(d, "manager_roles", where),
        prefix=prefix,
    )


class FakechatSender:
    platform = "fakechat"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def _add(self, action: str, channel: str, text: str, key: str = "") -> str:
        ref = f"fc-{next(self._ids)}"
        POSTED.append({"action": action, "channel": channel, "text": text, "key": key, "ref": ref})
        return ref

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        pings = "".join(f"@{mention_id(m)} " for m in alert.mentions)
        return self._add("post", channel, f"{pings}{alert.title} <{alert.url}>", key)

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        self._add("edit", channel, f"{alert.title} <{alert.url}>")
        return ref

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        return self._add("digest", channel, render_digest_console(alerts, channel=channel), key)

    async def post_notice(self, channel: str, text: str, *, key: str) -> str:
        return self._add("notice", channel, text, key)

    def digest_fit(self, alerts: list[Alert]) -> int:
        return max(1, len(alerts))

    def permalink(self, channel: str, ref: str, place: str | None = None) -> str | None:
        return None

    def place(self, channel: str) -> str | None:
        return None

    async def find_posted(
        self, channel: str, keys: Collection[str], since: datetime
    ) -> dict[str, str]:
        wanted = set(keys)
        return {
            p["key"]: p["ref"] for p in POSTED if p["channel"] == channel and p["key"] in wanted
        }


def _line(line: views.Line, prefix: str) -> str:
    return views.plain_text(line, lambda c: f"{prefix} {c}")


class FakechatCommands:
    """Text command → the service → a plain-text reply. Help and subscriptions are
    answered in full; every other command of the catalogue says it is not offered
    here (a real platform answers all of them, as Slack's ``SlackCommands`` does)."""

    def __init__(self, service: Service, prefix: str):
        self.service = service
        self.prefix = prefix
        self.dispatch: Dispatcher[Caller, str] = Dispatcher(self, prefix)

    async def handle(self, caller: Caller, text: str) -> str:
        words = text.split(None, 1)
        if not words or words[0] != self.prefix:
            raise UsageError(f"Commands start with {self.prefix}")
        try:
            return await self.dispatch.run(caller, tokenize(words[1] if len(words) > 1 else ""))
        except CommandError as e:
            return f"error: {e}"

    async def cmd_help(self, caller: Caller, v: Values) -> str:
        return "\n".join(f"{self.prefix} {e.usage}" for e in help_entries())

    async def cmd_subscribe(self, caller: Caller, v: Values) -> str:
        sub = await self.service.subscribe_from(caller, v)
        return _line(views.subscribed(sub).line, self.prefix)

    async def cmd_unsubscribe(self, caller: Caller, v: Values) -> str:
        sub = await self.service.unsubscribe_from(caller, v)
        return _line(views.unsubscribed(sub, feeds=v.words("feed")).line, self.prefix)

    async def cmd_subscriptions(self, caller: Caller, v: Values) -> str:
        view = views.subscriptions_view(await self.service.subscriptions(caller), caller.channel)
        if not view.items:
            return _line(view.empty, self.prefix)
        return "\n".join(_line(i.head, self.prefix) for i in view.items)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("cmd_"):
            raise AttributeError(name)

        command = name.removeprefix("cmd_").replace("_", " ")

        async def not_here(caller: Caller, v: Values) -> str:
            return f"error: {command} is not offered on fakechat"

        return not_here


class FakechatBot:
    def __init__(self, config: Config, service: Service):
        self.config = config
        self.service = service
        section: FakechatConfig = config.section("fakechat")
        self.sender = FakechatSender()
        self.commands = FakechatCommands(service, section.prefix)
        service.mention_checks["fakechat"] = self.check_user

    async def check_user(self, guild: str, mention: str) -> None:
        if mention_id(mention) not in USERS:
            raise CommandError(f"mention: {mention_id(mention)} is not a fakechat user")

    async def start(self) -> None:
        token = ENTRY.token(self.config.secrets)
        if not token.startswith("fc-"):
            raise RuntimeError("fakechat refused the token")
        SESSIONS.append(token)

    async def serve(self) -> None:
        return None

    async def close(self) -> None:
        return None


ENTRY = ChatPlatform(
    name="fakechat",
    title="Fakechat",
    bot="tests.fakes.fakechat:FakechatBot",
    token_env="FAKECHAT_TOKEN",
    section="tests.fakes.fakechat:parse_section",
    keys=("admin_users", "admin_roles", "manager_users", "manager_roles", "prefix"),
    needs_admin="to be listed in the bot's [fakechat] admin_users",
    mention=MentionKind("user", re.compile(r"u-[a-z0-9]+"), "a user id such as u-ann", "a user"),
    channel_id=r"fc-[a-z0-9-]+",
    channel_hint="a channel id such as fc-news",
)
"""Its registry entry."""
