"""The moving parts between the store and the network.

:class:`Poller` fetches due feeds, parses, matches and clusters new stories and
stores them with their outbox rows in one transaction per feed poll.
:class:`Deliverer` drains the outbox into the platform senders.

Crash safety: a poll writes its stories, matches, clusters, outbox rows and the
feed's new validators in one transaction. A crash before it commits leaves the
old validators, so the next poll sees the same items again; a crash after it
leaves outbox rows that the deliverer sends on the next start.

Several processes: a feed is polled, and an outbox row sent, only by the
process that claimed it (a lease in the database). A digest's rows and key are
stored before it is posted and marked sent together. A send is recorded right
after the platform accepts it; when a process dies in between, the row's
claim expires and the next claimer first asks the platform whether a message
with the row's key is already there (Discord: the nonce, then the channel's
recent messages; Slack: message metadata in the channel history) and only
sends when it is not. The console cannot be asked: there a crash in that
window can print an alert twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.base import DeliveryError, Sender
from bot.config import Config, quiet_hours
from bot.core import cluster as clustering
from bot.core.alerts import build_alert, next_digest_time
from bot.core.matching import Matcher, compile_matcher
from bot.core.models import Alert
from bot.core.outlet import page_outlet
from bot.core.quiet import QuietHours, held_until
from bot.core.routing import dedup_key, may_alert, new_stories, unique_stories
from bot.core.schedule import next_poll, stable_jitter
from bot.core.subscription import split_quiet_spec
from bot.core.watchlist import WatchlistError, parse_watchlist
from bot.feeds.article import read_article
from bot.feeds.fetch import Fetched, Fetcher, FetchError, Hold, Unchanged, Validators
from bot.feeds.parse import ParseError
from bot.feeds.work import Analysed, CpuPool, Job, analyse_body
from bot.store.base import (
    ClusterCandidateRow,
    FeedRow,
    NewStory,
    OutboxRow,
    PollResult,
    Store,
    UnchangedPoll,
)

log = logging.getLogger(__name__)

ARTICLE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
MAX_ARTICLE_FETCHES = 4
"""Article pages fetched at once per poll cycle (teaser entries only)."""
RECONCILE_MARGIN = timedelta(minutes=2)
"""Look this far before an unfinished claim began for the message it may have posted."""
RECONCILE_RETRY = 60.0
"""Seconds to wait when the platform cannot be asked what was posted."""
WRITE_BATCH = 256
"""Unchanged polls written together, at most."""
WRITE_DELAY = 0.2
"""Seconds an unchanged poll waits for others to be written with."""
MATCHER_CHECK = 1.0
"""Seconds a cycle uses the watchlists' version it read before reading it again."""
CLAIM_FOR = timedelta(minutes=1)
"""How long one ``poll_due`` keeps claiming feeds as slots free up before it returns."""
MAX_DRAIN_ROUNDS = 20
"""Claims per drain: enough for a backlog, bounded so a drain always ends."""


class WriteBehind:
    """Rows written together, a moment after the first of them comes in.

    A warm cycle over thousands of unchanged feeds wrote one statement and one
    commit per feed, each a hand-off to the database thread. Rows added here are
    written with one ``executemany`` and one commit when :data:`WRITE_BATCH` have
    come in or :data:`WRITE_DELAY` seconds after the first, and by :meth:`drain`.
    A crash before the write loses nothing: the feed keeps its claim until the
    lease ends and is polled again (an unchanged poll repeats nothing).
    """

    def __init__(self, write: Callable[[Sequence[UnchangedPoll]], Coroutine[Any, Any, None]]):
        self._write = write
        self._rows: list[UnchangedPoll] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()

    def add(self, row: UnchangedPoll) -> None:
        self._rows.append(row)
        if len(self._rows) >= WRITE_BATCH:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(WRITE_DELAY, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rows, self._rows = self._rows, []
        if rows:
            task = asyncio.ensure_future(self._save(rows))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _save(self, rows: list[UnchangedPoll]) -> None:
        try:
            await self._write(rows)
        except Exception:
            # The feeds keep their claims until the lease ends, then are polled again.
            log.exception("could not record %d unchanged polls", len(rows))

    async def drain(self) -> None:
        """Write every row added so far."""
        self._flush()
        while self._writing:
            await asyncio.gather(*self._writing, return_exceptions=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def process_owner() -> str:
    """This process's name on its leases: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class FeedOutcome:
    url: str
    status: str  # "new" | "unchanged" | "error"
    new: int = 0
    alerts: int = 0
    error: str = ""
    kind: str = ""
    """The error's short code (``timeout``, ``http-404``, ``parse``, ...)."""


@dataclass(slots=True)
class CycleStats:
    feeds: int = 0
    unchanged: int = 0
    errors: int = 0
    new_stories: int = 0
    alerts: int = 0
    outcomes: list[FeedOutcome] = field(default_factory=list)


@contextlib.asynccontextmanager
async def claims_kept(
    store: Store, owner: str, lease: timedelta, clock: Callable[[], datetime] = utcnow
) -> AsyncIterator[None]:
    """Renew this process's feed and outbox claims every quarter lease while inside.

    A live process keeps its claims however long a poll or a delivery takes; a
    process that dies stops renewing, and its claims go to another process one
    lease later.
    """

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 4)
            try:
                await store.renew_claims(owner, clock() + lease)
            except Exception:  # the next renewal may work; the lease covers a miss
                log.warning("could not renew this process's claims", exc_info=True)

    task = asyncio.ensure_future(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Poller:
    def __init__(
        self,
        store: Store,
        config: Config,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = utcnow,
        owner: str = "",
    ):
        self.store = store
        self.config = config
        self.fetcher = fetcher
        self.clock = clock
        self.owner = owner or process_owner()
        self._matcher: Matcher | None = None
        self._matcher_version = -1
        self._watchlist_bodies: tuple[tuple[str, str], ...] = ()
        self.cpu = CpuPool(config.fetch.workers)
        """Parse, match and fingerprint run here, in processes (``[fetch] workers``)."""
        self._articles = asyncio.Semaphore(MAX_ARTICLE_FETCHES)
        self._parallel = asyncio.Semaphore(max(1, config.fetch.max_connections))
        self._matcher_checked = 0.0
        self._unchanged = WriteBehind(store.record_unchanged)
        self.wake: asyncio.Event | None = None
        """Set as soon as one feed's poll stored alerts, so the deliverer sends them
        then, not when the whole ``poll_due`` (up to a minute of claims) returns."""

    async def matcher(self, *, fresh: bool = False) -> Matcher:
        """The compiled matcher, rebuilt when any watchlist changed (from any process).

        The version is read again at most every :data:`MATCHER_CHECK` seconds during a
        cycle (``fresh``: now): once per feed, twice, was a tenth of a cold cycle's
        hand-offs to the database."""
        now = asyncio.get_running_loop().time()
        if not fresh and self._matcher is not None and now < self._matcher_checked:
            return self._matcher
        version = await self.store.watchlists_version()
        self._matcher_checked = now + MATCHER_CHECK
        if self._matcher is None or version != self._matcher_version:
            watchlists = []
            bodies = tuple(await self.store.watchlist_bodies())
            self._watchlist_bodies = bodies
            for name, body in bodies:
                try:
                    watchlists.append(parse_watchlist(body, f"watchlist {name}"))
                except WatchlistError as e:
                    log.error("watchlist %s is invalid and is skipped: %s", name, e)
            self._matcher = compile_matcher(watchlists)
            self._matcher_version = version
            log.info("compiled %d watchlists (version %d)", len(watchlists), version)
        return self._matcher

    def close(self) -> None:
        """Stop the CPU worker processes."""
        self.cpu.close()

    async def poll_due(self, *, all_feeds: bool = False) -> CycleStats:
        """Poll the due feeds (or every feed), concurrently within the limits.

        Due feeds are claimed as fetch slots free up (a few at a time), so a feed
        that falls due starts as soon as a slot is free, not when the slowest feed
        of a batch has finished; processes sharing the database split the work,
        and a feed another process holds is left to it. ``all_feeds`` claims every
        feed at once (``alertbot run --once --all``, benchmarks).
        """
        try:
            return await self._poll_due(all_feeds=all_feeds)
        finally:
            # Unchanged polls are written in batches: all of them before returning
            # (also when cancelled: else their feeds stay claimed until the lease ends).
            await asyncio.shield(self._unchanged.drain())

    async def _poll_due(self, *, all_feeds: bool) -> CycleStats:
        stats = CycleStats()
        if all_feeds:
            feeds = await self._claim(all_feeds=True, limit=None)
            if feeds:
                try:
                    await self.matcher(fresh=True)
                    await self._poll_batch(feeds, stats)
                except BaseException:
                    # Cancelled or failed mid-batch: hand back the feeds not finished
                    # (a finished one has no lease left). Polling again repeats nothing.
                    await asyncio.shield(
                        self.store.release_feeds([f.id for f in feeds], self.owner)
                    )
                    raise
            return stats
        slots = max(1, self.config.fetch.max_connections)
        done: set[int] = set()
        running: dict[asyncio.Task[FeedOutcome], FeedRow] = {}
        exhausted = False
        loop = asyncio.get_running_loop()
        stop_claiming = loop.time() + CLAIM_FOR.total_seconds()
        try:
            while True:
                if loop.time() >= stop_claiming:
                    exhausted = True  # let the caller prune and reseed between cycles
                if not exhausted and len(running) < slots:
                    # Before the claim: a claimed feed starts at once.
                    await self.matcher(fresh=not running)
                    feeds = await self._claim(all_feeds=False, limit=slots - len(running))
                    again = [f.id for f in feeds if f.id in done]
                    feeds = [f for f in feeds if f.id not in done]
                    exhausted = not feeds
                    for feed in feeds:
                        done.add(feed.id)
                        stats.feeds += 1
                        running[asyncio.ensure_future(self.poll_feed(feed))] = feed
                    if again:  # still due after its poll (a failure kept it due): next cycle
                        await asyncio.shield(self.store.release_feeds(again, self.owner))
                if not running:
                    break
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    self._count(running.pop(task), task, stats)
                # A slot is free: look for feeds that fell due meanwhile.
                exhausted = loop.time() >= stop_claiming
        except BaseException:
            # Cancelled or failed: stop the polls in flight and hand their feeds back
            # (a finished one has no lease left). Polling again repeats nothing.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await asyncio.shield(
                self.store.release_feeds([f.id for f in running.values()], self.owner)
            )
            raise
        return stats

    def _count(self, feed: FeedRow, task: asyncio.Task[FeedOutcome], stats: CycleStats) -> None:
        if task.cancelled():
            raise asyncio.CancelledError
        exc = task.exception()
        if exc is not None:
            # A bug or a database failure: logged on this feed, the others go on.
            log.error("%s: poll failed", feed.url, exc_info=exc)
            outcome = FeedOutcome(feed.url, "error", error=repr(exc))
        else:
            outcome = task.result()
        stats.outcomes.append(outcome)
        stats.new_stories += outcome.new
        stats.alerts += outcome.alerts
        stats.unchanged += outcome.status == "unchanged"
        stats.errors += outcome.status == "error"

    async def _claim(self, *, all_feeds: bool, limit: int | None) -> list[FeedRow]:
        """Claim feeds; when cancelled meanwhile, hand back what the claim took."""
        claim = asyncio.ensure_future(
            self.store.claim_feeds(
                self.clock(), self.owner, self.config.lease, due_only=not all_feeds, limit=limit
            )
        )
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                taken = await claim
                await self.store.release_feeds([f.id for f in taken], self.owner)
            raise

    async def _poll_batch(self, feeds: Sequence[FeedRow], stats: CycleStats) -> None:
        """Poll ``feeds``, as many at once as there are fetch slots.

        A few workers take the feeds in turn, rather than a task per feed: 10,000 tasks
        made at once stalled the event loop for ~0.1 s, and the garbage collector's
        full passes over them (and all they hold while they wait) up to 0.17 s.
        """
        stats.feeds += len(feeds)
        results: list[FeedOutcome | Exception | None] = [None] * len(feeds)
        turns = iter(enumerate(feeds))

        async def worker() -> None:
            for i, feed in turns:
                async with self._parallel:
                    try:
                        results[i] = await self.poll_feed(feed)
                    except Exception as exc:  # logged below; the others go on
                        results[i] = exc

        slots = max(1, self.config.fetch.max_connections)
        # A group: when one worker fails or the cycle is cancelled, the others stop too.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(slots, len(feeds))):
                group.create_task(worker())
        for feed, outcome in zip(feeds, results, strict=True):
            if outcome is None:  # its poll was cancelled: as the cycle would have been
                raise asyncio.CancelledError
            if isinstance(outcome, Exception):
                # A bug or a database failure: logged on this feed, the others go on.
                log.error("%s: poll failed", feed.url, exc_info=outcome)
                outcome = FeedOutcome(feed.url, "error", error=repr(outcome), kind="internal")
            stats.outcomes.append(outcome)
            stats.new_stories += outcome.new
            stats.alerts += outcome.alerts
            stats.unchanged += outcome.status == "unchanged"
            stats.errors += outcome.status == "error"

    def _next_due(
        self,
        feed: FeedRow,
        now: datetime,
        *,
        error_count: int = 0,
        retry_after: timedelta | None = None,
        max_age: timedelta | None = None,
        ttl: timedelta | None = None,
    ) -> datetime:
        return next_poll(
            now,
            interval=feed.interval or self.config.fetch.interval,
            max_interval=self.config.fetch.max_interval,
            max_age=max_age,
            ttl=ttl,
            error_count=error_count,
            retry_after=retry_after,
            jitter=stable_jitter(feed.url),
        )

    async def poll_feed(self, feed: FeedRow) -> FeedOutcome:
        """Fetch, parse, match, cluster and store one feed; errors stay on this feed.

        The body's bytes count against the fetcher's budget of bytes in flight
        (``[fetch] max_inflight_bytes``) until the poll is done with it.
        """
        hold = self.fetcher.budget.hold()
        try:
            outcome = await self._poll_feed(feed, hold)
        finally:
            await hold.release()
        if outcome.alerts and self.wake is not None:
            self.wake.set()
        return outcome

    async def _poll_feed(self, feed: FeedRow, hold: Hold) -> FeedOutcome:
        now = self.clock()
        validators = Validators(feed.etag, feed.last_modified, feed.body_hash)
        try:
            if "://" in feed.url:  # a URL (other schemes are refused there, by name)
                got = await self.fetcher.fetch(feed.url, validators, hold=hold)
            else:
                got = await self.fetcher.fetch_file(self.config.resolve(feed.url), validators)
                if isinstance(got, Fetched):
                    await hold.take(len(got.body))
        except FetchError as e:
            return await self._failed(feed, now, str(e), e.retry_after, kind=e.kind)
        if isinstance(got, Unchanged):
            self._unchanged.add(
                UnchangedPoll(
                    feed.id,
                    now,
                    self._next_due(feed, now, max_age=got.max_age, ttl=feed.ttl),
                    got.validators.etag,
                    got.validators.last_modified,
                    got.max_age,
                )
            )
            log.debug("%s: unchanged", feed.url)
            return FeedOutcome(feed.url, "unchanged")
        first_poll = feed.first_ok_at is None
        try:
            await self.matcher()  # the watchlists the worker compiles, current
            job = Job(
                body=got.body,
                feed_url=feed.url,
                content_type=got.content_type,
                outlet=feed.title,
                now=now,
                cutoff=now - self.config.backfill,
                first_poll=first_poll,
                watchlists_version=self._matcher_version,
                watchlists=self._watchlist_bodies,
            )
            analysed = await self.cpu.run(analyse_body, job)
        except ParseError as e:
            return await self._failed(feed, now, str(e), None, kind="parse")
        except Exception as e:  # a parser bug must stay on this feed, never stop the bot
            log.exception("%s: parser failed", feed.url)
            return await self._failed(
                feed, now, f"{feed.url}: parser failed: {e!r}", None, kind="parser-bug"
            )
        if analysed.parsed.warning:
            log.info("%s: broken feed, parsed anyway: %s", feed.url, analysed.parsed.warning)
        return await self._ingest_feed(feed, got, analysed, now)

    async def _failed(
        self,
        feed: FeedRow,
        now: datetime,
        message: str,
        retry_after: timedelta | None,
        *,
        kind: str,
    ) -> FeedOutcome:
        # Every failure backs off gradually, a 404 too: a site that moved its feed
        # often fixes it within hours, and `alertbot feeds retry` clears back-off.
        errors = feed.error_count + 1
        due = self._next_due(feed, now, error_count=errors, retry_after=retry_after)
        retry_at = now + retry_after if retry_after else None
        await self.store.record_error(feed.id, now, due, message, retry_at)
        log.warning("feed error: %s (next try %s)", message, due.strftime("%H:%M:%S"))
        return FeedOutcome(feed.url, "error", error=message, kind=kind)

    async def _ingest_feed(
        self, feed: FeedRow, got: Fetched, analysed: Analysed, now: datetime
    ) -> FeedOutcome:
        matcher = await self.matcher()
        parsed = analysed.parsed
        stories = unique_stories(parsed.stories)
        known = await self.store.known_guids(feed.url, [s.id for s in stories])
        keys = [k for s in stories if s.id not in known and (k := dedup_key(s))]
        unique = new_stories(stories, known, await self.store.known_dedup_keys(keys))
        cutoff = now - self.config.backfill
        first_poll = feed.first_ok_at is None
        # A channel that follows this feed gets every item recent enough to alert.
        followed = feed.url in await self.store.followed_feeds()

        # Matches and fingerprints came from the worker with the parse.
        items: list[NewStory] = []
        for s, key in unique:
            eligible = may_alert(s.published, cutoff, first_poll=first_poll)
            item = NewStory(story=s, dedup_key=key, matches=analysed.matches.get(s.id, []))
            item.alert = eligible and (followed or bool(item.matches))
            if eligible:
                item.fp = analysed.fingerprints.get(s.id)
                if item.fp is None:  # not expected: the worker used the same rule
                    item.fp = clustering.fingerprint(s.title, s.text)
            items.append(item)
        await self._expand_teasers(items, matcher)
        for item in items:
            if item.fp is not None:
                sid = item.story.id
                same = analysed.fingerprints.get(sid) is item.fp  # not replaced by an article
                item.bands = analysed.bands[sid] if same else clustering.bands(item.fp)
                item.copy_key = clustering.copy_key(item.fp)
                if item.copy_key is not None:
                    item.bands = [*item.bands, item.copy_key]
        window = self.config.alerts.cluster_window
        threshold = self.config.alerts.cluster_threshold

        sketches: dict[bytes, clustering.Sketch] = {}  # a poll's stories share candidates

        def sketch_of(fingerprint: bytes) -> clustering.Sketch:
            got = sketches.get(fingerprint)
            if got is None:
                got = sketches[fingerprint] = clustering.Sketch.from_bytes(fingerprint)
            return got

        def choose(item: NewStory, rows: list[ClusterCandidateRow]) -> None:
            assert item.fp is not None
            published = item.story.published or now
            # Compared as sketches read straight from the stored bytes (no decoding
            # of the 128 MinHash values, one big-integer comparison each).
            candidates = [
                clustering.Candidate(
                    r.cluster_id,
                    (),
                    r.published,
                    r.feed_url,
                    r.title,
                    sketch=sketch_of(r.fingerprint),
                )
                for r in rows
            ]
            mine = clustering.sketch(item.fp)
            linked = clustering.linked_clusters(
                item.fp,
                published,
                feed.url,
                candidates,
                threshold=threshold,
                window=window,
                prepared=mine,
            )
            if clustering.near_copy(item.fp, published, candidates, window=window, prepared=mine):
                item.bands = ()  # its original is indexed with the same keys
            # Every story recent enough to alert is indexed, alerting or not: a
            # story that fires no watchlist can still be a source of, or a bridge
            # between, events that did, whichever arrives first. (A lone one gets
            # an event only when a story links to it.)
            events = sorted(e for e in linked if e > 0)
            item.cluster_id = events[0] if events else None
            item.merges = tuple(events[1:])
            item.singles = tuple(sorted(-e for e in linked if e < 0))
            item.clustered = True

        result = PollResult(
            url=feed.url,
            title=parsed.title,
            etag=got.validators.etag,
            last_modified=got.validators.last_modified,
            body_hash=got.validators.body_hash,
            ttl=parsed.ttl,
            max_age=got.max_age,
            next_due=self._next_due(feed, now, max_age=got.max_age, ttl=parsed.ttl),
            warning=parsed.warning or "",
        )
        digest_due = next_digest_time(now, self.config.alerts.digest_every.total_seconds())
        touched = await self.store.save_poll(
            feed.id,
            result,
            items,
            now,
            digest_due=digest_due,
            cluster_rule=choose,
            window_since=now - window,
        )
        alerts = sum(1 for i in items if i.alert)
        held = sum(1 for i in items if i.fp is None and i.matches)
        log.info(
            "%s: %d entries, %d new, %d alerting%s, %d outbox rows",
            feed.url,
            len(parsed.stories),
            len(items),
            alerts,
            f" ({held} matching but older than backfill, or undated on a first poll)"
            if held
            else "",
            len(set(touched)),
        )
        return FeedOutcome(feed.url, "new", new=len(items), alerts=alerts)

    async def _expand_teasers(self, items: list[NewStory], matcher: Matcher) -> None:
        """For alerting stories whose feed text is only a teaser, fetch the article once."""
        if not self.config.alerts.fetch_articles:
            return

        async def expand(item: NewStory) -> None:
            s = item.story
            async with self._articles:
                try:
                    got = await self.fetcher.fetch(s.url, accept=ARTICLE_ACCEPT)
                except FetchError as e:
                    log.info("article page not fetched, using the feed text: %s", e)
                    return
            if not isinstance(got, Fetched):
                return
            try:
                article = await asyncio.to_thread(read_article, got.body, got.url)
            except Exception:  # extraction is best effort; the feed text stays
                log.exception("%s: article extraction failed", s.url)
                return
            if article is not None and len(article.text) > len(s.text):
                story = dataclasses.replace(
                    s,
                    text=article.text,
                    teaser=False,
                    outlet=page_outlet(s.outlet, s.url, article.site_name),
                )
                matches = matcher.match(story.title, story.text)
                item.story = story
                if matches:  # the page may lose the hit (a teaser line cut away)
                    item.matches = matches
                item.fp = clustering.fingerprint(story.title, story.text)

        targets = [i for i in items if i.alert and i.story.teaser and i.story.url]
        if targets:
            await asyncio.gather(*(expand(i) for i in targets))


@dataclass(slots=True)
class DeliveryStats:
    posted: int = 0
    edited: int = 0
    digests: int = 0
    failed: int = 0
    recovered: int = 0
    """Messages found already posted by a process that died before recording them."""
    paused: list[str] = field(default_factory=list)
    waiting: int = 0
    """Rows for platforms with no sender (no token configured)."""
    latencies: list[float] = field(default_factory=list)
    """Seconds from each newly posted alert's publication time to its post."""


def post_key(row: OutboxRow) -> str:
    """The key a row's first post carries (Discord nonce, Slack metadata)."""
    return f"alertbot-{row.id}"


def repost_key(row: OutboxRow) -> str:
    """The key of a new post made after the edit window, for this revision."""
    return f"alertbot-{row.id}-r{row.revision}"


class Deliverer:
    """Drains the outbox: one message per (channel, cluster), edits for new sources.

    Rows are claimed a channel at a time; a row claimed before by a process
    that died is first looked for on the platform (see the module docstring).
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        senders: dict[str, Sender],
        *,
        clock: Callable[[], datetime] = utcnow,
        owner: str = "",
    ):
        self.store = store
        self.config = config
        # The same dict the runtime holds: a platform whose login failed at start
        # gets its sender added there once the login works.
        self.senders = senders
        self.clock = clock
        self.owner = owner or process_owner()
        self._places: dict[tuple[str, str], str] = {}
        """(platform, channel) → place already stored by this process."""
        self._quiet_cache: dict[str, QuietHours | None] = {}
        self._warned: set[str] = set()

    async def drain(self, *, limit: int = 200) -> DeliveryStats:
        stats = DeliveryStats()
        for platform, n in (await self.store.waiting_outbox(self.clock())).items():
            if platform in self.senders:
                continue
            stats.waiting += n
            if platform not in self._warned:
                self._warned.add(platform)
                log.warning(
                    "%d alerts wait for %s: it is not connected (set its token in the "
                    "environment, or see its login error above)",
                    n,
                    platform,
                )
        for _ in range(MAX_DRAIN_ROUNDS):
            rows = await self.store.claim_outbox(
                self.clock(), self.owner, self.config.lease, sorted(self.senders), limit
            )
            if not rows:
                break
            groups: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
            for row in rows:
                groups[(row.platform, row.channel)].append(row)
            for (platform, channel), group in groups.items():
                try:
                    await self._deliver_channel(self.senders[platform], channel, group, stats)
                except DeliveryError as e:
                    if not e.permanent:
                        raise
                    n = await self.store.pause_channel(platform, channel, e.reason)
                    stats.paused.append(f"{platform}:{channel}")
                    log.error(
                        "%s channel %s: %s; paused %d subscriptions (subscribe again to resume)",
                        platform,
                        channel,
                        e.reason,
                        n,
                    )
        return stats

    async def _alert(self, row: OutboxRow, previous_url: str | None = None) -> Alert:
        cs = await self.store.cluster_stories(row.cluster_id)
        if not cs.stories:
            # Merged into another event (a story bridged them) after this row was
            # claimed, or pruned: the merge retired the row; nothing to send.
            raise DeliveryError(f"event {row.cluster_id} has no stories (merged or pruned)")
        alert = build_alert(
            row.cluster_id,
            cs.stories,
            cs.matches,
            row.watchlists,
            summary_chars=self.config.alerts.summary_chars,
            previous_url=previous_url,
        )
        # Only a first post pings: an edit or a post anew about the event does not.
        first = row.message_ref is None and previous_url is None
        return dataclasses.replace(alert, format=row.format, mentions=row.mentions if first else ())

    async def _deliver_channel(
        self, sender: Sender, channel: str, rows: Sequence[OutboxRow], stats: DeliveryStats
    ) -> None:
        now = self.clock()
        alive = await self.store.clusters_with_stories([r.cluster_id for r in rows])
        for r in rows:
            if r.cluster_id not in alive:
                # Its stories are gone (pruned, or a bug): nothing left to show.
                log.error("outbox row %d: event %d has no stories; dropped", r.id, r.cluster_id)
                await self.store.mark_sent(
                    r.id, r.revision, r.message_ref or "gone", posted_at=None
                )
        rows = [r for r in rows if r.cluster_id in alive]
        digest_keys = await self.store.digest_keys(
            [r.digest_id for r in rows if r.digest_id is not None]
        )
        if any(r.prior_claim is not None for r in rows):
            rows = await self._reconcile(sender, channel, rows, digest_keys, now, stats)
        # Digests prepared before a crash or a failed send go out again, same rows, same key.
        prepared: dict[int, list[OutboxRow]] = defaultdict(list)
        for r in rows:
            if r.digest_id is not None:
                prepared[r.digest_id].append(r)
        for digest_id, group in prepared.items():
            key = digest_keys[digest_id]
            await self._send(
                self._post_digest(sender, channel, group, digest_id, key, now, stats), group, stats
            )
        rows = [r for r in rows if r.digest_id is None]
        rows = await self._hold_quiet(channel, rows, now)
        fresh = [r for r in rows if r.message_ref is None]
        updates = [r for r in rows if r.message_ref is not None]
        digest = [r for r in fresh if r.mode == "digest"]
        realtime = [r for r in fresh if r.mode != "digest"]
        if len(realtime) > self.config.alerts.burst:
            # A burst becomes one message instead of a flood.
            digest, realtime = digest + realtime, []
        if digest:
            await self._new_digests(sender, channel, digest, now, stats)
        for row in realtime:
            await self._send(self._post(sender, channel, row, now, stats), [row], stats)
        for row in updates:
            await self._send(self._update(sender, channel, row, now, stats), [row], stats)

    async def _hold_quiet(
        self, channel: str, rows: list[OutboxRow], now: datetime
    ) -> list[OutboxRow]:
        """Hold new alerts that fall due in their channel's quiet hours: they wait in
        the database (as digest rows due when the hours end) and go out together as
        one digest then. Edits of posted alerts go on: they ping nobody."""
        held: dict[datetime, list[int]] = defaultdict(list)
        for r in rows:
            hours = [self._quiet(spec) for spec in r.quiet]
            if r.message_ref is None and hours and None not in hours:
                until = held_until([h for h in hours if h is not None], now)
                if until is not None:
                    held[until].append(r.id)
        for until, ids in held.items():
            await self.store.hold_outbox(ids, until, self.owner)
            log.info(
                "%s: %d alerts held for quiet hours until %s UTC",
                channel,
                len(ids),
                until.strftime("%Y-%m-%d %H:%M"),
            )
        gone = {i for ids in held.values() for i in ids}
        return [r for r in rows if r.id not in gone]

    def _quiet(self, spec: str) -> QuietHours | None:
        if spec not in self._quiet_cache:
            hours, zone = split_quiet_spec(spec)
            try:
                self._quiet_cache[spec] = quiet_hours(hours, zone)
            except ValueError:  # checked when the subscription was made; zone data changed?
                log.warning("quiet hours %r cannot be read; alerts are not held", spec)
                self._quiet_cache[spec] = None
        return self._quiet_cache[spec]

    def _sent_key(self, row: OutboxRow, digest_keys: Mapping[int, str]) -> str | None:
        """The key of the message an unfinished claim of ``row`` may have posted."""
        if row.digest_id is not None:
            return digest_keys.get(row.digest_id)
        if row.message_ref is None:
            return post_key(row)
        if row.message_ref.startswith("digest:"):
            return None
        posted = row.posted_at or row.created_at
        if self.clock() - posted > self.config.alerts.edit_window:
            return repost_key(row)
        return None  # an edit: doing it again changes nothing

    async def _reconcile(
        self,
        sender: Sender,
        channel: str,
        rows: list[OutboxRow],
        digest_keys: Mapping[int, str],
        now: datetime,
        stats: DeliveryStats,
    ) -> list[OutboxRow]:
        """Record what a dead process posted but never recorded; return the rest."""
        keys = {
            r.id: k
            for r in rows
            if r.prior_claim is not None and (k := self._sent_key(r, digest_keys))
        }
        if not keys:
            return rows
        since = min(r.prior_claim for r in rows if r.prior_claim is not None) - RECONCILE_MARGIN
        try:
            found = await sender.find_posted(channel, set(keys.values()), since)
        except DeliveryError as e:
            if e.permanent:
                raise
            # Cannot look now (rate limit, network): wait rather than risk a double.
            retry = now + timedelta(seconds=e.retry_after or RECONCILE_RETRY)
            await self.store.defer_unsure([r.id for r in rows], retry)
            log.warning(
                "%s %s: cannot look for alerts posted before a restart (%s); trying at %s",
                sender.platform,
                channel,
                e.reason,
                retry.strftime("%H:%M:%S"),
            )
            return []
        done_digests: set[int] = set()
        left: list[OutboxRow] = []
        for r in rows:
            ref = found.get(keys.get(r.id, ""))
            if ref is None:
                left.append(r)
                continue
            stats.recovered += 1
            if r.digest_id is not None:
                if r.digest_id not in done_digests:
                    done_digests.add(r.digest_id)
                    await self.store.finish_digest(r.digest_id, ref, now)
                continue
            # The message shows at least the first revision; an edit brings it up to date.
            await self.store.mark_sent(r.id, 1, ref, posted_at=now)
            if r.revision > 1:
                left.append(dataclasses.replace(r, message_ref=ref, posted_at=now, sent_revision=1))
        if stats.recovered:
            log.info(
                "%s %s: %d alerts were already posted before a restart; not posting them again",
                sender.platform,
                channel,
                stats.recovered,
            )
        return [r for r in left if r.digest_id not in done_digests]

    async def _send(
        self, work: Coroutine[Any, Any, None], rows: Sequence[OutboxRow], stats: DeliveryStats
    ) -> None:
        # Right before the platform call: are these rows still ours? A process
        # stalled past its lease may have lost them to another, which then sends.
        mine = await self.store.confirm_claims(
            [r.id for r in rows], self.owner, self.clock() + self.config.lease
        )
        if len(mine) < len(rows):
            work.close()
            log.warning(
                "%d alerts were taken over by another process while this one stalled; "
                "leaving them to it",
                len(rows) - len(mine),
            )
            return
        try:
            await work
        except DeliveryError as e:
            if e.permanent:
                raise
            await self._retry_later(rows, e.reason, e.retry_after, stats)
        except Exception as e:  # a sender bug must not stop delivery to other channels
            log.exception("delivery failed")
            await self._retry_later(rows, repr(e), None, stats)

    async def _retry_later(
        self,
        rows: Sequence[OutboxRow],
        reason: str,
        retry_after: float | None,
        stats: DeliveryStats,
    ) -> None:
        now = self.clock()
        attempts = max(r.attempts for r in rows)
        delay = retry_after or min(30 * 2 ** min(attempts, 10), 3600)
        await self.store.mark_failed([r.id for r in rows], reason, now + timedelta(seconds=delay))
        stats.failed += len(rows)
        log.warning("%d alerts not delivered (%s); will retry", len(rows), reason)

    async def _post(
        self, sender: Sender, channel: str, row: OutboxRow, now: datetime, stats: DeliveryStats
    ) -> None:
        alert = await self._alert(row)
        ref = await sender.post(channel, alert, key=post_key(row))
        await self.store.mark_sent(row.id, row.revision, ref, posted_at=now)
        stats.posted += 1
        if alert.published is not None:
            stats.latencies.append(max((self.clock() - alert.published).total_seconds(), 0.0))
        await self._keep_place(sender, channel)

    async def _keep_place(self, sender: Sender, channel: str) -> None:
        """Store where the channel lives (Discord: its guild) once the sender knows,
        so a later process can link this channel's old posts."""
        place = sender.place(channel)
        key = (sender.platform, channel)
        if place is None or self._places.get(key) == place:
            return
        try:
            await self.store.set_channel_place(sender.platform, channel, place)
        except Exception:  # only links to earlier posts need it; never fail a delivery
            log.warning("could not store where channel %s lives", channel, exc_info=True)
            return
        self._places[key] = place

    async def _new_digests(
        self,
        sender: Sender,
        channel: str,
        rows: Sequence[OutboxRow],
        now: datetime,
        stats: DeliveryStats,
    ) -> None:
        """As many digest messages as it takes; each is stored before it is posted."""
        pending: list[OutboxRow] = []
        alerts: list[Alert] = []
        for r in rows:
            try:
                alerts.append(await self._alert(r))
            except DeliveryError as e:  # its event merged into another meanwhile
                log.info("outbox row %d: %s; dropped", r.id, e.reason)
                ref = r.message_ref or "gone"
                await self.store.mark_sent(r.id, r.revision, ref, posted_at=None)
                continue
            pending.append(r)
        while pending:
            n = max(1, sender.digest_fit(alerts))
            chunk = pending[:n]
            digest_id, key = await self.store.start_digest(
                sender.platform, channel, [r.id for r in chunk], now
            )
            await self._send(
                self._post_digest(sender, channel, chunk, digest_id, key, now, stats, alerts[:n]),
                chunk,
                stats,
            )
            pending, alerts = pending[n:], alerts[n:]

    async def _post_digest(
        self,
        sender: Sender,
        channel: str,
        rows: Sequence[OutboxRow],
        digest_id: int,
        key: str,
        now: datetime,
        stats: DeliveryStats,
        alerts: list[Alert] | None = None,
    ) -> None:
        if alerts is None:
            alerts = [await self._alert(r) for r in rows]
        ref = await sender.post_digest(channel, alerts, key=key)
        await self.store.finish_digest(digest_id, ref, now)
        stats.digests += 1
        await self._keep_place(sender, channel)

    async def _update(
        self, sender: Sender, channel: str, row: OutboxRow, now: datetime, stats: DeliveryStats
    ) -> None:
        ref = row.message_ref or ""
        if ref.startswith("digest:"):
            await self.store.mark_sent(row.id, row.revision, ref, posted_at=None)
            return
        posted = row.posted_at or row.created_at
        if now - posted <= self.config.alerts.edit_window:
            alert = await self._alert(row)
            new_ref = await sender.edit(channel, ref, alert) or ref
            # A platform that could not edit posts anew (Slack, past its own edit
            # limit) and returns the new message: later sources edit that one.
            reposted = new_ref != ref
            await self.store.mark_sent(
                row.id, row.revision, new_ref, posted_at=now if reposted else None
            )
            stats.edited += 1
            return
        # Too old to edit: post anew, linking the earlier message.
        place = await self.store.channel_place(sender.platform, channel)
        alert = await self._alert(row, previous_url=sender.permalink(channel, ref, place))
        new_ref = await sender.post(channel, alert, key=repost_key(row))
        await self.store.mark_sent(row.id, row.revision, new_ref, posted_at=now)
        stats.posted += 1
