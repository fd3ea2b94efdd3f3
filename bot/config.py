"""Configuration: one TOML file, secrets only from the environment.

Validation collects every problem before giving up, each naming the file, the
key and what was expected, so an operator fixes them all in one pass.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import platforms
from bot.core.models import Format, Mode, Platform
from bot.core.quiet import QuietError, QuietHours, parse_range
from bot.core.subscription import OptionError, check_format, check_mention

DEFAULT_CONFIG = Path("config/alertbot.toml")
CONFIG_ENV = "ALERTBOT_CONFIG"
"""Names the config file when ``--config`` is absent."""


def user_config_dir(env: dict[str, str] | None = None) -> Path:
    """Where ``alertbot init`` writes by default: ``$XDG_CONFIG_HOME/alertbot``
    (``~/.config/alertbot``)."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "alertbot"


def config_candidates(env: dict[str, str] | None = None) -> list[Path]:
    """Where a config is looked for when neither ``--config`` nor ALERTBOT_CONFIG
    names one, first found wins: a checkout's ``config/alertbot.toml``, an
    ``alertbot.toml`` in the current folder, then the user's config folder."""
    return [DEFAULT_CONFIG, Path("alertbot.toml"), user_config_dir(env) / "alertbot.toml"]


def find_config(env: dict[str, str] | None = None) -> Path | None:
    """The config to use when ``--config`` is absent: ALERTBOT_CONFIG, else the
    first of ``config_candidates`` that exists (None when none does)."""
    env = dict(os.environ) if env is None else env
    named = env.get(CONFIG_ENV, "").strip()
    if named:
        return Path(named)
    return next((p for p in config_candidates(env) if p.is_file()), None)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"10m"``, ``"2h"``, ``"7d"``, ``"1w"`` → timedelta; ValueError otherwise."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit, e.g. 30m, 2h, 7d (s m h d w)"
        )
    return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])


MIN_HTTP_INTERVAL = timedelta(minutes=1)
"""Shortest per-feed ``interval`` of an http(s) feed (and of ``[fetch] interval``):
be polite to publishers."""
MIN_FILE_INTERVAL = timedelta(seconds=1)
"""Shortest per-feed ``interval`` of a local file feed: reading a file costs nobody anything."""


def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``":PORT"`` or ``"PORT"`` → (host, port); ValueError with the fix."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not HOST:PORT: write e.g. 127.0.0.1:9464, :9464 or 0.0.0.0:9464"
        ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port must be 0 to 65535")
    return host, port


def is_http_url(url: str) -> bool:
    """An http(s) feed URL; anything else in ``[[feeds]] url`` is a file path (as polled)."""
    return url.strip().lower().startswith(("http://", "https://"))


def load_zone(name: str) -> tzinfo:
    """An IANA time zone by name (``Europe/Belgrade``); ValueError naming the fix."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not a time zone: use an IANA name such as Europe/Belgrade, "
            "America/New_York or UTC"
        ) from None


def quiet_problems(quiet: str, zone: str) -> list[tuple[str, str]]:
    """(key, what is wrong) for each of a quiet-hours range and its time zone."""
    problems: list[tuple[str, str]] = []
    if quiet:
        try:
            parse_range(quiet)
        except QuietError as e:
            problems.append(("quiet", str(e)))
    if zone:
        try:
            load_zone(zone)
        except ValueError as e:
            problems.append(("timezone", str(e)))
        else:
            if not quiet:
                problems.append(
                    ("timezone", 'only means something with quiet hours: add quiet = "22:00-07:00"')
                )
    return problems


def quiet_problem(quiet: str, zone: str) -> tuple[str, str] | None:
    """The first of :func:`quiet_problems`, or None."""
    return next(iter(quiet_problems(quiet, zone)), None)


def quiet_hours(quiet: str, zone: str) -> QuietHours | None:
    """The quiet hours of a checked range and zone (None when there is no range)."""
    if not quiet:
        return None
    start, end = parse_range(quiet)
    return QuietHours(start, end, load_zone(zone))


class ConfigError(Exception):
    """Every problem found in a configuration, one per line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FeedConfig:
    url: str
    """An http(s) URL, or a file path (relative to the config file)."""
    interval: timedelta | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    platform: Platform
    channel: str
    watchlists: tuple[str, ...]
    mode: Mode = "realtime"
    guild: str = ""
    feeds: tuple[str, ...] = ()
    """Only items of these feeds; with no watchlists, every new item of them."""
    format: Format = "full"
    mention: str = ""
    quiet: str = ""
    timezone: str = ""


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Politeness and safety limits; names match the ``[fetch]`` TOML keys."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_body_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5
    max_connections: int = 20
    max_per_host: int = 2
    interval: timedelta = timedelta(minutes=10)
    max_interval: timedelta = timedelta(hours=1)
    allow_private: bool = False
    """Allow URLs that resolve to private/loopback/link-local addresses (tests, intranets)."""
    user_agent: str = ""
    workers: int = field(default_factory=lambda: cpu_cores())
    """Processes that parse, match and fingerprint fetched bodies (0: a thread instead)."""
    max_inflight_bytes: int = 64 * 1024 * 1024
    """Body bytes all fetches together may hold at once (on top of ``max_body_bytes``)."""


def cpu_cores() -> int:
    """The cores this process may run on (the default of ``[fetch] workers``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class AlertConfig:
    cluster_window: timedelta = timedelta(hours=72)
    cluster_threshold: float = 0.3
    """Justified by the labelled set in tests/data/clusters.tsv (bench/cluster.py)."""
    edit_window: timedelta = timedelta(hours=24)
    summary_chars: int = 600
    fetch_articles: bool = True
    """Fetch the article page when a matched entry is only a teaser."""
    burst: int = 5
    """More than this many alerts for one channel in one cycle become one digest message."""
    digest_every: timedelta = timedelta(hours=24)
    feed_health_after: timedelta = timedelta(hours=6)
    """A feed failing (or silent far beyond its rhythm) this long gets one notice in
    each channel its alerts go to, and one when it recovers; 0s turns notices off."""


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: str = ""
    """``HOST:PORT`` for /metrics and /healthz; empty: not served."""
    stale: timedelta = timedelta(minutes=10)
    """/healthz answers 503 when no poll pass finished for this long."""


_NAMED_SECRETS = {
    "DISCORD_TOKEN": "discord_token",
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_APP_TOKEN": "slack_app_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "ALERTBOT_DISCORD_API_URL": "discord_api_url",
    "ALERTBOT_DISCORD_GATEWAY_URL": "discord_gateway_url",
    "ALERTBOT_SLACK_API_URL": "slack_api_url",
}
"""The environment variables of Discord and Slack that have their own field."""


@dataclass(frozen=True, slots=True)
class Secrets:
    """Read from the environment only; ``repr`` never shows them.

    Discord's and Slack's have named fields; every other registered platform's
    (its ``token_env`` and ``secrets_env``, see :mod:`bot.platforms`) is in
    ``extra``, read with :meth:`get`."""

    discord_token: str = field(default="", repr=False)
    slack_bot_token: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    discord_api_url: str = ""
    discord_gateway_url: str = ""
    slack_api_url: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """(environment variable, value) of the other platforms' secrets."""

    def get(self, env_name: str) -> str:
        """The secret read from environment variable ``env_name`` ("" when unset)."""
        named = _NAMED_SECRETS.get(env_name)
        if named is not None:
            value: str = getattr(self, named)
            return value
        return next((v for k, v in self.extra if k == env_name), "")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Secrets:
        e = os.environ if env is None else env
        extra = tuple(
            (name, e.get(name, ""))
            for name in dict.fromkeys(platforms.env_names())
            if name not in _NAMED_SECRETS
        )
        return cls(
            extra=extra,
            discord_token=e.get("DISCORD_TOKEN", ""),
            slack_bot_token=e.get("SLACK_BOT_TOKEN", ""),
            slack_app_token=e.get("SLACK_APP_TOKEN", ""),
            slack_signing_secret=e.get("SLACK_SIGNING_SECRET", ""),
            discord_api_url=e.get("ALERTBOT_DISCORD_API_URL", ""),
            discord_gateway_url=e.get("ALERTBOT_DISCORD_GATEWAY_URL", ""),
            slack_api_url=e.get("ALERTBOT_SLACK_API_URL", ""),
        )


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    database: str
    """A SQLite file path (resolved against the config's folder) or a postgresql:// URL."""
    watchlists_dir: Path
    backfill: timedelta = timedelta(days=2)
    keep: timedelta = timedelta(days=90)
    """Stories older than this are pruned (see Store.prune for what is kept)."""
    lease: timedelta = timedelta(minutes=1)
    """How long claimed feeds and alerts stay claimed without renewal: a process
    renews its claims while it lives; another takes them this long after it died."""
    feeds: tuple[FeedConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    fetch: FetchConfig = FetchConfig()
    alerts: AlertConfig = AlertConfig()
    secrets: Secrets = Secrets()
    sections: Mapping[str, Any] = field(default_factory=dict)
    """Every registered chat platform's parsed ``[<name>]`` section, by name (what its
    registry entry's parser made of it)."""
    log_level: str = "INFO"
    log_format: str = "text"
    """``text`` (dated lines) or ``json`` (one object per line)."""
    metrics: MetricsConfig = MetricsConfig()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def section(self, platform: str) -> Any:
        """A chat platform's parsed config section (None: not a chat platform)."""
        return self.sections.get(platform)

    def resolve(self, p: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path


# --------------------------------------------------------------------------- loading

_KNOWN: dict[str, set[str]] = {
    "": set(platforms.CONFIG_TABLES),
    "bot": {"database", "watchlists", "backfill", "keep", "lease", "log_level", "log_format"},
    "metrics": {"listen", "stale"},
    "feeds": {"url", "interval", "title"},
    "subscriptions": {
        "platform",
        "channel",
        "watchlists",
        "mode",
        "guild",
        "feeds",
        "format",
        "mention",
        "quiet",
        "timezone",
    },
    "fetch": {
        "connect_timeout",
        "read_timeout",
        "max_body_bytes",
        "max_redirects",
        "max_connections",
        "max_per_host",
        "interval",
        "max_interval",
        "allow_private",
        "user_agent",
        "workers",
        "max_inflight_bytes",
    },
    "alerts": {
        "cluster_window",
        "cluster_threshold",
        "edit_window",
        "summary_chars",
        "fetch_articles",
        "burst",
        "digest_every",
        "feed_health_after",
    },
}
"""The keys of each table; a chat platform's section has the keys its registry
entry lists (:attr:`bot.platforms.ChatPlatform.keys`)."""


def _known(section: str) -> set[str]:
    if section == "":
        return _KNOWN[""] | set(platforms.PLATFORMS)
    chat = platforms.PLATFORMS.get(section)
    return set(chat.keys) if chat is not None else _KNOWN[section]


class Reader:
    """Typed access to a TOML table that records problems instead of raising
    (what a chat platform's section parser is given)."""

    def __init__(self, file: Path, problems: list[str]):
        self.file = file
        self.problems = problems

    def err(self, key: str, msg: str) -> None:
        self.problems.append(f"{self.file}: {key}: {msg}")

    def unknown(self, table: dict[str, Any], section: str, where: str) -> None:
        for k in table:
            if k not in _known(section):
                known = ", ".join(sorted(_known(section)))
                self.err(f"{where}{k}" if where else k, f"unknown key (known keys: {known})")

    def str_(self, t: dict[str, Any], key: str, where: str, default: str) -> str:
        v = t.get(key, default)
        if not isinstance(v, str):
            self.err(where + key, f"expected a string, got {type(v).__name__}")
            return default
        return v

    def num(self, t: dict[str, Any], key: str, where: str, default: float, *, lo: float) -> float:
        v = t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            quoted = " (remove the quotes)" if isinstance(v, str) else ""
            self.err(where + key, f"expected a number, got {v!r}{quoted}")
            return default
        if v < lo:
            self.err(where + key, f"expected a number ≥ {lo}, got {v!r}")
            return default
        return float(v)

    def int_(
        self, t: dict[str, Any], key: str, where: str, default: int, *, lo: int, hi: int = 2**62
    ) -> int:
        v = t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            quoted = " (remove the quotes)" if isinstance(v, str) else ""
            self.err(where + key, f"expected a whole number, got {v!r}{quoted}")
            return default
        if not lo <= v <= hi:
            self.err(where + key, f"expected a whole number from {lo} to {hi}, got {v!r}")
            return default
        return v

    def bool_(self, t: dict[str, Any], key: str, where: str, default: bool) -> bool:
        v = t.get(key, default)
        if not isinstance(v, bool):
            self.err(where + key, f"expected true or false, got {v!r}")
            return default
        return v

    def dur(self, t: dict[str, Any], key: str, where: str, default: timedelta) -> timedelta:
        v = t.get(key)
        if v is None:
            return default
        if not isinstance(v, str):
            self.err(where + key, f'expected a duration string such as "10m" or "2d", got {v!r}')
            return default
        try:
            return parse_duration(v)
        except ValueError as e:
            self.err(where + key, str(e))
            return default

    def strs(self, t: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        v = t.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.err(where + key, f"expected a list of strings, got {v!r}")
            return ()
        return tuple(str(x) for x in v)

    def table(self, t: dict[str, Any], key: str) -> dict[str, Any]:
        v = t.get(key, {})
        if not isinstance(v, dict):
            self.err(key, f"expected a table [{key}], got {type(v).__name__}")
            return {}
        return v


def load_config(path: Path | str = DEFAULT_CONFIG, env: dict[str, str] | None = None) -> Config:
    """Read and validate a configuration file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{path}: file not found (write a starter config with `alertbot init DIR`, "
                "or pass --config PATH)"
            ]
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: not valid TOML: {e}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    return parse_config(raw, path, env)


def parse_config(raw: dict[str, Any], path: Path, env: dict[str, str] | None = None) -> Config:
    problems: list[str] = []
    r = Reader(path, problems)
    r.unknown(raw, "", "")

    bot = r.table(raw, "bot")
    r.unknown(bot, "bot", "bot.")
    base = path.parent
    # ALERTBOT_DATABASE (for containers) overrides [bot] database.
    database = (os.environ if env is None else env).get("ALERTBOT_DATABASE", "") or r.str_(
        bot, "database", "bot.", "data/alertbot.db"
    )
    if not database.startswith(("postgresql://", "postgres://")):
        if "://" in database:
            r.err("bot.database", f"expected a file path or a postgresql:// URL, got {database!r}")
        database = str(base / database)
    watchlists = base / r.str_(bot, "watchlists", "bot.", "watchlists")
    backfill = r.dur(bot, "backfill", "bot.", timedelta(days=2))
    keep = r.dur(bot, "keep", "bot.", timedelta(days=90))
    if keep <= backfill:
        # A pruned story that its feed still lists must be too old to alert again.
        r.err("bot.keep", "must be longer than bot.backfill (pruned stories must not alert again)")
    lease = r.dur(bot, "lease", "bot.", timedelta(minutes=1))
    if lease < timedelta(seconds=5):
        r.err("bot.lease", "must be at least 5s (a live process renews its claims every lease/4)")
        lease = timedelta(minutes=1)
    log_level = r.str_(bot, "log_level", "bot.", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        r.err("bot.log_level", f"expected DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        log_level = "INFO"
    log_format = r.str_(bot, "log_format", "bot.", "text").lower()
    if log_format not in {"text", "json"}:
        r.err("bot.log_format", f"expected text or json, got {log_format!r}")
        log_format = "text"

    mt = r.table(raw, "metrics")
    r.unknown(mt, "metrics", "metrics.")
    m0 = MetricsConfig()
    metrics = MetricsConfig(
        listen=r.str_(mt, "listen", "metrics.", m0.listen).strip(),
        stale=r.dur(mt, "stale", "metrics.", m0.stale),
    )
    if metrics.listen:
        try:
            parse_listen(metrics.listen)
        except ValueError as e:
            r.err("metrics.listen", str(e))
    if metrics.stale < timedelta(seconds=30):
        r.err("metrics.stale", 'must be at least 30s (e.g. "10m")')

    feeds: list[FeedConfig] = []
    raw_feeds = raw.get("feeds", [])
    if not isinstance(raw_feeds, list):
        r.err("feeds", "expected an array of tables [[feeds]]")
        raw_feeds = []
    seen_urls: set[str] = set()
    for i, f in enumerate(raw_feeds):
        where = f"feeds[{i}]."
        if not isinstance(f, dict):
            r.err(f"feeds[{i}]", "expected a table with url = ...")
            continue
        r.unknown(f, "feeds", where)
        url = r.str_(f, "url", where, "").strip()
        if not url:
            r.err(where + "url", 'missing: every [[feeds]] needs url = "https://…" or a file path')
            continue
        if url in seen_urls:
            r.err(where + "url", f"{url} is listed twice")
        seen_urls.add(url)
        interval = r.dur(f, "interval", where, timedelta(0)) if "interval" in f else None
        if interval is not None:
            if is_http_url(url) and interval < MIN_HTTP_INTERVAL:
                r.err(
                    where + "interval",
                    f"must be at least 1m for an http(s) feed, got {f['interval']!r} "
                    "(be polite to publishers; only a local file feed may poll faster)",
                )
                interval = None
            elif interval < MIN_FILE_INTERVAL:
                r.err(
                    where + "interval",
                    f"must be at least 1s for a file feed, got {f['interval']!r}",
                )
                interval = None
        feeds.append(FeedConfig(url=url, interval=interval, title=r.str_(f, "title", where, "")))

    subs: list[SubscriptionConfig] = []
    raw_subs = raw.get("subscriptions", [])
    if not isinstance(raw_subs, list):
        r.err("subscriptions", "expected an array of tables [[subscriptions]]")
        raw_subs = []
    for i, s in enumerate(raw_subs):
        where = f"subscriptions[{i}]."
        if not isinstance(s, dict):
            r.err(f"subscriptions[{i}]", "expected a table")
            continue
        r.unknown(s, "subscriptions", where)
        platform = r.str_(s, "platform", where, "console")
        if platform not in platforms.names():
            known = ", ".join(platforms.names())
            r.err(where + "platform", f"expected one of {known}, got {platform!r}")
            continue
        channel = r.str_(s, "channel", where, "").strip()
        if not channel:
            r.err(where + "channel", "missing: the platform's channel id (console: any name)")
            continue
        names = r.strs(s, "watchlists", where)
        sub_feeds = tuple(u.strip() for u in r.strs(s, "feeds", where))
        if not names and not sub_feeds:
            r.err(
                where + "watchlists",
                'expected at least one watchlist name, e.g. ["KFOR"], or feeds = ["URL"] '
                "for every item of those feeds",
            )
        for url in sub_feeds:
            if url not in seen_urls:
                r.err(
                    where + "feeds",
                    f"{url!r} is not one of the [[feeds]] urls: add it as a [[feeds]] entry "
                    "(or fix the spelling)",
                )
        mode = r.str_(s, "mode", where, "realtime")
        if mode not in ("realtime", "digest"):
            r.err(where + "mode", f'expected "realtime" or "digest", got {mode!r}')
            mode = "realtime"
        fmt: Format = "full"
        mention = ""
        try:
            fmt = check_format(r.str_(s, "format", where, "full"))
        except OptionError as e:
            r.err(where + "format", str(e).removeprefix("format: "))
        try:
            mention = check_mention(
                r.str_(s, "mention", where, ""), platform, platforms.mention_kinds()
            )
        except OptionError as e:
            r.err(where + "mention", str(e).removeprefix("mention: "))
        quiet = r.str_(s, "quiet", where, "").strip()
        zone = r.str_(s, "timezone", where, "").strip()
        bad_quiet = quiet_problems(quiet, zone)
        for key, problem in bad_quiet:
            r.err(where + key, problem)
        if bad_quiet:
            quiet = zone = ""
        subs.append(
            SubscriptionConfig(
                platform=platform,
                channel=channel,
                watchlists=names,
                mode=mode,  # type: ignore[arg-type]  # checked against the two modes above
                guild=r.str_(s, "guild", where, ""),
                feeds=sub_feeds,
                format=fmt,
                mention=mention,
                quiet=quiet,
                timezone=zone,
            )
        )

    ft = r.table(raw, "fetch")
    r.unknown(ft, "fetch", "fetch.")
    d = FetchConfig()
    fetch = FetchConfig(
        connect_timeout=r.num(ft, "connect_timeout", "fetch.", d.connect_timeout, lo=0.1),
        read_timeout=r.num(ft, "read_timeout", "fetch.", d.read_timeout, lo=0.1),
        max_body_bytes=r.int_(ft, "max_body_bytes", "fetch.", d.max_body_bytes, lo=1024),
        max_redirects=r.int_(ft, "max_redirects", "fetch.", d.max_redirects, lo=0),
        max_connections=r.int_(ft, "max_connections", "fetch.", d.max_connections, lo=1),
        max_per_host=r.int_(ft, "max_per_host", "fetch.", d.max_per_host, lo=1),
        interval=r.dur(ft, "interval", "fetch.", d.interval),
        max_interval=r.dur(ft, "max_interval", "fetch.", d.max_interval),
        allow_private=r.bool_(ft, "allow_private", "fetch.", d.allow_private),
        user_agent=r.str_(ft, "user_agent", "fetch.", d.user_agent),
        workers=r.int_(ft, "workers", "fetch.", d.workers, lo=0, hi=256),
        max_inflight_bytes=r.int_(
            ft, "max_inflight_bytes", "fetch.", d.max_inflight_bytes, lo=1024
        ),
    )
    if "interval" in ft and fetch.interval < MIN_HTTP_INTERVAL:
        r.err("fetch.interval", "must be at least 1m (be polite to publishers)")
    if fetch.max_interval < fetch.interval:
        r.err("fetch.max_interval", "must be at least fetch.interval")

    at = r.table(raw, "alerts")
    r.unknown(at, "alerts", "alerts.")
    a = AlertConfig()
    threshold = r.num(at, "cluster_threshold", "alerts.", a.cluster_threshold, lo=0.0)
    if threshold > 1:
        r.err("alerts.cluster_threshold", f"expected a number from 0 to 1, got {threshold}")
        threshold = a.cluster_threshold
    alerts = AlertConfig(
        cluster_window=r.dur(at, "cluster_window", "alerts.", a.cluster_window),
        cluster_threshold=threshold,
        edit_window=r.dur(at, "edit_window", "alerts.", a.edit_window),
        summary_chars=r.int_(at, "summary_chars", "alerts.", a.summary_chars, lo=80),
        fetch_articles=r.bool_(at, "fetch_articles", "alerts.", a.fetch_articles),
        burst=r.int_(at, "burst", "alerts.", a.burst, lo=1),
        digest_every=r.dur(at, "digest_every", "alerts.", a.digest_every),
        feed_health_after=r.dur(at, "feed_health_after", "alerts.", a.feed_health_after),
    )
    if alerts.digest_every < timedelta(seconds=1):
        r.err("alerts.digest_every", 'must be at least 1s (e.g. "24h", one digest a day)')

    sections: dict[str, Any] = {}
    for chat in platforms.PLATFORMS.values():
        table = r.table(raw, chat.name)
        r.unknown(table, chat.name, f"{chat.name}.")
        sections[chat.name] = chat.parser()(table, r, f"{chat.name}.")

    if problems:
        raise ConfigError(problems)
    return Config(
        path=path,
        database=database,
        watchlists_dir=watchlists,
        backfill=backfill,
        keep=keep,
        lease=lease,
        feeds=tuple(feeds),
        subscriptions=tuple(subs),
        fetch=fetch,
        alerts=alerts,
        sections=sections,
        secrets=Secrets.from_env(env),
        log_level=log_level,
        log_format=log_format,
        metrics=metrics,
    )
