"""The CPU work on one fetched body, run in a pool of processes.

``analyse_body`` parses a body (``bot.feeds.parse``), matches every story against the
watchlists and fingerprints the ones that may alert (with their LSH bands):
everything a poll does with a body that costs CPU. The poller sends the job (bytes
and plain values) to a process of a ``CpuPool`` and gets plain values back, so the
event loop only moves bytes and results and never waits on the GIL behind a parse.
A process keeps the compiled matcher of the last watchlist version it saw and
recompiles when the version changes.

Processes start from a fork server that has already imported this module, so a new
worker costs a fork, not a fresh interpreter; a worker that dies (a crash in a C
library on hostile input) breaks the pool, and ``CpuPool`` starts a new one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import multiprocessing
import os
import select
import threading
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from bot.core import cluster as clustering
from bot.core.matching import Matcher, compile_matcher
from bot.core.models import Match
from bot.core.routing import may_alert
from bot.core.text import clear_memos as clear_text_memos
from bot.core.watchlist import WatchlistError, parse_watchlist
from bot.feeds.parse import ParsedFeed, parse_feed

__all__ = ["Analysed", "CpuPool", "IntTable", "Job", "analyse_body"]

log = logging.getLogger(__name__)
T = TypeVar("T")
S = TypeVar("S", bound=Sequence[int])


class IntTable(Mapping[str, S], Generic[S]):
    """Story id → a row of ints (a fingerprint, LSH keys), kept as one array of ints
    (``typecode``: 64-bit signed by default) and made into a ``tuple`` or ``list``
    (``make``) when a row is asked for.

    A feed of 2,000 stories has about half a million such ints: as Python objects they
    take ~17 MiB in the poller, which unpickles every result, though it only uses the
    rows of the stories it has not seen before; as one array they take 4 MiB. A row
    is made once and kept, so asking twice gives the same object. Rows that do not
    fit 64-bit ints are kept as they are.
    """

    __slots__ = ("_cache", "_index", "_make", "_plain", "_values")

    def __init__(
        self, rows: Mapping[str, S], make: Callable[[array[int]], S], typecode: str = "q"
    ) -> None:
        self._make = make
        self._cache: dict[str, S] = {}
        self._index: dict[str, tuple[int, int]] = {}
        self._values: array[int] = array(typecode)
        self._plain: dict[str, S] | None = None
        try:
            for key, row in rows.items():
                start = len(self._values)
                self._values.extend(row)
                self._index[key] = (start, len(self._values))
        except (OverflowError, TypeError):
            self._plain, self._index, self._values = dict(rows), {}, array(typecode)

    def __getitem__(self, key: str) -> S:
        if self._plain is not None:
            return self._plain[key]
        row = self._cache.get(key)
        if row is None:
            start, end = self._index[key]
            row = self._cache[key] = self._make(self._values[start:end])
        return row

    def __iter__(self) -> Iterator[str]:
        return iter(self._plain if self._plain is not None else self._index)

    def __len__(self) -> int:
        return len(self._plain if self._plain is not None else self._index)

    def __getstate__(self) -> tuple[object, ...]:
        return (self._make, self._index, self._values, self._plain)  # not the made rows

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self._make, self._index, self._values, self._plain = state  # type: ignore[assignment]
        self._cache = {}


@dataclass(frozen=True, slots=True)
class Job:
    body: bytes
    feed_url: str
    content_type: str
    outlet: str
    now: datetime
    cutoff: datetime
    """Stories published before this may not alert (``[bot] backfill``)."""
    first_poll: bool
    watchlists_version: int
    watchlists: tuple[tuple[str, str], ...]
    """(name, TOML body) of every stored watchlist."""


@dataclass(frozen=True, slots=True)
class Analysed:
    parsed: ParsedFeed
    matches: dict[str, list[Match]]
    """Story id → the watchlist matches of its title and text."""
    fingerprints: Mapping[str, clustering.Fingerprint]
    """Story id → fingerprint, for the stories that may alert."""
    bands: Mapping[str, list[int]]
    """Story id → the LSH keys of its fingerprint."""


_matcher: tuple[int, Matcher] | None = None

TRIM_BYTES = 4 << 20
"""A job whose body is at least this large hands its freed memory back to the OS
when it is done (``malloc_trim``): glibc keeps freed heap pages otherwise, and a
worker that once parsed a 15 MiB body would hold ~100 MiB more while idle."""
TRIM_AGAIN_SECONDS = 0.2
MMAP_THRESHOLD = 1 << 20
"""Allocations from this size up get pages of their own (``mallopt``), returned to the
OS as soon as they are freed. glibc's default threshold starts at 128 KiB but rises
to the largest block freed so far (up to 32 MiB), after which every body and
decoded copy of one lands in the heap and fragments it."""
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    # musl and other C libraries have neither function: then the helpers do nothing.
    if lib is None or not (hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt")):
        return None
    return lib


def tune_malloc() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD`` in this process; False without glibc."""
    lib = _glibc()
    return lib is not None and lib.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def trim_malloc() -> bool:
    """Give the heap's free pages back to the OS; False without glibc."""
    lib = _glibc()
    if lib is None:
        return False
    lib.malloc_trim(0)
    return True


def _compiled(version: int, bodies: tuple[tuple[str, str], ...]) -> Matcher:
    global _matcher
    if _matcher is None or _matcher[0] != version:
        watchlists = []
        for name, body in bodies:
            try:
                watchlists.append(parse_watchlist(body, f"watchlist {name}"))
            except WatchlistError:
                continue  # the poller logs it when it compiles its own copy
        _matcher = (version, compile_matcher(watchlists))
    return _matcher[1]


def analyse_body(job: Job) -> Analysed:
    """Parse, match and fingerprint one body (raises ``ParseError`` like ``parse_feed``);
    after a body of ``TRIM_BYTES`` or more, the freed memory goes back to the OS."""
    try:
        return _analyse(job)
    finally:
        if len(job.body) >= TRIM_BYTES:
            # The memo rows made during a huge parse sit among its freed objects and
            # would keep ~20 MiB of pages from going back: start them afresh.
            clustering.clear_memos()
            clear_text_memos()
            trim_malloc()  # the parse's garbage
            # The result and the job are freed only once the result is sent: trim
            # again a moment later, so an idle worker does not sit on them.
            timer = threading.Timer(TRIM_AGAIN_SECONDS, trim_malloc)
            timer.daemon = True
            timer.start()


def _analyse(job: Job) -> Analysed:
    parsed = parse_feed(
        job.body, job.feed_url, content_type=job.content_type, outlet=job.outlet, now=job.now
    )
    matcher = _compiled(job.watchlists_version, job.watchlists)
    matches: dict[str, list[Match]] = {}
    fingerprints: dict[str, clustering.Fingerprint] = {}
    bands: dict[str, list[int]] = {}
    for s in parsed.stories:
        if s.id in matches:
            continue
        matches[s.id] = matcher.match(s.title, s.text) if s.title or s.text else []
        if may_alert(s.published, job.cutoff, first_poll=job.first_poll):
            fp = fingerprints[s.id] = clustering.fingerprint(s.title, s.text)
            bands[s.id] = clustering.bands(fp)
    # Fingerprints are 32-bit hashes ("I"), LSH keys signed 64-bit ints ("q").
    return Analysed(parsed, matches, IntTable(fingerprints, tuple, "I"), IntTable(bands, list, "q"))


def _init_worker(parent: int) -> None:
    """A worker's set-up: large blocks in pages of their own; exit with ``parent``."""
    tune_malloc()
    _exit_with(parent)


def _exit_with(parent: int) -> None:
    """In a worker: exit as soon as the process that made the pool is gone.

    A pool worker holds both ends of its job queue, so a poller killed with SIGKILL
    (a crash, the OOM killer, ``kill -9``) would leave its workers waiting for jobs
    forever, and they in turn keep the fork server alive. A thread in every worker
    watches the poller's process and ends the worker when it dies.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(parent)
        except (AttributeError, OSError):  # no pidfd (not Linux ≥ 5.3): poll instead
            while _alive(parent):
                time.sleep(1.0)
        else:
            select.select([fd], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _context() -> multiprocessing.context.BaseContext:
    # A fork server, not a plain fork: the poller's process has threads (the SQLite
    # driver, the resolver) whose locks a fork could copy while held.
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    except ValueError:  # no fork server on this platform
        return multiprocessing.get_context("spawn")


BIG_JOB_BYTES = 1 << 20
"""Bodies from this size up count against the parse budget; smaller ones never wait."""
PARSE_BUDGET_BYTES = 16 << 20
"""Body bytes being parsed at once in all workers together. A worker's memory grows
by about three times the body it parses (the XML tree, the entries, the stories), so
with one 15 MiB body per worker the workers alone would need ~100 MiB each: on a
machine with many cores, far more than the poller. The budget keeps the workers' sum
bounded whatever the feeds send and however many workers there are; feeds of normal
size (the largest of 200 real feeds is 2.2 MB) parse side by side as before."""


class ParseBudget:
    """Admits jobs while the bytes they parse fit ``limit``; one job always runs.

    Jobs are admitted in the order they asked, so a big body is not passed over for
    ever by smaller ones that keep fitting.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        """The most bytes admitted at once so far (for tests and benchmarks)."""
        self._queue: collections.deque[int] = collections.deque()
        self._next = 0
        self._changed: asyncio.Condition | None = None

    @contextlib.asynccontextmanager
    async def share(self, size: int) -> AsyncIterator[None]:
        if self._changed is None:
            self._changed = asyncio.Condition()
        cond = self._changed
        self._next += 1
        ticket = self._next
        self._queue.append(ticket)
        try:
            async with cond:
                await cond.wait_for(
                    lambda: (
                        self._queue[0] == ticket
                        and (self.used == 0 or self.used + size <= self.limit)
                    )
                )
                self._queue.popleft()
                self.used += size
                self.peak = max(self.peak, self.used)
                cond.notify_all()  # the next in line may fit too
        except BaseException:
            if ticket in self._queue:
                self._queue.remove(ticket)
                async with cond:
                    cond.notify_all()
            raise
        try:
            yield
        finally:
            async with cond:
                self.used -= size
                cond.notify_all()


class CpuPool:
    """A process pool sized to ``workers`` that replaces itself when a worker dies.

    ``workers=0`` runs the jobs in a thread instead (no processes; for tools and tests
    that want one process).
    """

    def __init__(self, workers: int, *, parse_budget: int = PARSE_BUDGET_BYTES) -> None:
        self.workers = workers
        self.budget = ParseBudget(parse_budget)
        # The process that makes the pool (the poller) holds the fetched bodies: each
        # gets pages of its own, returned to the OS when the body is dropped.
        tune_malloc()
        self._pool: Executor | None = None
        self._starting: asyncio.Lock | None = None

    def _start(self) -> Executor:
        """A new pool with every worker up (blocking: run off the loop)."""
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        # Starting the fork server and forking the workers takes a second or so:
        # done here, in a thread, never on the event loop.
        for f in [pool.submit(int) for _ in range(self.workers)]:
            f.result()
        return pool

    async def _executor(self) -> Executor | None:
        if self.workers <= 0:
            return None
        if self._pool is None:
            if self._starting is None:
                self._starting = asyncio.Lock()
            async with self._starting:
                if self._pool is None:
                    self._pool = await asyncio.to_thread(self._start)
        return self._pool

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker process; a dead pool is replaced and the job fails.

        A ``Job`` among ``args`` whose body is ``BIG_JOB_BYTES`` or more waits for the
        parse budget (``PARSE_BUDGET_BYTES``) first."""
        size = sum(len(a.body) for a in args if isinstance(a, Job))
        if size < BIG_JOB_BYTES:
            return await self._run(fn, *args)
        async with self.budget.share(size):
            return await self._run(fn, *args)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        pool = await self._executor()
        if pool is None:
            return await asyncio.to_thread(fn, *args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, functools.partial(fn, *args))
        except BrokenProcessPool:
            if self._pool is pool:
                log.error("a CPU worker process died; starting a new pool")
                self._pool = None
                with contextlib.suppress(Exception):
                    pool.shutdown(wait=False, cancel_futures=True)
            raise

    def pids(self) -> list[int]:
        """The worker processes' ids (for benchmarks that add up their CPU time)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return list(procs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
