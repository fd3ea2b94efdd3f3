"""What every chat platform provides to the delivery loop.

A sender turns a platform-neutral :class:`~bot.core.models.Alert` into a
platform message. It returns an opaque message reference that the outbox
stores, so a later source of the same cluster can edit that message.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from bot.core.models import Alert, Platform


class DeliveryError(Exception):
    """A send failed.

    ``permanent`` means retrying cannot help (channel gone, no permission to
    post, archived, token revoked): the subscription is paused with ``reason``.
    Otherwise the outbox row is retried after ``retry_after`` seconds (when the
    platform said so) or after the outbox's own back-off.
    """

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    platform: Platform

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        """Post a new alert; return a reference to the message (id/ts).

        ``key`` is stable for one (subscription, cluster) pair. A platform that
        can de-duplicate sends (Discord's ``nonce`` with ``enforce_nonce``, for a
        few minutes) uses it, so a quick retry after a crash between send and
        commit posts once; every platform that can be read back also puts it
        where :meth:`find_posted` finds it later.
        """
        ...

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        """Replace the message ``ref`` with the updated alert; return its reference."""
        ...

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        """Post several alerts as one message (a burst or a digest subscription)."""
        ...

    async def post_notice(self, channel: str, text: str, *, key: str) -> str:
        """Post a short plain-text notice from the bot itself (a feed broke or
        recovered); ``text`` may hold feed titles and URLs, so it is escaped like
        feed text. Returns the message reference."""
        ...

    def digest_fit(self, alerts: list[Alert]) -> int:
        """How many of ``alerts`` (from the first) fit in one digest message; ≥ 1."""
        ...

    def permalink(self, channel: str, ref: str) -> str | None:
        """A link to a posted message, when the platform can make one offline."""
        ...

    async def find_posted(
        self, channel: str, keys: Collection[str], since: datetime
    ) -> dict[str, str]:
        """Of ``keys``, those already posted in ``channel`` at or after ``since``.

        Returns key → message reference (what :meth:`post` / :meth:`post_digest`
        would have returned). The deliverer asks before re-sending rows whose
        lease it took over from a process that died between send and commit.
        One platform call (or a few pages) per channel, never one per key. A
        platform that cannot look returns ``{}``; so does a channel it may not
        read (logged; the deliverer then sends, and the send reports a lasting
        problem). A temporary failure raises :class:`DeliveryError` as a send
        would, so the rows wait instead of being posted twice.
        """
        ...
