"""The Store interface, on both backends (a real SQLite file and a real PostgreSQL).

Every test runs twice through the ``database`` fixture. Several ``Store``
objects opened on one database stand for several processes: each has its own
connection (or pool), as a process would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.cluster import STORIES_PER_KEY, fingerprint
from bot.core.models import Match, Story, Subscription
from bot.store import Store, StoreError, describe, open_store
from bot.store.base import NewStory, PollResult

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FP = fingerprint("KFOR patrols", "KFOR patrols the crossings")
LEASE = timedelta(minutes=5)


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    s = await open_store(database)
    try:
        yield s
    finally:
        await s.close()


def story(feed: str, guid: str, title: str, text: str = "", **kw: object) -> Story:
    return Story(
        feed_url=feed,
        id=guid,
        url=f"{feed}/{guid}",
        title=title,
        text=text or title,
        published=NOW,
        outlet=feed,
        **kw,  # type: ignore[arg-type]  # test helper: only Story fields are passed
    )


def result(url: str) -> PollResult:
    return PollResult(url, "t", None, None, None, None, None, NOW + timedelta(minutes=10))


def hit(watchlist: str, term: str = "KFOR") -> Match:
    return Match(watchlist, term, term, "title", 0, len(term))


async def poll(
    store: Store, url: str, items: Sequence[NewStory], *, digest_due: datetime | None = None
) -> list[int]:
    feed = await store.add_feed(url, NOW)
    return await store.save_poll(feed.id, result(url), items, NOW, digest_due=digest_due)


def alerting(s: Story, watchlist: str = "KFOR", cluster_id: int | None = None) -> NewStory:
    return NewStory(
        story=s, dedup_key=s.url, matches=[hit(watchlist)], alert=True,
        cluster_id=cluster_id, clustered=True, bands=[1, 2], fp=FP,
    )  # fmt: skip


async def subscribe(store: Store, channel: str, watchlist: str = "KFOR", mode: str = "realtime"):
    return await store.subscribe("console", channel, watchlist, mode=mode, now=NOW)


# ---------------------------------------------------------------- basics


async def test_a_new_database_is_migrated_and_empty(store: Store) -> None:
    assert await store.is_empty()
    assert await store.story_count() == 0
    assert await store.pending_count() == 0


async def test_opening_twice_migrates_once(database: str) -> None:
    stores = await asyncio.gather(*(open_store(database) for _ in range(3)))
    for s in stores:
        await s.close()
    again = await open_store(database)
    assert await again.is_empty()
    await again.close()


async def test_a_database_of_a_newer_schema_is_refused_with_a_clear_message(
    database: str,
) -> None:
    s = await open_store(database)
    if database.startswith("postgresql://"):
        await s._exec("INSERT INTO schema_version VALUES (99)")  # type: ignore[attr-defined]  # backend primitive
    else:
        await s._exec("PRAGMA user_version=99")  # type: ignore[attr-defined]  # backend primitive
    await s.close()
    with pytest.raises(StoreError, match="newer than this alertbot"):
        await open_store(database)


def test_descriptions_mask_passwords() -> None:
    assert (
        describe("postgresql://bot:s3cret@db:5432/alerts") == "postgresql://bot:***@db:5432/alerts"
    )
    assert describe("/var/lib/alertbot.db") == "/var/lib/alertbot.db"


async def test_watchlist_names_are_case_insensitive(store: Store) -> None:
    await store.put_watchlist("KFOR", 'name = "KFOR"', NOW)
    await store.put_watchlist("kfor", 'name = "kfor"', NOW)
    assert await store.watchlist_bodies() == [("kfor", 'name = "kfor"')]
    await subscribe(store, "a", "KFOR")
    await subscribe(store, "a", "Kfor", mode="digest")
    subs = await store.subscriptions("console", "a")
    assert [(s.watchlist, s.mode) for s in subs] == [("KFOR", "digest")]
    assert await store.delete_watchlist("KFOR")
    assert await store.subscriptions() == []


async def test_seeding_notes_come_from_core(store: Store) -> None:
    assert await store.seed_watchlists([("KFOR", "a")], NOW) == (["KFOR"], [])
    await store.put_watchlist("KFOR", "edited", NOW)
    changed, notes = await store.seed_watchlists([("KFOR", "b")], NOW)
    assert changed == [] and "was edited from chat or the CLI" in notes[0]
    assert await store.seed_watchlists([("KFOR", "b")], NOW) == ([], [])  # said once


# ---------------------------------------------------------------- routing


async def test_a_poll_routes_one_row_per_channel_and_bumps_on_a_new_outlet(store: Store) -> None:
    await subscribe(store, "a", "KFOR")
    await subscribe(store, "a", "MKE", mode="digest")
    await subscribe(store, "b", "MKE", mode="digest")
    first = NewStory(
        story=story("f1", "1", "KFOR and MKE"),
        dedup_key="k1",
        matches=[hit("KFOR"), hit("MKE", "MKE")],
        alert=True,
        clustered=True,
        bands=[7],
        fp=FP,
    )
    ids = await poll(store, "f1", [first])
    assert len(ids) == 2
    rows = await store.claim_outbox(NOW + timedelta(days=2), "p1", LEASE, ["console"])
    by_channel = {r.channel: r for r in rows}
    assert by_channel["a"].watchlists == ("KFOR", "MKE") and by_channel["a"].mode == "realtime"
    assert by_channel["b"].mode == "digest"
    await store.release_outbox([r.id for r in rows])
    # The same event from another feed: every channel's row gets a new revision.
    second = alerting(story("f2", "9", "KFOR again"), cluster_id=rows[0].cluster_id)
    await poll(store, "f2", [second])
    rows = await store.claim_outbox(NOW + timedelta(days=2), "p1", LEASE, ["console"])
    assert {r.revision for r in rows} == {2}
    # The same feed again: not a new outlet, no bump.
    third = alerting(story("f2", "10", "KFOR third"), cluster_id=rows[0].cluster_id)
    await store.release_outbox([r.id for r in rows])
    await poll(store, "f2", [third])
    rows = await store.claim_outbox(NOW + timedelta(days=2), "p1", LEASE, ["console"])
    assert {r.revision for r in rows} == {2}


async def test_a_story_stored_twice_is_skipped_whole(store: Store) -> None:
    await subscribe(store, "a")
    s = story("f1", "1", "KFOR")
    assert await poll(store, "f1", [alerting(s)])
    assert await poll(store, "f1", [alerting(s)]) == []
    assert await store.story_count() == 1


async def test_cluster_choice_runs_inside_the_poll_transaction(store: Store) -> None:
    """The rule sees stories stored by earlier polls, never those of its own poll."""
    await subscribe(store, "a")
    await poll(store, "f1", [alerting(story("f1", "1", "KFOR one"))])
    seen: list[list[int]] = []

    def rule(item: NewStory, rows: list) -> None:
        seen.append([r.cluster_id for r in rows])
        item.cluster_id = rows[0].cluster_id if rows else None
        item.clustered = True

    feed = await store.add_feed("f2", NOW)
    items = [alerting(story("f2", "1", "KFOR two")), alerting(story("f2", "2", "KFOR three"))]
    await store.save_poll(
        feed.id, result("f2"), items, NOW, cluster_rule=rule, window_since=NOW - timedelta(days=1)
    )
    assert len(seen) == 2 and len(seen[0]) == 1 and seen[0] == seen[1]
    assert await store.pending_count() == 1  # one event, one row


# ---------------------------------------------------------------- claims


async def test_feeds_are_claimed_by_one_process_until_the_lease_ends(database: str) -> None:
    a, b = await open_store(database), await open_store(database)
    try:
        for i in range(10):
            await a.add_feed(f"https://f{i}.example/rss", NOW)
        got_a = await a.claim_feeds(NOW, "A", LEASE, due_only=True, limit=6)
        got_b = await b.claim_feeds(NOW, "B", LEASE, due_only=True, limit=6)
        assert len(got_a) == 6 and len(got_b) == 4
        assert not {f.id for f in got_a} & {f.id for f in got_b}
        assert await b.claim_feeds(NOW, "B", LEASE, due_only=True, limit=6) == []
        # A finishes one feed: it is no longer due and no longer held.
        f = got_a[0]
        await a.record_error(f.id, NOW, NOW + timedelta(hours=1), "boom")
        assert await b.claim_feeds(NOW, "B", LEASE, due_only=True, limit=None) == []
        # A dies: after the lease its feeds go to B.
        later = NOW + LEASE + timedelta(seconds=1)
        taken = await b.claim_feeds(later, "B", LEASE, due_only=True, limit=None)
        assert {t.id for t in taken} == {g.id for g in got_a[1:]} | {g.id for g in got_b}
        # The next due time of a held feed is its lease's end.
        assert await b.next_feed_due(later) == later + LEASE
        await b.release_feeds([t.id for t in taken], "B")
        assert len(await a.claim_feeds(later, "A", LEASE, due_only=True, limit=None)) == 9
    finally:
        await a.close()
        await b.close()


async def test_concurrent_claimers_never_share_a_row(database: str) -> None:
    setup = await open_store(database)
    await setup.subscribe("console", "c0", "KFOR", now=NOW)
    for ch in range(1, 8):
        await setup.subscribe("console", f"c{ch}", "KFOR", now=NOW)
    feed = await setup.add_feed("f", NOW)
    items = [alerting(story("f", str(i), f"KFOR {i}")) for i in range(30)]
    await setup.save_poll(feed.id, result("f"), items, NOW)
    total = await setup.pending_count()
    assert total == 30 * 8
    workers = [await open_store(database) for _ in range(4)]

    async def worker(i: int, s: Store) -> list[int]:
        mine: list[int] = []
        while rows := await s.claim_outbox(NOW, f"w{i}", LEASE, ["console"], limit=7):
            for r in rows:
                await s.mark_sent(r.id, r.revision, f"ref{r.id}", posted_at=NOW)
            mine.extend(r.id for r in rows)
        return mine

    try:
        results = await asyncio.gather(*(worker(i, s) for i, s in enumerate(workers)))
        claimed = [i for r in results for i in r]
        assert len(claimed) == len(set(claimed)) == total
        assert await setup.pending_count() == 0
    finally:
        for s in [setup, *workers]:
            await s.close()


async def test_a_claim_that_never_finished_comes_back_marked(store: Store) -> None:
    await subscribe(store, "a")
    await poll(store, "f1", [alerting(story("f1", "1", "KFOR"))])
    (row,) = await store.claim_outbox(NOW, "dead", LEASE, ["console"])
    assert row.prior_claim is None
    assert await store.claim_outbox(NOW, "other", LEASE, ["console"]) == []
    later = NOW + LEASE + timedelta(seconds=1)
    (again,) = await store.claim_outbox(later, "other", LEASE, ["console"])
    assert again.id == row.id and again.prior_claim == NOW
    await store.mark_failed([again.id], "rate limited", later)
    (third,) = await store.claim_outbox(later, "other", LEASE, ["console"])
    assert third.prior_claim is None  # a recorded failure is an outcome


async def test_rows_of_paused_channels_and_other_platforms_are_not_claimed(store: Store) -> None:
    await subscribe(store, "a")
    await store.subscribe("slack", "C1", "KFOR", now=NOW)
    await poll(store, "f1", [alerting(story("f1", "1", "KFOR"))])
    assert await store.waiting_outbox(NOW) == {"console": 1, "slack": 1}
    rows = await store.claim_outbox(NOW, "p", LEASE, ["console"])
    assert [r.platform for r in rows] == ["console"]
    await store.release_outbox([r.id for r in rows])
    await store.pause_channel("console", "a", "gone")
    assert await store.claim_outbox(NOW, "p", LEASE, ["console"]) == []


async def test_named_leases(store: Store) -> None:
    ttl = timedelta(seconds=40)
    assert await store.acquire_lease("listener:discord", "A", NOW, ttl)
    assert not await store.acquire_lease("listener:discord", "B", NOW, ttl)
    assert await store.acquire_lease("listener:discord", "A", NOW + timedelta(seconds=30), ttl)
    assert not await store.acquire_lease("listener:discord", "B", NOW + timedelta(seconds=60), ttl)
    assert await store.acquire_lease("listener:discord", "B", NOW + timedelta(seconds=71), ttl)
    assert await store.acquire_lease("listener:slack", "A", NOW, ttl)
    await store.release_lease("listener:slack", "A")
    assert await store.acquire_lease("listener:slack", "B", NOW, ttl)


# ---------------------------------------------------------------- digests


async def test_a_digest_is_stored_before_it_is_posted_and_finished_at_once(store: Store) -> None:
    await subscribe(store, "a", mode="digest")
    items = [alerting(story("f1", str(i), f"KFOR {i}")) for i in range(3)]
    await poll(store, "f1", items, digest_due=NOW)
    rows = await store.claim_outbox(NOW, "p", LEASE, ["console"])
    digest_id, key = await store.start_digest("console", "a", [r.id for r in rows], NOW)
    assert key.startswith("alertbot-d-")
    # The process dies before posting: the same digest comes back with its key.
    later = NOW + LEASE + timedelta(seconds=1)
    again = await store.claim_outbox(later, "q", LEASE, ["console"])
    assert {r.digest_id for r in again} == {digest_id}
    assert await store.digest_keys([digest_id]) == {digest_id: key}
    await store.finish_digest(digest_id, "msg-1", later)
    assert await store.pending_count() == 0
    assert await store.claim_outbox(later + LEASE * 3, "q", LEASE, ["console"]) == []


async def test_a_realtime_subscription_takes_a_row_out_of_a_digest_only_before_it_is_prepared(
    store: Store,
) -> None:
    await subscribe(store, "a", "KFOR", mode="digest")
    await subscribe(store, "a", "MKE", mode="realtime")
    later = NOW + timedelta(days=1)
    first = alerting(story("f1", "1", "KFOR"), "KFOR")
    await poll(store, "f1", [first], digest_due=later)
    (row,) = await store.claim_outbox(later, "p", LEASE, ["console"])
    assert row.mode == "digest"
    digest_id, _ = await store.start_digest("console", "a", [row.id], NOW)
    await store.release_outbox([row.id])
    joined = NewStory(
        story=story("f2", "1", "MKE"), dedup_key="x", matches=[hit("MKE", "MKE")],
        alert=True, cluster_id=row.cluster_id, clustered=True, bands=[3], fp=FP,
    )  # fmt: skip
    await poll(store, "f2", [joined])
    (row2,) = await store.claim_outbox(later, "p", LEASE, ["console"])
    assert row2.mode == "digest" and row2.digest_id == digest_id
    assert json.dumps(row2.watchlists) == json.dumps(["KFOR", "MKE"])


# ---------------------------------------------------------------- lookup and copy


async def test_lookup_finds_words_and_phrases(store: Store) -> None:
    await poll(
        store,
        "f1",
        [
            NewStory(story("f1", "1", "Kosovo Force patrols Jarinje"), "a"),
            NewStory(story("f1", "2", "Force of habit in Kosovo"), "b"),
        ],
    )
    assert (await store.lookup("kosovo force", alerted_only=False)).total == 2
    found = await store.lookup('"Kosovo Force"', alerted_only=False)
    assert [h.story.id for h in found.hits] == ["1"]
    assert (await store.lookup("OR NOT (", alerted_only=False)).total == 0  # typed text


async def test_lookup_folds_and_stems_on_both_engines(store: Store) -> None:
    await poll(
        store,
        "f1",
        [
            NewStory(story("f1", "1", "Akıncı drones for Türkiye"), "a"),
            NewStory(story("f1", "2", "A drone lands in Priština"), "b"),
        ],
    )

    async def ids(query: str) -> list[str]:
        return sorted(h.story.id for h in (await store.lookup(query, alerted_only=False)).hits)

    for query in ("Akinci", "akıncı", "AKINCI", "turkiye", '"akinci drones"'):
        assert await ids(query) == ["1"], query
    assert await ids('"drones akinci"') == []
    assert await ids("drone") == ["1", "2"]
    assert await ids("drones") == ["1", "2"]
    assert await ids("pristina") == ["2"]


def dated(feed: str, guid: str, title: str, text: str, when: datetime) -> Story:
    return dataclasses.replace(story(feed, guid, title, text), published=when)


async def test_lookup_pages_with_a_true_total_and_only_alerted_stories(store: Store) -> None:
    items = [
        NewStory(
            dated("f1", str(i), f"Bayraktar update {i}", "Drone news.", NOW - timedelta(hours=i)),
            f"k{i}",
            matches=[hit("Bayraktar", "Bayraktar")],
        )
        for i in range(32)
    ]
    # A footballer of the same name: stored, searchable, but it fired no watchlist.
    items.append(NewStory(story("f1", "fb", "Bayraktar scores twice"), "fb"))
    await poll(store, "f1", items)
    pages = [await store.lookup("Bayraktar", page=n, per_page=10, now=NOW) for n in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [32] * 4
    assert [len(p.hits) for p in pages] == [10, 10, 10, 2]
    assert pages[1].span() == "11–20 of 32" and pages[3].span() == "31–32 of 32"
    assert pages[0].has_next and not pages[0].has_previous and not pages[3].has_next
    seen = [h.story.id for p in pages for h in p.hits]
    assert seen == [str(i) for i in range(32)]  # equal words: newest first, no repeats
    assert "fb" not in seen
    every = await store.lookup("Bayraktar", alerted_only=False, per_page=50, now=NOW)
    assert every.total == 33 and "fb" in [h.story.id for h in every.hits]
    assert (await store.lookup("Bayraktar", page=9, now=NOW)).hits == ()


async def test_lookup_ranks_relevance_then_recency(store: Store) -> None:
    m = [hit("Bayraktar", "Bayraktar")]
    await poll(
        store,
        "f1",
        [
            # Named in the title: more relevant than a passing mention in the text.
            NewStory(dated("f1", "title", "Kosovo buys Bayraktar drones", "A deal was signed.",
                           NOW - timedelta(days=3)), "a", matches=m),
            NewStory(dated("f1", "text", "Defence deal signed in Pristina",
                           "The package includes drones made by Baykar, maker of the Bayraktar.",
                           NOW - timedelta(days=3)), "b", matches=m),
            # The same words a month earlier: the recency boost puts it after.
            NewStory(dated("f1", "old", "Kosovo buys Bayraktar drones", "A deal was signed.",
                           NOW - timedelta(days=30)), "c", matches=m),
        ],
    )  # fmt: skip
    order = [h.story.id for h in (await store.lookup("Bayraktar drones", now=NOW)).hits]
    assert order.index("title") < order.index("text")  # same age: relevance decides
    assert order.index("title") < order.index("old")  # same words: the newer first


async def test_rows_copy_between_backends(tmp_path, pg_url: str) -> None:
    src = await open_store(str(tmp_path / "src.db"))
    dst = await open_store(pg_url)
    try:
        await src.subscribe("console", "a", "KFOR", now=NOW)
        await src.put_watchlist("KFOR", 'name = "KFOR"', NOW)
        await poll(src, "f1", [alerting(story("f1", "1", "Akıncı KFOR"))])
        (row,) = await src.claim_outbox(NOW, "p", LEASE, ["console"])
        await src.mark_sent(row.id, row.revision, "m1", posted_at=NOW)
        await poll(src, "f1", [alerting(story("f1", "2", "KFOR two"))])
        from bot.store.sql import TABLES

        for table in TABLES:
            cols, rows = await src.export_rows(table)
            await dst.import_rows(table, cols, rows)
        assert await dst.story_count() == 2 and await dst.pending_count() == 1
        assert [h.story.id for h in (await dst.lookup("akinci")).hits] == ["1"]
        # New rows continue after the copied ids.
        await poll(dst, "f1", [alerting(story("f1", "3", "KFOR three"))])
        assert await dst.pending_count() == 2
        assert await dst.watchlist_bodies() == [("KFOR", 'name = "KFOR"')]
    finally:
        await src.close()
        await dst.close()


async def test_processes_starting_together_seed_and_subscribe_once(database: str) -> None:
    """Read-then-write transactions of several processes on a fresh database never collide."""
    stores = [await open_store(database) for _ in range(4)]

    async def start(s: Store) -> None:
        await s.seed_watchlists([("KFOR", "a"), ("MKE", "b")], NOW)
        await s.sync_config_feeds([("https://f.example/rss", None, "F")], NOW)
        await s.sync_config_subscriptions(
            [Subscription(0, "console", "a", "KFOR", origin="config")], NOW
        )
        await s.subscribe("console", "b", "MKE", now=NOW)

    try:
        for _ in range(3):
            await asyncio.gather(*(start(s) for s in stores))
        assert [n for n, _ in await stores[0].watchlist_bodies()] == ["KFOR", "MKE"]
        assert len(await stores[0].subscriptions()) == 2
        assert len(await stores[0].feeds()) == 1
    finally:
        for s in stores:
            await s.close()


async def test_claims_are_renewed_while_the_owner_lives(store: Store) -> None:
    await store.add_feed("https://f.example/rss", NOW)
    await subscribe(store, "a")
    await poll(store, "f1", [alerting(story("f1", "1", "KFOR"))])
    assert len(await store.claim_feeds(NOW, "A", LEASE, due_only=True, limit=None)) == 1
    rows = await store.claim_outbox(NOW, "A", LEASE, ["console"])
    assert await store.renew_claims("A", NOW + LEASE * 3) == 1 + len(rows)
    past_first_lease = NOW + LEASE + timedelta(seconds=1)
    assert await store.claim_feeds(past_first_lease, "B", LEASE, due_only=True, limit=None) == []
    assert await store.claim_outbox(past_first_lease, "B", LEASE, ["console"]) == []


async def test_an_older_sqlite_database_is_reindexed_folded_and_stemmed(tmp_path) -> None:
    """A database made before lookup folded and stemmed: migration 3 rebuilds the index."""
    import sqlite3

    from bot.store.schema import MIGRATIONS
    from bot.store.sqlite import split_sql

    path = tmp_path / "old.db"
    con = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for stmt in split_sql(script):
            con.execute(stmt)
    con.execute("PRAGMA user_version=2")
    con.execute(
        "INSERT INTO stories (feed_url, guid, url, title, text, outlet, seen_at) "
        "VALUES ('f', '1', 'u', 'Akıncı drones over Priština', 'Text.', 'o', '2026-01-01')"
    )
    con.close()
    store = await open_store(str(path))
    try:
        for query in ("akinci", "drone", "pristina"):
            found = await store.lookup(query, alerted_only=False)
            assert [h.story.id for h in found.hits] == ["1"], query
    finally:
        await store.close()


async def test_a_band_key_offers_its_newest_stories_only(store: Store) -> None:
    """A key that many recent stories share (a template) offers its STORIES_PER_KEY
    newest as candidates, so a new story's lookup costs the same however many share it;
    a story sharing another key too is still found through it."""
    feed = await store.add_feed("f0", NOW)
    crowd = STORIES_PER_KEY + 9
    for i in range(crowd):
        item = NewStory(
            story=story("f0", f"t{i}", f"Template {i}"), dedup_key=f"t{i}",
            clustered=True, bands=[7] if i else [7, 8], fp=FP,
        )  # fmt: skip
        await store.save_poll(feed.id, result("f0"), [item], NOW)
    since = NOW - timedelta(days=1)
    got = await store.cluster_candidates([7], since)
    assert len(got) == STORIES_PER_KEY
    titles = {c.title for c in got}
    assert titles == {f"Template {i}" for i in range(crowd - STORIES_PER_KEY, crowd)}
    # The oldest one shares key 8 as well: found through it.
    got = await store.cluster_candidates([8, 7], since)
    assert "Template 0" in {c.title for c in got} and len(got) == STORIES_PER_KEY + 1


def indexed(feed: str, guid: str, title: str, bands: list[int], copy: int | None = None):
    """A story the store indexes (fingerprint and band keys), firing nothing."""
    return NewStory(
        story=story(feed, guid, title), dedup_key=f"{feed}/{guid}", clustered=True,
        bands=bands, copy_key=copy, fp=FP,
    )  # fmt: skip


async def test_an_exact_copy_is_compared_with_its_original_only(store: Store) -> None:
    """A story with the copy key of an indexed one (the same fingerprint: a wire story
    or a template item carried by many feeds) is compared with that story alone, however
    many stories share its other keys; if that links nothing (its original is out of the
    time window) it is looked up by all its keys after all."""
    feed = await store.add_feed("f0", NOW)
    copy = 99
    original = indexed("f0", "o", "Original", [7, copy], copy)
    crowd = [indexed("f0", f"c{i}", f"Crowd {i}", [7]) for i in range(5)]
    await store.save_poll(feed.id, result("f0"), [original, *crowd], NOW)
    seen: list[set[str]] = []

    def join(item: NewStory, rows: list) -> None:
        seen.append({r.title for r in rows})
        item.cluster_id = None
        item.singles = [-rows[0].cluster_id] if rows else []
        item.bands = ()  # a near copy is not indexed (bot.core.cluster.near_copy)
        item.clustered = True

    def never(item: NewStory, rows: list) -> None:
        seen.append({r.title for r in rows})
        item.clustered = True  # links nothing

    since = NOW - timedelta(days=1)
    for n, rule in enumerate((join, never)):
        feed = await store.add_feed(f"f{n + 1}", NOW)
        item = indexed(f"f{n + 1}", "x", "Copy", [7, copy], copy)
        await store.save_poll(
            feed.id, result(f"f{n + 1}"), [item], NOW, cluster_rule=rule, window_since=since
        )
    everyone = {"Original"} | {f"Crowd {i}" for i in range(5)}
    assert seen == [{"Original"}, {"Original"}, everyone]


async def test_candidates_of_a_poll_follow_the_events_its_stories_make(store: Store) -> None:
    """A poll's stories are placed one after the other: the second one sees the event
    the first one made of two lone stories, as a lookup after the first would."""
    feed = await store.add_feed("f0", NOW)
    lone = [indexed("f0", f"l{i}", f"Lone {i}", [10 + i]) for i in range(2)]
    await store.save_poll(feed.id, result("f0"), lone, NOW)
    events: list[list[int]] = []

    def bridge(item: NewStory, rows: list) -> None:
        events.append(sorted(r.cluster_id for r in rows))
        singles = sorted(-r.cluster_id for r in rows if r.cluster_id < 0)
        merges = sorted(r.cluster_id for r in rows if r.cluster_id > 0)
        item.cluster_id = merges[0] if merges else None
        item.merges = merges[1:]
        item.singles = singles
        item.clustered = True

    feed = await store.add_feed("f1", NOW)
    items = [indexed("f1", f"b{i}", f"Bridge {i}", [10, 11]) for i in range(2)]
    await store.save_poll(
        feed.id, result("f1"), items, NOW, cluster_rule=bridge, window_since=NOW - timedelta(days=1)
    )
    first, second = events
    assert all(e < 0 for e in first) and len(first) == 2  # two lone stories
    assert len(set(second)) == 1 and second[0] > 0  # now one event
