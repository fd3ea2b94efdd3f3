"""The database schema, as numbered migrations.

``PRAGMA user_version`` holds the number of the last migration applied; on
start every later one runs, each in its own transaction. Never edit a
migration that has shipped: add the next one.
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
]
