"""What every chat platform provides to the delivery loop.

A sender turns a platform-neutral :class:`~bot.core.models.Alert` into a
platform message. It returns an opaque message reference that the outbox
stores, so a later source of the same cluster can edit that message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.core.models import Alert, Platform
from bot.core.schedule import reconnect_delay

log = logging.getLogger(__name__)

RECONNECT_BASE = 1.0
"""Seconds before the first retry of a chat connection that failed."""
RECONNECT_CAP = 60.0
"""Longest wait between tries at a chat connection (before jitter)."""
STABLE_AFTER = 10.0
"""Seconds a chat connection must stay up before a drop is reconnected at once
and its back-off forgotten."""


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

    def permalink(self, channel: str, ref: str, place: str | None = None) -> str | None:
        """A link to a posted message, when the platform can make one offline.

        ``place`` is what :meth:`place` said about the channel, as the store kept
        it (so a fresh process can link a post an earlier one made)."""
        ...

    def place(self, channel: str) -> str | None:
        """Where ``channel`` lives on the platform, once a post there taught the
        sender (Discord: the guild id; permalinks need it); None when unknown or
        not needed. The deliverer stores it."""
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


@dataclass(slots=True)
class ConnectionStats:
    """Counters of one chat connection (the Discord gateway, the Slack socket)."""

    connects: int = 0
    """Sessions opened: an IDENTIFY or a new socket."""
    resumes: int = 0
    """Sessions taken up again after a drop (Discord RESUME)."""
    drops: int = 0
    """Live connections that went away (closed, op 7/op 9, Slack ``disconnect``)."""
    failures: int = 0
    """Tries to connect that failed."""
    outages: int = 0
    """Times the connection could not be made again at once (one warning each)."""


class Supervisor:
    """State, back-off and logging of one supervised chat connection.

    The platform's loop reports what happened: :meth:`connected`, :meth:`dropped`
    (a live connection went away) and :meth:`failed` (a try failed); the last
    two return how long to wait before the next try. A connection that had been
    up for :data:`STABLE_AFTER` seconds is reconnected at once after a drop and
    its back-off starts afresh; one that drops sooner counts as a failed try, so
    a server that accepts and then closes every connection is not hammered.
    An outage (the first failed try after being up, or at start) is logged once
    as a warning, its end once as info; the tries in between at debug level.
    """

    def __init__(
        self,
        name: str,
        *,
        base: float = RECONNECT_BASE,
        cap: float = RECONNECT_CAP,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.base = base
        self.cap = cap
        self.stats = ConnectionStats()
        self.observer: Callable[[str, bool], None] | None = None
        """Told every event (``connect``, ``resume``, ``drop``, ``failure``,
        ``outage``, ``stop``) and whether the connection is up after it: the
        metrics hook."""
        self.up = False
        self._rng = rng
        self._clock = clock
        self._failures = 0
        """Failed tries since the connection was last up and stable (drives the back-off)."""
        self._up_since: float | None = None
        self._down_since: float | None = None
        self._outage_tries = 0

    def _settle(self) -> None:
        """Forget past failures once the connection has been up long enough."""
        if self._up_since is not None and self._clock() - self._up_since >= STABLE_AFTER:
            self._failures = 0
        self.up = False
        self._up_since = None

    def _tell(self, event: str) -> None:
        if self.observer is not None:
            self.observer(event, self.up)

    def stopped(self) -> None:
        """This process let go of the connection (stop, or the lease went elsewhere)."""
        self.up = False
        self._up_since = None
        self._tell("stop")

    def connected(self, *, resumed: bool = False) -> None:
        if resumed:
            self.stats.resumes += 1
        else:
            self.stats.connects += 1
        if self._down_since is not None:
            log.info(
                "%s: connected again after %.0f s (%d failed tries)",
                self.name,
                self._clock() - self._down_since,
                self._outage_tries,
            )
        self.up = True
        self._up_since = self._clock()
        self._down_since = None
        self._outage_tries = 0
        self._tell("resume" if resumed else "connect")

    def dropped(self, reason: str) -> float:
        """A live connection went away: seconds to wait before reconnecting (often 0)."""
        self.stats.drops += 1
        stable = self._up_since is not None and self._clock() - self._up_since >= STABLE_AFTER
        if stable:
            self._settle()
            log.info("%s: %s; reconnecting", self.name, reason)
            self._tell("drop")
            return 0.0
        self._tell("drop")
        return self.failed(f"{reason} soon after connecting")

    def failed(self, reason: str, *, at_least: float = 0.0) -> float:
        """A try failed: count it, log the outage once, return the seconds to wait."""
        self._settle()
        self.stats.failures += 1
        self._failures += 1
        self._outage_tries += 1
        delay = max(
            reconnect_delay(self._failures, base=self.base, cap=self.cap, jitter=self._rng()),
            at_least,
        )
        self._tell("failure")
        if self._down_since is None:
            self._down_since = self._clock()
            self.stats.outages += 1
            self._tell("outage")
            log.warning(
                "%s: cannot connect (%s); retrying with back-off up to %.0f s, "
                "alerts still go out over the REST API meanwhile",
                self.name,
                reason,
                max(self.cap, at_least),
            )
        else:
            log.debug(
                "%s: try %d failed (%s); next in %.1f s", self.name, self._failures, reason, delay
            )
        return delay
