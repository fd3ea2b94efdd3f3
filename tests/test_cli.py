"""The ``alertbot`` command line, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, WATCHLISTS
from tests.fakes.feedserver import FeedServer, make_rss

SAMPLES = ROOT / "config" / "samples"


async def alertbot(*args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, feeds: list[str], extra: str = "") -> Path:
    feed_tables = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in feeds)
    path = tmp_path / "alertbot.toml"
    path.write_text(
        f"""
[bot]
database = "{tmp_path / "db" / "alertbot.db"}"
watchlists = "{WATCHLISTS}"
backfill = "36500d"
keep = "36600d"
[fetch]
allow_private = true
[alerts]
fetch_articles = false
{feed_tables}
[[subscriptions]]
platform = "console"
channel = "alerts"
watchlists = ["MKE", "Skydagger", "Bayraktar", "KFOR"]
{extra}
""",
        encoding="utf-8",
    )
    return path


async def test_run_once_json_then_nothing_new(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        [str(SAMPLES / "balkan-defence-monitor.xml"), str(SAMPLES / "adriatic-wire.xml")],
    )
    code, out, err = await alertbot("run", "--once", "--json", "--config", str(config))
    assert code == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs, err
    for d in docs:
        assert {"action", "channel", "watchlists", "title", "summary", "sources"} <= set(d)
        assert d["action"] in ("post", "edit")
        assert all({"outlet", "url"} <= set(s) for s in d["sources"])
    fired = {w for d in docs for w in d["watchlists"]}
    assert fired == {"MKE", "Skydagger", "Bayraktar", "KFOR"}
    titles = " ".join(d["title"] for d in docs)
    assert "Workforce" not in titles and "Partizan" not in titles
    kfor = [d for d in docs if d["watchlists"] == ["KFOR"]]
    assert len(kfor) == 1, "two outlets, one event: one alert"
    assert len(kfor[0]["sources"]) == 2
    code, out, err = await alertbot("run", "--once", "--all", "--json", "--config", str(config))
    assert code == 0 and out == "", (out, err)


async def test_try_json_contract_on_file_and_url(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add_feed(
        "/x.xml", make_rss("X", [("KFOR patrol", "KFOR troops patrolled the border.")])
    )
    code, out, err = await alertbot(
        "try",
        str(SAMPLES / "balkan-defence-monitor.xml"),
        feed_server.url("/x.xml"),
        "--watchlists",
        str(WATCHLISTS),
        "--allow-private",
        "--json",
    )
    assert code == 0, err
    stories = json.loads(out)["stories"]
    assert len(stories) == 5  # every story, matched or not
    keys = {"id", "title", "url", "published", "watchlists", "matches", "summary"}
    assert all(keys <= set(s) for s in stories)
    by_title = {s["title"]: s for s in stories}
    assert by_title["Workforce shortages strain hospitals in Pristina"]["watchlists"] == []
    patrol = by_title["KFOR patrol"]
    assert patrol["watchlists"] == ["KFOR"]
    m = patrol["matches"][0]
    assert {"watchlist", "term", "form", "field", "start", "end"} == set(m)
    assert "KFOR patrol"[m["start"] : m["end"]] == "KFOR" or m["field"] == "text"


async def test_try_reports_bad_feeds_on_stderr(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text("<!doctype html><html><body>hello</body></html>")
    code, _, err = await alertbot("try", str(html), str(tmp_path / "missing.xml"))
    assert code == 1
    assert "not a feed" in err.lower() or "html" in err.lower()
    assert "no such file" in err


async def test_check_exit_codes(tmp_path: Path) -> None:
    good = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")])
    code, out, _ = await alertbot("check", "--config", str(good))
    assert code == 0 and out.startswith("OK")
    bad = write_config(
        tmp_path,
        ["ftp://example.org/feed", str(tmp_path / "nope.xml")],
        extra='[[subscriptions]]\nplatform = "console"\nchannel = "x"\nwatchlists = ["Nope"]\n',
    )
    code, _, err = await alertbot("check", "--config", str(bad))
    assert code == 1
    assert "feeds[0].url" in err and "feeds[1].url" in err
    assert "no watchlist 'Nope'" in err


async def test_watchlist_export_import_round_trip_and_lookup(tmp_path: Path) -> None:
    config = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")])
    c = ["--config", str(config)]
    code, body, err = await alertbot("watchlist", "export", "KFOR", *c)
    assert code == 0, err
    original = (WATCHLISTS / "kfor.toml").read_text(encoding="utf-8")
    assert body == original
    edited = tmp_path / "kfor.toml"
    edited.write_text(body.replace('description = "', 'description = "Edited: '))
    code, out, err = await alertbot("watchlist", "import", str(edited), *c)
    assert code == 0, err
    code, out, _ = await alertbot("watchlist", "show", "KFOR", "--json", *c)
    assert json.loads(out)["description"].startswith("Edited: ")
    code, out, err = await alertbot("watchlist", "add-form", "KFOR", "Nope", "x", *c)
    assert code == 1 and "has no term 'Nope'" in err

    assert (await alertbot("run", "--once", *c))[0] == 0
    code, out, err = await alertbot("lookup", "Skydagger", "--json", *c)
    assert code == 0, err
    hits = json.loads(out)["stories"]
    assert len(hits) == 1 and hits[0]["watchlists"] == ["Skydagger"]
    code, _, err = await alertbot("lookup", "x", "--since", "soon", *c)
    assert code == 2 and "not a duration" in err


async def test_feeds_and_subscriptions_commands(tmp_path: Path) -> None:
    config = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")])
    c = ["--config", str(config)]
    code, _, err = await alertbot("feeds", "add", "javascript:alert(1)", *c)
    assert code == 1 and "alertbot:" in err
    code, out, err = await alertbot("feeds", "add", "https://news.example/rss", *c)
    assert code == 0, err
    code, out, _ = await alertbot("feeds", "list", "--json", *c)
    urls = [f["url"] for f in json.loads(out)["feeds"]]
    assert "https://news.example/rss" in urls
    code, _, err = await alertbot("feeds", "remove", str(SAMPLES / "adriatic-wire.xml"), *c)
    assert code == 1 and "config file" in err
    code, _, err = await alertbot(
        "subscriptions", "add", "--platform", "slack", "--channel", "C1", "--watchlist", "KFOR", *c
    )
    assert code == 0, err
    code, out, _ = await alertbot("subscriptions", "list", "--json", *c)
    subs: list[dict[str, Any]] = json.loads(out)["subscriptions"]
    assert {"platform": "slack", "channel": "C1", "watchlist": "KFOR", "mode": "realtime"} in [
        {k: s[k] for k in ("platform", "channel", "watchlist", "mode")} for s in subs
    ]
    code, _, err = await alertbot(
        "subscriptions", "add", "--platform", "slack", "--channel", "C1", "--watchlist", "Nope", *c
    )
    assert code == 1 and "No watchlist named 'Nope'" in err


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["watchlist", "--help"]])
async def test_help(command: list[str]) -> None:
    code, out, _ = await alertbot(*command)
    assert code == 0 and "usage: alertbot" in out


async def test_an_unusable_database_is_a_one_line_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")])
    db = tmp_path / "db" / "alertbot.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    code, _, err = await alertbot("feeds", "list", "--config", str(config))
    assert code == 1 and err.startswith("alertbot: ") and "Traceback" not in err
    assert "not a usable alertbot database" in err
