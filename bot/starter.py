"""``alertbot init``: write a starter config, watchlists and sample feeds into a folder.

The files ship inside the package (``bot/data/``), so a ``pip``/``pipx``
install can start from them as well as a checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

STARTER_CONFIG = """\
# alertbot configuration, written by `alertbot init`.
# Every key is documented in alertbot.example.toml beside this file.
# Paths are relative to this file. Secrets (chat tokens) come only from the
# environment: DISCORD_TOKEN, SLACK_BOT_TOKEN, SLACK_APP_TOKEN, ...

[bot]
database = "alertbot.db"
watchlists = "watchlists"
# The bundled samples are dated November 2026; a long backfill lets them alert
# on the first run. Once real feeds replace them, delete these two lines to get
# the defaults (backfill "2d", keep "90d").
backfill = "36500d"
keep = "36600d"

[alerts]
# The samples link to fictional sites: never try to fetch their pages.
fetch_articles = false

# Replace the samples with real feeds, e.g.
# [[feeds]]
# url = "https://www.example.org/rss.xml"

[[feeds]]
url = "samples/balkan-defence-monitor.xml"

[[feeds]]
url = "samples/adriatic-wire.xml"

[[subscriptions]]
platform = "console"
channel = "alerts"
watchlists = [{watchlists}]
"""


class InitError(Exception):
    """Nothing was written; the message says why and what to do."""


@dataclass(slots=True)
class Written:
    folder: Path
    files: list[Path] = field(default_factory=list)
    config: Path = Path()


def _starter() -> Traversable:
    return files("bot").joinpath("data")


def _plan(folder: Path) -> dict[Path, bytes]:
    """Every file ``init`` writes, relative path → content."""
    root = _starter()
    plan: dict[Path, bytes] = {}
    names: list[str] = []
    for sub in ("watchlists", "samples"):
        for entry in sorted(root.joinpath(sub).iterdir(), key=lambda t: t.name):
            if entry.is_file() and not entry.name.startswith("."):
                plan[Path(sub) / entry.name] = entry.read_bytes()
    for name in ("alertbot.example.toml", "slack-manifest.json"):
        plan[Path(name)] = root.joinpath(name).read_bytes()
    for rel in plan:
        if rel.parent == Path("watchlists") and rel.suffix == ".toml":
            names.append(_watchlist_name(plan[rel]) or rel.stem)
    listed = ", ".join(f'"{n}"' for n in names)
    plan[Path("alertbot.toml")] = STARTER_CONFIG.format(watchlists=listed).encode()
    return plan


def _watchlist_name(body: bytes) -> str | None:
    import tomllib

    try:
        name = tomllib.loads(body.decode("utf-8")).get("name")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return name if isinstance(name, str) else None


def init(folder: Path, *, force: bool = False) -> Written:
    """Write the starter files into ``folder`` (created if missing).

    Refuses, writing nothing, when any of them already exists, unless ``force``.
    """
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder}: exists and is not a folder; name a folder")
    plan = _plan(folder)
    existing = sorted(str(folder / rel) for rel in plan if (folder / rel).exists())
    if existing and not force:
        raise InitError(
            f"{len(existing)} file(s) already there, e.g. {existing[0]}; nothing written. "
            "Pick another folder, or pass --force to overwrite them"
        )
    out = Written(folder=folder, config=folder / "alertbot.toml")
    try:
        for rel, body in plan.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            out.files.append(target)
    except OSError as e:
        raise InitError(f"cannot write into {folder}: {e.strerror or e}") from None
    return out
