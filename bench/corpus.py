"""Where the benches find real feeds, and what they say when there are none.

The corpus lives beside the repository (``../shared/corpus/realfeeds``); a clone
from a public host has none, so every bench takes ``--corpus DIR`` and exits
with status 2 and one line saying what it needs instead of a traceback.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "realfeeds"


def require_corpus(folder: Path, script: str) -> None:
    """Exit with status 2 and say what is missing when ``folder`` holds no ``*.xml`` feed."""
    if any(folder.glob("*.xml")):
        return
    what = (
        "../shared/corpus/realfeeds (the shared corpus beside the repo)"
        if folder == CORPUS
        else "a folder of *.xml feeds"
    )
    found = "no *.xml files in" if folder.is_dir() else "not found at"
    print(
        f"bench/{script}: needs {what}; {found} {folder} "
        "(--corpus DIR reads another folder, e.g. config/samples)",
        file=sys.stderr,
    )
    raise SystemExit(2)


async def start_server(script: str, *args: str) -> asyncio.subprocess.Process:
    """Run ``script`` (Python that serves feeds, e.g. with the tests' FeedServer) in a
    child process with ``args``, stdin and stdout piped: the benches measure the bot's
    CPU alone, not the server's."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    return proc
