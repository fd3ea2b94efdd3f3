"""Nothing lost, nothing doubled: interrupted work stays pending, never half-done."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import signal
import sys
from collections import Counter
from pathlib import Path

from bot.app import open_runtime, run_once
from tests.cli_support import clean_env
from tests.conftest import ROOT, MakeConfig
from tests.fakes.feedserver import FeedServer, make_rss
from tests.test_pipeline import KFOR_A, MKE_STORY, NOW, lines, rss


async def test_polls_cancelled_at_any_point_lose_and_double_nothing(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    feeds = []
    for i in range(6):
        items = [(f"{KFOR_A[0]} ({i})", KFOR_A[1] + f" Sector {i}."), MKE_STORY]
        feed_server.add_feed(f"/{i}.xml", rss(f"Outlet {i}", items, link=f"https://o{i}.example/"))
        feeds.append(feed_server.url(f"/{i}.xml"))
    config = make_config(feeds, database=database)
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        # Interrupt the poll cycle at many different moments; each interruption
        # rolls back whatever transaction was open.
        for delay in [0.0, *(0.0015 * 1.3**k for k in range(20))]:
            task = asyncio.ensure_future(rt.poller.poll_due(all_feeds=True))
            await asyncio.sleep(delay)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await run_once(rt, all_feeds=True)
        await run_once(rt, all_feeds=True)
    docs = lines(buf)
    posts = Counter(d["title"] for d in docs if d["action"] == "post")
    # Six KFOR items from six outlets, each its own event text; MKE carried by all six.
    assert all(n == 1 for n in posts.values()), posts
    assert sum(posts.values()) == len([d for d in docs if d["action"] == "post"])
    mke_sources = {s["outlet"] for d in docs if d["watchlists"] == ["MKE"] for s in d["sources"]}
    assert len(mke_sources) == 6, "every outlet that carried the MKE story is listed"


async def test_sigterm_stops_cleanly_and_restart_sends_nothing_again(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.add_feed(
        "/a.xml", make_rss("A", [KFOR_A], link="https://a.example/", published=NOW)
    )
    config = tmp_path / "alertbot.toml"
    config.write_text(
        f"""
[bot]
database = "{tmp_path / "bot.db"}"
watchlists = "{ROOT / "watchlists"}"
[fetch]
allow_private = true
[[feeds]]
url = "{feed_server.url("/a.xml")}"
[[subscriptions]]
platform = "console"
channel = "alerts"
watchlists = ["KFOR"]
""",
        encoding="utf-8",
    )
    env = clean_env()

    async def start(*extra: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--json",
            "--config",
            str(config),
            *extra,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    proc = await start()
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert json.loads(first)["title"] == KFOR_A[0]
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out == b""
    assert b"stopped" in err

    again = await start("--once", "--all")
    out, err = await asyncio.wait_for(again.communicate(), 30)
    assert again.returncode == 0, err.decode()
    assert out == b"", "a restart must not repeat an alert"


async def test_prune_forgets_old_stories_without_realerting(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.app import prune
    from tests.test_pipeline import rss

    old = datetime.now(UTC) - timedelta(days=120)
    feed_server.add_feed("/a.xml", rss("A", [KFOR_A], link="https://a.example/", when=old))
    feed_server.add_feed("/b.xml", rss("B", [MKE_STORY], link="https://b.example/"))
    config = make_config(
        [feed_server.url("/a.xml"), feed_server.url("/b.xml")], backfill="200d", database=database
    )
    config = dataclasses.replace(config, keep=timedelta(days=300))
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)
        assert len(lines(buf)) == 2
        store = rt.service.store
        # A year later, with the usual settings: 2d backfill, 90d keep.
        later = datetime.now(UTC) + timedelta(days=365)
        rt.config = dataclasses.replace(config, backfill=timedelta(days=2), keep=timedelta(days=90))
        rt.poller.config = rt.deliverer.config = rt.config
        rt.poller.clock = lambda: later
        await prune(rt)
        assert await store.story_count() == 0
        assert await store.pending_count() == 0
        # The feeds still list the same items (plus something new, so the bodies
        # change): stored again, never alerted again.
        noise = ("Weather", "Rain is expected across the region.")
        feed_server.set_body(
            "/a.xml", rss("A", [KFOR_A, noise], link="https://a.example/", when=old)
        )
        feed_server.set_body("/b.xml", rss("B", [MKE_STORY, noise], link="https://b.example/"))
        stats, _ = await run_once(rt, all_feeds=True)
        assert stats.new_stories == 4 and stats.alerts == 0
    assert len(lines(buf)) == 2


def _many(n: int, tag: str) -> list[tuple[str, str]]:
    return [
        (
            f"KFOR patrol {tag} number {i} near crossing {i * 7}",
            f"KFOR said patrol {i} {tag} went to village {i * 13} and checkpoint {i * 31}.",
        )
        for i in range(n)
    ]


OUTLETS = 4


async def test_chat_edits_during_polls_and_deliveries_all_succeed(
    feed_server: FeedServer, make_config: MakeConfig, database: str
) -> None:
    """One connection serves polls, deliveries and chat: their transactions never mix."""
    from datetime import UTC, datetime

    from bot.service import Caller

    op = Caller(platform="console", user="op", channel="alerts")
    feeds = []
    for k in range(OUTLETS):
        body = make_rss(
            f"F{k}", _many(60, f"f{k}"), link=f"https://f{k}.example/", published=datetime.now(UTC)
        )
        feed_server.add_feed(f"/f{k}.xml", body)
        feeds.append(feed_server.url(f"/f{k}.xml"))
    # One feed at a time: a claim and a poll transaction per feed, chat edits between.
    config = make_config(
        feeds, alerts={"burst": 10_000}, fetch={"max_connections": 1}, database=database
    )
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        done = asyncio.Event()
        edits = 0

        async def chat() -> None:
            nonlocal edits
            while not done.is_set():
                edits += 1
                await rt.service.watchlist_add_form(op, "KFOR", "KFOR", f"Kfor{edits}x")
                await asyncio.sleep(0)

        async def deliver() -> None:
            while not done.is_set():
                await rt.deliverer.drain()
                await asyncio.sleep(0.005)

        side = [asyncio.ensure_future(chat()), asyncio.ensure_future(deliver())]
        await rt.poller.poll_due(all_feeds=True)
        done.set()
        await asyncio.gather(*side)  # any failed edit or delivery raises here
        await rt.deliverer.drain()
        assert edits > 5
        assert await rt.service.store.pending_count() == 0
    # The outlets' near-identical stories are 60 events: one post each, and
    # edits as the other outlets join.
    docs = lines(buf)
    posts = Counter(d["title"] for d in docs if d["action"] == "post")
    assert len(posts) == 60 and set(posts.values()) == {1}
    assert all(len(d["sources"]) <= OUTLETS for d in docs)


async def test_prune_keeps_events_still_waiting_in_the_outbox(
    feed_server: FeedServer, make_config: MakeConfig
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.app import prune
    from bot.pipeline import Deliverer

    feed_server.add_feed("/a.xml", make_rss("A", [KFOR_A], link="https://a.example/"))
    config = make_config(
        [feed_server.url("/a.xml")],
        subscriptions=[{"platform": "discord", "channel": "1", "watchlists": ["KFOR"]}],
    )
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)  # no Discord token: the alert waits
        later = datetime.now(UTC) + timedelta(days=365 * 200)
        rt.config = dataclasses.replace(config, backfill=timedelta(days=2), keep=timedelta(days=90))
        rt.poller.clock = lambda: later
        await prune(rt)
        assert await rt.service.store.story_count() == 1
        console = rt.deliverer.senders["console"]
        stats = await Deliverer(rt.service.store, config, {"discord": console}).drain()
        assert stats.posted == 1
    assert [d["title"] for d in lines(buf)] == [KFOR_A[0]]


async def test_two_processes_opening_a_new_database_at_once(tmp_path: Path) -> None:
    """Both migrate safely: the schema version is read under the write lock."""
    code = (
        "import asyncio, sys\n"
        "from bot.store.sqlite import SQLiteStore as Store\n"
        "async def main():\n"
        "    s = await Store.open(sys.argv[1])\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    for attempt in range(3):
        db = tmp_path / f"race{attempt}.db"
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", code, str(db), cwd=ROOT, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        results = [await p.communicate() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], [e for _, e in results]
