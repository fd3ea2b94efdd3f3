"""``/metrics`` (Prometheus text format, through prometheus-client) and ``/healthz``.

The numbers come from what the loops already return (``CycleStats``,
``DeliveryStats``) and, at scrape time, from the store (outbox depth and age),
so the pipeline itself knows nothing of Prometheus. Each process serves its own
metrics; with several processes, scrape each one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from bot.pipeline import CycleStats, DeliveryStats
    from bot.store.base import Store

log = logging.getLogger(__name__)

LAG_TICK = 0.1
"""Seconds between the loop-lag probe's ticks."""
LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)
CYCLE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Every metric alertbot exports, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.feeds_polled = Counter(
            "alertbot_feeds_polled",
            "Feed polls, by result (new, unchanged, error)",
            ["result"],
            registry=r,
        )
        self.fetch_errors = Counter(
            "alertbot_fetch_errors",
            "Failed feed polls, by kind (timeout, http-404, ...)",
            ["kind"],
            registry=r,
        )
        self.stories = Counter("alertbot_stories", "New stories stored", registry=r)
        self.matches = Counter(
            "alertbot_matches", "New stories that matched a watchlist and may alert", registry=r
        )
        self.alerts = Counter(
            "alertbot_alerts",
            "Alert messages, by outcome (posted, edited, digest, failed)",
            ["state"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "alertbot_outbox_depth", "Alerts waiting in the outbox (all processes)", registry=r
        )
        self.outbox_oldest = Gauge(
            "alertbot_outbox_oldest_seconds", "Age of the oldest waiting alert", registry=r
        )
        self.latency = Histogram(
            "alertbot_publish_to_post_seconds",
            "From a story's publication time to its alert's post",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cycle = Histogram(
            "alertbot_poll_cycle_seconds",
            "Duration of one poll pass over the due feeds",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "alertbot_loop_lag_seconds",
            "How late the event loop ran a timer",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.last_poll = Gauge(
            "alertbot_last_poll_timestamp_seconds",
            "When the poll loop last finished a pass",
            registry=r,
        )
        self.chat_connected = Gauge(
            "alertbot_chat_connected",
            "1 while this process holds a platform's command connection and it is up",
            ["platform"],
            registry=r,
        )
        self.chat_reconnects = Counter(
            "alertbot_chat_reconnects",
            "Chat connection or login retries, by platform",
            ["platform"],
            registry=r,
        )
        self.chat_events = Counter(
            "alertbot_chat_connection_events",
            "Chat command connection events, by platform and event "
            "(connect, resume, drop, failure, outage, stop)",
            ["platform", "event"],
            registry=r,
        )
        self.last_poll_at: float | None = None
        """Monotonic time of the last finished poll pass (for /healthz)."""

    def record_cycle(self, stats: CycleStats, seconds: float) -> None:
        for outcome in stats.outcomes:
            self.feeds_polled.labels(outcome.status).inc()
            if outcome.status == "error":
                self.fetch_errors.labels(outcome.kind or "other").inc()
        self.stories.inc(stats.new_stories)
        self.matches.inc(stats.alerts)
        self.cycle.observe(seconds)
        self.mark_polled()

    def mark_polled(self) -> None:
        """The poll loop finished a pass (even one with no feed due)."""
        self.last_poll_at = time.monotonic()
        self.last_poll.set(time.time())

    def record_delivery(self, stats: DeliveryStats) -> None:
        for state, n in (
            ("posted", stats.posted),
            ("edited", stats.edited),
            ("digest", stats.digests),
            ("failed", stats.failed),
        ):
            if n:
                self.alerts.labels(state).inc(n)
        for seconds in stats.latencies:
            self.latency.observe(seconds)

    def record_chat(self, platform: str, event: str, up: bool) -> None:
        """An event of a platform's command connection (see ``bot.chat.base.Supervisor``)."""
        self.chat_connected.labels(platform).set(1 if up else 0)
        self.chat_events.labels(platform, event).inc()
        if event in ("drop", "failure"):  # each is followed by another try
            self.chat_reconnects.labels(platform).inc()

    async def refresh_outbox(self, store: Store, now: datetime) -> None:
        depth, oldest = await store.outbox_backlog(now)
        self.outbox_depth.set(depth)
        self.outbox_oldest.set(max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def watch_loop_lag(metrics: Metrics, stop: asyncio.Event, tick: float = LAG_TICK) -> None:
    """Sleep ``tick`` over and over; how much later than asked the loop woke is its lag."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(tick)
        metrics.loop_lag.observe(max(loop.time() - start - tick, 0.0))


class HealthServer:
    """``GET /metrics`` and ``GET /healthz`` on one HTTP listener.

    ``/healthz`` answers 200 while the loop runs and the last poll pass is
    recent (within ``stale``), else 503, with a small JSON body saying why.
    """

    def __init__(
        self,
        metrics: Metrics,
        store: Store,
        *,
        stale: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.stale = stale
        self.clock = clock
        self.started = time.monotonic()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self, host: str, port: int) -> None:
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("metrics: serving /metrics and /healthz on http://%s:%d", host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            await self.metrics.refresh_outbox(self.store, self.clock())
        except Exception:  # the database may be down: serve what we have
            log.warning("metrics: could not read the outbox backlog", exc_info=True)
        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        last = self.metrics.last_poll_at
        age = None if last is None else now - last
        limit = self.stale.total_seconds()
        if age is None:
            # Not polled yet: healthy while starting up, for one stale period.
            ok = now - self.started <= limit
            reason = "starting" if ok else f"no poll pass finished in {limit:.0f} s"
        else:
            ok = age <= limit
            reason = "ok" if ok else f"last poll pass {age:.0f} s ago (limit {limit:.0f} s)"
        doc = {
            "status": "ok" if ok else "unhealthy",
            "reason": reason,
            "last_poll_seconds_ago": None if age is None else round(age, 1),
            "uptime_seconds": round(now - self.started, 1),
        }
        return web.Response(
            status=200 if ok else 503, text=json.dumps(doc), content_type="application/json"
        )
