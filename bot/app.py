"""The one composition root: config → store → session → pipeline → chat adapters.

Every lifetime is opened here, in nested ``async with``/``try`` blocks, and
closed in reverse. SIGINT/SIGTERM stop scheduling new work; the poll or send
in flight finishes (or, past a grace period, is cancelled, which rolls its
transaction back so the work stays pending in the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.chat.base import Sender
from bot.chat.console import ConsoleSender
from bot.config import Config
from bot.feeds.fetch import Fetcher, create_session
from bot.pipeline import CycleStats, Deliverer, DeliveryStats, Poller
from bot.service import Service

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 20.0
"""Seconds the work in flight may take to finish after a stop signal."""
IDLE_POLL_CHECK = 30.0
"""At most this long between looks at which feeds are due (new feeds, edits)."""
ERROR_PAUSE = 30.0
"""Seconds to wait after an unexpected error in the poll or delivery loop."""
PRUNE_EVERY = 3600.0
"""Seconds between prunes of old stories (see Store.prune)."""
DELIVERY_TICK = 15.0
"""At most this long between outbox drains (retries, digests coming due)."""


@dataclass(slots=True)
class Runtime:
    config: Config
    service: Service
    poller: Poller
    deliverer: Deliverer
    bots: list[Any] = field(default_factory=list)


@asynccontextmanager
async def open_runtime(
    config: Config, *, json_lines: bool = False, out: TextIO | None = None, chat: bool = True
) -> AsyncIterator[Runtime]:
    """Build every part; close them all, in reverse, on the way out."""
    service = await Service.open(config)
    try:
        async with create_session(config.fetch) as session:
            fetcher = Fetcher(session, config.fetch)
            senders: dict[str, Sender] = {"console": ConsoleSender(json_lines=json_lines, out=out)}
            bots: list[Any] = []
            try:
                if chat:
                    await _start_chat(config, service, senders, bots)
                yield Runtime(
                    config=config,
                    service=service,
                    poller=Poller(service.store, config, fetcher),
                    deliverer=Deliverer(service.store, config, senders),
                    bots=bots,
                )
            finally:
                for bot in reversed(bots):
                    with contextlib.suppress(Exception):
                        await bot.close()
    finally:
        await service.close()


async def _start_chat(
    config: Config, service: Service, senders: dict[str, Sender], bots: list[Any]
) -> None:
    """Log in to each platform whose token is set (REST/Web API only; enough to send).

    Each bot joins ``bots`` before it logs in, so the caller closes it even if
    the login fails.
    """
    s = config.secrets
    if s.discord_token:
        from bot.chat.discord import DiscordBot  # imported only when used: it is heavy

        bot = DiscordBot(config, service)
        bots.append(bot)  # closed on the way out even when its login fails
        await bot.start()
        senders["discord"] = bot.sender
        log.info("Discord: logged in")
    if s.slack_bot_token:
        from bot.chat.slack import SlackBot

        sbot = SlackBot(config, service)
        bots.append(sbot)
        await sbot.start()
        senders["slack"] = sbot.sender
        log.info("Slack: authenticated")
    if not bots:
        log.info("no chat tokens set (DISCORD_TOKEN, SLACK_BOT_TOKEN): alerts go to the console")


async def run_once(rt: Runtime, *, all_feeds: bool = False) -> tuple[CycleStats, DeliveryStats]:
    """One poll cycle over the due feeds, then deliver what is pending."""
    stats = await rt.poller.poll_due(all_feeds=all_feeds)
    delivered = await rt.deliverer.drain()
    await prune(rt)
    log.info(
        "cycle: %d feeds polled (%d unchanged, %d errors), %d new stories, %d alerting; "
        "%d posted, %d edited, %d digests, %d waiting",
        stats.feeds,
        stats.unchanged,
        stats.errors,
        stats.new_stories,
        stats.alerts,
        delivered.posted,
        delivered.edited,
        delivered.digests,
        delivered.waiting,
    )
    return stats, delivered


async def prune(rt: Runtime) -> None:
    counts = await rt.service.store.prune(
        rt.poller.clock(), keep=rt.config.keep, window=rt.config.alerts.cluster_window
    )
    if any(counts.values()):
        log.info("pruned: %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def _listen(bot: Any) -> None:
    """Run a platform's command listener; if it dies, alerts still go out over REST."""
    try:
        await bot.serve()
    except Exception:
        log.exception("%s stopped listening for commands; delivery goes on", type(bot).__name__)


async def serve(rt: Runtime, stop: asyncio.Event | None = None) -> None:
    """Poll and deliver until ``stop`` is set (or SIGINT/SIGTERM arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    wake = asyncio.Event()

    async def poll_loop() -> None:
        pruned_at = 0.0
        while not stop.is_set():
            delay = IDLE_POLL_CHECK
            try:
                if loop.time() - pruned_at >= PRUNE_EVERY:
                    await prune(rt)
                    pruned_at = loop.time()
                await rt.service.reseed()  # watchlist file edits take effect live
                stats = await rt.poller.poll_due()
                if stats.alerts or stats.new_stories:
                    wake.set()
                due = await rt.service.store.next_feed_due()
                if due is not None:
                    delay = min(
                        max((due - rt.poller.clock()).total_seconds(), 1.0), IDLE_POLL_CHECK
                    )
            except Exception:  # the bot keeps running; the work stays in the database
                log.exception("poll cycle failed; trying again in %.0f s", ERROR_PAUSE)
                delay = ERROR_PAUSE
            await _wait(stop, delay)

    async def deliver_loop() -> None:
        while not stop.is_set():
            wake.clear()
            try:
                await rt.deliverer.drain()
            except Exception:  # pending alerts stay in the outbox for the next try
                log.exception("delivery failed; trying again in %.0f s", ERROR_PAUSE)
                await _wait(stop, ERROR_PAUSE)
            done = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(wake.wait())
            await asyncio.wait({done, woken}, timeout=DELIVERY_TICK, return_when="FIRST_COMPLETED")
            done.cancel()
            woken.cancel()

    try:
        async with asyncio.TaskGroup() as tg:
            work = [tg.create_task(poll_loop()), tg.create_task(deliver_loop())]
            listeners = [tg.create_task(_listen(bot)) for bot in rt.bots]

            async def stopper() -> None:
                await stop.wait()
                log.info("stopping: finishing the work in flight (up to %.0f s)", SHUTDOWN_GRACE)
                for t in listeners:
                    t.cancel()
                _, pending = await asyncio.wait(work, timeout=SHUTDOWN_GRACE)
                for t in pending:
                    t.cancel()

            tg.create_task(stopper())
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    log.info("stopped")
