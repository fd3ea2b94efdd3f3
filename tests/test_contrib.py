"""contrib/: what can be checked of the deployment recipes without building an image
(these machines cannot): every path the Dockerfile copies exists, the compose file
parses and points at it, the systemd unit runs the installed console script with
arguments the command line accepts, and both run as a non-root user."""

from __future__ import annotations

import configparser
import shlex
import tomllib
from pathlib import Path

import yaml

from bot.cli import build_parser
from tests.conftest import ROOT

CONTRIB = ROOT / "contrib"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def _console_script() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [name] = project["scripts"]
    return str(name)


def test_the_dockerfile_copies_what_exists_and_runs_as_a_user() -> None:
    steps = _instructions(CONTRIB / "Dockerfile")
    copies = [args.split() for word, args in steps if word == "COPY"]
    assert copies
    for *sources, _dest in copies:
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    # bot/data links into watchlists/ and config/: the image must carry their targets.
    copied = {src.rstrip("/") for *sources, _ in copies for src in sources}
    for link in (ROOT / "bot" / "data").iterdir():
        target = link.resolve().relative_to(ROOT).parts[0]
        assert target in copied, f"{link} points into {target}/, which is not copied"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = next(args for word, args in steps if word == "ENTRYPOINT")
    cmd = next(args for word, args in steps if word == "CMD")
    assert yaml.safe_load(entry) == [_console_script()]
    args = build_parser().parse_args(yaml.safe_load(cmd))
    assert args.command == "run" and args.metrics == "0.0.0.0:9464"
    assert any(word == "HEALTHCHECK" and "/healthz" in a for word, a in steps)


def test_the_compose_file_parses_and_builds_this_dockerfile() -> None:
    doc = yaml.safe_load((CONTRIB / "compose.yaml").read_text(encoding="utf-8"))
    services = doc["services"]
    assert set(services) == {"db", "alertbot"}
    bot = services["alertbot"]
    context = (CONTRIB / bot["build"]["context"]).resolve()
    assert context == ROOT.resolve()
    assert (context / bot["build"]["dockerfile"]).is_file()
    env = bot["environment"]
    assert env["ALERTBOT_DATABASE"].startswith("postgresql://")
    assert env["ALERTBOT_CONFIG"] == "/config/alertbot.toml"
    assert "POSTGRES_PASSWORD" in services["db"]["environment"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["cap_drop"] == ["ALL"] and bot["read_only"] is True


def test_the_systemd_unit_runs_the_console_script_hardened() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(CONTRIB / "alertbot.service", encoding="utf-8")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == _console_script()
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.metrics.startswith("127.0.0.1:")
    for key, value in {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "KillSignal": "SIGTERM",
    }.items():
        assert service.get(key) == value, key
    assert "ALERTBOT_CONFIG=" in service["Environment"] or any(
        "ALERTBOT_CONFIG" in line
        for line in (CONTRIB / "alertbot.service").read_text(encoding="utf-8").splitlines()
    )
    assert unit["Install"]["WantedBy"] == "multi-user.target"
