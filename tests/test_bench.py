"""bench/poll.py stays alive: one tiny untimed run (the other benches are smoke-run
beside their modules' tests)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_poll_bench_smoke_run() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "poll.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "ours cycle 1 (200)" in out and "ours cycle 2 (304)" in out
    assert "unchanged 20" in out or "unchanged 19" in out  # 304s on the second cycle
    assert "peak RSS" in out
