"""The moving parts between the store and the network.

:class:`Poller` fetches due feeds, parses, matches and clusters new stories and
stores them with their outbox rows in one transaction per feed poll.
:class:`Deliverer` drains the outbox into the platform senders.

Crash safety: a poll writes its stories, matches, clusters, outbox rows and the
feed's new validators in one transaction. A crash before it commits leaves the
old validators, so the next poll sees the same items again; a crash after it
leaves outbox rows that the deliverer sends on the next start. A send is
recorded right after the platform accepts it; a crash in between is the one
window where a post can repeat, and Discord's nonce closes it there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.base import DeliveryError, Sender
from bot.config import Config
from bot.core import cluster as clustering
from bot.core.alerts import build_alert, next_digest_time
from bot.core.fold import fold_form
from bot.core.matching import Matcher, compile_matcher
from bot.core.models import Alert, Story
from bot.core.schedule import next_poll, stable_jitter
from bot.core.watchlist import WatchlistError, parse_watchlist
from bot.feeds.article import extract_article
from bot.feeds.fetch import Fetched, Fetcher, FetchError, Unchanged, Validators
from bot.feeds.parse import ParsedFeed, ParseError, parse_feed
from bot.store.sqlite import FeedRow, NewStory, OutboxRow, PollResult, Store

log = logging.getLogger(__name__)

ARTICLE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
MAX_ARTICLE_FETCHES = 4
"""Article pages fetched at once per poll cycle (teaser entries only)."""


PERMANENT_ERROR_WEIGHT = 16
"""Consecutive errors a permanent failure counts as (reaches the back-off cap)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def dedup_key(story: Story) -> str | None:
    """Canonical URL + folded title: the same item re-issued with a new id or date.

    Items that share a URL but differ in title stay apart (live blogs, feeds
    that point every entry at their home page).
    """
    if not story.url:
        return None
    return story.url + "\n" + fold_form(story.title)


@dataclass(slots=True)
class FeedOutcome:
    url: str
    status: str  # "new" | "unchanged" | "error"
    new: int = 0
    alerts: int = 0
    error: str = ""


@dataclass(slots=True)
class CycleStats:
    feeds: int = 0
    unchanged: int = 0
    errors: int = 0
    new_stories: int = 0
    alerts: int = 0
    outcomes: list[FeedOutcome] = field(default_factory=list)


class Poller:
    def __init__(
        self,
        store: Store,
        config: Config,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.config = config
        self.fetcher = fetcher
        self.clock = clock
        self._matcher: Matcher | None = None
        self._matcher_version = -1
        self._ingest = asyncio.Lock()
        self._articles = asyncio.Semaphore(MAX_ARTICLE_FETCHES)
        self._parallel = asyncio.Semaphore(max(1, config.fetch.max_connections))

    async def matcher(self) -> Matcher:
        """The compiled matcher, rebuilt when any watchlist changed (from any process)."""
        version = await self.store.watchlists_version()
        if self._matcher is None or version != self._matcher_version:
            watchlists = []
            for name, body in await self.store.watchlist_bodies():
                try:
                    watchlists.append(parse_watchlist(body, f"watchlist {name}"))
                except WatchlistError as e:
                    log.error("watchlist %s is invalid and is skipped: %s", name, e)
            self._matcher = compile_matcher(watchlists)
            self._matcher_version = version
            log.info("compiled %d watchlists (version %d)", len(watchlists), version)
        return self._matcher

    async def poll_due(self, *, all_feeds: bool = False) -> CycleStats:
        """Poll every feed that is due (or every feed), concurrently within the limits."""
        now = self.clock()
        feeds = await self.store.feeds() if all_feeds else await self.store.due_feeds(now)
        stats = CycleStats(feeds=len(feeds))
        if not feeds:
            return stats
        await self.matcher()

        async def one(feed: FeedRow) -> FeedOutcome:
            async with self._parallel:
                return await self.poll_feed(feed)

        results = await asyncio.gather(*(one(f) for f in feeds), return_exceptions=True)
        for feed, outcome in zip(feeds, results, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                # A bug or a database failure: logged on this feed, the others go on.
                log.error("%s: poll failed", feed.url, exc_info=outcome)
                outcome = FeedOutcome(feed.url, "error", error=repr(outcome))
            stats.outcomes.append(outcome)
            stats.new_stories += outcome.new
            stats.alerts += outcome.alerts
            stats.unchanged += outcome.status == "unchanged"
            stats.errors += outcome.status == "error"
        return stats

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
        """Fetch, parse, match, cluster and store one feed; errors stay on this feed."""
        now = self.clock()
        validators = Validators(feed.etag, feed.last_modified, feed.body_hash)
        try:
            if feed.url.lower().startswith(("http://", "https://")):
                got = await self.fetcher.fetch(feed.url, validators)
            else:
                got = await self.fetcher.fetch_file(self.config.resolve(feed.url), validators)
        except FetchError as e:
            return await self._failed(feed, now, str(e), e.retry_after, permanent=e.permanent)
        if isinstance(got, Unchanged):
            await self.store.record_unchanged(
                feed.id,
                now,
                self._next_due(feed, now, max_age=got.max_age, ttl=feed.ttl),
                etag=got.validators.etag,
                last_modified=got.validators.last_modified,
                max_age=got.max_age,
            )
            log.debug("%s: unchanged", feed.url)
            return FeedOutcome(feed.url, "unchanged")
        try:
            parsed = await asyncio.to_thread(
                parse_feed,
                got.body,
                feed.url,
                content_type=got.content_type,
                outlet=feed.title,
                now=now,
            )
        except ParseError as e:
            return await self._failed(feed, now, str(e), None)
        except Exception as e:  # a parser bug must stay on this feed, never stop the bot
            log.exception("%s: parser failed", feed.url)
            return await self._failed(feed, now, f"{feed.url}: parser failed: {e!r}", None)
        if parsed.warning:
            log.info("%s: broken feed, parsed anyway: %s", feed.url, parsed.warning)
        return await self._ingest_feed(feed, got, parsed, now)

    async def _failed(
        self,
        feed: FeedRow,
        now: datetime,
        message: str,
        retry_after: timedelta | None,
        *,
        permanent: bool = False,
    ) -> FeedOutcome:
        # A permanent failure (404/410, bad URL) goes straight to the longest
        # back-off: retrying sooner cannot help until someone edits the feed list.
        errors = max(feed.error_count + 1, PERMANENT_ERROR_WEIGHT if permanent else 0)
        due = self._next_due(feed, now, error_count=errors, retry_after=retry_after)
        retry_at = now + retry_after if retry_after else None
        await self.store.record_error(feed.id, now, due, message, retry_at)
        log.warning("feed error: %s (next try %s)", message, due.strftime("%H:%M:%S"))
        return FeedOutcome(feed.url, "error", error=message)

    async def _ingest_feed(
        self, feed: FeedRow, got: Fetched, parsed: ParsedFeed, now: datetime
    ) -> FeedOutcome:
        matcher = await self.matcher()
        stories: dict[str, Story] = {}
        for s in parsed.stories:
            stories.setdefault(s.id, s)  # a feed that repeats an id: the first wins
        known = await self.store.known_guids(feed.url, list(stories))
        fresh = [s for s in stories.values() if s.id not in known]
        keys = {s.id: dedup_key(s) for s in fresh}
        seen_keys = await self.store.known_dedup_keys([k for k in keys.values() if k])
        batch_keys: set[str] = set()
        unique: list[tuple[Story, str | None]] = []
        for s in fresh:
            key = keys[s.id]
            if key and (key in seen_keys or key in batch_keys):
                continue  # the same item re-issued under a new id
            if key:
                batch_keys.add(key)
            unique.append((s, key))
        cutoff = now - self.config.backfill
        first_poll = feed.first_ok_at is None

        def analyse() -> list[NewStory]:
            """Match every new story; fingerprint the ones that may alert (CPU, off the loop)."""
            out: list[NewStory] = []
            for s, key in unique:
                # An undated item on a feed's first poll may be years old: store it,
                # don't alert. Later, a new undated item is news.
                eligible = s.published >= cutoff if s.published is not None else not first_poll
                matches = matcher.match(s.title, s.text) if s.title or s.text else []
                item = NewStory(story=s, dedup_key=key, matches=matches)
                item.alert = eligible and bool(matches)
                if eligible:
                    item.fp = clustering.fingerprint(s.title, s.text)
                out.append(item)
            return out

        items = await asyncio.to_thread(analyse)
        await self._expand_teasers(items, matcher)

        window = self.config.alerts.cluster_window
        async with self._ingest:
            for item in items:
                if item.fp is None:
                    continue
                bands = clustering.bands(item.fp)
                rows = await self.store.cluster_candidates(bands, now - window)
                item.cluster_id = clustering.choose_cluster(
                    item.fp,
                    item.story.published or now,
                    feed.url,
                    [
                        clustering.Candidate(
                            r.cluster_id,
                            clustering.decode(r.fingerprint),
                            r.published,
                            r.feed_url,
                            r.title,
                        )
                        for r in rows
                    ],
                    threshold=self.config.alerts.cluster_threshold,
                    window=window,
                )
                # Only events that can reach a channel are indexed: a story that
                # fires no watchlist matters only as a new source of one that did.
                if item.cluster_id is not None or item.alert:
                    item.clustered = True
                    item.bands = bands
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
            touched = await self.store.save_poll(feed.id, result, items, now, digest_due=digest_due)
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
                text = await asyncio.to_thread(extract_article, got.body, got.url)
            except Exception:  # extraction is best effort; the feed text stays
                log.exception("%s: article extraction failed", s.url)
                return
            if text and len(text) > len(s.text):
                story = dataclasses.replace(s, text=text, teaser=False)
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
    paused: list[str] = field(default_factory=list)
    waiting: int = 0
    """Rows for platforms with no sender (no token configured)."""


class Deliverer:
    """Drains the outbox: one message per (channel, cluster), edits for new sources."""

    def __init__(
        self,
        store: Store,
        config: Config,
        senders: Mapping[str, Sender],
        *,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.config = config
        self.senders = dict(senders)
        self.clock = clock
        self._warned: set[str] = set()

    async def drain(self, *, limit: int = 500) -> DeliveryStats:
        stats = DeliveryStats()
        rows = await self.store.due_outbox(self.clock(), limit=limit)
        groups: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
        for row in rows:
            groups[(row.platform, row.channel)].append(row)
        waiting: dict[str, int] = defaultdict(int)
        for (platform, _), group in groups.items():
            if platform not in self.senders:
                waiting[platform] += len(group)
        for platform, n in waiting.items():
            stats.waiting += n
            if platform not in self._warned:
                self._warned.add(platform)
                log.warning(
                    "%d alerts wait for %s: set its token in the environment to deliver them",
                    n,
                    platform,
                )
        for (platform, channel), group in groups.items():
            sender = self.senders.get(platform)
            if sender is None:
                continue
            try:
                await self._deliver_channel(sender, channel, group, stats)
            except DeliveryError as e:
                if e.permanent:
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
        return build_alert(
            row.cluster_id,
            cs.stories,
            cs.matches,
            row.watchlists,
            summary_chars=self.config.alerts.summary_chars,
            previous_url=previous_url,
        )

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
        fresh = [r for r in rows if r.message_ref is None]
        updates = [r for r in rows if r.message_ref is not None]
        digest = [r for r in fresh if r.mode == "digest"]
        realtime = [r for r in fresh if r.mode != "digest"]
        if len(realtime) > self.config.alerts.burst:
            # A burst becomes one message instead of a flood.
            digest, realtime = digest + realtime, []
        if digest:
            await self._send(self._post_digest(sender, channel, digest, now, stats), digest, stats)
        for row in realtime:
            await self._send(self._post(sender, channel, row, now, stats), [row], stats)
        for row in updates:
            await self._send(self._update(sender, channel, row, now, stats), [row], stats)

    async def _send(
        self, work: Coroutine[Any, Any, None], rows: Sequence[OutboxRow], stats: DeliveryStats
    ) -> None:
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
        for row in rows:
            delay = retry_after or min(30 * 2 ** min(row.attempts, 10), 3600)
            await self.store.mark_failed(row.id, reason, now + timedelta(seconds=delay))
            stats.failed += 1
        log.warning("%d alerts not delivered (%s); will retry", len(rows), reason)

    async def _post(
        self, sender: Sender, channel: str, row: OutboxRow, now: datetime, stats: DeliveryStats
    ) -> None:
        alert = await self._alert(row)
        ref = await sender.post(channel, alert, key=f"alertbot-{row.id}")
        await self.store.mark_sent(row.id, row.revision, ref, posted_at=now)
        stats.posted += 1

    async def _post_digest(
        self,
        sender: Sender,
        channel: str,
        rows: Sequence[OutboxRow],
        now: datetime,
        stats: DeliveryStats,
    ) -> None:
        pending = list(rows)
        alerts = [await self._alert(r) for r in pending]
        while pending:
            # As many messages as it takes: a row is marked sent only once shown.
            n = max(1, sender.digest_fit(alerts))
            chunk, chunk_alerts = pending[:n], alerts[:n]
            ids = ",".join(str(r.id) for r in chunk)
            key = "alertbot-d-" + hashlib.sha256(ids.encode()).hexdigest()[:32]
            ref = await sender.post_digest(channel, chunk_alerts, key=key)
            for r in chunk:
                # Later sources of a digest item are not re-announced: the digest
                # message lists many events and cannot be edited for one.
                await self.store.mark_sent(r.id, r.revision, "digest:" + ref, posted_at=now)
            stats.digests += 1
            pending, alerts = pending[n:], alerts[n:]

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
        alert = await self._alert(row, previous_url=sender.permalink(channel, ref))
        new_ref = await sender.post(channel, alert, key=f"alertbot-{row.id}-r{row.revision}")
        await self.store.mark_sent(row.id, row.revision, new_ref, posted_at=now)
        stats.posted += 1
