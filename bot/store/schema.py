"""The database schemas, as numbered migrations, one list per backend.

SQLite keeps the number of the last migration applied in ``PRAGMA
user_version``; PostgreSQL in the ``schema_version`` table. On start every
later one runs, each in its own transaction (on PostgreSQL under an advisory
lock, so several processes starting at once migrate once). Never edit a
migration that has shipped: add the next one. Both schemas have the same
tables and columns, so ``alertbot db copy`` can move rows between them.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    -- Small key/value facts: command-tree hash, watchlist version, digest times.
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    -- Feeds to poll. Validators are stored byte-exact, as the server sent them.
    CREATE TABLE feeds (
        id             INTEGER PRIMARY KEY,
        url            TEXT NOT NULL UNIQUE,
        origin         TEXT NOT NULL DEFAULT 'config',   -- config | user
        title          TEXT NOT NULL DEFAULT '',
        interval_s     INTEGER,                           -- per-feed override
        etag           TEXT,
        last_modified  TEXT,
        body_hash      TEXT,
        ttl_s          INTEGER,                           -- RSS <ttl>
        max_age_s      INTEGER,                           -- Cache-Control max-age
        added_at       TEXT NOT NULL,
        first_ok_at    TEXT,                              -- first successful parse
        last_fetched_at TEXT,
        last_ok_at     TEXT,
        next_due_at    TEXT,
        error          TEXT NOT NULL DEFAULT '',
        warning        TEXT NOT NULL DEFAULT '',          -- parsed, but the feed is broken
        error_count    INTEGER NOT NULL DEFAULT 0,
        retry_after_at TEXT
    );

    -- Every story ever seen. (feed_url, guid) is the identity; dedup_key
    -- (canonical URL + folded title) catches publishers re-issuing an item
    -- with a new id or date.
    CREATE TABLE stories (
        id          INTEGER PRIMARY KEY,
        feed_url    TEXT NOT NULL,
        guid        TEXT NOT NULL,
        url         TEXT NOT NULL,
        title       TEXT NOT NULL,
        text        TEXT NOT NULL,
        published   TEXT,
        outlet      TEXT NOT NULL,
        teaser      INTEGER NOT NULL DEFAULT 0,
        seen_at     TEXT NOT NULL,
        dedup_key   TEXT,
        cluster_id  INTEGER,
        fingerprint BLOB,
        UNIQUE (feed_url, guid)
    );
    -- Unique: two polls racing with the same item (two feeds syndicating one
    -- article) store it once; the loser's INSERT OR IGNORE skips it whole.
    -- NULL keys (no link) never collide.
    CREATE UNIQUE INDEX stories_dedup ON stories (dedup_key);
    CREATE INDEX stories_cluster ON stories (cluster_id);
    CREATE INDEX stories_seen ON stories (seen_at);

    -- Full-text search for lookup; diacritics folded so "Turkiye" finds "Türkiye".
    CREATE VIRTUAL TABLE stories_fts USING fts5 (
        title, text, content='stories', content_rowid='id',
        tokenize="unicode61 remove_diacritics 2"
    );
    CREATE TRIGGER stories_ai AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
    END;
    CREATE TRIGGER stories_ad AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END;
    CREATE TRIGGER stories_au AFTER UPDATE OF title, text ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO stories_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
    END;

    -- Why a story fired.
    CREATE TABLE matches (
        story_id  INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        watchlist TEXT NOT NULL,
        term      TEXT NOT NULL,
        form      TEXT NOT NULL,
        field     TEXT NOT NULL,
        start     INTEGER NOT NULL,
        "end"     INTEGER NOT NULL,
        PRIMARY KEY (story_id, watchlist, term, field, start)
    );
    CREATE INDEX matches_watchlist ON matches (watchlist);

    -- One news event across outlets.
    CREATE TABLE clusters (
        id         INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    -- LSH band keys of recent clustered stories: candidate lookup without a scan.
    CREATE TABLE story_bands (
        band      INTEGER NOT NULL,
        story_id  INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        seen_at   TEXT NOT NULL
    );
    CREATE INDEX story_bands_band ON story_bands (band);

    -- Watchlists as TOML text. The files in watchlists/ seed this table;
    -- edits from chat or the CLI live here. seed_hash remembers which file
    -- version was seeded, so a changed file updates an unedited row.
    CREATE TABLE watchlists (
        name       TEXT PRIMARY KEY COLLATE NOCASE,
        body       TEXT NOT NULL,
        origin     TEXT NOT NULL DEFAULT 'file',          -- file | edited
        seed_hash  TEXT,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE subscriptions (
        id            INTEGER PRIMARY KEY,
        platform      TEXT NOT NULL,
        channel       TEXT NOT NULL,
        guild         TEXT NOT NULL DEFAULT '',
        watchlist     TEXT NOT NULL COLLATE NOCASE,
        mode          TEXT NOT NULL DEFAULT 'realtime',
        origin        TEXT NOT NULL DEFAULT 'chat',       -- config | chat | cli
        created_at    TEXT NOT NULL,
        paused_reason TEXT NOT NULL DEFAULT '',
        UNIQUE (platform, channel, watchlist)
    );

    -- One row per (channel, cluster): a channel subscribed to two watchlists
    -- that both fire on one event gets one alert naming both. ``revision``
    -- grows when a new source joins the cluster; ``sent_revision`` is what the
    -- channel has seen. A row is due when revision > sent_revision.
    CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY,
        platform      TEXT NOT NULL,
        channel       TEXT NOT NULL,
        cluster_id    INTEGER NOT NULL REFERENCES clusters (id),
        mode          TEXT NOT NULL DEFAULT 'realtime',
        watchlists    TEXT NOT NULL,                      -- JSON list
        revision      INTEGER NOT NULL DEFAULT 1,
        sent_revision INTEGER NOT NULL DEFAULT 0,
        message_ref   TEXT,
        posted_at     TEXT,
        created_at    TEXT NOT NULL,
        due_at        TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT NOT NULL DEFAULT '',
        UNIQUE (platform, channel, cluster_id)
    );
    CREATE INDEX outbox_due ON outbox (due_at) WHERE revision > sent_revision;
    """,
    # 2: claimed work (leases on feeds and outbox rows, named leases for roles)
    # and digests that are persisted before they are posted.
    """
    -- A digest message: its rows and key are stored before it is posted, so
    -- after a crash the same digest (same key, same rows) is sent again.
    CREATE TABLE digests (
        id          INTEGER PRIMARY KEY,
        platform    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        key         TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL,
        sent_at     TEXT,
        message_ref TEXT
    );
    -- One process at a time holds a role (the Discord gateway, the Slack socket).
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        owner      TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    ALTER TABLE feeds ADD COLUMN lease_owner TEXT;
    ALTER TABLE feeds ADD COLUMN lease_until TEXT;
    -- claimed_at: when the current claim began; prior_claim: the claimed_at of
    -- an earlier claim that never recorded an outcome (copied on re-claim).
    ALTER TABLE outbox ADD COLUMN claim_owner TEXT;
    ALTER TABLE outbox ADD COLUMN claim_until TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_at TEXT;
    ALTER TABLE outbox ADD COLUMN prior_claim TEXT;
    ALTER TABLE outbox ADD COLUMN digest_id INTEGER REFERENCES digests (id);
    CREATE INDEX outbox_digest ON outbox (digest_id) WHERE digest_id IS NOT NULL;
    """,
    # 3: feed health notices: the announced state of each feed, and notices queued
    # for the channels its alerts went to (claimed and sent like outbox rows).
    """
    CREATE TABLE feed_health (
        feed_url   TEXT PRIMARY KEY,
        state      TEXT NOT NULL DEFAULT 'ok',
        noticed_at TEXT
    );
    CREATE TABLE notices (
        id          INTEGER PRIMARY KEY,
        platform    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        feed_url    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        body        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        due_at      TEXT NOT NULL,
        sent_at     TEXT,
        message_ref TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT NOT NULL DEFAULT '',
        claim_owner TEXT,
        claim_until TEXT
    );
    CREATE INDEX notices_due ON notices (due_at) WHERE sent_at IS NULL;
    """,
]

POSTGRES_MIGRATIONS: list[str] = [
    # 1: the schema of SQLite migrations 1 and 2, with a tsvector for lookup.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE feeds (
        id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        url             TEXT NOT NULL UNIQUE,
        origin          TEXT NOT NULL DEFAULT 'config',
        title           TEXT NOT NULL DEFAULT '',
        interval_s      INTEGER,
        etag            TEXT,
        last_modified   TEXT,
        body_hash       TEXT,
        ttl_s           INTEGER,
        max_age_s       INTEGER,
        added_at        TEXT NOT NULL,
        first_ok_at     TEXT,
        last_fetched_at TEXT,
        last_ok_at      TEXT,
        next_due_at     TEXT,
        error           TEXT NOT NULL DEFAULT '',
        warning         TEXT NOT NULL DEFAULT '',
        error_count     INTEGER NOT NULL DEFAULT 0,
        retry_after_at  TEXT,
        lease_owner     TEXT,
        lease_until     TEXT
    );
    CREATE INDEX feeds_due ON feeds (next_due_at);
    CREATE TABLE clusters (
        id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE stories (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        feed_url    TEXT NOT NULL,
        guid        TEXT NOT NULL,
        url         TEXT NOT NULL,
        title       TEXT NOT NULL,
        text        TEXT NOT NULL,
        published   TEXT,
        outlet      TEXT NOT NULL,
        teaser      INTEGER NOT NULL DEFAULT 0,
        seen_at     TEXT NOT NULL,
        dedup_key   TEXT,
        cluster_id  BIGINT,
        fingerprint BYTEA,
        -- Title and text folded like the matcher (Akinci = Akıncı), as words.
        search      TSVECTOR,
        UNIQUE (feed_url, guid)
    );
    CREATE UNIQUE INDEX stories_dedup ON stories (dedup_key);
    CREATE INDEX stories_cluster ON stories (cluster_id);
    CREATE INDEX stories_seen ON stories (seen_at);
    CREATE INDEX stories_search ON stories USING GIN (search);
    CREATE TABLE matches (
        story_id  BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        watchlist TEXT NOT NULL,
        term      TEXT NOT NULL,
        form      TEXT NOT NULL,
        field     TEXT NOT NULL,
        start     INTEGER NOT NULL,
        "end"     INTEGER NOT NULL,
        PRIMARY KEY (story_id, watchlist, term, field, start)
    );
    CREATE INDEX matches_watchlist ON matches (lower(watchlist));
    CREATE TABLE story_bands (
        band     BIGINT NOT NULL,
        story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        seen_at  TEXT NOT NULL
    );
    CREATE INDEX story_bands_band ON story_bands (band);
    CREATE INDEX story_bands_story ON story_bands (story_id);
    CREATE TABLE watchlists (
        name       TEXT PRIMARY KEY,
        body       TEXT NOT NULL,
        origin     TEXT NOT NULL DEFAULT 'file',
        seed_hash  TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX watchlists_name ON watchlists (lower(name));
    CREATE TABLE subscriptions (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        platform      TEXT NOT NULL,
        channel       TEXT NOT NULL,
        guild         TEXT NOT NULL DEFAULT '',
        watchlist     TEXT NOT NULL,
        mode          TEXT NOT NULL DEFAULT 'realtime',
        origin        TEXT NOT NULL DEFAULT 'chat',
        created_at    TEXT NOT NULL,
        paused_reason TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX subscriptions_key ON subscriptions (platform, channel, lower(watchlist));
    CREATE TABLE digests (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        platform    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        key         TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL,
        sent_at     TEXT,
        message_ref TEXT
    );
    CREATE TABLE outbox (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        platform      TEXT NOT NULL,
        channel       TEXT NOT NULL,
        cluster_id    BIGINT NOT NULL REFERENCES clusters (id),
        mode          TEXT NOT NULL DEFAULT 'realtime',
        watchlists    TEXT NOT NULL,
        revision      INTEGER NOT NULL DEFAULT 1,
        sent_revision INTEGER NOT NULL DEFAULT 0,
        message_ref   TEXT,
        posted_at     TEXT,
        created_at    TEXT NOT NULL,
        due_at        TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT NOT NULL DEFAULT '',
        claim_owner   TEXT,
        claim_until   TEXT,
        claimed_at    TEXT,
        prior_claim   TEXT,
        digest_id     BIGINT REFERENCES digests (id),
        UNIQUE (platform, channel, cluster_id)
    );
    CREATE INDEX outbox_due ON outbox (due_at) WHERE revision > sent_revision;
    CREATE INDEX outbox_digest ON outbox (digest_id) WHERE digest_id IS NOT NULL;
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        owner      TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
    # 2: feed health notices (SQLite migration 3).
    """
    CREATE TABLE feed_health (
        feed_url   TEXT PRIMARY KEY,
        state      TEXT NOT NULL DEFAULT 'ok',
        noticed_at TEXT
    );
    CREATE TABLE notices (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        platform    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        feed_url    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        body        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        due_at      TEXT NOT NULL,
        sent_at     TEXT,
        message_ref TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT NOT NULL DEFAULT '',
        claim_owner TEXT,
        claim_until TEXT
    );
    CREATE INDEX notices_due ON notices (due_at) WHERE sent_at IS NULL;
    """,
]
