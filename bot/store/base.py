"""What every store provides, and the plain rows it hands back.

The store stores; it does not decide. Routing, revision bumps, ingest
eligibility and the wording of notes live in :mod:`bot.core` (``routing``,
``seeding``); a backend reads the rows those decisions need and writes back
what they return, in one transaction where the work must not be half-done.

Work is claimed, never just read: a due feed and a due outbox row are taken
with a lease (owner and expiry) before they are worked on, so several
processes can share one database; the leases of a process that dies expire
and another process takes the work over. Named leases (``acquire_lease``)
give one process at a time a role such as the Discord gateway connection.

Times are stored as UTC ISO-8601 text with seconds on every backend: they
sort and compare correctly as text, and one set of SQL serves both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from bot.core.health import FeedHealth
from bot.core.lookup import LookupPage
from bot.core.models import FeedStatus, Format, Match, Mode, Platform, Story, Subscription

T = TypeVar("T")


def chunks(items: Sequence[T], n: int) -> Iterable[Sequence[T]]:
    """``items`` in slices of at most ``n`` (for ``IN (…)`` lists and multi-row inserts)."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


def marks(n: int) -> str:
    """``n`` placeholders for an ``IN (…)`` list."""
    return ",".join("?" * n)


def iso(dt: datetime | None) -> str | None:
    """UTC ISO-8601 with seconds: sorts and compares correctly as text."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text)


class StoreError(Exception):
    """The database cannot be used; the message names it (password masked) and
    says what to do."""


class StoreUnavailable(StoreError):
    """The database could not be reached or was locked: worth retrying."""


@dataclass(frozen=True, slots=True)
class FeedRow:
    id: int
    url: str
    origin: str
    title: str
    interval: timedelta | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl: timedelta | None
    max_age: timedelta | None
    first_ok_at: datetime | None
    last_fetched_at: datetime | None
    last_ok_at: datetime | None
    next_due_at: datetime | None
    error: str
    error_count: int
    retry_after_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClusterCandidateRow:
    cluster_id: int
    """The candidate's event: its cluster id, or -(story id) for a story in no event yet."""
    fingerprint: bytes
    published: datetime
    feed_url: str
    title: str


@dataclass(slots=True)
class NewStory:
    """A story to store in a poll's transaction, with what the pipeline decided."""

    story: Story
    dedup_key: str | None
    matches: Sequence[Match] = ()
    alert: bool = False
    """Route to subscribers (false for backfill and for stories no watchlist fired on)."""
    cluster_id: int | None = None
    """An existing cluster this story joins; None = start a new one (when clustered)."""
    merges: Sequence[int] = ()
    """Other clusters the story bridges: they merge into ``cluster_id``."""
    singles: Sequence[int] = ()
    """Stories in no event yet that the story links to: they join its event."""
    clustered: bool = False
    """Indexed for candidate lookups (fingerprint and band keys stored). It is in an
    event when it alerts, joins a cluster or links a story: a lone story that fired
    nothing gets none until another links to it."""
    bands: Sequence[int] = ()
    copy_key: int | None = None
    """The key exact copies share (``bot.core.cluster.copy_key``), one of ``bands``."""
    fp: tuple[int, ...] | None = None
    """The decoded fingerprint, for stories recent enough to alert."""


ClusterRule = Callable[[NewStory, list[ClusterCandidateRow]], None]
"""Sets ``cluster_id`` and ``clustered`` of a story from the recent candidates
that share a band with it. The store calls it inside the poll's transaction,
so two processes cannot both start a new event for one story."""


@dataclass(frozen=True, slots=True)
class UnchangedPoll:
    """A poll that found its feed unchanged (304, or the same body): its new
    validators and when it is due again; it also hands the feed's claim back."""

    feed_id: int
    now: datetime
    next_due: datetime
    etag: str | None
    last_modified: str | None
    max_age: timedelta | None


@dataclass(frozen=True, slots=True)
class PollResult:
    url: str
    title: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl: timedelta | None
    max_age: timedelta | None
    next_due: datetime
    warning: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    platform: Platform
    channel: str
    cluster_id: int
    mode: Mode
    watchlists: tuple[str, ...]
    revision: int
    sent_revision: int
    message_ref: str | None
    posted_at: datetime | None
    created_at: datetime
    attempts: int
    digest_id: int | None = None
    """A digest message prepared for this row and not recorded as sent yet."""
    prior_claim: datetime | None = None
    """When an earlier claim of this row began that never recorded an outcome: a
    process may have died after the platform accepted the message. The sender
    is asked whether the message is there before anything is sent again."""
    format: Format = "full"
    mentions: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()
    """Quiet-hours specs of the subscriptions that wanted it (see
    ``bot.core.subscription.Presentation``)."""


@dataclass(frozen=True, slots=True)
class ClusterStories:
    cluster_id: int
    stories: list[Story]
    matches: dict[int, list[Match]] = field(default_factory=dict)
    """Matches per index into ``stories``."""


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A feed-health notice queued for one channel."""

    id: int
    platform: Platform
    channel: str
    feed_url: str
    kind: str
    body: str
    attempts: int


class Store(Protocol):
    """All database access, whatever the engine."""

    description: str
    """The database, for messages: a path, or a URL with the password masked."""

    async def close(self) -> None: ...
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """All or nothing: the statements of this task inside it commit together."""
        ...

    # meta and leases
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def acquire_lease(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the named lease; False while another live owner holds it."""
        ...

    async def release_lease(self, name: str, owner: str) -> None: ...

    # feeds
    async def sync_config_feeds(
        self, feeds: Iterable[tuple[str, timedelta | None, str]], now: datetime
    ) -> None: ...
    async def add_feed(
        self, url: str, now: datetime, origin: str = "user", title: str = ""
    ) -> FeedRow: ...
    async def remove_feed(self, url: str) -> bool: ...
    async def feed(self, url: str) -> FeedRow | None: ...
    async def feeds(self) -> list[FeedRow]: ...
    async def release_feeds(self, feed_ids: Sequence[int], owner: str) -> None: ...
    async def renew_claims(self, owner: str, until: datetime) -> int:
        """Extend every feed and outbox claim ``owner`` holds; return how many."""
        ...

    async def claim_feeds(
        self, now: datetime, owner: str, lease: timedelta, *, due_only: bool, limit: int | None
    ) -> list[FeedRow]:
        """Take feeds to poll (due ones, or all) that no live process holds."""
        ...

    async def next_feed_due(self, now: datetime) -> datetime | None: ...
    async def cluster_candidates(
        self, bands: Sequence[int], since: datetime, exclude: Iterable[int] = ()
    ) -> list[ClusterCandidateRow]: ...
    async def feed_statuses(self) -> list[FeedStatus]: ...
    async def record_unchanged(self, polls: Sequence[UnchangedPoll]) -> None:
        """Record many unchanged polls with one statement and one commit."""
        ...

    async def record_error(
        self,
        feed_id: int,
        now: datetime,
        next_due: datetime,
        error: str,
        retry_after_at: datetime | None = None,
    ) -> None: ...

    # stories
    async def known_guids(self, feed_url: str, guids: Sequence[str]) -> set[str]: ...
    async def known_dedup_keys(self, keys: Sequence[str]) -> set[str]: ...
    async def save_poll(
        self,
        feed_id: int,
        result: PollResult,
        items: Sequence[NewStory],
        now: datetime,
        *,
        digest_due: datetime | None = None,
        cluster_rule: ClusterRule | None = None,
        window_since: datetime | None = None,
    ) -> list[int]: ...
    async def story_count(self) -> int: ...
    async def set_channel_place(self, platform: str, channel: str, place: str) -> None:
        """Remember where a chat channel lives (Discord: its guild id)."""
        ...

    async def channel_place(self, platform: str, channel: str) -> str | None: ...
    async def lookup(
        self,
        query: str,
        *,
        since: datetime | None = None,
        watchlist: str | None = None,
        alerted_only: bool = True,
        page: int = 1,
        per_page: int = 10,
        now: datetime | None = None,
    ) -> LookupPage: ...
    async def prune(
        self, now: datetime, *, keep: timedelta, window: timedelta
    ) -> dict[str, int]: ...

    # outbox
    async def claim_outbox(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        platforms: Sequence[str],
        limit: int = 200,
    ) -> list[OutboxRow]: ...
    async def confirm_claims(self, row_ids: Sequence[int], owner: str, until: datetime) -> set[int]:
        """Of ``row_ids``, those ``owner`` still holds, their leases extended to ``until``."""
        ...

    async def hold_outbox(self, row_ids: Sequence[int], until: datetime, owner: str) -> None:
        """Quiet hours: the rows ``owner`` still holds wait until ``until`` and then go
        out as one digest."""
        ...

    async def followed_feeds(self) -> set[str]:
        """Feeds with an active feed subscription (every new item alerts)."""
        ...

    async def waiting_outbox(self, now: datetime) -> dict[str, int]:
        """Due rows per platform (for warnings about platforms without a token)."""
        ...

    async def retry_feeds(self, urls: Sequence[str] | None, now: datetime) -> list[str]:
        """Clear the error back-off of ``urls`` (None: every failing feed); due now."""
        ...

    async def feed_health(self) -> list[FeedHealth]:
        """Every feed as :func:`bot.core.health.assess` needs it."""
        ...

    async def health_channels(self, feed_url: str) -> list[tuple[str, str]]:
        """(platform, channel) of the active subscriptions that got alerts from this feed."""
        ...

    async def record_health(
        self,
        feed_url: str,
        state: str,
        noticed_at: datetime | None,
        notices: Sequence[tuple[str, str, str, str]],
        now: datetime,
    ) -> None:
        """Store a feed's announced state and queue its notices
        ((platform, channel, kind, body)), in one transaction."""
        ...

    async def claim_notices(
        self, now: datetime, owner: str, lease: timedelta, platforms: Sequence[str], limit: int = 50
    ) -> list[NoticeRow]: ...
    async def mark_notice_sent(self, notice_id: int, ref: str, now: datetime) -> None: ...
    async def mark_notice_failed(self, notice_id: int, error: str, retry_at: datetime) -> None: ...
    async def pending_count(self) -> int: ...
    async def outbox_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """Rows not delivered yet, and when the oldest of those already due was made."""
        ...

    async def mark_sent(
        self, row_id: int, revision: int, ref: str, *, posted_at: datetime | None
    ) -> None: ...
    async def mark_failed(self, row_ids: Sequence[int], error: str, retry_at: datetime) -> None: ...
    async def release_outbox(self, row_ids: Sequence[int]) -> None: ...
    async def defer_unsure(self, row_ids: Sequence[int], retry_at: datetime) -> None: ...
    async def start_digest(
        self, platform: str, channel: str, row_ids: Sequence[int], now: datetime
    ) -> tuple[int, str]:
        """Persist a digest's rows and key before it is posted; returns its id and key."""
        ...

    async def digest_keys(self, digest_ids: Sequence[int]) -> dict[int, str]: ...
    async def finish_digest(self, digest_id: int, ref: str, now: datetime) -> None:
        """The digest was posted: record it and mark all its rows sent, at once."""
        ...

    async def pause_channel(self, platform: str, channel: str, reason: str) -> int: ...
    async def cluster_stories(self, cluster_id: int) -> ClusterStories: ...
    async def clusters_with_stories(self, cluster_ids: Sequence[int]) -> set[int]: ...

    # watchlists
    async def watchlist_bodies(self) -> list[tuple[str, str]]: ...
    async def watchlist_body(self, name: str) -> tuple[str, str] | None: ...
    async def seed_watchlists(
        self, files: Iterable[tuple[str, str]], now: datetime
    ) -> tuple[list[str], list[str]]: ...
    async def put_watchlist(
        self, name: str, body: str, now: datetime, *, rename_from: str = ""
    ) -> None: ...
    async def delete_watchlist(self, name: str) -> bool: ...
    async def watchlists_version(self) -> int: ...

    # subscriptions
    async def subscribe(
        self,
        platform: str,
        channel: str,
        watchlist: str,
        *,
        mode: str = "realtime",
        guild: str = "",
        origin: str = "chat",
        now: datetime,
        options: Subscription | None = None,
        new_feeds: Sequence[str] = (),
    ) -> Subscription: ...
    async def unsubscribe(
        self, platform: str, channel: str, watchlist: str
    ) -> Subscription | None: ...
    async def subscriptions(
        self, platform: str | None = None, channel: str | None = None
    ) -> list[Subscription]: ...
    async def sync_config_subscriptions(
        self, subs: Iterable[Subscription], now: datetime
    ) -> None: ...

    # moving between databases
    async def export_rows(self, table: str) -> tuple[list[str], list[tuple[object, ...]]]: ...
    async def import_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
    ) -> None: ...
    async def is_empty(self) -> bool: ...
