"""What to do with a watchlist file found in the watchlist folder, given its row.

The files seed the database. A new name is inserted; a row still as it was
seeded follows its file when the file changes; a row edited from chat or the
CLI keeps its edits, and one deleted there stays deleted (until imported or
created again). Each unused changed file gets one note saying why and how to
use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["insert", "update", "keep", "note-only"]


@dataclass(frozen=True, slots=True)
class SeedDecision:
    action: Action
    """insert / update the row from the file; keep it as it is; or keep it and
    remember the file's hash (so the note is said once per file change)."""
    note: str = ""


def seed_decision(
    name: str, origin: str | None, seed_hash: str | None, digest: str
) -> SeedDecision:
    """``origin``/``seed_hash`` of the stored row (None: no row); ``digest`` of the file."""
    if origin is None:
        return SeedDecision("insert")
    if seed_hash == digest:
        return SeedDecision("keep")
    if origin == "deleted":
        return SeedDecision(
            "keep",
            f"watchlist {name} was deleted from chat or the CLI, so its file is not used "
            "('alertbot watchlist import FILE' restores it)",
        )
    if origin == "edited":
        return SeedDecision(
            "note-only",
            f"watchlist {name} was edited from chat or the CLI, so those edits are used, not "
            "its changed file ('alertbot watchlist import FILE' takes the file)",
        )
    return SeedDecision("update")
