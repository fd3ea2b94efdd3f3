"""The ``alertbot`` command line, run as a user runs it (in-process through ``main(argv)``;
a real subprocess where only a process shows the behaviour)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.core.watchlist import parse_watchlist
from tests.cli_support import alertbot
from tests.conftest import ROOT, WATCHLISTS
from tests.fakes.feedserver import FeedServer, make_rss

SAMPLES = ROOT / "config" / "samples"


def write_config(
    tmp_path: Path,
    feeds: list[str],
    extra: str = "",
    *,
    allow_private: bool = True,
    name: str = "alertbot.toml",
) -> Path:
    feed_tables = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in feeds)
    path = tmp_path / name
    path.write_text(
        f"""
[bot]
database = "{tmp_path / "db" / "alertbot.db"}"
watchlists = "{WATCHLISTS}"
backfill = "36500d"
keep = "36600d"
[fetch]
allow_private = {"true" if allow_private else "false"}
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
    footballer = by_title["Bayraktar scores twice as Partizan beat Vojvodina"]
    assert footballer["watchlists"] == []
    assert footballer["why_not"] == {"Bayraktar": "it also needs Drone context"}
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
    code, out, err = await alertbot("feeds", "add", "https://news.example/rss", "--no-check", *c)
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


# ------------------------------------------------------------------ acceptance-run fixes

FRESH = """\
name = "Fresh"
description = "a watchlist made for the test"

[[terms]]
name = "Pristina"
forms = ["Pristina"]
"""


async def test_try_allows_private_when_the_config_or_the_flag_says_so(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add_feed("/x.xml", make_rss("X", [("KFOR patrol", "KFOR troops patrolled.")]))
    url = feed_server.url("/x.xml")
    allowing = write_config(tmp_path, [], name="allowing.toml")
    strict = write_config(tmp_path, [], allow_private=False, name="strict.toml")
    by_config, by_flag, refused = await asyncio.gather(
        alertbot("try", url, "--config", str(allowing), "--json"),
        alertbot("try", url, "--config", str(strict), "--allow-private", "--json"),
        alertbot("try", url, "--config", str(strict), "--json"),
    )
    for code, out, err in (by_config, by_flag):
        assert code == 0, err
        assert [s["watchlists"] for s in json.loads(out)["stories"]] == [["KFOR"]]
    code, out, err = refused
    assert code == 1 and "loopback" in err
    assert json.loads(out)["errors"][0]["feed"] == url


async def test_try_paths_urls_and_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes((SAMPLES / "adriatic-wire.xml").read_bytes())
    common = ("--watchlists", str(WATCHLISTS), "--json")
    code, out, err = await alertbot(
        "try", "good.xml", "missing.xml", "htps://example.org/rss", *common, cwd=tmp_path
    )
    assert code == 1, "any failed feed fails the command"
    doc = json.loads(out)
    assert doc["stories"], "the good feed is still shown"
    errors = {e["feed"]: e["error"] for e in doc["errors"]}
    assert errors["missing.xml"] == "no such file (paths are relative to the current directory)"
    assert "only http:// and https://" in errors["htps://example.org/rss"]
    assert "config file" not in err
    code, out, err = await alertbot("try", "good.xml", *common, cwd=tmp_path)
    assert code == 0 and json.loads(out)["errors"] == [], err


async def test_try_says_which_config_or_watchlists_is_missing(tmp_path: Path) -> None:
    feed = str(SAMPLES / "adriatic-wire.xml")
    given, nodir, neither = await asyncio.gather(
        alertbot("try", feed, "--config", str(tmp_path / "nope.toml"), cwd=tmp_path),
        alertbot("try", feed, "--watchlists", "nodir", cwd=tmp_path),
        alertbot("try", feed, cwd=tmp_path),
    )
    code, _, err = given
    assert code == 1 and "nope.toml: file not found" in err
    code, _, err = nodir
    assert code == 1 and "nodir: folder not found (given by --watchlists)" in err
    code, _, err = neither
    assert code == 1
    assert err.strip() == (
        "alertbot: no config file and no ./watchlists folder: pass --config PATH or "
        "--watchlists DIR (or set ALERTBOT_CONFIG, or run `alertbot init`)"
    )


async def test_config_before_the_command_and_overridden_after_it(tmp_path: Path) -> None:
    good = str(write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")]))
    missing = str(tmp_path / "missing.toml")
    (tmp_path / "own").mkdir()
    # Its own database: two processes opening one new database file at once would race.
    own = str(write_config(tmp_path / "own", []))
    before, overridden, after, nested, platform, version = await asyncio.gather(
        alertbot("--config", good, "check", cwd=tmp_path),
        alertbot("--config", missing, "check", "--config", good, cwd=tmp_path),
        alertbot("--config", good, "check", "--config", missing, cwd=tmp_path),
        alertbot("--config", own, "watchlist", "list", "--json", cwd=tmp_path),
        alertbot("--config", good, "discord", "commands", "--json", cwd=tmp_path),
        alertbot("--version"),
    )
    assert before[0] == 0 and before[1].startswith(f"OK: {good}"), before
    assert overridden[0] == 0, overridden
    assert after[0] == 1 and "missing.toml: file not found" in after[2]
    assert nested[0] == 0 and len(json.loads(nested[1])["watchlists"]) == 4, nested
    assert platform[0] == 0, platform
    code, out, _ = version
    assert code == 0 and out.startswith("alertbot ") and len(out.split()) == 2


async def test_check_counts_config_errors_and_knows_database_watchlists(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[bot]\nnonsense = 1\n[fetch]\nallow_private = 3\n")
    config = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")])
    (code, _, err), (good_code, out, good_err) = await asyncio.gather(
        alertbot("check", "--config", str(broken)), alertbot("check", "--config", str(config))
    )
    assert code == 1 and err.splitlines()[-1] == "2 problems found"
    assert good_code == 0, good_err
    assert out.strip() == f"OK: {config}: 1 feed, 4 watchlists, 1 subscription"
    code, _, err = await alertbot("watchlist", "create", "Fresh", "--config", str(config))
    assert code == 0, err
    sub = '[[subscriptions]]\nplatform = "console"\nchannel = "x"\nwatchlists = ["fresh"]\n'
    config = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")], extra=sub)
    code, out, err = await alertbot("check", "--config", str(config))
    assert code == 0, err
    assert "2 subscriptions" in out and "(+1 only in the database)" in out


async def test_lookup_limit_is_checked_by_the_parser() -> None:
    results = await asyncio.gather(
        *(alertbot("lookup", "x", "--limit", n) for n in ["0", "51", "x"])
    )
    for code, _, err in results:
        assert code == 2 and "--limit: expected a whole number from 1 to 50" in err


async def test_export_to_a_bad_path_is_a_one_line_error(tmp_path: Path) -> None:
    for d in ("a", "b"):  # a database each, so the two may run at once
        (tmp_path / d).mkdir()
    a, b = (["--config", str(write_config(tmp_path / d, []))] for d in ("a", "b"))
    into_missing, into_folder = await asyncio.gather(
        alertbot("watchlist", "export", "KFOR", "-o", str(tmp_path / "no" / "k.toml"), *a),
        alertbot("watchlist", "export", "KFOR", "-o", str(tmp_path), *b),
    )
    for code, _, err in (into_missing, into_folder):
        assert code == 1 and err.startswith("alertbot: cannot write ") and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert f"folder {tmp_path / 'no'} does not exist" in into_missing[2]


async def test_import_checks_every_file_first_and_says_what_it_replaced(tmp_path: Path) -> None:
    c = ["--config", str(write_config(tmp_path, []))]
    edited = tmp_path / "kfor.toml"
    edited.write_text((WATCHLISTS / "kfor.toml").read_text().replace('= "NATO', '= "Edited'))
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(FRESH)
    invalid = tmp_path / "invalid.toml"
    invalid.write_text('name = "Bad"\n[[terms]]\nforms = 3\n')
    folder = tmp_path / "folder"
    folder.mkdir()

    # Neither run opens the database (files are checked first), so they may overlap.
    with_folder, with_invalid = await asyncio.gather(
        alertbot("watchlist", "import", str(edited), str(fresh), str(folder), *c),
        alertbot("watchlist", "import", str(fresh), str(invalid), *c),
    )
    code, out, err = with_folder
    assert code == 1 and out == "" and "Traceback" not in err
    assert (
        err.strip()
        == f"alertbot: nothing imported: {folder}: is a folder; name the .toml files in it"
    )
    code, out, err = with_invalid
    assert code == 1 and out == "" and "nothing imported" in err and "invalid.toml" in err

    code, out, err = await alertbot("watchlist", "import", str(edited), str(fresh), *c)
    assert code == 0, err
    kfor_terms = len(parse_watchlist(edited.read_text(), "kfor.toml").terms)
    assert out.splitlines() == [
        f"imported KFOR from {edited} (replaced the existing watchlist, {kfor_terms} terms)",
        f"imported Fresh from {fresh} (created, 1 term)",  # so the failed runs imported none
    ]
    code, out, _ = await alertbot("watchlist", "list", *c)
    lines = out.splitlines()
    assert any(line.split()[:5] == ["Fresh", "1", "term", "1", "form"] for line in lines)
    assert any(line.startswith("KFOR ") and "Edited" in line for line in lines)


async def closed_stdout(*args: str) -> tuple[int, str]:
    """Run ``alertbot`` with a stdout whose reader is gone before the first write (EPIPE
    every time, unlike ``| head``, which races): (exit status, stderr)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            *args,
            cwd=ROOT,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_a_closed_stdout_is_not_a_traceback() -> None:
    ours, helps = await asyncio.gather(
        closed_stdout("discord", "commands", "--json"), closed_stdout("--help")
    )
    assert ours == (141, "")
    assert helps == (0, ""), "argparse itself swallows the error while printing --help"


def test_every_argument_has_help() -> None:
    from argparse import SUPPRESS, ArgumentParser, _SubParsersAction

    from bot.cli import build_parser

    def walk(parser: ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, _SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{path} {name}")
            elif not action.help or action.help == SUPPRESS:
                missing.append(f"{path}: {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(build_parser(), "alertbot") == []


async def test_run_once_explains_an_idle_cycle_and_status_shows_errors_once(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "gone.xml"
    c = [
        "--config",
        str(write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml"), str(missing)])),
    ]
    code, _, err = await alertbot("run", "--once", *c)
    assert code == 0, err
    assert "no feed is due" not in err
    code, _, idle = await alertbot("run", "--once", *c)
    status = (await alertbot("feeds", "status", *c))[1]
    assert code == 0
    assert re.search(
        r"no feed is due; the next is due at (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC "
        r"\(use --all to poll every feed now\)",
        idle,
    ), idle
    error_line = next(line for line in status.splitlines() if "error (" in line)
    assert str(missing) not in error_line and "no such file" in error_line
    assert "2 feeds, 1 with errors" in status


async def test_init_writes_a_starter_that_runs_and_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "mybot"
    code, out, err = await alertbot("init", str(folder))
    assert code == 0, err
    assert f"alertbot run --once --config {folder / 'alertbot.toml'}" in out
    for rel in ("alertbot.toml", "alertbot.example.toml", "watchlists/kfor.toml", "samples"):
        assert (folder / rel).exists(), rel
    code, out, err = await alertbot("run", "--once", "--json", cwd=folder)
    assert code == 0, err
    assert len(out.splitlines()) == 4, "the four sample alerts"
    assert (folder / "alertbot.db").is_file(), "the database lives beside the config"

    (folder / "alertbot.toml").write_text("# mine\n", encoding="utf-8")
    code, _, err = await alertbot("init", str(folder))
    assert code == 1 and "nothing written" in err and "--force" in err
    assert (folder / "alertbot.toml").read_text(encoding="utf-8") == "# mine\n"
    code, _, err = await alertbot("init", str(folder), "--force")
    assert code == 0, err
    assert "[[subscriptions]]" in (folder / "alertbot.toml").read_text(encoding="utf-8")

    code, _, err = await alertbot("init", str(folder / "alertbot.toml"))
    assert code == 1 and "is not a folder" in err


async def test_init_defaults_to_the_user_config_folder_which_is_then_found(
    tmp_path: Path,
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    code, out, err = await alertbot("init", cwd=tmp_path, env=env)
    assert code == 0, err
    assert (tmp_path / "xdg" / "alertbot" / "alertbot.toml").is_file()
    code, out, err = await alertbot("check", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "xdg/alertbot/alertbot.toml: 2 feeds, 4 watchlists" in out


async def test_the_config_comes_from_alertbot_config_else_says_where_it_looked(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, [str(SAMPLES / "adriatic-wire.xml")], name="elsewhere.toml")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    code, out, err = await alertbot("check", cwd=empty, env=env | {"ALERTBOT_CONFIG": str(config)})
    assert code == 0, err
    assert out.startswith(f"OK: {config}")
    code, _, err = await alertbot("check", "--config", str(config), cwd=empty, env=env)
    assert code == 0, err

    code, _, err = await alertbot("feeds", "list", cwd=empty, env=env)
    assert code == 1
    assert "no config file found (looked for config/alertbot.toml, alertbot.toml, " in err
    assert "alertbot init" in err and "ALERTBOT_CONFIG" in err
    code, _, err = await alertbot(
        "check", cwd=empty, env=env | {"ALERTBOT_CONFIG": str(empty / "nope.toml")}
    )
    assert code == 1 and "nope.toml: file not found" in err


def test_the_package_carries_the_starter_files() -> None:
    """``bot/data`` links to the checkout's watchlists and config; the package-data
    globs in pyproject.toml must take every one of them into a wheel."""
    import tomllib
    from importlib.resources import files

    data = files("bot").joinpath("data")
    names = {p.name for p in data.joinpath("watchlists").iterdir()}
    assert names == {p.name for p in WATCHLISTS.iterdir() if p.suffix == ".toml"}
    assert {p.name for p in data.joinpath("samples").iterdir()} == {
        p.name for p in SAMPLES.iterdir()
    }
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["bot"]
    on_disk = {
        str((Path(top) / name).relative_to(ROOT / "bot"))
        for top, _, names in os.walk(ROOT / "bot" / "data", followlinks=True)
        for name in names
        if not name.startswith(".")
    }
    covered = {str(p.relative_to(ROOT / "bot")) for g in globs for p in (ROOT / "bot").glob(g)}
    assert on_disk == covered
