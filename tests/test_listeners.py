"""One process at a time holds each chat connection; another takes over when it dies.

Two runtimes on one database (each with its own connection and owner name) stand
for two processes; the listener is a stand-in for the Discord/Slack bot's
``serve()`` (the real ones are tested against the fakes elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from datetime import timedelta

from bot.app import hold_and_listen, open_runtime
from tests.conftest import MakeConfig

LEASE = timedelta(seconds=2)
RENEW = 0.3


class DiscordBot:
    """Stands in for bot.chat.discord.client.DiscordBot: serve() runs until cancelled."""

    def __init__(self) -> None:
        self.serving = False
        self.starts = 0

    async def serve(self) -> None:
        self.starts += 1
        self.serving = True
        try:
            await asyncio.Event().wait()
        finally:
            self.serving = False


async def until(condition, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        assert loop.time() - start < seconds, "timed out"
        await asyncio.sleep(0.05)
    return loop.time() - start


async def test_one_holder_at_a_time_and_a_takeover_after_it_dies(
    make_config: MakeConfig, database: str
) -> None:
    config = make_config([], database=database)
    out = io.StringIO()
    async with (
        open_runtime(config, out=out, chat=False) as a,
        open_runtime(config, out=out, chat=False) as b,
    ):
        bot_a, bot_b = DiscordBot(), DiscordBot()
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        task_a = asyncio.create_task(hold_and_listen(a, bot_a, stop_a, lease=LEASE, renew=RENEW))
        await until(lambda: bot_a.serving, 3)
        task_b = asyncio.create_task(hold_and_listen(b, bot_b, stop_b, lease=LEASE, renew=RENEW))
        await asyncio.sleep(LEASE.total_seconds() * 1.5)  # A renews; B stands by
        assert bot_a.serving and not bot_b.serving and bot_b.starts == 0
        # A dies: nothing is released; B takes over once A's lease ran out.
        task_a.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task_a
        # Within a lease, plus a renewal period and the 1 s resolution of stored times.
        await until(lambda: bot_b.serving, LEASE.total_seconds() + RENEW + 1.5)
        assert not bot_a.serving
        # B stops cleanly and hands the lease back at once.
        stop_b.set()
        await task_b
        assert await a.service.store.acquire_lease(
            "listener:discord", "someone", a.poller.clock(), LEASE
        )


async def test_a_database_that_cannot_renew_the_lease_stops_the_listener_not_the_process(
    make_config: MakeConfig, tmp_path
) -> None:
    """Another program holds the SQLite file's write lock past busy_timeout (5 s):
    renewals fail; the listener stops before its lease runs out (so no two
    processes listen), and starts again once the database answers."""
    import sqlite3

    path = tmp_path / "alertbot.db"
    config = make_config([], database=str(path))
    async with open_runtime(config, out=io.StringIO(), chat=False) as rt:
        bot = DiscordBot()
        stop = asyncio.Event()
        task = asyncio.create_task(hold_and_listen(rt, bot, stop, lease=LEASE, renew=RENEW))
        await until(lambda: bot.serving, 3)
        other = sqlite3.connect(path, timeout=0)
        try:
            other.execute("BEGIN EXCLUSIVE")
            # Renewals now wait 5 s and fail; the lease (2 s) runs out meanwhile.
            await until(lambda: not bot.serving, 10)
            assert not task.done()
        finally:
            other.rollback()
            other.close()
        await until(lambda: bot.serving, LEASE.total_seconds() + 10)
        assert bot.starts == 2 and not task.done()
        stop.set()
        await task
