"""Several real ``alertbot run`` processes sharing one database: a cold and a warm cycle.

N feeds (default 10,000) are served on 127.0.0.1 by a child process: distinct URL
paths ``/f/<i>.xml`` mapping onto the files of ../shared/corpus/realfeeds (half of
them gzip-encoded), with ETag/Last-Modified and 304 answers to conditional GETs.
Without the corpus (or with no file under ``--max-kb``), small synthetic RSS feeds
are generated instead, and the output says so.

For each case (PostgreSQL with 1, 2 and 4 workers, SQLite with 1), a fresh
database is seeded once, untimed: the N feeds as user-added feeds (as
``alertbot feeds add`` would; a config listing 10,000 ``[[feeds]]`` would make
every worker re-sync them on start), and the watchlists and the console
subscription (``Service.prepare``). Then:

- cold cycle: every feed is new, hence due. The workers start together, each
  ``python -m bot.cli run --once --json``: it claims due feeds in batches of
  ``[fetch] max_connections`` until none is left (``Poller.poll_due``), then
  drains the outbox. (``--all`` would claim every feed in one process.)
- warm cycle: between the cycles one SQL UPDATE through the store makes every
  feed due again (``next_due_at`` one minute ago; ``last_fetched_at`` cleared, to
  count the polls of the next cycle); the same workers run again and get 304s.

Measured per cycle: wall time (start of the first worker to exit of the last),
CPU seconds of the workers (user+sys from ``os.wait4`` of each worker, i.e. its
rusage, which also answers peak RSS per worker), CPU of the feed server and of
the PostgreSQL server (from /proc, Linux only; both share the cores with the
workers), feeds polled per second (from ``last_fetched_at``), new stories and
outbox rows. Baseline in the same run: the 1-worker case of each backend; the
last column is the wall-time ratio of each case against it.

Checks per cycle: requests the feed server answered (200/304), paths fetched
more than once (duplicate work), alerts printed more than once, PostgreSQL lock
waits over 100 ms (``log_lock_waits``), warnings and errors in the worker logs.

    python bench/scale.py [--feeds 10000] [--quick] [--workers 1,2,4]
                          [--corpus DIR] [--max-kb N] [--connections 32] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus" / "realfeeds"

QUICK_FEEDS = 200
QUICK_MAX_KB = 32  # --quick serves only the small corpus files: a smoke run, not a measure
SYNTHETIC_FILES = 100
LOCK_WAIT_MS = 100  # PostgreSQL logs lock waits longer than this (deadlock_timeout)

# The feed server, run as a child process so its CPU is not the workers' (argv: the
# number of feeds, then a file listing the bodies to serve, one path a line).
# GET /f/<i>.xml serves body i % len(bodies), gzip-encoded when i is even;
# GET /_stats answers the counters since the last /_stats and resets them.
SERVER = r"""
import array, gzip, hashlib, sys
from email.utils import formatdate
from pathlib import Path
from aiohttp import web

n = int(sys.argv[1])
paths = [p for p in Path(sys.argv[2]).read_text().splitlines() if p]
plain = [Path(p).read_bytes() for p in paths]
packed = [gzip.compress(b, 6, mtime=0) for b in plain]
tags = [hashlib.sha256(b).hexdigest()[:16] for b in plain]
etags = [('"%s"' % t, '"%s-gz"' % t) for t in tags]
last_modified = formatdate(usegmt=True)
hits = array.array("I", bytes(4 * n))
counts = {"requests": 0, "200": 0, "304": 0, "404": 0}


async def feed(request):
    name = request.match_info["name"]
    i = int(name) if name.isdigit() else -1
    if not 0 <= i < n:
        counts["404"] += 1
        raise web.HTTPNotFound()
    counts["requests"] += 1
    hits[i] += 1
    k, gz = i % len(plain), i % 2 == 0
    etag = etags[k][gz]
    headers = {"ETag": etag, "Last-Modified": last_modified}
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        fresh = etag in {t.strip().removeprefix("W/") for t in inm.split(",")}
    else:
        fresh = request.headers.get("If-Modified-Since") == last_modified
    if fresh:
        counts["304"] += 1
        return web.Response(status=304, headers=headers)
    counts["200"] += 1
    headers["Content-Type"] = "application/rss+xml; charset=utf-8"
    if gz:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=packed[k] if gz else plain[k], headers=headers)


async def stats(request):
    doc = dict(counts)
    doc["paths"] = sum(1 for h in hits if h)
    doc["dup_paths"] = sum(1 for h in hits if h > 1)
    doc["max_hits"] = max(hits) if n else 0
    for key in counts:
        counts[key] = 0
    for i in range(n):
        hits[i] = 0
    return web.json_response(doc)


async def main():
    app = web.Application()
    app.router.add_get("/f/{name}.xml", feed)
    app.router.add_get("/_stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


import asyncio
asyncio.run(main())
"""

BENCH_WATCHLIST = """
name = "Bench"
description = "common news names, so that the corpus alerts"
[[terms]]
name = "Iran"
forms = ["Iran", "Tehran"]
[[terms]]
name = "Ukraine"
forms = ["Ukraine", "Kyiv"]
[[terms]]
name = "NATO"
forms = ["NATO"]
[[terms]]
name = "Trump"
forms = ["Trump"]
"""


def columns(spec: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Column names and widths from "name:width name:width ..."."""
    pairs = [c.rsplit(":", 1) for c in spec.split()]
    return tuple(name for name, _ in pairs), tuple(int(width) for _, width in pairs)


HEADERS, WIDTHS = columns(
    "backend:8 workers:7 cycle:5 wall_s:8 cpu_s:8 db_cpu_s:8 http_cpu_s:10 feeds:7 feeds/s:8 "
    "stories:7 alerts:6 peak_rss_mb:19 ratio_wall_vs_1:15"
)
CHECK_HEADERS, CHECK_WIDTHS = columns(
    "backend:8 workers:7 cycle:5 requests:8 200s:6 304s:6 dup_fetch:9 posted:6 dup_post:8 "
    "feed_err:8 unsent:6 leased:6 lock_waits:10 lock_wait_s:11 log_warn:8 log_err:7 exit:8"
)


def say(text: str = "") -> None:
    print(text, flush=True)


def row(values: tuple[object, ...], widths: tuple[int, ...]) -> str:
    return "  ".join(
        str(v).rjust(w) if i > 2 else str(v).ljust(w)
        for i, (v, w) in enumerate(zip(values, widths, strict=True))
    ).rstrip()


# ---------------------------------------------------------------- feeds to serve


def synthetic_feeds(folder: Path, items_per_feed: int, count: int = SYNTHETIC_FILES) -> list[Path]:
    """Small RSS 2.0 files of made-up stories; about one in ten names a watched name.

    The words are random (seeded), so stories differ as much as real ones do:
    templated near-identical items would all land in one event's candidates.
    """
    import random
    from email.utils import format_datetime
    from html import escape

    rng = random.Random(20261202)
    syllables = ["ba", "ko", "ri", "sen", "tal", "mo", "ve", "dur", "an", "pli", "gor", "esh"]
    vocabulary = list({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(6000)})
    names = ["Iran", "Ukraine", "NATO", "Trump", "Kyiv", "Tehran"]

    def words(k: int) -> str:
        return " ".join(rng.choices(vocabulary, k=k))

    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    files = []
    for f in range(count):
        items = []
        for k in range(items_per_feed):
            n = f * items_per_feed + k
            title = words(rng.randint(5, 9)).capitalize()
            if rng.random() < 0.1:
                title = f"{rng.choice(names)} {title.lower()}"
            text = ". ".join(words(rng.randint(8, 16)).capitalize() for _ in range(5)) + "."
            link = f"https://outlet{f}.example/story/{n}"
            when = format_datetime(start - timedelta(minutes=n), usegmt=True)
            items.append(
                f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
                f"<pubDate>{when}</pubDate><description>{escape(text)}</description></item>"
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Synthetic outlet {f}</title><link>https://outlet{f}.example/</link>"
            f"<description>synthetic</description>{''.join(items)}</channel></rss>\n"
        )
        path = folder / f"synthetic-{f:03d}.xml"
        path.write_text(body, encoding="utf-8")
        files.append(path)
    return files


def choose_files(
    corpus: Path, max_kb: int | None, tmp: Path, synthetic_items: int
) -> tuple[list[Path], str]:
    """The bodies to serve and a line saying where they come from."""
    found = sorted(corpus.glob("*.xml")) if corpus.is_dir() else []
    chosen = [p for p in found if max_kb is None or p.stat().st_size <= max_kb * 1024]
    if chosen:
        size = sum(p.stat().st_size for p in chosen)
        limit = f" of at most {max_kb} KiB" if max_kb is not None else ""
        return chosen, (
            f"{len(chosen)} corpus files{limit} from {corpus} "
            f"({size / len(chosen) / 1024:.0f} KiB on average)"
        )
    why = (
        f"no *.xml file of at most {max_kb} KiB in {corpus}"
        if found
        else f"no corpus found at {corpus}"
    )
    files = synthetic_feeds(tmp / "synthetic", synthetic_items)
    return (
        files,
        f"SYNTHETIC feeds: {why}; serving {len(files)} generated "
        f"{synthetic_items}-item RSS files instead",
    )


class FeedServer:
    """The child process serving the feeds."""

    def __init__(self, n: int, files: list[Path], tmp: Path) -> None:
        listing = tmp / "bodies.txt"
        listing.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(n), str(listing)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=tmp,
            env=worker_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("the feed server did not start")
        self.port = int(line)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/f/{i}.xml"

    def stats(self) -> dict[str, int]:
        with self._opener.open(f"http://127.0.0.1:{self.port}/_stats", timeout=30) as resp:
            doc: dict[str, int] = json.load(resp)
            return doc

    def cpu(self) -> float | None:
        return proc_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- CPU from /proc


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is field 0)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def proc_cpu(pid: int, *, children: bool = False) -> float | None:
    """User+system seconds of a process (and of its reaped children, if asked)."""
    f = _stat(pid)
    if f is None:
        return None
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float | None:
    """CPU seconds of a server and its children, live and exited (the postmaster reaps
    its backends, so theirs moves into its children's time when they exit)."""
    total = proc_cpu(root, children=True)
    if total is None:
        return None
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            f = _stat(int(entry.name))
            if f is not None and f[1] == str(root):
                total += proc_cpu(int(entry.name), children=True) or 0.0
    return total


# ---------------------------------------------------------------- PostgreSQL


class Postgres:
    """The throwaway server of tests/pgserver.py, with lock waits logged."""

    def __init__(self) -> None:
        from tests.pgserver import PgServer

        self.server = PgServer()
        self.server.start()
        try:
            self._admin("ALTER SYSTEM SET log_lock_waits = on")
            self._admin(f"ALTER SYSTEM SET deadlock_timeout = '{LOCK_WAIT_MS}ms'")
            self._admin("SELECT pg_reload_conf()")
            self.version = self._admin("SHOW server_version")
        except BaseException:
            self.server.stop()
            raise

    def _admin(self, sql: str) -> str:
        import asyncpg

        async def run() -> str:
            conn = await asyncpg.connect(self.server.url("postgres"), timeout=10)
            try:
                if sql.startswith("SHOW"):
                    return str(await conn.fetchval(sql))
                await conn.execute(sql)
                return ""
            finally:
                await conn.close()

        return asyncio.run(run())

    def database(self, name: str) -> str:
        return self.server.create_database(name)

    def postmaster(self) -> int | None:
        try:
            return int((self.server.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, AssertionError):
            return None

    def cpu(self) -> float | None:
        pid = self.postmaster()
        return None if pid is None else tree_cpu(pid)

    def log_size(self) -> int:
        try:
            return self.server.log_file.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> list[str]:
        try:
            with self.server.log_file.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace").splitlines()
        except OSError:
            return []

    def stop(self) -> None:
        self.server.stop()


# ---------------------------------------------------------------- the database


async def _with_store(database: str, work: Any) -> Any:
    from bot.store import open_store

    store = await open_store(database)
    try:
        return await work(store)
    finally:
        await store.close()


def seed(database: str, config_path: Path, urls: list[str]) -> None:
    """The feeds (as user-added), then the watchlists and subscription of the config."""
    from bot.config import load_config
    from bot.service import Service

    config = load_config(config_path, env={})

    async def work(store: Any) -> None:
        now = datetime.now(UTC)
        async with store.transaction():
            for url in urls:
                await store.add_feed(url, now)
        await Service(store, config).prepare()

    asyncio.run(_with_store(database, work))


def make_due(database: str) -> None:
    """Every feed due again, and no poll counted yet (between the cold and warm cycle).

    Raw SQL through the store's own statement runner (SQLStore._exec): the Store
    protocol has no "make everything due" on purpose.
    """
    from bot.store.base import iso

    async def work(store: Any) -> None:
        past = iso(datetime.now(UTC) - timedelta(minutes=1))
        await store._exec("UPDATE feeds SET next_due_at = ?, last_fetched_at = NULL", (past,))

    asyncio.run(_with_store(database, work))


@dataclass
class Census:
    polled: int = 0
    feed_errors: int = 0
    leased: int = 0
    stories: int = 0
    outbox: int = 0
    unsent: int = 0


def census(database: str) -> Census:
    async def work(store: Any) -> Census:
        async def count(sql: str) -> int:
            r = await store._one(sql)
            return int(r["n"]) if r is not None else 0

        return Census(
            polled=await count("SELECT COUNT(*) AS n FROM feeds WHERE last_fetched_at IS NOT NULL"),
            feed_errors=await count(
                "SELECT COUNT(*) AS n FROM feeds WHERE last_fetched_at IS NOT NULL AND error != ''"
            ),
            leased=await count("SELECT COUNT(*) AS n FROM feeds WHERE lease_owner IS NOT NULL"),
            stories=await store.story_count(),
            outbox=await count("SELECT COUNT(*) AS n FROM outbox"),
            unsent=await store.pending_count(),
        )

    result: Census = asyncio.run(_with_store(database, work))
    return result


# ---------------------------------------------------------------- workers


_SECRETS = {"DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"}


def worker_env() -> dict[str, str]:
    """No chat tokens (alerts go to the console), no database override, no proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SECRETS and not k.startswith("ALERTBOT_") and "proxy" not in k.lower()
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a TOML basic string


def write_config(
    path: Path, database: str, watchlists: Path, names: list[str], connections: int
) -> None:
    path.write_text(
        "\n".join(
            [
                "[bot]",
                f"database = {toml_str(database)}",
                f"watchlists = {toml_str(str(watchlists))}",
                'backfill = "36500d"  # corpus items are old: let them alert',
                'keep = "36600d"      # and let no prune remove them',
                'log_level = "WARNING"',
                "",
                "[fetch]",
                "allow_private = true  # the feeds are on 127.0.0.1",
                f"max_connections = {connections}",
                f"max_per_host = {connections}  # every feed is on one host here",
                "",
                "[alerts]",
                "fetch_articles = false",
                "",
                "[[subscriptions]]",
                'platform = "console"',
                'channel = "bench"',
                f"watchlists = [{', '.join(toml_str(n) for n in names)}]",
                "",
            ]
        ),
        encoding="utf-8",
    )


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    out: Path
    log: Path
    end: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    code: int | None = None


def run_workers(
    config: Path, n: int, tag: str, logs: Path, timeout: float
) -> tuple[float, list[Worker]]:
    """Start ``n`` workers at once; wait for all (reaping each with wait4 for its rusage)."""
    cmd = [sys.executable, "-m", "bot.cli", "run", "--once", "--json", "--config", str(config)]
    env = worker_env()
    workers: list[Worker] = []
    t0 = time.perf_counter()
    for k in range(n):
        out, log = logs / f"{tag}-w{k + 1}.jsonl", logs / f"{tag}-w{k + 1}.log"
        with out.open("wb") as o, log.open("wb") as e:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, cwd=config.parent, env=env
            )
        workers.append(Worker(proc, out, log))
    pending = {w.proc.pid: w for w in workers}
    killed = False
    while pending:
        for pid, w in list(pending.items()):
            got, status, usage = os.wait4(pid, os.WNOHANG)
            if got == 0:
                continue
            w.end = time.perf_counter()
            w.cpu = usage.ru_utime + usage.ru_stime
            w.rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
            w.code = os.waitstatus_to_exitcode(status)
            w.proc.returncode = w.code  # reaped here, not by Popen
            del pending[pid]
        if pending and not killed and time.perf_counter() - t0 > timeout:
            say(f"  {tag}: workers still running after {timeout:.0f} s: killed")
            for w in pending.values():
                w.proc.send_signal(signal.SIGKILL)
            killed = True
        if pending:
            time.sleep(0.02)
    return max(w.end for w in workers) - t0, workers


def posted(workers: list[Worker]) -> tuple[int, int]:
    """Alerts printed (posts, digest entries included) and how many repeat a cluster."""
    clusters: Counter[int] = Counter()
    for w in workers:
        with w.out.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                    doc = json.loads(line)
                    if doc.get("action") == "post":
                        clusters[int(doc["cluster_id"])] += 1
    total = sum(clusters.values())
    return total, total - len(clusters)


LEVEL = re.compile(r"^\d\d:\d\d:\d\d (WARNING|ERROR|CRITICAL)\s")


def log_lines(workers: list[Worker]) -> tuple[list[str], list[str]]:
    """Warning and error lines (with tracebacks counted as errors) of the workers' logs."""
    warnings: list[str] = []
    errors: list[str] = []
    for k, w in enumerate(workers, 1):
        for line in w.log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = LEVEL.match(line)
            if m is None:
                if line.startswith("Traceback"):
                    errors.append(f"w{k}: {line}")
                continue
            (warnings if m.group(1) == "WARNING" else errors).append(f"w{k}: {line}")
    return warnings, errors


# ---------------------------------------------------------------- one case


@dataclass
class Result:
    backend: str
    workers: int
    cycle: str
    wall: float
    cpu: float
    db_cpu: float | None
    http_cpu: float | None
    census: Census
    stories: int
    alerts: int
    rss: list[float]
    served: dict[str, int]
    posted: int
    dup_posts: int
    lock_waits: int
    lock_wait_s: float
    warnings: list[str]
    errors: list[str]
    codes: list[int | None]
    ratio: float | None = None
    pg_lines: list[str] = field(default_factory=list)


WAITED = re.compile(r"acquired \w+ on .* after ([\d.]+) ms")


def run_case(
    backend: str,
    n_workers: int,
    database: str,
    config: Path,
    server: FeedServer,
    pg: Postgres | None,
    logs: Path,
    timeout: float,
    report: Any,
) -> None:
    before = census(database)
    for cycle in ("cold", "warm"):
        if cycle == "warm":
            make_due(database)
            before = census(database)
        server.stats()  # reset the server's counters
        http0, db0 = server.cpu(), pg.cpu() if pg else None
        log0 = pg.log_size() if pg else 0
        tag = f"{backend}-{n_workers}w-{cycle}"
        wall, workers = run_workers(config, n_workers, tag, logs, timeout)
        http1, db1 = server.cpu(), pg.cpu() if pg else None
        served = server.stats()
        after = census(database)
        pg_lines = pg.log_since(log0) if pg else []
        waits = [ln for ln in pg_lines if "still waiting for" in ln]
        waited = sum(float(m.group(1)) for ln in pg_lines if (m := WAITED.search(ln)))
        sent, dups = posted(workers)
        warnings, errors = log_lines(workers)
        report(
            Result(
                backend=backend,
                workers=n_workers,
                cycle=cycle,
                wall=wall,
                cpu=sum(w.cpu for w in workers),
                db_cpu=None if db0 is None or db1 is None else db1 - db0,
                http_cpu=None if http0 is None or http1 is None else http1 - http0,
                census=after,
                stories=after.stories - before.stories,
                alerts=after.outbox - before.outbox,
                rss=[w.rss_mb for w in workers],
                served=served,
                posted=sent,
                dup_posts=dups,
                lock_waits=len(waits),
                lock_wait_s=waited / 1000,
                warnings=warnings,
                errors=errors,
                codes=[w.code for w in workers],
                pg_lines=[ln for ln in pg_lines if "ERROR" in ln or "still waiting" in ln],
            )
        )


# ---------------------------------------------------------------- output


def fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def timing_row(r: Result) -> str:
    rate = r.census.polled / r.wall if r.wall > 0 else 0.0
    return row(
        (
            r.backend,
            r.workers,
            r.cycle,
            fmt(r.wall),
            fmt(r.cpu),
            fmt(r.db_cpu),
            fmt(r.http_cpu),
            r.census.polled,
            f"{rate:.1f}",
            r.stories,
            r.alerts,
            "/".join(f"{x:.0f}" for x in r.rss),
            "baseline" if r.ratio is None else f"x{r.ratio:.2f}",
        ),
        WIDTHS,
    )


def check_row(r: Result) -> str:
    s = r.served
    return row(
        (
            r.backend,
            r.workers,
            r.cycle,
            s.get("requests", 0),
            s.get("200", 0),
            s.get("304", 0),
            s.get("dup_paths", 0),
            r.posted,
            r.dup_posts,
            r.census.feed_errors,
            r.census.unsent,
            r.census.leased,
            r.lock_waits if r.backend == "postgres" else "n/a",
            fmt(r.lock_wait_s, 1) if r.backend == "postgres" else "n/a",
            len(r.warnings),
            len(r.errors),
            ",".join(str(c) for c in r.codes),
        ),
        CHECK_WIDTHS,
    )


def machine() -> str:
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cores} cores ({usable} usable), {model}{mem}"


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, default=10_000, help="feeds to serve and poll")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_FEEDS} feeds from corpus files of at most {QUICK_MAX_KB} KiB (smoke test)",
    )
    ap.add_argument(
        "--workers", default="1,2,4", help="worker counts on PostgreSQL (0: SQLite only)"
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.xml feeds")
    ap.add_argument("--max-kb", type=int, default=None, help="serve only files up to this size")
    ap.add_argument("--connections", type=int, default=32, help="[fetch] max_connections")
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the worker logs and the SQLite database in DIR",
    )
    args = ap.parse_args()
    n = QUICK_FEEDS if args.quick else args.feeds
    max_kb = args.max_kb if args.max_kb is not None else (QUICK_MAX_KB if args.quick else None)
    # --workers 0: the SQLite row only, no PostgreSQL server (the suite's smoke run).
    counts = sorted({int(x) for x in args.workers.split(",") if x.strip()} - {0})
    if counts and 1 not in counts:
        counts.insert(0, 1)  # the baseline

    tmp = Path(tempfile.mkdtemp(prefix="alertbot-scale-"))
    logs = args.keep or tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    timeout = 300 + 0.5 * n
    server: FeedServer | None = None
    pg: Postgres | None = None
    results: list[Result] = []
    try:
        files, source = choose_files(args.corpus, max_kb, tmp, 5 if args.quick else 20)
        wl = tmp / "watchlists"
        wl.mkdir()
        names = []
        for src in sorted((ROOT / "watchlists").glob("*.toml")):
            (wl / src.name).write_bytes(src.read_bytes())
            names.append(tomllib.loads(src.read_text(encoding="utf-8"))["name"])
        (wl / "bench.toml").write_text(BENCH_WATCHLIST, encoding="utf-8")
        names.append("Bench")

        server = FeedServer(n, files, tmp)
        urls = [server.url(i) for i in range(n)]
        say(f"scale: one cold and one warm cycle over {n} feeds on 127.0.0.1, real workers")
        say(f"  bodies: {source}; half of the feeds gzip-encoded; 304 on If-None-Match")
        say(
            f"  workers: python -m bot.cli run --once --json; [fetch] max_connections = "
            f"max_per_host = {args.connections} (claim batch {args.connections}); "
            "log_level WARNING; "
            + (f"logs kept in {logs}" if args.keep else "--keep DIR keeps their logs")
        )
        from tests.pgserver import unavailable_reason

        reason = unavailable_reason() if counts else "not asked for (--workers 0)"
        if reason is None:
            try:
                pg = Postgres()
                say(
                    f"  PostgreSQL {pg.version}: throwaway server (tests/pgserver.py), "
                    f"fsync off; lock waits over {LOCK_WAIT_MS} ms logged"
                )
            except Exception as e:  # a server that does not start: SQLite still runs
                say(f"  PostgreSQL could not be started, SQLite only: {e}")
                pg = None
        else:
            say(f"  PostgreSQL: {reason}; SQLite only")
        cases = [("postgres", c) for c in counts] if pg else []
        cases.append(("sqlite", 1))
        say("")
        say(row(HEADERS, WIDTHS))
        baseline: dict[tuple[str, str], float] = {}

        def report(r: Result) -> None:
            key = (r.backend, r.cycle)
            if r.workers == 1:
                baseline[key] = r.wall
            elif key in baseline and baseline[key] > 0:
                r.ratio = r.wall / baseline[key]
            results.append(r)
            say(timing_row(r))

        for backend, workers in cases:
            name = f"{backend}-{workers}w"
            if backend == "postgres":
                assert pg is not None
                database = pg.database(f"scale_{workers}w")
            else:
                database = str(logs / f"{name}.db")  # kept with --keep
            config = tmp / f"{name}.toml"
            write_config(config, database, wl, names, args.connections)
            t0 = time.perf_counter()
            seed(database, config, urls)
            seeded = time.perf_counter() - t0
            run_case(
                backend,
                workers,
                database,
                config,
                server,
                pg if backend == "postgres" else None,
                logs,
                timeout,
                report,
            )
            if seeded > 5:
                say(f"  ({name}: seeding {n} feeds took {seeded:.1f} s, untimed)")

        say("")
        say("checks (duplicate work and trouble):")
        say(row(CHECK_HEADERS, CHECK_WIDTHS))
        for r in results:
            say(check_row(r))
        trouble = [r for r in results if r.errors or r.warnings or r.pg_lines]
        for r in trouble:
            lines = r.errors + r.warnings
            say(
                f"  {r.backend} {r.workers}w {r.cycle}: {len(r.errors)} errors, "
                f"{len(r.warnings)} warnings in worker logs"
            )
            for line in summarize(lines):
                say(f"    {line}")
            for line in summarize(r.pg_lines):
                say(f"    postgres: {line}")
        say("")
        say(
            "columns: wall_s = first worker started to last exited; cpu_s = user+sys of all "
            "workers (wait4 rusage); db_cpu_s / http_cpu_s = PostgreSQL server / feed server "
            "(/proc); feeds = feeds polled in the cycle (last_fetched_at); stories / alerts = "
            "new story / outbox rows; peak_rss_mb = per worker; ratio = wall vs the 1-worker "
            "case of that backend and cycle. dup_fetch = paths fetched more than once; "
            "dup_post = alerts printed twice; lock_waits = PostgreSQL waits over "
            f"{LOCK_WAIT_MS} ms (lock_wait_s = their total)."
        )
        say(
            f"machine: {machine()}; Python {platform.python_version()}, SQLite "
            f"{sqlite3.sqlite_version}{f', PostgreSQL {pg.version}' if pg else ''}; the "
            "workers, the feed server and PostgreSQL share these cores."
        )
    finally:
        if pg is not None:
            pg.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def summarize(lines: list[str], limit: int = 8) -> list[str]:
    """Distinct lines (times and numbers folded), most frequent first, with counts."""
    shape = Counter(re.sub(r"\d+", "N", ln.split(" ", 2)[-1])[:200] for ln in lines)
    example: dict[str, str] = {}
    for ln in lines:
        example.setdefault(re.sub(r"\d+", "N", ln.split(" ", 2)[-1])[:200], ln)
    out = [f"{n}x {example[s][:300]}" for s, n in shape.most_common(limit)]
    if len(shape) > limit:
        out.append(f"... and {len(shape) - limit} other kinds")
    return out


if __name__ == "__main__":
    sys.exit(main())
