"""Feed-health notices: tell the channels a feed's alerts go to when it breaks,
goes quiet, or comes back (the decisions are :mod:`bot.core.health`'s).

One process at a time assesses the feeds (a lease, as for the chat
connections); notices are queued in the database with the new state in one
transaction, then claimed and sent like alerts, so a crash neither loses nor
repeats the decision. A notice interrupted between the platform accepting it
and the database recording it may be posted twice (a notice carries no
look-up key, unlike alerts); that window is a few milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bot.chat.base import DeliveryError, Sender
from bot.config import Config
from bot.core.health import assess
from bot.store.base import Store

log = logging.getLogger(__name__)

LEASE = "feed-health"
CHECK_EVERY = timedelta(minutes=1)
"""How often the feeds are assessed (and how long the lease lasts, times two)."""
RETRY_BASE = 60.0
RETRY_MAX = 3600.0


class FeedHealthWatch:
    def __init__(
        self,
        store: Store,
        config: Config,
        senders: Mapping[str, Sender],
        *,
        owner: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.config = config
        self.senders = senders
        self.owner = owner
        self.clock = clock
        self._checked: datetime | None = None

    async def check(self, *, force: bool = False) -> int:
        """Assess every feed (at most every ``CHECK_EVERY`` unless ``force``); queue
        notices; return how many were queued."""
        after = self.config.alerts.feed_health_after
        now = self.clock()
        if after <= timedelta(0):
            return 0
        if not force and self._checked is not None and now - self._checked < CHECK_EVERY:
            return 0
        self._checked = now
        if not await self.store.acquire_lease(LEASE, self.owner, now, CHECK_EVERY * 2):
            return 0  # another process assesses the feeds
        queued = 0
        for feed in await self.store.feed_health():
            change = assess(feed, now, after)
            if change is None:
                continue
            channels = await self.store.health_channels(feed.url) if change.notice else []
            notices = [(p, c, change.notice or "", change.text) for p, c in channels]
            problem = change.notice in ("broken", "silent")
            await self.store.record_health(
                feed.url, change.state, now if problem else None, notices, now
            )
            queued += len(notices)
            log.info(
                "feed health: %s is %s; %d channel notice(s) queued",
                feed.url,
                change.notice or change.state,
                len(notices),
            )
        return queued

    async def deliver(self, lease: timedelta) -> int:
        """Send the queued notices this process can send; return how many went out."""
        now = self.clock()
        rows = await self.store.claim_notices(now, self.owner, lease, list(self.senders))
        sent = 0
        for n in rows:
            sender = self.senders[n.platform]
            try:
                ref = await sender.post_notice(n.channel, n.body, key=f"alertbot-notice-{n.id}")
            except DeliveryError as e:
                delay = e.retry_after or min(RETRY_BASE * 2**n.attempts, RETRY_MAX)
                await self.store.mark_notice_failed(
                    n.id, e.reason, self.clock() + timedelta(seconds=delay)
                )
                log.warning("feed notice to %s %s not delivered: %s", n.platform, n.channel, e)
                continue
            await self.store.mark_notice_sent(n.id, ref, self.clock())
            sent += 1
        return sent
