"""Moving to PostgreSQL and bad databases, through the ``alertbot`` command in-process."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import open_store_retrying
from tests.conftest import ROOT, WATCHLISTS

SAMPLES = ROOT / "config" / "samples"


def write_config(tmp_path: Path, database: str) -> Path:
    cfg = tmp_path / "alertbot.toml"
    cfg.write_text(
        f"""
[bot]
database = "{database}"
watchlists = "{WATCHLISTS}"
backfill = "36500d"
keep = "36600d"

[alerts]
fetch_articles = false

[[feeds]]
url = "{SAMPLES / "balkan-defence-monitor.xml"}"

[[feeds]]
url = "{SAMPLES / "adriatic-wire.xml"}"

[[subscriptions]]
platform = "console"
channel = "alerts"
watchlists = ["MKE", "Skydagger", "Bayraktar", "KFOR"]
""",
        encoding="utf-8",
    )
    return cfg


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_copy_moves_everything_and_nothing_alerts_again(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = str(write_config(tmp_path, str(tmp_path / "alertbot.db")))
    code, out, _ = run(capsys, "run", "--once", "--all", "--json", "--config", cfg)
    assert code == 0
    alerts = [json.loads(line) for line in out.splitlines()]
    assert len(alerts) == 4

    code, out, err = run(capsys, "db", "copy", "--to", pg_url, "--config", cfg)
    assert code == 0, err
    assert "copied" in out and "stories: " in err and "outbox: 4 rows" in err

    # The copy knows every story and every alert it sent: nothing goes out again.
    monkeypatch.setenv("ALERTBOT_DATABASE", pg_url)
    code, out, _ = run(capsys, "run", "--once", "--all", "--json", "--config", cfg)
    assert code == 0 and out == ""
    code, out, _ = run(capsys, "lookup", "Kosovo", "--json", "--config", cfg)
    assert json.loads(out)["stories"]
    monkeypatch.delenv("ALERTBOT_DATABASE")

    # A second copy into a database that is not empty is refused.
    code, _, err = run(capsys, "db", "copy", "--to", pg_url, "--config", cfg)
    assert code == 1 and "copy only into an empty database" in err


def test_an_unreachable_postgresql_is_one_line_naming_it_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(write_config(tmp_path, "postgresql://alertbot:s3cret@127.0.0.1:1/alerts"))
    code, out, err = run(capsys, "lookup", "KFOR", "--config", cfg)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "postgresql://alertbot:***@127.0.0.1:1/alerts" in err and "s3cret" not in err
    assert "cannot reach the database" in err


def test_a_wrong_database_name_says_how_to_fix_it(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    cfg = str(write_config(tmp_path, wrong))
    code, _, err = run(capsys, "feeds", "status", "--config", cfg)
    assert code == 1 and "does not exist" in err and "createdb" in err


def test_a_database_url_of_another_kind_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(write_config(tmp_path, "mysql://db/alerts"))
    code, _, err = run(capsys, "check", "--config", cfg)
    assert code == 1 and "bot.database" in err and "postgresql://" in err


def test_a_locked_sqlite_file_is_waited_for(tmp_path: Path) -> None:
    """A database locked by another program at start: retried with back-off, then opened."""
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE x (y)")
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release() -> None:
        time.sleep(6.0)  # longer than one busy_timeout (5 s)
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release, daemon=True).start()

    async def open_it() -> None:
        store = await open_store_retrying(path, wait=30.0, first_delay=0.5)
        await store.close()

    asyncio.run(open_it())
    assert released.is_set()
    holder.close()
