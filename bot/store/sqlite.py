"""The embedded SQLite store (aiosqlite).

One connection per process, in WAL mode so readers (the CLI's ``lookup`` or
``feeds status`` while the bot runs) never block the writer. Every change that
must not be half-done (a poll's stories + matches + clusters + outbox rows +
the feed's new validators) happens in one ``BEGIN IMMEDIATE`` transaction: a
crash before commit leaves the old validators, so the next poll fetches and
processes the same items again; a crash after commit leaves outbox rows that
the sender drains on restart. ``BEGIN IMMEDIATE`` takes the file's write lock,
so claims made by several processes on one file never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite

from bot.core.fold import fold
from bot.store.base import StoreError, StoreUnavailable
from bot.store.schema import MIGRATIONS
from bot.store.sql import Row, Search, SQLStore

_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


def quote_fts(query: str) -> str:
    """Turn user text into a safe FTS5 query: every word quoted, all required.

    ``"Kosovo Force"`` (quoted by the user) stays a phrase; everything else
    becomes words that must all occur. FTS operators typed by users are text.
    """
    phrases: list[str] = []
    for part in re.findall(r'"([^"]*)"|(\S+)', query):
        # Folded like the indexed text (Akıncı → akinci); the tokenizer stems.
        words = _FTS_TOKEN.findall(fold(part[0] or part[1]).text)
        if not words:
            continue
        phrases.append('"' + " ".join(words) + '"')
    return " ".join(phrases)


def sql_fold(text: str | None) -> str:
    """``alertbot_fold(x)`` in SQL: the matcher's folding (case, diacritics, ı → i)."""
    return fold(text).text if text else ""


OPEN_RETRIES = (0.05, 0.2, 0.5, 1.0)
"""Pauses between quick retries of an open that met a lock (seconds)."""


class SQLiteStore(SQLStore):
    """The SQLite backend. Open with ``await SQLiteStore.open(path)``."""

    # Band keys are inserted in story order, so their rowids grow with story ids; the
    # index on band holds rowids in order, so the newest rows of a key are read
    # straight off the index, without reading and sorting every row of the key.
    NEWEST_BAND = "rowid DESC"

    def __init__(self, db: aiosqlite.Connection, path: Path):
        self.db = db
        self.path = path
        self.description = str(path)
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteStore:
        """Open (and migrate) the file. SQLite answers "locked" at once, without
        waiting out busy_timeout, when two connections would otherwise deadlock
        (several processes opening a new file together): a few quick retries
        cover that; a lock held longer is :class:`StoreUnavailable`."""
        for pause in OPEN_RETRIES:
            try:
                return await cls._open(path)
            except StoreUnavailable:
                await asyncio.sleep(pause)
        return await cls._open(path)

    @classmethod
    async def _open(cls, path: Path | str) -> SQLiteStore:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{path}: cannot open the database: {e}") from e
        db.row_factory = aiosqlite.Row
        # The lookup index holds text folded like the matcher (schema migration 3).
        await db.create_function("alertbot_fold", 1, sql_fold, deterministic=True)
        store = cls(db, path)
        try:
            # WAL: readers (CLI lookups, status) never block the bot's writer,
            # and a crash cannot corrupt committed data. Set once per file; it
            # persists, but asking again is cheap and covers fresh files.
            # busy_timeout first: switching a new file to WAL takes a lock too.
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await store._migrate()
        except StoreError:
            await db.close()
            raise
        except sqlite3.OperationalError as e:
            await db.close()
            if "locked" in str(e) or "busy" in str(e):
                raise StoreUnavailable(
                    f"{path}: the database is locked by another program: {e} "
                    "(close the program that holds it, or wait)"
                ) from e
            raise StoreError(f"{path}: not a usable alertbot database: {e}") from e
        except sqlite3.DatabaseError as e:
            await db.close()
            raise StoreError(f"{path}: not a usable alertbot database: {e}") from e
        return store

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        """Apply each missing migration in its own write transaction.

        The version is read inside that transaction (BEGIN IMMEDIATE holds the
        write lock), so two processes opening a new database at once cannot
        both apply the same step.
        """
        while True:
            async with self.transaction():
                async with self._cursor("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                version = int(row[0]) if row else 0
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"{self.path}: database schema version {version} is newer than this "
                        f"alertbot ({len(MIGRATIONS)}); upgrade alertbot or use another database"
                    )
                if version == len(MIGRATIONS):
                    return
                for stmt in split_sql(MIGRATIONS[version]):
                    await self._exec(stmt)
                await self._exec(f"PRAGMA user_version={version + 1}")

    # One connection serves the whole process (polls, deliveries, chat commands,
    # pruning), and SQLite transactions belong to the connection, not to a task.
    # So every statement takes a turn under one lock, and a transaction holds it
    # from BEGIN to COMMIT: no task can write into, read from, or roll back
    # another task's transaction. Statements issued by the transaction's own
    # task pass straight through.

    def _owned(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._owned():
            yield
            return
        async with self._lock:
            yield

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._turn():
            cur = await self.db.execute(sql, params)
            n = cur.rowcount
            await cur.close()
            return n

    async def _execmany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._turn():
            await self.db.executemany(sql, rows)

    @asynccontextmanager
    async def _cursor(
        self, sql: str, params: Sequence[Any] = ()
    ) -> AsyncIterator[aiosqlite.Cursor]:
        async with self._turn(), self.db.execute(sql, params) as cur:
            yield cur

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """All or nothing, isolated from the other tasks, also when cancelled mid-way.

        aiosqlite runs a queued statement even if the coroutine awaiting it is
        cancelled, so a cancel that lands while BEGIN is awaited still opens a
        transaction: roll it back then too, or the next BEGIN fails.
        """
        if self._owned():
            raise StoreError("nested transaction")
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                try:
                    await self.db.execute("BEGIN IMMEDIATE")
                except asyncio.CancelledError:
                    await self._rollback()
                    raise
                try:
                    yield
                except BaseException:
                    await self._rollback()
                    raise
                else:
                    # If this await is cancelled, the COMMIT still runs (it is queued).
                    await self.db.execute("COMMIT")
            finally:
                self._owner = None

    async def _rollback(self) -> None:
        """Roll back, ignoring 'no transaction is active' (BEGIN may have failed)."""
        with contextlib.suppress(sqlite3.Error):
            # Shielded: a second cancel must not leave the transaction open.
            await asyncio.shield(self.db.execute("ROLLBACK"))

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # One trip to the driver's thread (execute, fetch and close together): each
        # trip is a hand-off between threads, and a poll makes many.
        async with self._turn():
            # aiosqlite.Row reads by column name like a mapping (not registered as one).
            return cast(list[Row], list(await self.db.execute_fetchall(sql, params)))

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        # Fetching every row also steps a RETURNING statement to its end.
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ search

    def _search(self, query: str) -> Search | None:
        fts = quote_fts(query)
        if not fts:
            return None
        # bm25() is lower for better matches; the title counts twice the text.
        return Search(
            source="stories_fts JOIN stories s ON s.id = stories_fts.rowid",
            condition="stories_fts MATCH ?",
            condition_params=(fts,),
            relevance="-bm25(stories_fts, 2.0, 1.0)",
        )

    async def columns(self, table: str) -> list[str]:
        return [r["name"] for r in await self._all(f"PRAGMA table_info({table})")]


def split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        buf.append(line)
        text = "\n".join(buf)
        if stripped.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    if buf:
        statements.append("\n".join(buf))
    return statements
