"""Run the ``alertbot`` command the way a user does, in this process or in a real one.

In-process runs call ``bot.cli.main(argv)`` on a worker thread (the command
starts its own event loop, and the test's loop keeps serving the loopback fakes
meanwhile) with stdout and stderr captured, the chat tokens removed from the
environment and the working folder set. They cost milliseconds where a new
Python process costs a second or more of imports. A few tests keep real
processes for what only a process shows: signals and closed pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
from pathlib import Path

from tests.conftest import ROOT

_ONE_AT_A_TIME = threading.Lock()
"""The working folder, stdout, stderr and the environment are process-wide."""

CHAT_ENV = ("DISCORD_", "SLACK_", "ALERTBOT_")


def clean_env() -> dict[str, str]:
    """This process's environment without chat tokens or alertbot settings: a test's
    alertbot must never reach a real platform or another config."""
    return {k: v for k, v in os.environ.items() if not k.startswith(CHAT_ENV)}


def _run_in_process(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    with _ONE_AT_A_TIME:
        saved_env = dict(os.environ)
        saved_cwd = os.getcwd()
        saved_log = (list(root.handlers), root.level)
        try:
            os.environ.clear()
            os.environ.update(env)
            os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as e:  # argparse: --help, usage errors
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        finally:
            root.handlers[:] = saved_log[0]
            root.setLevel(saved_log[1])
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
    return code, out.getvalue(), err.getvalue()


async def alertbot(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """``alertbot ARGS`` in this process: (exit status, stdout, stderr)."""
    full_env = clean_env() | (env or {})
    return await asyncio.wait_for(asyncio.to_thread(_run_in_process, args, cwd, full_env), 60)


async def alertbot_process(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """``alertbot ARGS`` as a real subprocess: (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=clean_env() | (env or {}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
