"""Peak memory of poll cycles over feeds that send as much as the caps allow.

N feeds (default 24) each send a body just under ``[fetch] max_body_bytes``
(15 MiB), served on loopback by the test suite's FeedServer in a child process,
with no ETag or Last-Modified, and changed before every cycle, so every cycle
fetches and parses every body again.
Half the feeds are thousands of items, half one item with a 14 MiB description.

The real runtime (Poller with its CPU worker processes, SQLite, console delivery)
polls them for 3 cycles; for each cycle it prints the peak RSS of the main process
and of each worker (VmHWM, reset between cycles through /proc/PID/clear_refs) and
their sum. Baseline, same run: the same cycles with the in-flight byte budget
lifted (``max_inflight_bytes`` = 1 GiB), which is how the bot ran before it had one.

    python bench/memory.py [--feeds 24] [--cap-mib 15] [--cycles 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.corpus import start_server  # noqa: E402  # needs the path above

LIMIT_MIB = 300

SERVER = r"""
import asyncio, sys
from tests.fakes.feedserver import FeedServer

CAP = int(sys.argv[2])
HEAD = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
TAIL = b"</channel></rss>"

def many_items() -> bytes:
    items, size, i = [], len(HEAD) + len(TAIL), 0
    while True:
        item = (
            f"<item><title>Story {i} about the ministry of defence and its suppliers</title>"
            f"<link>https://big.example/{i}</link><guid>big-{i}</guid>"
            f"<description>&lt;p&gt;{'Paragraph %d of a long report. ' % i * 40}&lt;/p&gt;"
            f"</description></item>"
        ).encode()
        if size + len(item) > CAP - 1024:
            return HEAD + b"".join(items) + TAIL
        items.append(item)
        size += len(item)
        i += 1

def one_item() -> bytes:
    start = b"<item><title>One huge story</title><link>https://big.example/one</link><description>"
    end = b"</description></item>"
    filler = b"word " * ((CAP - 2048 - len(HEAD) - len(TAIL) - len(start) - len(end)) // 5)
    return HEAD + start + filler + end + TAIL

async def main():
    bodies = [many_items(), one_item()]
    n = int(sys.argv[1])
    async with FeedServer() as s:
        for i in range(n):
            s.add_feed(f"/big/{i}.xml", bodies[i % 2], etag=False, last_modified=False)
        print(s.port, " ".join(str(len(b)) for b in bodies), flush=True)
        # Each line on stdin changes every body (a comment at the end), so the next
        # cycle parses them all again rather than skipping bodies it has seen.
        cycle = 0
        while await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline):
            cycle += 1
            changed = [b + f"<!-- {cycle} -->".encode() for b in bodies]
            for i in range(n):
                s.set_body(f"/big/{i}.xml", changed[i % 2])
            print("ok", flush=True)
asyncio.run(main())
"""


def hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_hwm(pid: int) -> bool:
    """Reset a process's peak RSS to its current RSS (Linux ≥ 4.0; needs ptrace rights)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Setup:
    cap: int
    urls: list[str]
    tmp: Path
    server: asyncio.subprocess.Process
    rounds: int


async def cycles(run: Setup, budget: int, label: str) -> list[tuple[float, float]]:
    from bot.app import open_runtime
    from bot.config import parse_config

    config = parse_config(
        {
            "bot": {
                "database": f"{run.tmp}/{label.split()[0]}.db",
                "watchlists": str(ROOT / "watchlists"),
            },
            "fetch": {
                "allow_private": True,
                "max_inflight_bytes": budget,
                "max_body_bytes": max(run.cap, 1024),
            },
            "alerts": {"fetch_articles": False},
            "feeds": [{"url": u} for u in run.urls],
            "subscriptions": [{"platform": "console", "channel": "bench", "watchlists": ["KFOR"]}],
        },
        run.tmp / "alertbot.toml",
        env={},
    )
    peaks = []
    print(
        f"  {label}: max_inflight_bytes {budget / 2**20:.0f} MiB, "
        f"{config.fetch.workers} worker processes"
    )
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        await rt.poller.cpu.run(int)  # start the workers before measuring
        print(
            f"    at start: RSS main {rss_mib(os.getpid()):.0f} MiB, workers "
            f"{' + '.join(f'{rss_mib(p):.0f}' for p in rt.poller.cpu.pids())} MiB"
        )
        for cycle in range(1, run.rounds + 1):
            assert run.server.stdin is not None and run.server.stdout is not None
            run.server.stdin.write(b"next\n")  # new bodies: every cycle parses every feed
            await run.server.stdin.drain()
            await run.server.stdout.readline()
            pids = rt.poller.cpu.pids()
            exact = all(reset_hwm(p) for p in [os.getpid(), *pids])
            t0 = time.perf_counter()
            stats = await rt.poller.poll_due(all_feeds=True)
            wall = time.perf_counter() - t0
            main = hwm_mib(os.getpid())
            workers = [hwm_mib(p) for p in rt.poller.cpu.pids()]
            total = main + sum(workers)
            peaks.append((main, total))
            print(
                f"    cycle {cycle}: wall {wall:.1f} s  feeds {stats.feeds}  "
                f"errors {stats.errors}  "
                f"peak RSS main {main:.0f} MiB, workers "
                f"{' + '.join(f'{w:.0f}' for w in workers)} MiB, sum {total:.0f} MiB"
                f"{'' if exact else ' (peak not reset: since start)'}"
            )
            for o in stats.outcomes:
                if o.error:
                    print(f"      error: {o.error}")
    return peaks


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--feeds", type=int, default=24)
    ap.add_argument("--cap-mib", type=float, default=15.0, help="body size (the default cap)")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2 feeds of 1 MiB, 1 cycle (smoke test)")
    args = ap.parse_args()
    n = 2 if args.quick else args.feeds
    cap = 2**20 if args.quick else int(args.cap_mib * 2**20)
    rounds = 1 if args.quick else args.cycles

    import logging

    logging.basicConfig(level=logging.ERROR)
    proc = await start_server(SERVER, str(n), str(cap))
    assert proc.stdout is not None and proc.stdin is not None
    port, *sizes = (await proc.stdout.readline()).split()
    urls = [f"http://127.0.0.1:{int(port)}/big/{i}.xml" for i in range(n)]
    try:
        print(
            f"{n} feeds on loopback, bodies of "
            f"{' and '.join(f'{int(s) / 2**20:.1f}' for s in sizes)}"
            f" MiB (cap {cap / 2**20:.0f} MiB), {rounds} cycles each, no conditional GET"
        )
        with tempfile.TemporaryDirectory() as tmp:
            run = Setup(cap, urls, Path(tmp), proc, rounds)
            base = await cycles(run, 2**30, "baseline (no byte budget)")
            ours = await cycles(run, 64 * 2**20, "ours (default budget)")
        main_peak, base_main = max(m for m, _ in ours), max(m for m, _ in base)
        sum_peak, base_sum = max(t for _, t in ours), max(t for _, t in base)
        print(
            f"  worst cycle: poller process {main_peak:.0f} MiB vs baseline {base_main:.0f} MiB "
            f"(x{main_peak / base_main:.2f}), limit {LIMIT_MIB} MiB "
            f"{'met' if main_peak < LIMIT_MIB else 'NOT met'}; with the workers (sum of their "
            f"peaks, shared pages counted in each) {sum_peak:.0f} MiB vs {base_sum:.0f} MiB; "
            f"spread over cycles {max(m for m, _ in ours) - min(m for m, _ in ours):.0f} MiB"
        )
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 20)


if __name__ == "__main__":
    asyncio.run(main())
