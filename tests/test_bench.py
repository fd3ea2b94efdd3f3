"""bench/poll.py stays alive: one tiny untimed run (the other benches are smoke-run
beside their modules' tests); every bench says what it needs when its feeds are missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BENCH_FEEDS, ROOT


def test_poll_bench_smoke_run() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "poll.py"), "--quick", "--corpus", str(BENCH_FEEDS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "ours cycle 1 (200)" in out and "ours cycle 2 (304)" in out
    assert "unchanged 20" in out or "unchanged 19" in out  # 304s on the second cycle
    assert "peak RSS" in out


@pytest.mark.parametrize("bench", ["match.py", "parse.py", "poll.py", "cluster.py", "quality.py"])
def test_bench_without_feeds_says_what_it_needs(bench: str, tmp_path: Path) -> None:
    missing = tmp_path / "realfeeds"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / bench), "--corpus", str(missing)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"bench/{bench}: needs a folder of *.xml feeds; not found at {missing}" in done.stderr


def test_scale_bench_smoke_run() -> None:
    """bench/scale.py --quick: 200 feeds, one real worker, the SQLite row only (several
    workers on SQLite and PostgreSQL are proven by tests/test_chaos.py; `make bench`
    runs the PostgreSQL rows; this keeps the suite short); the corpus or its synthetic
    stand-in (untimed)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--quick", "--workers", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    lines = out.splitlines()
    header = next((line.split() for line in lines if line.startswith("backend ")), [])
    for column in ("backend", "workers", "cycle", "wall_s", "cpu_s", "feeds/s", "stories"):
        assert column in header, out
    assert "peak_rss_mb" in header and "ratio_wall_vs_1" in header, out
    feeds = header.index("feeds")
    sqlite = [r for r in (line.split() for line in lines) if r[:2] == ["sqlite", "1"]]
    assert [r[2] for r in sqlite[:2]] == ["cold", "warm"], out
    assert [r[feeds] for r in sqlite[:2]] == ["200", "200"], out  # every feed polled, twice
    assert "machine:" in out


def test_memory_bench_smoke_run() -> None:
    """bench/memory.py --quick: two 1 MiB feeds, one cycle with and without the byte
    budget (untimed; the 15 MiB run is `make bench`)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "memory.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "baseline (no byte budget)" in out and "ours (default budget)" in out, out
    assert out.count("feeds 2  errors 0  peak RSS main") == 2, out
    assert out.count("peak PSS total") == 2, out  # poller + workers + fork server, sampled
    assert "worst cycle: bot total PSS" in out and "poller process" in out, out
