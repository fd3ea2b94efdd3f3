"""The one composition root: config → store → service → session → pipeline → chat.

Every lifetime is opened here, in nested ``async with``/``try`` blocks, and
closed in reverse. SIGINT/SIGTERM stop scheduling new work; the poll or send
in flight finishes (or, past a grace period, is cancelled, which rolls its
transaction back so the work stays pending in the database).

Several processes may share one database. Each polls the feeds and sends the
outbox rows it claims; the chat connections that receive commands (the
Discord gateway, the Slack socket or HTTP port) are held by one process at a
time through a lease, and another takes over within a minute when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from bot.chat.base import Sender
from bot.chat.console import ConsoleSender
from bot.config import Config
from bot.feeds.fetch import Fetcher, create_session
from bot.pipeline import (
    CycleStats,
    Deliverer,
    DeliveryStats,
    Poller,
    claims_kept,
    process_owner,
)
from bot.service import Service
from bot.store import open_store_retrying

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
LISTENER_LEASE = timedelta(seconds=40)
"""A chat connection's lease; another process takes over this long after its holder died."""
LISTENER_RENEW = 10.0
"""Seconds between renewals of a held lease, and between tries to take a free one."""
LISTENER_RETRY_MAX = 300.0
"""Longest pause before a listener that stopped by itself is started again."""
DATABASE_WAIT = 60.0
"""Seconds ``run`` keeps retrying a database that is locked or unreachable at start."""


@dataclass(slots=True)
class Runtime:
    config: Config
    service: Service
    poller: Poller
    deliverer: Deliverer
    bots: list[Any] = field(default_factory=list)
    owner: str = ""
    """This process's name on its leases."""


@asynccontextmanager
async def open_runtime(
    config: Config, *, json_lines: bool = False, out: TextIO | None = None, chat: bool = True
) -> AsyncIterator[Runtime]:
    """Build every part; close them all, in reverse, on the way out."""
    store = await open_store_retrying(config.database, wait=DATABASE_WAIT)
    service = Service(store, config)
    owner = process_owner()
    try:
        await service.prepare()
        async with create_session(config.fetch) as session:
            fetcher = Fetcher(session, config.fetch)
            senders: dict[str, Sender] = {"console": ConsoleSender(json_lines=json_lines, out=out)}
            bots: list[Any] = []
            poller = Poller(store, config, fetcher, owner=owner)
            try:
                if chat:
                    await _start_chat(config, service, senders, bots)
                yield Runtime(
                    config=config,
                    service=service,
                    poller=poller,
                    deliverer=Deliverer(store, config, senders, owner=owner),
                    bots=bots,
                    owner=owner,
                )
            finally:
                for bot in reversed(bots):
                    with contextlib.suppress(Exception):
                        await bot.close()
                poller.close()  # the CPU worker processes
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
    async with claims_kept(rt.service.store, rt.owner, rt.config.lease, rt.poller.clock):
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


async def hold_and_listen(
    rt: Runtime,
    bot: Any,
    stop: asyncio.Event,
    *,
    lease: timedelta = LISTENER_LEASE,
    renew: float = LISTENER_RENEW,
) -> None:
    """Listen for a platform's commands while this process holds its lease.

    One process at a time holds each chat connection; the others wait and try
    again every few seconds, so one of them takes over within a minute after
    the holder dies. A listener that stops by itself is started again with back-off.
    """
    store = rt.service.store
    name = "listener:" + type(bot).__name__.removesuffix("Bot").lower()
    clock = rt.poller.clock
    retry = renew
    waiting_logged = False
    while not stop.is_set():
        try:
            held = await store.acquire_lease(name, rt.owner, clock(), lease)
        except Exception:
            log.exception("%s: could not read the lease; trying again", name)
            held = False
        if not held:
            if not waiting_logged:
                log.info("%s: another process holds this connection; standing by", name)
                waiting_logged = True
            await _wait(stop, renew)
            continue
        waiting_logged = False
        log.info("roles: this process holds %s", name)
        listener = asyncio.create_task(_listen(bot))
        try:
            while not stop.is_set() and not listener.done():
                await asyncio.wait({listener}, timeout=renew)
                if listener.done() or stop.is_set():
                    break
                if not await store.acquire_lease(name, rt.owner, clock(), lease):
                    log.warning("%s: lease lost to another process; stopping to listen", name)
                    break
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        if stop.is_set():
            with contextlib.suppress(Exception):
                await store.release_lease(name, rt.owner)
            return
        await _wait(stop, retry)
        retry = min(retry * 2, LISTENER_RETRY_MAX)


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
                due = await rt.service.store.next_feed_due(rt.poller.clock())
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

    keeper = claims_kept(rt.service.store, rt.owner, rt.config.lease, rt.poller.clock)
    try:
        async with keeper, asyncio.TaskGroup() as tg:
            work = [tg.create_task(poll_loop()), tg.create_task(deliver_loop())]
            listeners = [tg.create_task(hold_and_listen(rt, bot, stop)) for bot in rt.bots]
            log.info(
                "roles: %s polls feeds and delivers alerts%s",
                rt.owner,
                "; chat connections go to whichever process holds their lease" if rt.bots else "",
            )

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
