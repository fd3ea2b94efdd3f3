"""Events do not depend on poll order: real stories, real pipeline, both databases.

The stories are the real corpus entries of the labelled set (``tests/data/clusters.tsv``),
one feed file per outlet. Each order polls the feeds one at a time through the real
``Poller`` into a fresh database; the events (which stories share a cluster) must be the
same every time, and equal to the connected groups of the pairwise rule computed here
directly, which is what makes them order-free.
"""

from __future__ import annotations

import io
import random
import secrets
from datetime import datetime
from email.utils import format_datetime
from html import escape
from itertools import combinations
from pathlib import Path

import pytest

from bench.cluster import load_pairs
from bot.app import open_runtime
from bot.core import cluster as clustering
from tests.conftest import MakeConfig

WATCHLIST = """name = "News"
[[terms]]
name = "Iran"
forms = ["Iran"]
[[terms]]
name = "Ukraine"
forms = ["Ukraine", "Ukrainian"]
"""

Stories = dict[str, tuple[str, str, str, datetime]]  # id -> title, text, outlet, published


def real_stories() -> Stories:
    """The real stories of the labelled set that share an event with another, and
    every fourth of the rest (enough unrelated stories, a quicker test)."""
    stories, _ = load_pairs()
    real = {sid: s for sid, s in stories.items() if "~" not in sid}
    alone = sorted(sid for g in components(real) if len(g) == 1 for sid in g)
    return {sid: s for sid, s in real.items() if sid not in alone or alone.index(sid) % 4 == 0}


def write_feeds(stories: Stories, folder: Path) -> list[Path]:
    by_outlet: dict[str, list[tuple[str, tuple[str, str, str, datetime]]]] = {}
    for sid, s in sorted(stories.items()):
        by_outlet.setdefault(s[2], []).append((sid, s))
    paths = []
    for n, (outlet, items) in enumerate(sorted(by_outlet.items())):
        parts = [
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>{escape(outlet)}</title>'
        ]
        parts.append(f"<link>https://o{n}.example/</link>")
        for sid, (title, text, _, when) in items:
            parts.append(
                f"<item><title>{escape(title)}</title><link>https://o{n}.example/{sid}</link>"
                f"<guid>{sid}</guid><pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
                f"<description>{escape(text)}</description></item>"
            )
        parts.append("</channel></rss>")
        path = folder / f"feed{n}.xml"
        path.write_text("".join(parts), encoding="utf-8")
        paths.append(path)
    return paths


def components(stories: Stories) -> set[frozenset[str]]:
    """Connected groups of the pairwise rule (``links``), stories of one feed apart."""
    fps = {sid: clustering.fingerprint(s[0], s[1]) for sid, s in stories.items()}
    keys = {sid: set(clustering.bands(fp)) for sid, fp in fps.items()}
    parent = {sid: sid for sid in stories}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in combinations(sorted(stories), 2):
        (_, _, oa, ta), (_, _, ob, tb) = stories[a], stories[b]
        if oa == ob or not fps[a] or not fps[b]:
            continue  # one feed's stories arrive in one poll: never linked
        if not keys[a] & keys[b]:
            continue
        cand = clustering.Candidate(0, fps[a], ta, oa, stories[a][0])
        if clustering.links(fps[b], tb, ob, cand):
            parent[root(a)] = root(b)
    groups: dict[str, set[str]] = {}
    for sid in stories:
        groups.setdefault(root(sid), set()).add(sid)
    return {frozenset(g) for g in groups.values() if fps[next(iter(g))]}


async def events_after(config_db: str, paths: list[Path], make_config: MakeConfig, wl: Path):
    config = make_config(
        [str(p) for p in paths],
        watchlists=wl,
        subscriptions=[{"platform": "console", "channel": "c", "watchlists": ["News"]}],
        database=config_db,
    )
    async with open_runtime(config, json_lines=True, out=io.StringIO(), chat=False) as rt:
        store = rt.service.store
        feeds = {f.url: f for f in await store.feeds()}
        for p in paths:  # one poll per feed, in the order given
            await rt.poller.poll_feed(feeds[str(p)])
        rows = await store._all(  # type: ignore[attr-defined]  # read back for the test
            "SELECT guid, cluster_id, id FROM stories"
        )
        pending = await store.pending_count()
    groups: dict[int, set[str]] = {}
    for r in rows:  # a lone story that fired nothing has no event row: its own group
        key = r["cluster_id"] if r["cluster_id"] is not None else -r["id"]
        groups.setdefault(key, set()).add(r["guid"])
    return {frozenset(g) for g in groups.values()}, pending


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_same_stories_in_five_orders_give_the_same_events(
    backend: str, make_config: MakeConfig, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stories = real_stories()
    paths = write_feeds(stories, tmp_path)
    wl = tmp_path / "watchlists"
    wl.mkdir()
    (wl / "news.toml").write_text(WATCHLIST, encoding="utf-8")
    expected = components(stories)
    # The set has events that need a bridge: some story joins two groups that no
    # direct pair links, so an order that polls the bridge last must merge them.
    assert sum(1 for g in expected if len(g) > 2) >= 3
    results = []
    for seed in range(5):
        order = paths[:]
        random.Random(seed).shuffle(order)
        if backend == "sqlite":
            db = str(tmp_path / f"order{seed}.db")
        else:
            server = request.getfixturevalue("pg_server")
            db = server.create_database(f"t_order_{secrets.token_hex(4)}")
        results.append(await events_after(db, order, make_config, wl))
    events = [r[0] for r in results]
    assert all(e == events[0] for e in events), "events depend on poll order"
    assert events[0] == expected
    # One outbox row per alerting event in the channel, whatever the order.
    assert len({r[1] for r in results}) == 1


async def test_a_story_that_bridges_two_posted_events_merges_them(
    make_config: MakeConfig, tmp_path: Path, database: str
) -> None:
    """DW and the Washington Post tell the ex-minister's arrest in words too different
    to link; Japan Today's report links to both. Polled last, it merges the two posted
    events: the first message is edited to list all three outlets, nothing new is posted."""
    import json

    from bot.app import run_once

    stories = real_stories()
    dw, wapo, jt = "14dda5-31", "4bf53c-8", "18138c-16"
    wl = tmp_path / "watchlists"
    wl.mkdir()
    (wl / "news.toml").write_text(WATCHLIST, encoding="utf-8")
    first = write_feeds({k: stories[k] for k in (dw, wapo)}, tmp_path)
    bridge_dir = tmp_path / "later"
    bridge_dir.mkdir()
    (late,) = write_feeds({jt: stories[jt]}, bridge_dir)
    pending = tmp_path / "feed_late.xml"
    pending.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        "<title>Japan Today</title></channel></rss>",
        encoding="utf-8",
    )
    config = make_config(
        [str(p) for p in [*first, pending]],
        watchlists=wl,
        subscriptions=[{"platform": "console", "channel": "c", "watchlists": ["News"]}],
        database=database,
    )
    buf = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf, chat=False) as rt:
        await run_once(rt, all_feeds=True)
    posts = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert sorted(d["action"] for d in posts) == ["post", "post"]
    pending.write_text(late.read_text(encoding="utf-8"), encoding="utf-8")
    buf2 = io.StringIO()
    async with open_runtime(config, json_lines=True, out=buf2, chat=False) as rt:
        await run_once(rt, all_feeds=True)
        assert await rt.service.store.pending_count() == 0
    after = [json.loads(line) for line in buf2.getvalue().splitlines()]
    assert [d["action"] for d in after] == ["edit"], after
    assert {s["outlet"] for s in after[0]["sources"]} == {"DW", "Washington Post", "Japan Today"}
    # The earliest published report leads.
    earliest = min((dw, wapo, jt), key=lambda k: stories[k][3])
    assert after[0]["title"] == stories[earliest][0]
