"""The one composition root: config → store → service → session → pipeline → chat.

Every lifetime is opened here, in nested ``async with``/``try`` blocks, and
closed in reverse. SIGINT/SIGTERM stop scheduling new work; the poll or send
in flight finishes (or, past a few seconds' grace, is cancelled, which rolls its
transaction back so the work stays pending in the database). A second signal
exits at once.

Several processes may share one database. Each polls the feeds and sends the
outbox rows it claims; the chat connections that receive commands (the
Discord gateway, the Slack socket or HTTP port) are held by one process at a
time through a lease, and another takes over within a minute when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from bot import platforms
from bot.chat.base import DeliveryError, Sender
from bot.chat.console import ConsoleSender
from bot.chat.mentions import warn_config_mentions
from bot.config import Config, parse_listen
from bot.core.schedule import reconnect_delay
from bot.feeds.fetch import Fetcher, create_session
from bot.health import FeedHealthWatch
from bot.metrics import HealthServer, Metrics, watch_loop_lag
from bot.pipeline import (
    CycleStats,
    Deliverer,
    DeliveryStats,
    Poller,
    claims_kept,
    process_owner,
)
from bot.service import Service, fetching_probe
from bot.store import open_store_retrying

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 4.0
"""Seconds the work in flight may take to finish after a stop signal; then it is
cancelled (its transaction rolls back, its claims are handed back)."""
IDLE_POLL_CHECK = 30.0
"""At most this long between looks at which feeds are due (new feeds, edits)."""
ERROR_PAUSE = 30.0
"""Seconds to wait after an unexpected error in the poll or delivery loop."""
PRUNE_EVERY = 3600.0
"""Seconds between prunes of old stories (see Store.prune)."""
DELIVERY_TICK = 15.0
"""At most this long between outbox drains (retries, digests coming due)."""
LISTENER_LEASE = timedelta(seconds=40)
"""A chat connection's lease, or ``[bot] lease`` when that is shorter; another process
takes over this long after its holder died (plus one renewal period)."""
LISTENER_RENEW = 10.0
"""Seconds between renewals of a held lease, and between tries to take a free one
(a quarter of the lease)."""
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
    listener_lease: timedelta = LISTENER_LEASE
    """How long a chat connection's lease lasts (shorter in tests)."""
    listener_renew: float = LISTENER_RENEW
    """Seconds between renewals of a held chat-connection lease."""
    metrics: Metrics = field(default_factory=Metrics)
    problems: list[str] = field(default_factory=list)
    """Config problems found at start (e.g. a subscription naming no watchlist)."""
    health: HealthServer | None = None
    """The /metrics and /healthz listener while ``serve`` runs with one."""
    feed_health: FeedHealthWatch | None = None
    """Tells channels when a feed their alerts come from breaks or recovers."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to drain the outbox now (new alerts, a platform that just logged in)."""


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
        problems = list(service.problems)
        async with create_session(config.fetch) as session:
            fetcher = Fetcher(session, config.fetch)
            service.feed_probe = fetching_probe(fetcher)  # feeds add fetches the URL once
            senders: dict[str, Sender] = {"console": ConsoleSender(json_lines=json_lines, out=out)}
            bots: list[Any] = []
            logins: list[asyncio.Task[None]] = []
            wake = asyncio.Event()
            poller = Poller(store, config, fetcher, owner=owner)
            poller.wake = wake  # alerts of a feed go out once its poll is stored
            try:
                if chat:
                    await _start_chat(config, service, senders, bots, logins, wake)
                listener_lease = min(config.lease, LISTENER_LEASE)
                yield Runtime(
                    config=config,
                    service=service,
                    poller=poller,
                    deliverer=Deliverer(store, config, senders, owner=owner),
                    bots=bots,
                    owner=owner,
                    listener_lease=listener_lease,
                    listener_renew=listener_lease.total_seconds() / 4,
                    problems=problems,
                    # The poller's clock, looked up each time (tests move it).
                    feed_health=FeedHealthWatch(
                        store, config, senders, owner=owner, clock=lambda: poller.clock()
                    ),
                    wake=wake,
                )
            finally:
                for task in logins:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                for bot in reversed(bots):
                    with contextlib.suppress(Exception):
                        await bot.close()
                poller.close()  # the CPU worker processes
    finally:
        await service.close()


LOGIN_RETRY_BASE = 5.0
"""Seconds before the second try at a chat login that failed at start."""
LOGIN_RETRY_CAP = 300.0
"""Longest wait between tries at a chat login."""


def _login_refused(e: BaseException) -> bool:
    """A login the platform refused for good (a wrong token): retrying cannot help."""
    return isinstance(e, RuntimeError) or (isinstance(e, DeliveryError) and e.permanent)


def _why(e: BaseException) -> str:
    return str(e).strip() or type(e).__name__


async def _start_chat(
    config: Config,
    service: Service,
    senders: dict[str, Sender],
    bots: list[Any],
    logins: list[asyncio.Task[None]],
    wake: asyncio.Event,
) -> None:
    """Log in to each platform whose token is set (REST/Web API only; enough to send).

    A refused token stops here, with the reason. A platform that cannot be
    reached (down, timing out, answering 5xx) does not: polling goes on, its
    alerts wait in the outbox, and a task in ``logins`` keeps trying with
    back-off, adding the platform's sender once it is in. Each bot joins
    ``bots`` before it logs in, so the caller closes it even if the login fails.
    """
    for chat in platforms.enabled(config.secrets):
        bot: Any = chat.load()(config, service)  # imported only when used: they are heavy
        bots.append(bot)  # closed on the way out even when its login fails
        await _first_login(bot, chat.name, chat.title, senders, logins, wake)
    if not bots:
        tokens = ", ".join(p.token_env for p in platforms.PLATFORMS.values())
        log.info("no chat tokens set (%s): alerts go to the console", tokens)


async def _first_login(
    bot: Any,
    platform: str,
    name: str,
    senders: dict[str, Sender],
    logins: list[asyncio.Task[None]],
    wake: asyncio.Event,
) -> None:
    bot.logged_in = asyncio.Event()
    try:
        await bot.start()
    except Exception as e:
        if _login_refused(e):
            raise
        log.warning(
            "%s: cannot log in (%s); feeds are still polled and %s alerts wait in the "
            "outbox; retrying with back-off up to %.0f s",
            name,
            _why(e),
            name,
            LOGIN_RETRY_CAP,
        )
        logins.append(asyncio.create_task(_log_in_later(bot, platform, name, senders, wake)))
        return
    senders[platform] = bot.sender
    bot.logged_in.set()
    log.info("%s: logged in", name)
    await warn_config_mentions(bot, platform)


async def _log_in_later(
    bot: Any, platform: str, name: str, senders: dict[str, Sender], wake: asyncio.Event
) -> None:
    """Try a failed login again, with back-off and jitter, until it works (or is refused)."""
    started = time.monotonic()
    failures = 1
    while True:
        await asyncio.sleep(
            reconnect_delay(
                failures, base=LOGIN_RETRY_BASE, cap=LOGIN_RETRY_CAP, jitter=random.random()
            )
        )
        try:
            await bot.start()
        except Exception as e:
            if _login_refused(e):
                log.error("%s: login refused: %s; its alerts wait in the outbox", name, _why(e))
                return
            failures += 1
            log.debug("%s: login try %d failed: %s", name, failures, _why(e))
            continue
        senders[platform] = bot.sender
        bot.logged_in.set()
        wake.set()  # its waiting alerts go out now, not at the next delivery tick
        log.info(
            "%s: logged in after %d failed tries (%.0f s); delivering its waiting alerts",
            name,
            failures,
            time.monotonic() - started,
        )
        await warn_config_mentions(bot, platform)
        return


async def run_once(rt: Runtime, *, all_feeds: bool = False) -> tuple[CycleStats, DeliveryStats]:
    """One poll cycle over the due feeds, then deliver what is pending."""
    async with claims_kept(rt.service.store, rt.owner, rt.config.lease, rt.poller.clock):
        started = time.monotonic()
        stats = await rt.poller.poll_due(all_feeds=all_feeds)
        rt.metrics.record_cycle(stats, time.monotonic() - started)
        delivered = await rt.deliverer.drain()
        rt.metrics.record_delivery(delivered)
        await _feed_health(rt, force=True)
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


async def _feed_health(rt: Runtime, *, force: bool = False) -> None:
    """Assess the feeds and send the notices that are due (never fatal)."""
    if rt.feed_health is None:
        return
    try:
        await rt.feed_health.check(force=force)
        await rt.feed_health.deliver(rt.config.lease)
    except Exception:  # the notices wait in the database for the next try
        log.exception("feed health notices failed; trying again later")


async def prune(rt: Runtime) -> None:
    counts = await rt.service.store.prune(
        rt.poller.clock(), keep=rt.config.keep, window=rt.config.alerts.cluster_window
    )
    if any(counts.values()):
        log.info("pruned: %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def _listen(bot: Any) -> None:
    """Run a platform's command listener; if it dies, alerts still go out over REST.

    The platforms' ``serve()`` reconnect by themselves and never return; this
    catches what they did not foresee (a bug, a malformed payload), and
    :func:`hold_and_listen` starts them again.
    """
    try:
        await bot.serve()
    except Exception:
        log.exception(
            "%s stopped listening for commands; delivery goes on, listening starts again",
            type(bot).__name__,
        )


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
    the holder dies. A listener that stops by itself is started again after a
    jittered back-off (``renew`` doubling up to :data:`LISTENER_RETRY_MAX`; a
    listener that ran that long starts the count afresh).
    """
    store = rt.service.store
    name = "listener:" + type(bot).__name__.removesuffix("Bot").lower()
    clock = rt.poller.clock
    loop = asyncio.get_running_loop()
    stops = 0
    waiting_logged = False
    logged_in: asyncio.Event | None = getattr(bot, "logged_in", None)
    if logged_in is not None and not logged_in.is_set():
        # Its REST login failed at start and is being retried: listen once it works.
        await _first_of(logged_in, stop)
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
        started = renewed = loop.time()
        listener = asyncio.create_task(_listen(bot))
        try:
            while not stop.is_set() and not listener.done():
                await asyncio.wait({listener}, timeout=renew)
                if listener.done() or stop.is_set():
                    break
                attempt = loop.time()  # the new expiry counts from here
                try:
                    still = await store.acquire_lease(name, rt.owner, clock(), lease)
                except Exception as e:  # the database is busy or away: not a reason to die
                    if loop.time() - renewed + renew < lease.total_seconds():
                        log.warning(
                            "%s: could not renew the lease (%s); keeping the connection "
                            "while the lease lasts",
                            name,
                            e,
                        )
                        continue
                    log.warning(
                        "%s: could not renew the lease (%s) before it ran out; "
                        "stopping to listen so that no two processes do",
                        name,
                        e,
                    )
                    break
                if not still:
                    log.warning("%s: lease lost to another process; stopping to listen", name)
                    break
                renewed = attempt
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        if stop.is_set():
            with contextlib.suppress(Exception):
                await store.release_lease(name, rt.owner)
            return
        stops = 1 if loop.time() - started >= LISTENER_RETRY_MAX else stops + 1
        await _wait(
            stop,
            reconnect_delay(stops, base=renew, cap=LISTENER_RETRY_MAX, jitter=random.random()),
        )


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    """The first SIGINT/SIGTERM stops gently; a second one exits at once."""
    if stop.is_set():
        log.warning("%s again: exiting now", sig.name)
        logging.shutdown()
        os._exit(128 + sig.value)
    log.info("%s: stopping (send it again to exit at once)", sig.name)
    stop.set()


async def serve(rt: Runtime, stop: asyncio.Event | None = None) -> None:
    """Poll and deliver until ``stop`` is set (or SIGINT/SIGTERM arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _on_signal, stop, sig)
            installed.append(sig)
    wake = rt.wake
    health: HealthServer | None = None
    if rt.config.metrics.listen:
        host, port = parse_listen(rt.config.metrics.listen)
        health = HealthServer(
            rt.metrics, rt.service.store, stale=rt.config.metrics.stale, clock=rt.poller.clock
        )
        try:
            await health.start(host, port)
        except OSError as e:
            raise RuntimeError(
                f"cannot serve metrics on {rt.config.metrics.listen}: {e.strerror or e} "
                "(pick another [metrics] listen / --metrics HOST:PORT)"
            ) from None
    rt.health = health

    async def poll_loop() -> None:
        pruned_at = 0.0
        while not stop.is_set():
            delay = IDLE_POLL_CHECK
            try:
                if loop.time() - pruned_at >= PRUNE_EVERY:
                    await prune(rt)
                    pruned_at = loop.time()
                await rt.service.reseed()  # watchlist file edits take effect live
                started = time.monotonic()
                stats = await rt.poller.poll_due()
                rt.metrics.record_cycle(stats, time.monotonic() - started)
                await _feed_health(rt)
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
                rt.metrics.record_delivery(await rt.deliverer.drain())
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
            lag = tg.create_task(watch_loop_lag(rt.metrics, stop))
            for bot in rt.bots:
                bot.connection.observer = functools.partial(
                    rt.metrics.record_chat, bot.sender.platform
                )
            listeners = [
                tg.create_task(
                    hold_and_listen(rt, bot, stop, lease=rt.listener_lease, renew=rt.listener_renew)
                )
                for bot in rt.bots
            ]
            log.info(
                "roles: %s polls feeds and delivers alerts%s",
                rt.owner,
                "; chat connections go to whichever process holds their lease" if rt.bots else "",
            )

            async def stopper() -> None:
                await stop.wait()
                log.info("stopping: finishing the work in flight (up to %.0f s)", SHUTDOWN_GRACE)
                for t in [*listeners, lag]:
                    t.cancel()
                _, pending = await asyncio.wait(work, timeout=SHUTDOWN_GRACE)
                for t in pending:
                    t.cancel()

            tg.create_task(stopper())
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if health is not None:
            await health.close()
    log.info("stopped")
