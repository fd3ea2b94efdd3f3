"""The chaos harness behind tests/test_chaos.py: several ``alertbot run`` on one
database, killed at random, against loopback fakes of Slack and Discord.

Run as a module (``python -m tests.chaos_support run --config …``) it is the bot
process itself: ``bot.cli.main`` behind a guard that refuses (and reports on
stderr) every connection or name lookup beyond loopback, so no worker can dial
a real gateway or API even if a setting is missing.

The parts:

* :class:`FeedFiles`: local RSS files the writer appends events to, rewritten
  atomically (write a temporary file, then rename) so a poll never reads half;
* :class:`ChaosSlack` / :class:`ChaosDiscord`: the fakes, answering every
  ``limit_every``-th message post with 429 ``Retry-After: 1`` and keeping each
  message's first version and every edit (the fakes themselves keep only the
  last version);
* :class:`Workers`: the bot processes, each with a log file per start;
* :func:`analyse`: what the fakes saw, per channel and event → :class:`Report`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.fakes.discord_api import RECORDED, FakeDiscordAPI
from tests.fakes.slack_api import FakeSlackAPI

ROOT = Path(__file__).resolve().parents[1]
TERM = "Zephyrion"
TAG = re.compile(r"\bZQ(\d{4})\b")
"""An event's tag in titles (links carry it in lower case, so they never match)."""
GUARD_MARK = "CHAOS-GUARD"
"""Marks the guard's stderr lines in the worker logs."""
ALSO = "Also reported by"
MISSING = "missing the second outlet"

SLACK_TOKEN = "xoxb-chaos-token"
DISCORD_TOKEN = "chaos-discord-token"
DISCORD_GUILD = 710000000000000010


# --------------------------------------------------------------------------- events and feeds

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


@dataclass
class Event:
    n: int
    title: str
    text: str
    feeds: list[int]
    """Indices into the outlets: the first publishes it; a second one, later, for some."""
    published: list[float] = field(default_factory=list)
    """Monotonic times at which each outlet published it."""

    @property
    def tag(self) -> str:
        return f"ZQ{self.n:04d}"


def make_event(n: int, rng: random.Random, vocab: list[str], feeds: list[int]) -> Event:
    """A unique title and text: random words, so no two events look alike to clustering."""
    title = f"ZQ{n:04d} {TERM} " + " ".join(rng.sample(vocab, 4))
    words = rng.sample(vocab, 40)
    text = (
        f"{TERM} {' '.join(words[:14])} zq{n:04d}. "
        f"{' '.join(words[14:28]).capitalize()}. {' '.join(words[28:]).capitalize()}."
    )
    return Event(n, title, text, feeds)


@dataclass
class FeedFile:
    path: Path
    outlet: str
    slug: str
    items: list[str] = field(default_factory=list)


class FeedFiles:
    """RSS files in a folder; :meth:`publish` adds an item and rewrites the file atomically."""

    def __init__(self, folder: Path, outlets: list[str]):
        folder.mkdir(parents=True, exist_ok=True)
        self.feeds = [
            FeedFile(folder / f"{o.split()[0].lower()}.xml", o, o.split()[0].lower())
            for o in outlets
        ]
        for f in self.feeds:
            # One item that matches nothing, so the first poll finds a normal feed.
            f.items.append(
                self._item(f, "weather", "Weather today", "Rain is expected in the hills.")
            )
            self._write(f)

    def _item(self, f: FeedFile, slug: str, title: str, text: str) -> str:
        url = f"https://{f.slug}.example/news/{slug}"
        date = format_datetime(datetime.now(UTC), usegmt=True)
        return (
            f"<item><title>{escape(title)}</title><link>{escape(url)}</link>"
            f'<guid isPermaLink="false">{f.slug}-{slug}</guid><pubDate>{date}</pubDate>'
            f"<description>{escape(text)}</description></item>"
        )

    def _write(self, f: FeedFile) -> None:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(f.outlet)}</title><link>https://{f.slug}.example/</link>"
            f"<description>chaos test feed</description>{''.join(reversed(f.items))}"
            "</channel></rss>\n"
        )
        tmp = f.path.with_suffix(".tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, f.path)

    def publish_noise(self, k: int, n: int, rng: random.Random, vocab: list[str]) -> None:
        """A story that matches no watchlist (feeds go on publishing other news)."""
        f = self.feeds[k]
        words = rng.sample(vocab, 30)
        title = f"Noise {n}: " + " ".join(words[:5])
        f.items.append(self._item(f, f"noise{n}", title, " ".join(words[5:]) + "."))
        self._write(f)

    def publish(self, k: int, event: Event) -> None:
        f = self.feeds[k]
        f.items.append(self._item(f, event.tag.lower(), event.title, event.text))
        self._write(f)
        event.published.append(time.monotonic())


# --------------------------------------------------------------------------- the fakes


@dataclass
class Sent:
    channel: str
    ref: str
    content: dict[str, Any]
    at: float


@dataclass
class Edit:
    channel: str
    ref: str
    content: dict[str, Any]
    ok: bool
    at: float


class ChaosSlack(FakeSlackAPI):
    """The Slack fake, rate-limiting now and then and keeping first versions and edits."""

    limit_every = 15

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sent: list[Sent] = []
        self.edits: list[Edit] = []
        self.post_requests = 0
        self.limited = 0

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "chat.postMessage":
            self.post_requests += 1
            if self.post_requests % self.limit_every == 0:
                self.limited += 1
                self.rate_limit("chat.postMessage", times=1, retry_after=1)
        return await super()._api(request)

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        result = super()._m_chat_postMessage(args)
        self.sent.append(
            Sent(str(args["channel"]), str(result["ts"]), copy.deepcopy(args), time.monotonic())
        )
        return result

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        result = super()._m_chat_update(args)
        self.edits.append(
            Edit(
                str(args["channel"]),
                str(args["ts"]),
                copy.deepcopy(args),
                bool(result.get("ok")),
                time.monotonic(),
            )
        )
        return result

    def final(self, channel: str, ref: str) -> dict[str, Any]:
        return self.messages[(channel, ref)]


_MESSAGES = re.compile(r"^/channels/\d+/messages$")


class ChaosDiscord(FakeDiscordAPI):
    """The Discord fake, rate-limiting now and then and keeping first versions and edits."""

    def __init__(self, limit_every: int = 15) -> None:
        super().__init__()
        self.limit_every = limit_every
        self.sent: list[Sent] = []
        self.edits: list[Edit] = []
        self.post_requests = 0
        self.limited = 0
        self.nonce_repeats = 0
        self._seen: set[tuple[str, str]] = set()

    async def _route(self, request: web.Request) -> web.StreamResponse:
        rec = request[RECORDED]
        if rec.method == "POST" and _MESSAGES.match(rec.path):
            self.post_requests += 1
            if self.post_requests % self.limit_every == 0:
                self.limited += 1
                self.rate_limit("POST", _MESSAGES.pattern, times=1, retry_after=1)
        return await super()._route(request)

    def _post_message(self, cid: str, *, body: Any, **kw: Any) -> web.Response:
        resp = super()._post_message(cid, body=body, **kw)
        if resp.status == 200 and isinstance(resp.body, bytes):
            mid = str(json.loads(resp.body)["id"])
            if (cid, mid) in self._seen:
                self.nonce_repeats += 1  # the nonce answered with the earlier message
            else:
                self._seen.add((cid, mid))
                self.sent.append(Sent(cid, mid, copy.deepcopy(body), time.monotonic()))
        return resp

    def _edit_message(self, cid: str, mid: str, *, body: Any, **kw: Any) -> web.Response:
        resp = super()._edit_message(cid, mid, body=body, **kw)
        self.edits.append(Edit(cid, mid, copy.deepcopy(body), resp.status == 200, time.monotonic()))
        return resp

    def final(self, channel: str, ref: str) -> dict[str, Any]:
        return self.channels[int(channel)].messages[int(ref)]


# --------------------------------------------------------------------------- workers


@dataclass
class Worker:
    slot: int
    pid: int
    log: Path
    exited: asyncio.Future[int]
    """Resolves to the exit code (negative: the signal that ended it)."""
    proc: asyncio.subprocess.Process | None = None
    """Set in exec mode; in fork mode the zygote is the parent."""


class Workers:
    """N bot processes on one config; each start writes its own log file.

    ``fork=True`` (the default) starts each worker as a fork of a *zygote*: a
    process that imported the bot once (``python -m tests.chaos_support zygote``)
    and forks ``bot.cli.main(["run", "--config", …])`` on request. A fresh
    interpreter spends 1–2.5 s importing on a busy 2-core machine, which is about
    a worker's whole life between kills; the fork skips only the imports, the
    run itself (database open, seeding, logins, polling, delivery) is the same.
    The zygote is the workers' parent and sends them signals, so a pid is
    signalled only while it is an unreaped child. ``fork=False`` runs each
    worker as its own ``python -m tests.chaos_support run`` process.
    """

    def __init__(self, config: Path, env: dict[str, str], logs: Path, *, fork: bool = True):
        self.config = config
        self.env = env
        self.logs = logs
        self.fork = fork
        logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[int, Worker] = {}
        self.starts = 0
        self.kills = 0
        self.unexpected: list[str] = []
        """Exits we did not cause: '<log file>: exit <code>'."""
        self.stopped_early = 0
        """Workers that SIGTERM ended before they installed their handler (still starting)."""
        self._zygote: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._spawned: list[asyncio.Future[int]] = []
        self._exits: dict[int, asyncio.Future[int]] = {}

    async def __aenter__(self) -> Workers:
        if self.fork:
            with (self.logs / "zygote.log").open("wb") as err:
                self._zygote = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.chaos_support",
                    "zygote",
                    cwd=ROOT,
                    env=self.env,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=err,
                )
            self._reader = asyncio.ensure_future(self._read_zygote())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill_all()

    async def _read_zygote(self) -> None:
        assert self._zygote is not None and self._zygote.stdout is not None
        async for raw in self._zygote.stdout:
            word, *rest = raw.decode().split()
            if word == "pid":
                self._spawned.pop(0).set_result(int(rest[0]))
            elif word == "exit":
                fut = self._exits.setdefault(int(rest[0]), _future())
                if not fut.done():
                    fut.set_result(int(rest[1]))
        problem = RuntimeError(f"the zygote ended (see {self.logs / 'zygote.log'})")
        for fut in [*self._spawned, *self._exits.values()]:
            if not fut.done():
                fut.set_exception(problem)

    def _tell(self, line: str) -> None:
        assert self._zygote is not None and self._zygote.stdin is not None
        self._zygote.stdin.write(line.encode() + b"\n")

    async def start(self, slot: int) -> Worker:
        self.starts += 1
        log = self.logs / f"worker{slot}.{self.starts:03d}.log"
        argv = ["run", "--config", str(self.config)]
        if self.fork:
            spawned = _future()
            self._spawned.append(spawned)
            self._tell("spawn " + json.dumps({"log": str(log), "argv": argv}))
            pid = await asyncio.wait_for(spawned, 30)
            w = Worker(slot, pid, log, self._exits.setdefault(pid, _future()))
        else:
            with log.open("wb") as out:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.chaos_support",
                    *argv,
                    cwd=ROOT,
                    env=self.env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                )
            w = Worker(slot, proc.pid, log, asyncio.ensure_future(proc.wait()), proc)
        self.running[slot] = w
        return w

    def _signal(self, w: Worker, sig: int) -> None:
        if w.exited.done():
            return
        if w.proc is not None:
            w.proc.send_signal(sig)
        else:
            self._tell(f"signal {w.pid} {int(sig)}")

    async def check(self) -> None:
        """Restart any worker that exited on its own (and remember it)."""
        for slot, w in list(self.running.items()):
            if w.exited.done():
                self.unexpected.append(f"{w.log.name}: exit {w.exited.result()}")
                await self.start(slot)

    async def kill(self, slot: int) -> None:
        """SIGKILL, then start again at once."""
        w = self.running[slot]
        if w.exited.done():
            self.unexpected.append(f"{w.log.name}: exit {w.exited.result()}")
        else:
            self._signal(w, signal.SIGKILL)
            await asyncio.wait_for(asyncio.shield(w.exited), 30)
            self.kills += 1
        await self.start(slot)

    async def stop(self, slots: list[int], *, within: float = 30.0) -> None:
        """SIGTERM and wait; a worker that does not stop in time is killed and reported."""
        workers = [self.running.pop(slot) for slot in slots]
        for w in workers:
            self._signal(w, signal.SIGTERM)
        for w in workers:
            try:
                code = await asyncio.wait_for(asyncio.shield(w.exited), within)
            except TimeoutError:
                self._signal(w, signal.SIGKILL)
                await asyncio.wait_for(asyncio.shield(w.exited), 30)
                self.unexpected.append(f"{w.log.name}: did not stop within {within:.0f}s")
                continue
            if code == -signal.SIGTERM:
                # Still starting: no signal handler yet, so nothing was under way.
                self.stopped_early += 1
            elif code != 0:
                self.unexpected.append(f"{w.log.name}: exit {code} after SIGTERM")

    async def kill_all(self) -> None:
        for w in self.running.values():
            self._signal(w, signal.SIGKILL)
        for w in self.running.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(w.exited), 30)
        self.running.clear()
        if self._zygote is not None:
            z, self._zygote = self._zygote, None
            if z.stdin is not None:
                z.stdin.close()  # the zygote kills what is left and exits
            try:
                await asyncio.wait_for(z.wait(), 30)
            except TimeoutError:
                z.kill()
                await z.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


def _future() -> asyncio.Future[int]:
    return asyncio.get_running_loop().create_future()


# --------------------------------------------------------------------------- the database


_PENDING_SQL = "SELECT count(*) FROM outbox WHERE revision > sent_revision"


def is_postgres(database: str) -> bool:
    return database.startswith(("postgres://", "postgresql://"))


async def pending_outbox(database: str) -> int | None:
    """Outbox rows not yet delivered, or None when the query does not fit the schema."""
    if is_postgres(database):
        import asyncpg

        try:
            conn = await asyncpg.connect(database, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return None
        try:
            return int(await conn.fetchval(_PENDING_SQL))
        except asyncpg.PostgresError:
            return None
        finally:
            await conn.close()

    def count() -> int | None:
        try:
            con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=2)
        except sqlite3.Error:
            return None
        try:
            return int(con.execute(_PENDING_SQL).fetchone()[0])
        except sqlite3.Error:
            return None
        finally:
            con.close()

    return await asyncio.to_thread(count)


# --------------------------------------------------------------------------- analysis


def tags(content: Any) -> set[int]:
    return {int(m) for m in TAG.findall(json.dumps(content, ensure_ascii=False))}


def is_digest(platform: str, content: dict[str, Any]) -> bool:
    if platform == "slack":
        return (content.get("metadata") or {}).get("event_type") == "alertbot_digest"
    embeds = content.get("embeds") or []
    return bool(embeds) and bool(re.match(r"^\d+ new alerts?$", embeds[0].get("title", "")))


@dataclass
class Subscription:
    platform: str
    channel: str
    mode: str

    @property
    def name(self) -> str:
        return f"{self.platform}:{self.mode}"


@dataclass
class Report:
    backend: str
    events: int = 0
    two_outlet: int = 0
    posts: int = 0
    edits: int = 0
    failed_edits: int = 0
    doubles: int = 0
    losses: int = 0
    kills: int = 0
    seconds: float = 0.0
    limited: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"chaos[{self.backend}]: events={self.events} posts={self.posts} "
            f"edits={self.edits} doubles={self.doubles} losses={self.losses} "
            f"kills={self.kills}"
        )

    def text(self) -> str:
        out = [self.summary(), f"  took {self.seconds:.1f}s"]
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  PROBLEM: {p}" for p in self.problems]
        if self.log_lines:
            out.append("  worker logs (warnings, errors, tracebacks; digits as N):")
            out += [f"    {line}" for line in self.log_lines]
        return "\n".join(out)


def analyse(
    events: list[Event],
    subs: list[Subscription],
    slack: ChaosSlack,
    discord: ChaosDiscord,
    outlets: list[str],
    report: Report,
) -> bool:
    """Fill ``report`` from what the fakes recorded; True when nothing is missing yet."""
    fakes: dict[str, ChaosSlack | ChaosDiscord] = {"slack": slack, "discord": discord}
    report.events = len(events)
    report.two_outlet = sum(len(e.feeds) > 1 for e in events)
    report.posts = len(slack.sent) + len(discord.sent)
    report.edits = sum(e.ok for e in slack.edits) + sum(e.ok for e in discord.edits)
    report.failed_edits = sum(not e.ok for e in [*slack.edits, *discord.edits])
    report.limited = slack.limited + discord.limited
    report.doubles = report.losses = 0
    report.problems, report.notes = [], []
    complete = True
    known = {(s.platform, s.channel) for s in subs}
    for platform, fake in fakes.items():
        for m in fake.sent:
            if (platform, m.channel) not in known:
                report.problems.append(f"{platform}: message in unknown channel {m.channel}")
    for sub in subs:
        fake = fakes[sub.platform]
        sent = [m for m in fake.sent if m.channel == sub.channel]
        originals = {m.ref: m for m in sent}
        carriers: dict[int, list[Sent]] = defaultdict(list)
        for m in sent:
            found = tags(m.content)
            if not found:
                report.problems.append(f"{sub.name}: message {m.ref} names no event")
            if sub.mode == "digest" and not is_digest(sub.platform, m.content):
                report.problems.append(f"{sub.name}: message {m.ref} is not a digest")
            for n in found:
                carriers[n].append(m)
        doubled = {n: ms for n, ms in carriers.items() if len(ms) > 1}
        lost = [e.n for e in events if e.n not in carriers]
        report.doubles += sum(len(ms) - 1 for ms in doubled.values())
        report.losses += len(lost)
        complete = complete and not lost
        if doubled:
            detail = ""
            if sub.platform == "slack":
                detail = " (" + _slack_double_kinds(doubled) + ")"
            report.problems.append(
                f"{sub.name}: {len(doubled)} events posted more than once: "
                + ", ".join(f"ZQ{n:04d}×{len(ms)}" for n, ms in sorted(doubled.items()))
                + detail
            )
        if lost:
            report.problems.append(
                f"{sub.name}: {len(lost)} events never posted: "
                + ", ".join(f"ZQ{n:04d}" for n in lost)
            )
        # Edits: only of alert messages, each keeping its own event.
        for ed in (e for e in fake.edits if e.channel == sub.channel):
            orig = originals.get(ed.ref)
            if orig is None:
                report.problems.append(f"{sub.name}: edit of unknown message {ed.ref}")
            elif is_digest(sub.platform, orig.content):
                report.problems.append(f"{sub.name}: edit of digest message {ed.ref}")
            elif ed.ok and tags(ed.content) != tags(orig.content):
                report.problems.append(
                    f"{sub.name}: edit of {ed.ref} (ZQ{min(tags(orig.content) or {0}):04d}) "
                    f"turned it into {sorted(tags(ed.content))}"
                )
        if sub.mode != "realtime":
            continue
        kinds: Counter[str] = Counter()
        for e in events:
            if len(e.feeds) < 2 or e.n not in carriers:
                continue
            names = [outlets[k] for k in e.feeds]
            verdicts: list[str] = []
            for m in carriers[e.n]:
                if is_digest(sub.platform, m.content):
                    verdicts.append("in a burst digest")  # later sources are not announced
                    continue
                final = json.dumps(fake.final(m.channel, m.ref), ensure_ascii=False)
                edited = any(ed.ok and ed.ref == m.ref for ed in fake.edits)
                if ALSO in final and all(n in final for n in names):
                    verdicts.append("edited to name both" if edited else "posted naming both")
                else:
                    verdicts.append(MISSING)
            # A doubled event is counted once, by its best copy (the double is reported).
            best = min(verdicts, key=lambda v: v == MISSING)
            kinds[best] += 1
            if best == MISSING:
                complete = False
                if len(e.published) == len(e.feeds):  # else: the second has not published yet
                    report.problems.append(
                        f"{sub.name}: {e.tag}'s alert never named {' and '.join(names)}"
                    )
        report.notes.append(
            f"{sub.name}: two-outlet events: "
            + (", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) or "none posted")
        )
    return complete


def _slack_double_kinds(doubled: dict[int, list[Sent]]) -> str:
    """Same outbox row twice (same key) vs the event split into two clusters."""
    same_key = split = other = 0
    for ms in doubled.values():
        payloads = [(m.content.get("metadata") or {}).get("event_payload") or {} for m in ms]
        keys = {p.get("key") for p in payloads}
        clusters = {c for p in payloads for c in (p.get("cluster_ids") or [p.get("cluster_id")])}
        if len(keys) < len(ms):
            same_key += 1
        elif len(clusters) > 1:
            split += 1
        else:
            other += 1
    return f"same outbox key: {same_key}, split into clusters: {split}, other: {other}"


# --------------------------------------------------------------------------- worker logs


_LOG_LINE = re.compile(r"^\S+ \S+ (ERROR|WARNING|CRITICAL)\s+(\S+): (.*)$")


def log_findings(logs: Path, limit: int = 25) -> list[str]:
    """Distinct warnings, errors, tracebacks' last lines and guard refusals, with counts."""
    seen: Counter[str] = Counter()
    for path in sorted(logs.glob("*.log")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            if GUARD_MARK in line or line.startswith("CHAOS:"):
                seen[line.strip()] += 1
                continue
            m = _LOG_LINE.match(line)
            if m:
                text = re.sub(r"\d+", "N", f"{m.group(1)} {m.group(2)}: {m.group(3)}")
                seen[text[:240]] += 1
            elif line.startswith("Traceback"):
                j = i + 1
                while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                    j += 1
                last = lines[j] if j < len(lines) else "?"
                seen[f"traceback → {last[:200]}"] += 1
    return [f"{n:4d}× {text}" for text, n in seen.most_common(limit)]


# --------------------------------------------------------------------------- the run


OUTLETS = ["Alpha Wire", "Bravo Herald", "Charlie Courier"]
SUBSCRIPTIONS = [
    Subscription("discord", "710000000000000011", "realtime"),
    Subscription("discord", "710000000000000012", "digest"),
    Subscription("slack", "C0CHAOSRT1", "realtime"),
    Subscription("slack", "C0CHAOSDG1", "digest"),
]
WATCHLIST = f"""
name = "{TERM}"
description = "Events of the chaos test"

[[terms]]
name = "{TERM}"
forms = ["{TERM}"]
"""


def write_config(
    folder: Path,
    database: str,
    feeds: FeedFiles,
    subs: list[Subscription],
    *,
    digest_every: str,
    lease: float,
) -> Path:
    watchlists = folder / "watchlists"
    watchlists.mkdir(parents=True, exist_ok=True)
    (watchlists / "zephyrion.toml").write_text(WATCHLIST, encoding="utf-8")
    q = json.dumps  # a TOML basic string, for paths and URLs
    parts = [
        f"[bot]\ndatabase = {q(database)}\nwatchlists = {q(str(watchlists))}\n"
        f'lease = "{lease:g}s"\n',
        f'[alerts]\ndigest_every = {q(digest_every)}\nedit_window = "7d"\nfetch_articles = false\n',
    ]
    for f in feeds.feeds:
        parts.append(f'[[feeds]]\nurl = {q(str(f.path))}\ninterval = "1s"\ntitle = {q(f.outlet)}\n')
    for s in subs:
        parts.append(
            f"[[subscriptions]]\nplatform = {q(s.platform)}\nchannel = {q(s.channel)}\n"
            f"watchlists = [{q(TERM)}]\nmode = {q(s.mode)}\n"
        )
    path = folder / "alertbot.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _closed_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(slack: ChaosSlack, discord: ChaosDiscord) -> dict[str, str]:
    """The environment minus chat secrets and proxies, plus the fakes' addresses."""
    drop = ("DISCORD_", "SLACK_", "ALERTBOT_", "CHAOS_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(drop) and not k.lower().endswith("_proxy")
    }
    env.update(
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        ALERTBOT_SLACK_API_URL=slack.base_url,
        DISCORD_TOKEN=DISCORD_TOKEN,
        ALERTBOT_DISCORD_API_URL=discord.base,
        ALERTBOT_DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{_closed_port()}",
        PYTHONUNBUFFERED="1",
    )
    return env


async def _sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))


async def run_chaos(
    folder: Path,
    *,
    database: str,
    workers: int,
    backend: str,
    duration: float = 16.0,
    min_kills: int = 20,
    lease: float = 5.0,
    drain_within: float | None = None,
    digest_every: str = "5s",
    seed: int | None = None,
    fork: bool | None = None,
) -> Report:
    """Write events for ``duration`` s while killing workers, drain with one, analyse.

    ``fork`` None: forked workers unless ``CHAOS_SPAWN=exec`` (see :class:`Workers`).
    ``lease``: ``[bot] lease`` of the workers, in seconds (a killed worker's claims
    go to another worker this long after its last renewal). ``drain_within``: how long
    after the last kill one worker may take to deliver the rest (default: the
    lease plus 15 s, two digest periods' worth).
    """
    if drain_within is None:
        drain_within = lease + 15.0
    if fork is None:
        fork = os.environ.get("CHAOS_SPAWN", "fork") != "exec"
    if seed is None:
        seed = int(os.environ.get("CHAOS_SEED", "0")) or random.randrange(1, 1 << 30)
    event_rng, kill_rng = random.Random(seed), random.Random(seed + 1)
    began = time.monotonic()
    report = Report(backend)
    feeds = FeedFiles(folder / "feeds", OUTLETS)
    vocab = _vocabulary(event_rng)
    events: list[Event] = []
    slack, discord = ChaosSlack(), ChaosDiscord()
    async with slack, discord:
        for s in SUBSCRIPTIONS:
            if s.platform == "discord":
                discord.add_channel(int(s.channel), DISCORD_GUILD)
        config = write_config(
            folder, database, feeds, SUBSCRIPTIONS, digest_every=digest_every, lease=lease
        )
        env = worker_env(slack, discord)
        pool = Workers(config, env, folder / "logs", fork=fork)
        async with pool:
            for slot in range(workers):
                await pool.start(slot)
            t0 = time.monotonic()

            async def second(e: Event, delay: float) -> None:
                await asyncio.sleep(delay)
                feeds.publish(e.feeds[1], e)

            async def writer() -> None:
                later: list[asyncio.Future[None]] = []
                at = t0 + 0.5
                while at < t0 + duration - 4.5:
                    await _sleep_until(at)
                    n = len(events) + 1
                    first = n % len(OUTLETS)
                    carriers = [first]
                    if n % 3 == 1:  # a third of the events: a second outlet, 2–4 s later
                        other = first + event_rng.randint(1, len(OUTLETS) - 1)
                        carriers.append(other % len(OUTLETS))
                    e = make_event(n, event_rng, vocab, carriers)
                    events.append(e)
                    feeds.publish(first, e)
                    if len(carriers) > 1:
                        later.append(asyncio.ensure_future(second(e, event_rng.uniform(2, 4))))
                    at += 1.0
                await asyncio.gather(*later)

            async def killer() -> None:
                # One kill in each of min_kills + 2 equal slots: random, yet spread out.
                slots = min_kills + 2
                span = (duration - 1.5) / slots
                for i in range(slots):
                    await _sleep_until(t0 + 1.0 + span * (i + kill_rng.random()))
                    await pool.check()
                    await pool.kill(kill_rng.randrange(workers))

            await asyncio.gather(writer(), killer())
            chaos_end = time.monotonic()
            report.kills = pool.kills
            # One worker drains what is left: the others stop (SIGTERM). The feeds
            # go on with other news, which also wakes the worker's delivery loop
            # (otherwise it looks at the outbox every 15 s, for digests coming due).
            noise_rng = random.Random(seed + 2)

            async def noise() -> None:
                for n in itertools.count(1):
                    await asyncio.sleep(1.0)
                    feeds.publish_noise(noise_rng.randrange(len(OUTLETS)), n, noise_rng, vocab)

            other_news = asyncio.ensure_future(noise())
            await pool.stop(list(range(1, workers)))
            deadline = chaos_end + drain_within
            pending: int | None = None
            while True:
                await pool.check()
                complete = analyse(events, SUBSCRIPTIONS, slack, discord, OUTLETS, report)
                pending = await pending_outbox(database)
                if complete and not pending:
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            drained = time.monotonic()
            other_news.cancel()
            await asyncio.sleep(1.0)  # a late double still shows
            await pool.stop([0])
            stopped = time.monotonic()
        analyse(events, SUBSCRIPTIONS, slack, discord, OUTLETS, report)
    report.seconds = time.monotonic() - began
    report.kills = pool.kills
    report.notes.insert(
        0,
        f"seed={seed} (CHAOS_SEED={seed} repeats the schedule); " + f"[bot] lease = {lease:g}s",
    )
    report.notes.insert(
        1,
        f"timing: setup {t0 - began:.1f}s, events and kills {chaos_end - t0:.1f}s, "
        f"drain {drained - chaos_end:.1f}s"
        + (" (gave up at the deadline)" if drained >= deadline else "")
        + f", settle and SIGTERM {stopped - drained:.1f}s",
    )
    report.notes.append(
        f"{report.two_outlet} two-outlet events; {report.limited} posts answered 429; "
        f"{discord.nonce_repeats} Discord posts de-duplicated by their nonce; "
        f"{report.failed_edits} edits refused; {pool.starts} process starts "
        f"({'forked from a zygote' if fork else 'each a new interpreter'}); "
        f"{pool.stopped_early} stopped by SIGTERM while starting"
    )
    if pending is None:
        report.notes.append("outbox: pending count not available (schema?); judged by the fakes")
    elif pending:
        report.problems.append(f"outbox: {pending} rows still pending at the end")
    report.unexpected = pool.unexpected
    report.problems.extend(f"worker {u}" for u in pool.unexpected)
    report.log_lines = log_findings(folder / "logs")
    guard = [line for line in report.log_lines if GUARD_MARK in line]
    if guard:
        report.problems.append(
            "a worker tried to reach beyond loopback: " + "; ".join(g.strip() for g in guard)
        )
    return report


# --------------------------------------------------------------------------- the guard


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", ""}


def _is_loopback(host: object) -> bool:
    import ipaddress

    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if str(host).lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def install_loopback_guard() -> None:
    """Refuse, and report on stderr, every connection and lookup beyond loopback."""
    import socket

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(what: str, host: object) -> None:
        print(f"{GUARD_MARK}: refused to {what} {host!r}", file=sys.stderr, flush=True)

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            refuse("connect to", address[0])
            raise OSError(f"chaos test: only loopback is allowed, not {address[0]!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            refuse("connect to", address[0])
            raise OSError(f"chaos test: only loopback is allowed, not {address[0]!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            refuse("resolve", host)
            raise socket.gaierror(socket.EAI_NONAME, f"chaos test: not resolving {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent ends, so no worker outlives a crashed test."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def zygote() -> None:
    """Import the bot once, then fork workers on request (see :class:`Workers`).

    stdin: ``spawn {"log": …, "argv": […]}``, ``signal PID SIG``; EOF kills the
    workers left and ends. stdout: ``pid PID`` per spawn, ``exit PID CODE`` per
    reaped worker. One thread only, so forking is safe.
    """
    import random as _random
    import select
    import traceback

    _die_with_parent()
    import bot.app
    import bot.chat.discord.client
    import bot.chat.slack.client
    import bot.cli

    del bot.app, bot.chat.discord, bot.chat.slack  # imported for the children

    children: set[int] = set()
    buf = b""
    eof = False

    def say(line: str) -> None:
        os.write(1, line.encode() + b"\n")

    def spawn(spec: dict[str, Any]) -> None:
        pid = os.fork()
        if pid:
            children.add(pid)
            say(f"pid {pid}")
            return
        code = 1
        try:
            _die_with_parent()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            fd = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            _random.seed()
            code = bot.cli.main(spec["argv"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    while not eof or children:
        ready, _, _ = select.select([] if eof else [0], [], [], 0.02)
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                eof = True
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                word, _, rest = line.decode().partition(" ")
                if word == "spawn":
                    spawn(json.loads(rest))
                elif word == "signal":
                    pid, sig = (int(x) for x in rest.split())
                    if pid in children:  # not yet reaped: the pid is still ours
                        os.kill(pid, sig)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            say(f"exit {pid} {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    install_loopback_guard()
    if sys.argv[1:] == ["zygote"]:
        zygote()
    else:
        from bot.cli import main

        sys.exit(main(sys.argv[1:]))
