"""The database: one :class:`~bot.store.base.Store` interface, two engines.

``[bot] database`` (or the ``ALERTBOT_DATABASE`` environment variable) is a
SQLite file path or a ``postgresql://`` URL; :func:`open_store` picks the
backend. :func:`open_store_retrying` waits out a database that is locked or
not reachable yet (a container starting beside its database) with back-off.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

from bot.store.base import Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

__all__ = ["Store", "StoreError", "StoreUnavailable", "describe", "is_postgres", "open_store"]


def is_postgres(database: str | Path) -> bool:
    return str(database).startswith(("postgresql://", "postgres://"))


def describe(database: str | Path) -> str:
    """The database for messages: a path, or a URL with its password masked."""
    if is_postgres(database):
        from bot.store.postgres import mask

        return mask(str(database))
    return str(database)


async def open_store(database: str | Path) -> Store:
    if is_postgres(database):
        from bot.store.postgres import PostgresStore  # imported only when used

        return await PostgresStore.open(str(database))
    from bot.store.sqlite import SQLiteStore

    return await SQLiteStore.open(database)


async def open_store_retrying(
    database: str | Path, *, wait: float = 60.0, first_delay: float = 1.0
) -> Store:
    """Open the store; while it is locked or unreachable, retry with back-off for ``wait`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = first_delay
    while True:
        try:
            return await open_store(database)
        except StoreUnavailable as e:
            left = deadline - loop.time()
            if left <= 0:
                raise
            pause = min(delay * (1 + random.random() / 4), left)
            log.warning("%s; retrying in %.0f s", e, pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, 30.0)
