"""Peak memory of poll cycles over feeds that send as much as the caps allow.

N feeds (default 24) each send a body just under ``[fetch] max_body_bytes``
(15 MiB), served on loopback by the test suite's FeedServer in a child process,
with no ETag or Last-Modified, and changed before every cycle, so every cycle
fetches and parses every body again.
Half the feeds are thousands of items, half one item with a 14 MiB description.

The real runtime (Poller with its CPU worker processes, SQLite, console delivery)
polls them for 3 cycles. Each configuration runs in a fresh child process, so one
does not inherit the other's heap. For each cycle it prints:
- the peak RSS (VmHWM, reset between cycles through /proc/PID/clear_refs) of the
  poller, of each worker and of the fork server, and their sum. That sum counts the
  pages the workers share with the fork server (its preloaded modules) once in
  every process, so it overstates what the bot uses;
- the peak of the bot's total PSS: every ~20 ms a thread reads
  /proc/PID/smaps_rollup of all the bot's processes (poller, workers, fork
  server) and adds up their PSS, which counts a shared page once in all (split
  between its sharers). It is sampled, so it can miss a peak shorter than 20 ms;
  the VmHWM sum cannot miss one but counts shared pages more than once.
The bot's total memory is the PSS total; the issue's limit (300 MiB) is checked
on it. Baseline, same run: the same cycles with the in-flight byte budget lifted
(``max_inflight_bytes`` = 1 GiB), which is how the bot ran before it had one.

    python bench/memory.py [--feeds 24] [--cap-mib 15] [--cycles 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.corpus import start_server  # noqa: E402  # needs the path above

LIMIT_MIB = 300
SAMPLE_SECONDS = 0.02

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


def _status_mib(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def hwm_mib(pid: int) -> float:
    return _status_mib(pid, "VmHWM:")


def rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmRSS:")


def rollup(pid: int) -> dict[str, float]:
    """/proc/PID/smaps_rollup in MiB (Rss, Pss, Shared_Clean, Private_Dirty…); {} if gone."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return out
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            out[key] = int(parts[0]) / 1024
    return out


def shared_mib(r: dict[str, float]) -> float:
    return r.get("Shared_Clean", 0.0) + r.get("Shared_Dirty", 0.0)


def reset_hwm(pid: int) -> bool:
    """Reset a process's peak RSS to its current RSS (Linux ≥ 4.0; needs ptrace rights)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def forkserver_pid() -> int | None:
    """The multiprocessing fork server's pid, when this process started one."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # no public accessor
    return pid if isinstance(pid, int) else None


class PssSampler:
    """Adds up the PSS of ``pids()`` every ``SAMPLE_SECONDS`` in a thread; keeps the peak."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._stop = threading.Event()
        self.peak = 0.0
        self.peak_parts: dict[int, float] = {}
        self.samples = 0
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pids = self._pids()
            except RuntimeError:  # the pool's dict changed under us: next time
                continue
            parts = {p: rollup(p).get("Pss", 0.0) for p in pids}
            total = sum(parts.values())
            self.samples += 1
            if total > self.peak:
                self.peak, self.peak_parts = total, parts
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Setup:
    cap: int
    urls: list[str]
    tmp: Path
    server: asyncio.subprocess.Process
    rounds: int


@dataclass
class Cycle:
    main: float
    """The poller process's VmHWM (MiB)."""
    hwm_sum: float
    """VmHWM of the poller + workers + fork server (shared pages counted in each)."""
    pss: float
    """Peak of the sampled PSS total of all those processes."""


async def cycles(run: Setup, budget: int, label: str) -> list[Cycle]:
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
    peaks: list[Cycle] = []
    print(
        f"  {label}: max_inflight_bytes {budget / 2**20:.0f} MiB, "
        f"{config.fetch.workers} worker processes"
    )
    me = os.getpid()
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        cpu = rt.poller.cpu
        await cpu.run(int)  # start the workers before measuring
        server = forkserver_pid()
        helpers = [server] if server is not None else []

        def bot_pids() -> list[int]:
            return [me, *helpers, *cpu.pids()]

        def describe(pid: int) -> str:
            r = rollup(pid)
            return (
                f"RSS {r.get('Rss', 0):.0f} (shared {shared_mib(r):.0f}) PSS {r.get('Pss', 0):.0f}"
            )

        print(
            f"    at start (MiB): main {describe(me)}; fork server "
            f"{describe(server) if server else 'none'}; workers "
            f"{'; '.join(describe(p) for p in cpu.pids())}"
        )
        for cycle in range(1, run.rounds + 1):
            assert run.server.stdin is not None and run.server.stdout is not None
            run.server.stdin.write(b"next\n")  # new bodies: every cycle parses every feed
            await run.server.stdin.drain()
            await run.server.stdout.readline()
            exact = all(reset_hwm(p) for p in bot_pids())
            t0 = time.perf_counter()
            with PssSampler(bot_pids) as sampler:
                stats = await rt.poller.poll_due(all_feeds=True)
            wall = time.perf_counter() - t0
            main = hwm_mib(me)
            workers = [hwm_mib(p) for p in cpu.pids()]
            fork = sum(hwm_mib(p) for p in helpers)
            total = main + sum(workers) + fork
            peaks.append(Cycle(main, total, sampler.peak))
            parts = sampler.peak_parts
            print(
                f"    cycle {cycle}: wall {wall:.1f} s  feeds {stats.feeds}  "
                f"errors {stats.errors}  "
                f"peak RSS main {main:.0f} MiB, workers "
                f"{' + '.join(f'{w:.0f}' for w in workers)} MiB, fork server {fork:.0f} MiB, "
                f"sum {total:.0f} MiB{'' if exact else ' (peak not reset: since start)'}"
            )
            print(
                f"      peak PSS total {sampler.peak:.0f} MiB (main {parts.get(me, 0):.0f}, "
                f"fork server {sum(parts.get(p, 0) for p in helpers):.0f}, workers "
                f"{' + '.join(f'{v:.0f}' for p, v in parts.items() if p not in (me, *helpers))}"
                f"; {sampler.samples} samples)"
            )
            for o in stats.outcomes:
                if o.error:
                    print(f"      error: {o.error}")
        await asyncio.sleep(0.5)  # a worker trims its heap 0.2 s after a big job
        print(
            f"    idle after the cycles (MiB): workers {'; '.join(describe(p) for p in cpu.pids())}"
        )
    return peaks


async def one_config(args: argparse.Namespace, budget: int, label: str) -> list[Cycle]:
    n = 2 if args.quick else args.feeds
    cap = 2**20 if args.quick else int(args.cap_mib * 2**20)
    rounds = 1 if args.quick else args.cycles
    proc = await start_server(SERVER, str(n), str(cap))
    assert proc.stdout is not None and proc.stdin is not None
    port, *sizes = (await proc.stdout.readline()).split()
    urls = [f"http://127.0.0.1:{int(port)}/big/{i}.xml" for i in range(n)]
    try:
        if args.header:
            print(
                f"{n} feeds on loopback, bodies of "
                f"{' and '.join(f'{int(s) / 2**20:.1f}' for s in sizes)}"
                f" MiB (cap {cap / 2**20:.0f} MiB), {rounds} cycles each, no conditional GET",
                flush=True,
            )
        with tempfile.TemporaryDirectory() as tmp:
            return await cycles(Setup(cap, urls, Path(tmp), proc, rounds), budget, label)
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 20)


CONFIGS = {
    "baseline": (2**30, "baseline (no byte budget)"),
    "ours": (64 * 2**20, "ours (default budget)"),
}


async def child(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    budget, label = CONFIGS[args.config]
    peaks = await one_config(args, budget, label)
    print("RESULT " + json.dumps([vars(c) for c in peaks]), flush=True)


async def parent(args: argparse.Namespace, argv: list[str]) -> None:
    results: dict[str, list[Cycle]] = {}
    for i, name in enumerate(CONFIGS):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            *argv,
            "--config",
            name,
            *(["--header"] if i == 0 else []),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode()
            if line.startswith("RESULT "):
                results[name] = [Cycle(**c) for c in json.loads(line[7:])]
            else:
                print(line, end="", flush=True)
        if await proc.wait() != 0 or name not in results:
            raise SystemExit(f"bench/memory.py: the {name} run failed")
    ours, base = results["ours"], results["baseline"]

    def worst(cs: list[Cycle], key: str) -> float:
        return max(getattr(c, key) for c in cs)

    pss, base_pss = worst(ours, "pss"), worst(base, "pss")
    print(
        f"  worst cycle: bot total PSS {pss:.0f} MiB vs baseline {base_pss:.0f} MiB "
        f"(x{pss / base_pss:.2f}), limit {LIMIT_MIB} MiB "
        f"{'met' if pss < LIMIT_MIB else 'NOT met'}; "
        f"poller process {worst(ours, 'main'):.0f} MiB vs {worst(base, 'main'):.0f} MiB; "
        f"VmHWM sum over processes (shared pages counted in each) "
        f"{worst(ours, 'hwm_sum'):.0f} MiB vs {worst(base, 'hwm_sum'):.0f} MiB; "
        f"spread of the PSS peak over cycles "
        f"{pss - min(c.pss for c in ours):.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--feeds", type=int, default=24)
    ap.add_argument("--cap-mib", type=float, default=15.0, help="body size (the default cap)")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2 feeds of 1 MiB, 1 cycle (smoke test)")
    ap.add_argument("--config", choices=list(CONFIGS), help=argparse.SUPPRESS)
    ap.add_argument("--header", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.config:
        asyncio.run(child(args))
    else:
        asyncio.run(parent(args, sys.argv[1:]))


if __name__ == "__main__":
    main()
