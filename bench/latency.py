"""Alert latency: from an item's publication on its feed to its alert on the console.

A real ``alertbot run --json`` process polls feeds served on loopback with
``[fetch] interval = "1m"`` (jitter only ever makes a poll earlier). Once every feed
has been polled once, items that fire a watchlist are published on the feeds at
random moments over ``--spread`` seconds (each feed gets ``--items`` of them, each a
different story); the time from publication to the alert's JSON line on the bot's
stdout is one sample. The issue's bar: p95 ≤ 65 s.

    python bench/latency.py [--feeds 20] [--items 2] [--spread 150] [--seed 1]

The defaults take about five minutes (40 samples).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import string
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.fakes.feedserver import FeedServer  # noqa: E402  # needs the path above

TARGET_P95 = 65.0
WATCHLIST = """name = "Latency"
[[terms]]
name = "Zorblax"
forms = ["Zorblax"]
"""


def word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9)))


def story(rng: random.Random, marker: str) -> tuple[str, str]:
    """A title and text of made-up words, so no two stories link (each is its own
    event and its own alert)."""
    title = f"Zorblax {marker}: " + " ".join(word(rng) for _ in range(6))
    text = f"Zorblax {marker}. " + " ".join(word(rng) for _ in range(60)) + "."
    return title, text


def rss(n: int, items: list[tuple[str, str, str, datetime]]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>Outlet {n}</title><link>https://o{n}.example/</link><description>d</description>",
    ]
    for guid, title, text, when in items:
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://o{n}.example/{guid}</link>"
            f"<guid>{guid}</guid><pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
            f"<description>{escape(text)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered) + 0.5) - 1))]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--items", type=int, default=2, help="items published per feed")
    ap.add_argument("--spread", type=float, default=150.0, help="seconds to publish over")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    published: dict[str, float] = {}
    arrived: dict[str, float] = {}
    async with FeedServer() as server:
        feeds: dict[int, list[tuple[str, str, str, datetime]]] = {}
        for n in range(args.feeds):
            # One old item, so the first poll has something to store (and no alert).
            title, text = story(rng, f"old-{n}")
            feeds[n] = [(f"old-{n}", title, text, datetime(2020, 1, 1, tzinfo=UTC))]
            server.add_feed(f"/f/{n}.xml", rss(n, feeds[n]))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "wl").mkdir()
            (Path(tmp) / "wl" / "latency.toml").write_text(WATCHLIST, encoding="utf-8")
            feed_lines = "".join(
                f'[[feeds]]\nurl = "{server.url(f"/f/{n}.xml")}"\n' for n in range(args.feeds)
            )
            (Path(tmp) / "alertbot.toml").write_text(
                f'[bot]\ndatabase = "{tmp}/bot.db"\nwatchlists = "{tmp}/wl"\n'
                '[fetch]\ninterval = "1m"\nallow_private = true\n'
                "[alerts]\nfetch_articles = false\n"
                + feed_lines
                + '[[subscriptions]]\nplatform = "console"\nchannel = "bench"\n'
                'watchlists = ["Latency"]\n',
                encoding="utf-8",
            )
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
            }
            env["PYTHONPATH"] = str(ROOT)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "--json",
                "--config",
                f"{tmp}/alertbot.toml",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                cwd=tmp,
                env=env,
            )
            assert proc.stdout is not None
            stdout = proc.stdout

            async def read() -> None:
                while line := await stdout.readline():
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        continue
                    for source in doc.get("sources", []):
                        guid = source.get("url", "").rsplit("/", 1)[-1]
                        if guid in published and guid not in arrived:
                            arrived[guid] = time.monotonic()
                            if len(arrived) == args.feeds * args.items:
                                all_in.set()

            reader = asyncio.ensure_future(read())
            all_in = asyncio.Event()
            try:
                # Every feed polled once (and its old item stored) before publishing.
                deadline = time.monotonic() + 120
                paths = [f"/f/{n}.xml" for n in range(args.feeds)]
                while any(server.hits(p) == 0 for p in paths):
                    if time.monotonic() > deadline:
                        raise SystemExit("the bot did not poll every feed within 120 s")
                    await asyncio.sleep(0.2)
                await asyncio.sleep(2)
                start = time.monotonic()
                plan = sorted(
                    (rng.uniform(0, args.spread), n, i)
                    for n in range(args.feeds)
                    for i in range(args.items)
                )
                for offset, n, i in plan:
                    await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
                    guid = f"new-{n}-{i}"
                    title, text = story(rng, guid)
                    feeds[n].insert(0, (guid, title, text, datetime.now(UTC)))
                    server.set_body(f"/f/{n}.xml", rss(n, feeds[n]))
                    published[guid] = time.monotonic()
                # Wait for the last alerts: one interval plus a margin.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_in.wait(), 60 + 2 * TARGET_P95)
            finally:
                reader.cancel()
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 60)
    latencies = [arrived[g] - published[g] for g in published if g in arrived]
    missing = len(published) - len(latencies)
    print(
        f"alert latency, publish -> console alert, interval 1m: {args.feeds} feeds, "
        f"{len(published)} items published over {args.spread:.0f} s"
    )
    if not latencies:
        print("  no alert arrived")
        raise SystemExit(1)
    print(
        f"  samples {len(latencies)} (missing {missing})  min {min(latencies):.1f} s  "
        f"median {percentile(latencies, 0.5):.1f} s  p95 {percentile(latencies, 0.95):.1f} s  "
        f"max {max(latencies):.1f} s"
    )
    met = percentile(latencies, 0.95) <= TARGET_P95 and not missing
    print(f"  target p95 <= {TARGET_P95:.0f} s: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
