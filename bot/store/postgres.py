"""The PostgreSQL backend (asyncpg, with a connection pool).

For operators who outgrow one process or one machine: any number of
``alertbot run`` share one database. Claims use ``FOR UPDATE SKIP LOCKED``,
so two processes never take the same due feed or outbox row; cluster
assignment (and seeding, and the other read-then-write transactions) takes a
transaction-scoped advisory lock, so two processes cannot both start a new
event for one story or seed one watchlist twice; migrations run once under a
session advisory lock however many processes start at once.

Lookup folds diacritics and typography exactly like the matcher (Akinci finds
Akıncı) and stems English (drone finds drones): the folded title and text are
stored as a ``tsvector`` with the ``english`` configuration, and the query is
folded the same way.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bot.core.fold import fold
from bot.core.models import Story
from bot.store.base import StoreError, StoreUnavailable, chunks
from bot.store.schema import POSTGRES_MIGRATIONS
from bot.store.sql import Row, Search, SQLStore

MIGRATION_LOCK = 7_452_001
"""Advisory lock key held while migrating."""
WRITE_LOCK = 7_452_002
"""Advisory lock key held (per transaction) by transactions that read, then write on
what they read: a poll's stories joining events, watchlist seeding, upserts."""
POOL_MAX = 8
CONNECT_TIMEOUT = 10.0

_WORD = re.compile(r"\w+", re.UNICODE)


@functools.lru_cache(maxsize=512)
def to_dollar(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …`` (our SQL has no ``?`` in literals)."""
    n = 0

    def repl(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(r"\?", repl, sql)


def _count(status: str) -> int:
    """Rows changed, from a command status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


SEARCH_CONFIG = "english"
"""Text search configuration: English stemming (drones → drone) over folded text."""
SEARCH_DOC = (
    f"setweight(to_tsvector('{SEARCH_CONFIG}', ?), 'A') || "
    f"setweight(to_tsvector('{SEARCH_CONFIG}', ?), 'B')"
)
"""The search vector: the folded title as weight A, the folded text as weight B, so a
phrase never matches across the end of the title and the start of the text."""


def search_parts(title: str, text: str) -> tuple[str, str]:
    return fold(title).text, fold(text).text


def tsquery(query: str) -> str:
    """User text as a safe tsquery: quoted phrases stay phrases (inside the title or
    inside the text), every part is required. Only word characters reach the query."""
    parts: list[str] = []
    for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', query):
        words = _WORD.findall(fold(quoted or bare).text)
        if len(words) == 1:
            parts.append(words[0])
        elif words:
            title, text = (" <-> ".join(f"{w}:{weight}" for w in words) for weight in "AB")
            parts.append(f"(({title}) | ({text}))")
    return " & ".join(parts)


def mask(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


class PostgresStore(SQLStore):
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, pool: asyncpg.Pool, url: str):
        self.pool = pool
        self.description = mask(url)
        self._tx: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
            "alertbot_pg_tx", default=None
        )

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        where = mask(url)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=POOL_MAX, timeout=CONNECT_TIMEOUT, command_timeout=120
            )
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as e:
            raise StoreError(
                f"{where}: the server refused the login ({e}); check user and password"
            ) from e
        except asyncpg.InvalidCatalogNameError as e:
            raise StoreError(f"{where}: {e}; create it first (createdb NAME)") from e
        except (
            OSError,
            TimeoutError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
        ) as e:
            raise StoreUnavailable(
                f"{where}: cannot reach the database ({e or type(e).__name__}); "
                "is the server running and the host and port right?"
            ) from e
        except (ValueError, asyncpg.ClientConfigurationError) as e:
            raise StoreError(f"{where}: not a usable PostgreSQL URL: {e}") from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"{where}: {e}") from e
        store = cls(pool, url)
        try:
            await store._migrate()
            await store._reindex_search()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self.pool.close()

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                version = int(
                    await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                )
                if version > len(POSTGRES_MIGRATIONS):
                    raise StoreError(
                        f"{self.description}: database schema version {version} is newer than "
                        f"this alertbot ({len(POSTGRES_MIGRATIONS)}); upgrade alertbot or use "
                        "another database"
                    )
                for step in range(version, len(POSTGRES_MIGRATIONS)):
                    async with conn.transaction():
                        await conn.execute(POSTGRES_MIGRATIONS[step])
                        await conn.execute("INSERT INTO schema_version VALUES ($1)", step + 1)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    # ------------------------------------------------------------ primitives

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        tx = self._tx.get()
        if tx is not None:
            yield tx
            return
        async with self.pool.acquire() as conn:
            yield conn

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._conn() as conn:
            return _count(await conn.execute(to_dollar(sql), *params))

    async def _execmany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        async with self._conn() as conn:
            await conn.executemany(to_dollar(sql), rows)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._conn() as conn:
            return list(await conn.fetch(to_dollar(sql), *params))

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn() as conn:
            row: Row | None = await conn.fetchrow(to_dollar(sql), *params)
            return row

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """All or nothing on one pooled connection; statements of this task use it."""
        if self._tx.get() is not None:
            raise StoreError("nested transaction")
        async with self.pool.acquire() as conn, conn.transaction():
            token = self._tx.set(conn)
            try:
                yield
            finally:
                self._tx.reset(token)

    async def _write_lock(self) -> None:
        await self._exec("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))

    async def _index_stories(self, stories: Sequence[tuple[int, Story]]) -> None:
        await self._execmany(
            f"UPDATE stories SET search = {SEARCH_DOC} WHERE id = ?",
            [(*search_parts(story.title, story.text), story_id) for story_id, story in stories],
        )

    # ------------------------------------------------------------ search

    def _search(self, query: str) -> Search | None:
        """Folded like the matcher (Akinci finds Akıncı), stemmed (drone finds drones)."""
        q = tsquery(query)
        if not q:
            return None
        tsq = f"to_tsquery('{SEARCH_CONFIG}', ?)"
        return Search(
            source="stories s",
            condition=f"s.search @@ {tsq}",
            condition_params=(q,),
            relevance=f"ts_rank(s.search, {tsq})",
            relevance_params=(q,),
        )

    async def _reindex_search(self) -> None:
        """Rebuild the search vectors written with another configuration (once)."""
        if await self.get_meta("search_config") == SEARCH_CONFIG:
            return
        async with self.transaction():
            await self._write_lock()
            if await self.get_meta("search_config") == SEARCH_CONFIG:
                return
            rows = await self._all("SELECT id, title, text FROM stories")
            for chunk in chunks(rows, 1000):
                await self._execmany(
                    f"UPDATE stories SET search = {SEARCH_DOC} WHERE id = ?",
                    [(*search_parts(r["title"], r["text"]), r["id"]) for r in chunk],
                )
            await self.set_meta("search_config", SEARCH_CONFIG)

    # ------------------------------------------------------------ moving between databases

    async def columns(self, table: str) -> list[str]:
        rows = await self._all(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema() AND column_name != 'search' "
            "ORDER BY ordinal_position",
            (table,),
        )
        return [r["column_name"] for r in rows]

    async def import_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
    ) -> None:
        await super().import_rows(table, columns, rows)
        if table == "stories":
            at = {c: i for i, c in enumerate(columns)}
            for chunk in chunks(list(rows), 1000):
                await self._execmany(
                    f"UPDATE stories SET search = {SEARCH_DOC} WHERE id = ?",
                    [
                        (*search_parts(str(r[at["title"]]), str(r[at["text"]])), r[at["id"]])
                        for r in chunk
                    ],
                )
        if "id" in columns:
            # Identity columns continue after the copied ids.
            await self._exec(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT MAX(id) FROM {table}), 1))"
            )
