"""One poll cycle over N feeds served on loopback: first cycle (200) and second (304).

Feeds are the real files of ../shared/corpus/realfeeds, repeated to N distinct
URLs (half gzip-encoded), served by the test suite's FeedServer in a child
process, so the CPU time measured here is the bot's alone.

Ours: the real Poller (fetch, parse off the loop, match, cluster, store in
SQLite with outbox rows) and Deliverer (console, into a buffer).
Baseline, same run: a naive poller (aiohttp GET of every feed, no conditional
GET, feedparser.parse of every body, nothing stored).

    python bench/poll.py [--feeds 500] [--quick] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.corpus import CORPUS, require_corpus  # noqa: E402  # needs the path above

SERVER = r"""
import asyncio, sys
from pathlib import Path
from tests.fakes.feedserver import FeedServer
async def main():
    files = sorted(Path(sys.argv[2]).glob("*.xml"))
    async with FeedServer() as s:
        for i in range(int(sys.argv[1])):
            s.add_feed(f"/f/{i}.xml", files[i % len(files)].read_bytes(), gzip=(i % 2 == 0))
        print(s.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


BENCH_WATCHLIST = """
name = "Bench"
[[terms]]
name = "Iran"
forms = ["Iran", "Tehran"]
[[terms]]
name = "Ukraine"
forms = ["Ukraine", "Kyiv"]
[[terms]]
name = "NATO"
forms = ["NATO"]
"""


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of live processes (the parse workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def proc_peak_mib(pids: list[int]) -> float:
    """The largest peak RSS (VmHWM) among live processes."""
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


class LagProbe:
    """A 10 ms ticker on the event loop: how late each tick fires is the loop's lag."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.lags.append(loop.time() - t - 0.01)

    def __enter__(self) -> LagProbe:
        self._task = asyncio.ensure_future(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def summary(self) -> str:
        if not self.lags:
            return "loop lag: no ticks"
        lags = sorted(self.lags)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        return f"loop lag p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"


async def naive_cycle(urls: list[str]) -> tuple[float, float, int]:
    import aiohttp
    import feedparser

    w0, c0 = time.perf_counter(), time.process_time()
    entries = 0
    async with aiohttp.ClientSession() as session:
        sem = asyncio.Semaphore(20)

        async def one(url: str) -> bytes:
            async with sem, session.get(url) as resp:
                return await resp.read()

        bodies = await asyncio.gather(*(one(u) for u in urls))
    for body in bodies:
        entries += len(feedparser.parse(body).entries)
    return time.perf_counter() - w0, time.process_time() - c0, entries


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="20 feeds (smoke test)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.xml feeds")
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    args = ap.parse_args()
    n = 20 if args.quick else args.feeds
    require_corpus(args.corpus, "poll.py")

    import logging

    logging.basicConfig(level=logging.ERROR)  # the corpus's JSON Feed is an expected feed error
    from bot.app import open_runtime
    from bot.config import parse_config

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        str(n),
        str(args.corpus),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    port = int(await proc.stdout.readline())
    urls = [f"http://127.0.0.1:{port}/f/{i}.xml" for i in range(n)]
    try:
        base_wall, base_cpu, base_entries = (
            (float("nan"),) * 2 + (0,) if args.no_baseline else await naive_cycle(urls)
        )
        with tempfile.TemporaryDirectory() as tmp:
            # The corpus never names our beat; a watchlist of common news names
            # exercises the alert path (clusters, outbox, delivery) too.
            (Path(tmp) / "wl").mkdir()
            for src in (ROOT / "watchlists").glob("*.toml"):
                (Path(tmp) / "wl" / src.name).write_bytes(src.read_bytes())
            (Path(tmp) / "wl" / "bench.toml").write_text(BENCH_WATCHLIST, encoding="utf-8")
            config = parse_config(
                {
                    "bot": {
                        "database": f"{tmp}/bench.db",
                        "watchlists": str(Path(tmp) / "wl"),
                        "backfill": "36500d",
                        "keep": "36600d",
                    },
                    "fetch": {"allow_private": True},
                    "alerts": {"fetch_articles": False},
                    "feeds": [{"url": u} for u in urls],
                    "subscriptions": [
                        {
                            "platform": "console",
                            "channel": "bench",
                            "watchlists": ["MKE", "Skydagger", "Bayraktar", "KFOR", "Bench"],
                        }
                    ],
                },
                Path(tmp) / "alertbot.toml",
                env={},
            )
            print(
                f"poll cycle over {n} feeds on loopback ({len(list(args.corpus.glob('*.xml')))} "
                f"distinct corpus files, half gzip)"
            )
            print(
                f"  baseline (naive GET + feedparser, nothing stored): wall {base_wall:.2f} s"
                f"  cpu {base_cpu:.2f} s  ({base_entries} entries)"
            )
            async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
                print(f"  parse workers: {config.fetch.workers} processes")
                for cycle, label in ((1, "200"), (2, "304"), (3, "304")):
                    pids = rt.poller.cpu.pids()
                    w0, c0 = time.perf_counter(), time.process_time()
                    k0 = proc_cpu(pids)
                    with LagProbe() as lag:
                        stats = await rt.poller.poll_due(all_feeds=True)
                        delivered = await rt.deliverer.drain()
                    pids = rt.poller.cpu.pids()
                    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                    workers_cpu = proc_cpu(pids) - (k0 if cycle > 1 else 0.0)
                    print(
                        f"  ours cycle {cycle} ({label}): wall {wall:.2f} s  cpu {cpu:.2f} s "
                        f"(+ workers {workers_cpu:.2f} s)  "
                        f"feeds {stats.feeds}  unchanged {stats.unchanged}  errors {stats.errors}  "
                        f"new stories {stats.new_stories}  alerting {stats.alerts}  "
                        f"posted {delivered.posted + delivered.digests}"
                    )
                    print(
                        f"    {lag.summary()}; peak RSS main {rss_mib():.0f} MiB, "
                        f"largest worker {proc_peak_mib(pids):.0f} MiB"
                    )
                    print(
                        f"    vs baseline: wall x{wall / base_wall:.2f}  "
                        f"cpu (all processes) x{(cpu + workers_cpu) / base_cpu:.2f}"
                    )
        print(f"  peak RSS: {rss_mib():.1f} MiB")
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 20)


if __name__ == "__main__":
    asyncio.run(main())
