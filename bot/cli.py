"""The ``alertbot`` command.

Human output goes to stdout; ``--json`` prints one JSON document on stdout;
errors go to stderr with a non-zero exit (1 for a failed command, 2 for bad
usage).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import commands, logs, platforms
from bot.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    FetchConfig,
    config_candidates,
    find_config,
    load_config,
    parse_duration,
)
from bot.core import views
from bot.core.models import FeedStatus, StoryHit, Subscription, Watchlist
from bot.core.render import render_lookup_console
from bot.service import (
    Caller,
    CommandError,
    Service,
    parse_watchlist_files,
    read_watchlist_files,
)
from bot.store import Store, StoreError, describe, is_postgres, open_store

if TYPE_CHECKING:
    from bot.pipeline import CycleStats, DeliveryStats

log = logging.getLogger("alertbot")

EXAMPLES = """\
examples:
  alertbot init ~/alertbot           write a starter config, watchlists, samples
  alertbot run                       poll and alert until stopped (Ctrl-C)
  alertbot run --once --json         one cycle; one JSON line per delivery
  alertbot check                     validate the config and watchlists
  alertbot try feed.xml https://example.org/rss --json
  alertbot lookup "Kosovo Force" --since 7d
  alertbot watchlist show KFOR
  alertbot feeds status
  alertbot subscriptions add --platform slack --channel C0123 --watchlist KFOR
  alertbot db copy --to postgresql://alertbot@db.example/alertbot
"""


class CliError(Exception):
    """A failed command: message to stderr, exit status ``code``."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _ImplicitConfig(str):
    """The default ``--config`` value, told apart from the same path given explicitly:
    only an implicit default may be missing (``try`` then runs without a config)."""

    __slots__ = ()


IMPLICIT_CONFIG = _ImplicitConfig(DEFAULT_CONFIG)


def _config_given(args: argparse.Namespace) -> bool:
    return not isinstance(args.config, _ImplicitConfig)


def _config_path(args: argparse.Namespace) -> Path | None:
    """``--config``, else ALERTBOT_CONFIG, else the first default location that
    exists; None when there is none (only ``try`` can do without)."""
    if _config_given(args) or Path(args.config).is_file():
        return Path(args.config)
    return None


def _resolve_config(args: argparse.Namespace) -> None:
    """Without ``--config``: ALERTBOT_CONFIG (as if given), else the first default
    location that exists (still implicit: ``try`` may do without one)."""
    if not hasattr(args, "config") or _config_given(args):
        return
    env = os.environ.get(CONFIG_ENV, "").strip()
    if env:
        args.config = env
    elif (found := find_config()) is not None:
        args.config = _ImplicitConfig(found)


def _no_config_message() -> str:
    looked = ", ".join(str(p) for p in config_candidates())
    return (
        f"no config file found (looked for {looked}). Write a starter config with "
        f"`alertbot init` (or `alertbot init DIR`), then pass --config PATH or set "
        f"{CONFIG_ENV}=PATH"
    )


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _without_prefix(text: str, url: str) -> str:
    """Messages about a feed start with ``"<url>: "``; drop it where the URL is beside them."""
    prefix = f"{url}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _setup_logging(level: str, quiet: bool = False, fmt: str = "text") -> None:
    logs.setup(level, quiet=quiet, fmt=fmt)


def _config(args: argparse.Namespace) -> Config:
    path = _config_path(args)
    if path is None:
        raise CliError(_no_config_message())
    try:
        return load_config(path)
    except ConfigError as e:
        raise CliError("configuration errors:\n  " + "\n  ".join(e.problems)) from None


def _operator(platform: str = "console", channel: str = "cli", guild: str = "") -> Caller:
    """The CLI is run by the operator, who may do everything."""
    return Caller(
        platform=platform,
        user="cli",
        channel=channel,
        guild=guild,
        is_admin=True,
        manages_channel=True,
    )


def _with_service(
    args: argparse.Namespace,
    work: Callable[[Service], Awaitable[int]],
    *,
    prepare: bool = True,
) -> int:
    """Run ``work`` with a service; read-only commands pass ``prepare=False`` and
    never write to the database."""
    config = _config(args)
    _setup_logging(config.log_level, quiet=True)

    async def main() -> int:
        service = await Service.open(config, prepare=prepare)
        try:
            return await work(service)
        except CommandError as e:
            raise CliError(str(e)) from None
        finally:
            await service.close()

    return asyncio.run(main())


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else "-"


# ------------------------------------------------------------------ init / run / check / try


def cmd_init(args: argparse.Namespace) -> int:
    from bot.config import user_config_dir
    from bot.starter import InitError, init

    folder = Path(args.dir) if args.dir else user_config_dir()
    try:
        written = init(folder, force=args.force)
    except InitError as e:
        raise CliError(str(e)) from None
    print(f"wrote {_plural(len(written.files), 'file')} into {folder}:")
    for path in written.files:
        print(f"  {path}")
    config = written.config
    print(
        "\nnext:\n"
        f"  alertbot run --once --config {config}      poll the sample feeds once\n"
        f"  export {CONFIG_ENV}={config.resolve()}   use it without --config\n"
        f"  then edit {config}: real [[feeds]], your watchlists, Discord/Slack subscriptions"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import open_runtime, run_once, serve

    if args.all and not args.once:
        raise CliError("--all works only with --once (one cycle over every feed)", 2)
    config = _config(args)
    if args.metrics is not None:
        config = dataclasses.replace(
            config, metrics=dataclasses.replace(config.metrics, listen=args.metrics)
        )
    _setup_logging(config.log_level, fmt=args.log_format or config.log_format)

    async def main() -> int:
        async with open_runtime(config, json_lines=args.json) as rt:
            if not args.once:
                await serve(rt)
                return 0
            stats, delivered = await run_once(rt, all_feeds=args.all)
            if stats.feeds == 0:
                await _explain_idle_cycle(rt.service.store, all_feeds=args.all)
            return _once_status(stats, delivered, rt.problems)

    from bot.chat.base import DeliveryError

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, DeliveryError) as e:  # a chat login refused: say why, no traceback
        raise CliError(str(e)) from None


def _once_status(stats: CycleStats, delivered: DeliveryStats, problems: list[str]) -> int:
    """``run --once`` fails (1) when its cycle could not do its job, and says why."""
    reasons: list[str] = []
    if stats.feeds and stats.errors == stats.feeds:
        reasons.append(f"no feed could be polled ({_plural(stats.errors, 'error')}; see above)")
    if problems:
        reasons.append(f"{_plural(len(problems), 'config problem')} (see above)")
    if delivered.failed:
        reasons.append(
            f"{_plural(delivered.failed, 'alert')} could not be delivered (retried later)"
        )
    if delivered.paused:
        reasons.append(f"delivery paused for {', '.join(delivered.paused)}")
    if delivered.waiting:
        reasons.append(
            f"{_plural(delivered.waiting, 'alert')} waiting for a platform that is not "
            "connected (no token set, or its login failed)"
        )
    for reason in reasons:
        log.error("run --once: %s", reason)
    return 1 if reasons else 0


async def _explain_idle_cycle(store: Store, *, all_feeds: bool) -> None:
    """A ``run --once`` that polled nothing looks broken; say why it did nothing."""
    due = await store.next_feed_due(datetime.now(UTC))
    if due is None:
        log.info("no feeds to poll: add [[feeds]] to the config or use `alertbot feeds add URL`")
        return
    if all_feeds:
        return
    due = due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)
    now = datetime.now(UTC)
    when = due.strftime("%H:%M" if due.date() == now.date() else "%Y-%m-%d %H:%M")
    log.info("no feed is due; the next is due at %s UTC (use --all to poll every feed now)", when)


def _database_watchlists(database: str) -> list[str]:
    """Names of the watchlists in an existing database (``watchlist create`` makes
    watchlists that no file holds); raises StoreError for an unusable file."""

    async def read() -> list[str]:
        store = await open_store(database)
        try:
            return [name for name, _ in await store.watchlist_bodies()]
        finally:
            await store.close()

    return asyncio.run(read())


def _report_problems(problems: list[str]) -> int:
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{_plural(len(problems), 'problem')} found", file=sys.stderr)
    return 1


def cmd_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    if _config_path(args) is None:
        return _report_problems([_no_config_message()])
    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _report_problems(e.problems)
    found, wl_problems = read_watchlist_files(config.watchlists_dir)
    problems.extend(wl_problems)
    names = {w.name.casefold(): w.name for w, _ in found}
    in_database: dict[str, str] = {}
    if is_postgres(config.database) or Path(config.database).is_file():
        try:
            in_database = {n.casefold(): n for n in _database_watchlists(config.database)}
        except StoreError as e:
            problems.append(str(e))
    only_in_database = {k: v for k, v in in_database.items() if k not in names}
    from bot.feeds.fetch import FetchError, check_url

    for i, f in enumerate(config.feeds):
        if "://" in f.url:
            try:
                check_url(f.url, allow_private=config.fetch.allow_private)
            except FetchError as e:
                problems.append(f"{config.path}: feeds[{i}].url: {e}")
        elif not config.resolve(f.url).is_file():
            problems.append(
                f"{config.path}: feeds[{i}].url: no file {config.resolve(f.url)} "
                "(file paths are relative to the config file)"
            )
    for i, s in enumerate(config.subscriptions):
        for name in s.watchlists:
            if name.casefold() not in names and name.casefold() not in in_database:
                known = ", ".join(sorted({**names, **in_database}.values(), key=str.casefold))
                problems.append(
                    f"{config.path}: subscriptions[{i}].watchlists: no watchlist {name!r} "
                    f"(known: {known or 'none'})"
                )
    if problems:
        return _report_problems(problems)
    extra = f" (+{len(only_in_database)} only in the database)" if only_in_database else ""
    print(
        f"OK: {config.path}: {_plural(len(config.feeds), 'feed')}, "
        f"{_plural(len(found), 'watchlist')}{extra}, "
        f"{_plural(len(config.subscriptions), 'subscription')}"
    )
    return 0


def _try_inputs(args: argparse.Namespace) -> tuple[Path, FetchConfig]:
    """The watchlist folder and fetch limits for ``try``, which also works without a
    config: then ``--watchlists`` or ./watchlists supplies the watchlists."""
    config: Config | None = None
    if _config_path(args) is not None:
        config = _config(args)
    limits = config.fetch if config else FetchConfig()
    # Either the config or the flag may allow private addresses.
    limits = dataclasses.replace(limits, allow_private=limits.allow_private or args.allow_private)
    if args.watchlists:
        folder = Path(args.watchlists)
        if not folder.is_dir():
            raise CliError(f"{folder}: folder not found (given by --watchlists)")
    elif config is not None:
        folder = config.watchlists_dir
    else:
        folder = Path("watchlists")
        if not folder.is_dir():
            raise CliError(
                "no config file and no ./watchlists folder: pass --config PATH or "
                f"--watchlists DIR (or set {CONFIG_ENV}, or run `alertbot init`)"
            )
    return folder, limits


def cmd_try(args: argparse.Namespace) -> int:
    from bot.core.explain import MissExplainer
    from bot.core.matching import compile_matcher
    from bot.core.summarize import summarize
    from bot.feeds.fetch import Fetched, Fetcher, FetchError, create_session
    from bot.feeds.parse import ParseError, parse_feed

    _setup_logging("WARNING", quiet=True)
    folder, limits = _try_inputs(args)
    found, problems = read_watchlist_files(folder)
    if problems:
        raise CliError("watchlist errors:\n  " + "\n  ".join(problems))
    matcher = compile_matcher(w for w, _ in found)
    explainer = MissExplainer(w for w, _ in found)

    async def fetch_all() -> list[tuple[str, bytes, str] | tuple[str, str]]:
        """(feed, body, content type) or (feed, error message without the feed)."""
        out: list[tuple[str, bytes, str] | tuple[str, str]] = []
        async with create_session(limits) as session:
            fetcher = Fetcher(session, limits)
            for feed in args.feeds:
                # Anything with a scheme is a URL, so a typo such as htps:// gets the
                # URL check's "unsupported scheme" rather than "no such file".
                is_url = "://" in feed
                try:
                    got = await (fetcher.fetch(feed) if is_url else fetcher.fetch_file(Path(feed)))
                    assert isinstance(got, Fetched)  # no validators sent: never Unchanged
                    out.append((feed, got.body, got.content_type))
                except FetchError as e:
                    if not is_url and e.kind == "not-found":
                        # fetch_file speaks for the bot, whose paths are relative to the
                        # config file; here they are relative to where the user stands.
                        out.append(
                            (feed, "no such file (paths are relative to the current directory)")
                        )
                    else:
                        out.append((feed, e.message))
        return out

    results = asyncio.run(fetch_all())
    stories_out: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for result in results:
        if len(result) == 2:
            errors.append({"feed": result[0], "error": result[1]})
            print(f"error: {result[0]}: {result[1]}", file=sys.stderr)
            continue
        feed, body, ctype = result
        try:
            parsed = parse_feed(body, feed, content_type=ctype)
        except ParseError as e:
            errors.append({"feed": feed, "error": _without_prefix(str(e), feed)})
            print(f"error: {e}", file=sys.stderr)
            continue
        for s in parsed.stories:
            matches = matcher.match(s.title, s.text)
            fired = sorted({m.watchlist for m in matches})
            why_not = explainer.why_not(s.title, s.text, fired)
            summary = summarize(s.title, s.text, [m for m in matches if m.field == "text"])
            doc = {
                "id": s.id,
                "title": s.title,
                "url": s.url,
                "published": s.published.isoformat() if s.published else None,
                "outlet": s.outlet,
                "watchlists": fired,
                "matches": [
                    {
                        "watchlist": m.watchlist,
                        "term": m.term,
                        "form": m.form,
                        "field": m.field,
                        "start": m.start,
                        "end": m.end,
                    }
                    for m in matches
                ],
                "summary": summary.text,
                "why_not": why_not,
            }
            stories_out.append(doc)
            if not args.json:
                mark = ", ".join(fired) if fired else "-"
                print(f"[{mark}] {s.title}")
                if matches:
                    hits = Counter((m.term, m.form, m.field) for m in matches)
                    why = "; ".join(
                        f"{term} ({form!r} in {field}{f' ×{n}' if n > 1 else ''})"
                        for (term, form, field), n in hits.items()
                    )
                    print(f"    why: {why}")
                    print(f"    {summary.text}")
                for name, reason in why_not.items():
                    print(f"    not {name}: {reason}")
                print(f"    {s.url or '(no link)'}")
    if args.json:
        _print_json({"stories": stories_out, "errors": errors})
    elif not stories_out and not errors:
        print("no entries")
    return 1 if errors else 0


# ------------------------------------------------------------------ lookup


def _hit_json(h: StoryHit) -> dict[str, Any]:
    s = h.story
    return {
        "title": s.title,
        "url": s.url,
        "outlet": s.outlet,
        "published": s.published.isoformat() if s.published else None,
        "feed": s.feed_url,
        "watchlists": list(h.watchlists),
        "terms": list(h.terms),
    }


def cmd_lookup(args: argparse.Namespace) -> int:
    async def work(service: Service) -> int:
        found = await service.lookup(
            _operator(),
            " ".join(args.query),
            args.since,
            args.watchlist,
            page=args.page,
            per_page=args.limit,
            everything=args.all,
        )
        if args.json:
            _print_json(
                {
                    "total": found.total,
                    "page": found.page,
                    "stories": [_hit_json(h) for h in found.hits],
                }
            )
            return 0
        view = views.lookup_page_view(" ".join(args.query), found, args.since)
        if not found.hits:
            print(views.plain_text(view.empty), file=sys.stderr)
            return 0
        print(render_lookup_console(view), end="")
        more = f"; --page {found.page + 1} for more" if found.has_next else ""
        print(f"stories {view.span}{more}", file=sys.stderr)
        return 0

    return _with_service(args, work, prepare=False)


# ------------------------------------------------------------------ watchlists


def _watchlist_json(w: Watchlist) -> dict[str, Any]:
    return {
        "name": w.name,
        "description": w.description,
        "exclude": list(w.exclude),
        "require": list(w.require),
        "terms": [
            {"name": t.name, "forms": list(t.forms), "case": t.case, "exclude": list(t.exclude)}
            for t in w.terms
        ],
    }


def _show_watchlist(w: Watchlist) -> None:
    print(f"{w.name}" + (f": {w.description}" if w.description else ""))
    if w.require:
        print(f"  requires: {', '.join(w.require)}")
    if w.exclude:
        print(f"  skips stories containing: {', '.join(w.exclude)}")
    for t in w.terms:
        case = "" if t.case == "auto" else f" (case: {t.case})"
        print(f"  - {t.name}{case}: {', '.join(t.forms)}")
        if t.exclude:
            print(f"      not inside: {', '.join(t.exclude)}")


def _read_imports(files: Sequence[str]) -> list[tuple[str, str]]:
    """(file, body) for every file, or CliError naming every problem: ``watchlist import``
    imports all files or none."""
    found, problems = parse_watchlist_files([Path(f) for f in files])
    if len(problems) == 1:
        raise CliError(f"nothing imported: {problems[0]}")
    if problems:
        raise CliError("nothing imported:\n  " + "\n  ".join(problems))
    # No problem: every file parsed, in order.
    return [(file, body) for file, (_, body) in zip(files, found, strict=True)]


def cmd_watchlist(args: argparse.Namespace) -> int:
    op = args.wl_command
    me = _operator()
    # Check every file before touching the database: all or nothing.
    imports = _read_imports(args.files) if op == "import" else []

    async def work(service: Service) -> int:
        if op == "list":
            ws = await service.watchlists()
            if args.json:
                _print_json({"watchlists": [_watchlist_json(w) for w in ws]})
            for w in [] if args.json else ws:
                terms = _plural(len(w.terms), "term")
                forms = _plural(sum(len(t.forms) for t in w.terms), "form")
                print(f"{w.name:<20} {terms:>9} {forms:>10}  {w.description}")
            return 0
        if op == "show":
            w = await service.watchlist(args.name)
            if args.json:
                _print_json(_watchlist_json(w))
            else:
                _show_watchlist(w)
            return 0
        if op == "export":
            body = await service.watchlist_export(args.name)
            if args.output:
                out = Path(args.output)
                if not out.parent.is_dir():
                    raise CliError(f"cannot write {out}: folder {out.parent} does not exist")
                try:
                    await asyncio.to_thread(out.write_text, body, encoding="utf-8")
                except OSError as e:
                    raise CliError(f"cannot write {out}: {e.strerror or e}") from None
                print(f"wrote {args.output}", file=sys.stderr)
            else:
                sys.stdout.write(body)
            return 0
        if op == "import":
            existing = {n.casefold() for n in await service.watchlist_names()}
            for file, body in imports:
                w = await service.watchlist_import(me, body, file)
                replaced = w.name.casefold() in existing
                what = "replaced the existing watchlist" if replaced else "created"
                existing.add(w.name.casefold())
                print(f"imported {w.name} from {file} ({what}, {_plural(len(w.terms), 'term')})")
            return 0
        if op == "create":
            w = await service.watchlist_create(me, args.name, args.description or "")
            _confirm(views.watchlist_created(w.name))
            return 0
        if op == "delete":
            await service.watchlist_delete(me, args.name)
            _confirm(views.watchlist_deleted(args.name))
            return 0
        if op in ("add-term", "add"):
            w = await service.watchlist_add_term(
                me, args.watchlist, args.term, tuple(args.forms), args.case
            )
        elif op in ("remove-term", "remove"):
            w = await service.watchlist_remove_term(me, args.watchlist, args.term)
        elif op == "add-form":
            w = await service.watchlist_add_form(me, args.watchlist, args.term, args.form)
        elif op == "remove-form":
            w = await service.watchlist_remove_form(me, args.watchlist, args.term, args.form)
        else:  # pragma: no cover - argparse rejects other values
            raise CliError(f"unknown watchlist command {op}", 2)
        _show_watchlist(w)
        return 0

    return _with_service(args, work)


# ------------------------------------------------------------------ db


def cmd_db(args: argparse.Namespace) -> int:
    from bot.store.sql import TABLES

    config = _config(args)
    _setup_logging(config.log_level, quiet=True)
    target = args.to if is_postgres(args.to) else str(Path(args.to).resolve())
    if target == config.database:
        raise CliError("--to names the configured database itself; give another one")

    async def main() -> int:
        src = await open_store(config.database)
        try:
            dst = await open_store(target)
            try:
                if not await dst.is_empty():
                    raise CliError(
                        f"{describe(target)} already holds feeds, stories or subscriptions; "
                        "copy only into an empty database (e.g. a new one made with createdb)"
                    )
                total = 0
                async with dst.transaction():  # all or nothing
                    for table in TABLES:
                        columns, rows = await src.export_rows(table)
                        await dst.import_rows(table, columns, rows)
                        total += len(rows)
                        print(f"{table}: {len(rows)} rows", file=sys.stderr)
                print(
                    f"copied {total} rows from {describe(config.database)} to "
                    f"{describe(target)}; now set [bot] database (or ALERTBOT_DATABASE) to it"
                )
                return 0
            finally:
                await dst.close()
        finally:
            await src.close()

    return asyncio.run(main())


# ------------------------------------------------------------------ feeds


def _feed_json(f: FeedStatus) -> dict[str, Any]:
    return {
        "url": f.url,
        "title": f.title,
        "origin": f.origin,
        "last_fetched": f.last_fetched.isoformat() if f.last_fetched else None,
        "last_ok": f.last_ok.isoformat() if f.last_ok else None,
        "next_due": f.next_due.isoformat() if f.next_due else None,
        "error": f.error,
        "error_count": f.error_count,
        "warning": f.warning,
        "stories": f.stories,
    }


async def _feeds_add(service: Service, args: argparse.Namespace) -> int:
    """``feeds add`` and ``feeds import``: each URL fetched once unless --no-check."""
    from bot.feeds.fetch import Fetcher, create_session
    from bot.service import fetching_probe

    urls: list[str] = []
    titles: dict[str, str] = {}
    if args.feeds_command == "import":
        from bot.feeds.opml import OpmlError, read_opml

        path = Path(args.file)
        try:
            outlines = read_opml(await asyncio.to_thread(path.read_bytes))
            urls = [f.url for f in outlines]
            titles = {f.url: f.title for f in outlines}
        except OSError as e:
            raise CliError(f"{path}: cannot read: {e.strerror or e}") from None
        except OpmlError as e:
            raise CliError(f"{path}: {e}") from None
    async with create_session(service.config.fetch) as session:
        if not args.no_check:
            service.feed_probe = fetching_probe(Fetcher(session, service.config.fetch))
        if args.feeds_command == "add":
            f = await service.feed_add(_operator(), args.url)
            _confirm(views.feed_added(f.url))
            return 0
        if not args.no_check:
            print(f"checking {_plural(len(urls), 'feed')}…", file=sys.stderr)
        added, known = await service.feeds_import(
            _operator(), urls, check=not args.no_check, titles=titles
        )
    for url in added:
        print(f"added {url}")
    print(
        f"{_plural(len(added), 'feed')} added, {len(known)} already polled; "
        "new feeds are polled on the next cycle"
    )
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    op = args.feeds_command

    async def work(service: Service) -> int:
        if op in ("list", "status"):
            feeds = await service.feeds()
            if args.json:
                _print_json({"feeds": [_feed_json(f) for f in feeds]})
                return 0
            bad = 0
            for f in feeds:
                state = "ERR" if f.error else "WARN" if f.warning else "OK "
                bad += bool(f.error)
                if op == "list":
                    print(f"{f.url}  {f.title}")
                    continue
                stories = _plural(f.stories, "story", "stories")
                print(
                    f"{state} {f.url}\n    {f.title or '-'} · {stories} · "
                    f"last ok {_when(f.last_ok)} · next {_when(f.next_due)} · {f.origin}"
                )
                if f.error:
                    print(f"    error ({f.error_count}x): {_without_prefix(f.error, f.url)}")
                elif f.warning:
                    print(f"    broken but readable: {f.warning}")
            if op == "status":
                print(f"{_plural(len(feeds), 'feed')}, {bad} with errors")
            return 0
        if op == "export":
            sys.stdout.write((await service.feeds_opml())[0])
            return 0
        if op in ("add", "import"):
            return await _feeds_add(service, args)
        if op == "retry":
            if bool(args.url) == args.all:
                raise CliError("name one feed URL, or pass --all for every failing feed", 2)
            retried = await service.feed_retry(_operator(), None if args.all else args.url)
            if not retried:
                print("no feed is failing: nothing to retry")
            now = datetime.now(UTC)
            for f in retried:
                later = f.next_due is not None and f.next_due > now + timedelta(seconds=1)
                when = f"at {_when(f.next_due)} UTC (the server asked to wait)" if later else "now"
                print(f"{f.url}: back-off cleared; polled {when}")
            return 0
        await service.feed_remove(_operator(), args.url)
        _confirm(views.feed_removed(args.url))
        return 0

    return _with_service(args, work, prepare=op not in ("list", "status", "export"))


# ------------------------------------------------------------------ subscriptions


def _cli_command(chat: str) -> str:
    """A chat command named in a reply, as the ``alertbot`` command that does it."""
    words = chat.split()
    for n in (2, 1):
        try:
            c = commands.find(tuple(words[:n]))
        except KeyError:
            continue
        if c.cli is not None:
            return " ".join(["alertbot", *c.cli, *words[n:]])
    return chat


def _confirm(c: views.Confirmation) -> None:
    print(views.plain_text(c.line, _cli_command))


def _sub_json(s: Subscription) -> dict[str, Any]:
    return {
        "platform": s.platform,
        "channel": s.channel,
        "guild": s.guild,
        "watchlist": s.watchlist,
        "mode": s.mode,
        "paused": s.paused_reason,
        "feeds": list(s.feeds),
        "format": s.format,
        "mention": s.mention,
        "quiet": s.quiet,
        "timezone": s.timezone,
    }


async def _subscribe(service: Service, args: argparse.Namespace) -> Subscription:
    """``subscriptions add``: new feeds fetched once; a mention checked with the
    platform when its token is set (the bot's own login), else said to be unchecked."""
    from bot.feeds.fetch import Fetcher, create_session
    from bot.service import fetching_probe

    secrets = service.config.secrets
    guild = args.guild or ""
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        chat = platforms.PLATFORMS.get(args.platform)
        kind = chat.mention if chat is not None else None
        if args.mention and chat is not None and kind is not None and chat.token(secrets):
            # The platform's own bot, logged in, registers its Service.mention_checks
            # entry (Discord: the guild's roles; Slack: the workspace's user groups).
            bot = chat.load()(service.config, service)
            closers.append(bot.close)
            try:
                await bot.start()
            except Exception as e:
                raise CliError(
                    f"--mention: cannot log in to {chat.title} to check {kind.what}: {e}"
                ) from None
            channel_guild = getattr(bot, "channel_guild", None)
            if channel_guild is not None and not guild:
                guild = await channel_guild(args.channel)
        elif args.mention and chat is not None and kind is not None:
            print(
                f"note: --mention {args.mention} not checked with {args.platform} "
                f"({chat.token_env} is not set); a wrong id pings nobody",
                file=sys.stderr,
            )
        me = _operator(args.platform, args.channel, guild)
        async with create_session(service.config.fetch) as session:
            if args.feed:
                service.feed_probe = fetching_probe(Fetcher(session, service.config.fetch))
            return await service.subscribe(
                me,
                args.watchlist or "",
                args.mode,
                feeds=args.feed or (),
                format=args.format,
                mention=args.mention or "",
                quiet=args.quiet or "",
                timezone=args.timezone or "",
            )
    finally:
        for close in closers:
            await close()


def cmd_subscriptions(args: argparse.Namespace) -> int:
    op = args.sub_command

    async def work(service: Service) -> int:
        if op == "list":
            subs = await service.store.subscriptions(args.platform, args.channel)
            if args.json:
                _print_json({"subscriptions": [_sub_json(s) for s in subs]})
                return 0
            for s in subs:
                paused = f"  PAUSED: {s.paused_reason}" if s.paused_reason else ""
                options = f" ({s.options})" if s.options else ""
                print(f"{s.platform:<8} {s.channel:<24} {s.label:<16} {s.mode}{options}{paused}")
            if not subs:
                print("no subscriptions", file=sys.stderr)
            return 0
        where = f"{args.platform} channel {args.channel}"
        if op == "add":
            s = await _subscribe(service, args)
            _confirm(views.subscribed(s, where))
            return 0
        me = _operator(args.platform, args.channel, args.guild or "")
        s = await service.unsubscribe(me, args.watchlist or "", feeds=args.feed or ())
        _confirm(views.unsubscribed(s, where, args.feed or ()))
        return 0

    return _with_service(args, work)


# ------------------------------------------------------------------ parser


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


LOOKUP_MAX = 50


def _page(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a page number from 1, got {text!r}")
    return int(text)


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= LOOKUP_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {LOOKUP_MAX}, got {text!r}"
        )
    return n


def _version() -> str:
    try:
        return version("alertbot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _config_option(parser: argparse.ArgumentParser, help_: str) -> None:
    # SUPPRESS: a subcommand sets ``config`` only when given there, so it overrides a
    # ``--config`` before the command without resetting it to the default when absent.
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help=help_)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _config_option(common, f"configuration file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})")
    parser = argparse.ArgumentParser(
        prog="alertbot",
        description="Watchlist alerts from RSS/Atom feeds into Discord, Slack and the console.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=IMPLICIT_CONFIG,
        metavar="PATH",
        help=f"configuration file (default: ${CONFIG_ENV}, else the first found of "
        f"{DEFAULT_CONFIG}, ./alertbot.toml, ~/.config/alertbot/alertbot.toml); "
        "may also follow the command",
    )
    parser.add_argument(
        "--version", action="version", version=f"alertbot {_version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    json_help = "print one JSON document"

    p = add("init", "write a starter config, watchlists and sample feeds into a folder", cmd_init)
    p.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help="the folder (default: $XDG_CONFIG_HOME/alertbot, i.e. ~/.config/alertbot)",
    )
    p.add_argument("--force", action="store_true", help="overwrite files that are already there")

    p = add("run", "run the bot: poll feeds, alert channels, answer commands", cmd_run)
    p.add_argument("--once", action="store_true", help="one poll cycle, deliver, exit")
    p.add_argument("--all", action="store_true", help="with --once: poll every feed, due or not")
    p.add_argument("--json", action="store_true", help="console alerts as one JSON object per line")
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus) and /healthz there, e.g. 127.0.0.1:9464 "
        "(overrides [metrics] listen)",
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text: dated lines (default); json: one JSON object per line "
        "(overrides [bot] log_format)",
    )

    add("check", "validate the config and watchlists; exit 1 on any error", cmd_check)

    p = add("try", "parse feeds (URLs or files) and show what would alert", cmd_try)
    p.add_argument(
        "feeds",
        nargs="+",
        metavar="FEED",
        help="feed URL (anything with ://) or file path (relative to the current directory)",
    )
    p.add_argument(
        "--watchlists",
        metavar="DIR",
        help="watchlist folder (default: the config's, else ./watchlists)",
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument(
        "--allow-private",
        action="store_true",
        help="allow URLs on private/loopback addresses (e.g. a local test server); "
        "also allowed by [fetch] allow_private = true in the config",
    )

    p = add("lookup", "search stored stories", cmd_lookup)
    p.add_argument("query", nargs="*", help='words that must all occur; quote a "phrase"')
    p.add_argument("--since", type=_duration, metavar="DURATION", help="e.g. 24h, 7d, 2w")
    p.add_argument("--watchlist", metavar="NAME", help="only stories that fired this watchlist")
    p.add_argument(
        "--limit",
        type=_limit,
        default=20,
        metavar="N",
        help=f"stories per page, 1 to {LOOKUP_MAX} (default 20)",
    )
    p.add_argument(
        "--page", type=_page, default=1, metavar="N", help="which page of results (default 1)"
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="also stories that fired no watchlist (default: only those that did)",
    )
    p.add_argument("--json", action="store_true", help=json_help)

    name_help = "the watchlist's name (any case)"
    p = add("watchlist", "list, show and edit watchlists", cmd_watchlist)
    wl = p.add_subparsers(dest="wl_command", metavar="ACTION", required=True)
    q = wl.add_parser("list", help="all watchlists", parents=[common])
    q.add_argument("--json", action="store_true", help=json_help)
    q = wl.add_parser("show", help="a watchlist's terms and forms", parents=[common])
    q.add_argument("name", help=name_help)
    q.add_argument("--json", action="store_true", help=json_help)
    q = wl.add_parser("create", help="a new, empty watchlist", parents=[common])
    q.add_argument("name", help="the new watchlist's name")
    q.add_argument("--description", default="", help="one line saying what it watches")
    q = wl.add_parser("delete", help="delete a watchlist and its subscriptions", parents=[common])
    q.add_argument("name", help=name_help)
    q = wl.add_parser(
        "add-term", aliases=["add"], help="watch a new name (forms default to it)", parents=[common]
    )
    q.add_argument("watchlist", help=name_help)
    q.add_argument("term", help="the name to watch, as alerts show it")
    q.add_argument("forms", nargs="*", help="surface forms (default: the term name)")
    q.add_argument(
        "--case",
        choices=["auto", "exact", "fold"],
        default="auto",
        help="exact: match as written; fold: ignore case and accents; auto (default): "
        "exact for all-caps forms such as acronyms (KFOR, TB2), else fold",
    )
    q = wl.add_parser(
        "remove-term", aliases=["remove"], help="stop watching a name", parents=[common]
    )
    q.add_argument("watchlist", help=name_help)
    q.add_argument("term", help="the term's name")
    for name, what in (("add-form", "add a spelling to a term"), ("remove-form", "drop one")):
        q = wl.add_parser(name, help=what, parents=[common])
        q.add_argument("watchlist", help=name_help)
        q.add_argument("term", help="the term's name")
        q.add_argument("form", help="the spelling, as it appears in stories")
    q = wl.add_parser(
        "import",
        help="create or replace watchlists from TOML files (all or none)",
        parents=[common],
    )
    q.add_argument("files", nargs="+", metavar="FILE", help="watchlist TOML file")
    q = wl.add_parser("export", help="print a watchlist as TOML", parents=[common])
    q.add_argument("name", help=name_help)
    q.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    p = add("feeds", "list, add and remove feeds; show their health", cmd_feeds)
    fd = p.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    for name, what in (("list", "the feeds"), ("status", "the feeds and their health")):
        q = fd.add_parser(name, help=what, parents=[common])
        q.add_argument("--json", action="store_true", help=json_help)
    no_check_help = "add without fetching first (e.g. a feed that is down right now)"
    q = fd.add_parser(
        "add",
        help="poll another feed (public http/https); it is fetched once first",
        parents=[common],
    )
    q.add_argument("url", help="the feed's http:// or https:// URL")
    q.add_argument("--no-check", action="store_true", help=no_check_help)
    q = fd.add_parser(
        "import",
        help="add the feeds of an OPML file (all or none; each fetched once first)",
        description="Add every feed of an OPML file exported from another reader. "
        "Folders mean nothing here; feeds already polled are skipped. Every URL is "
        "checked like feeds add; if any cannot be added, none is.",
        parents=[common],
    )
    q.add_argument("file", metavar="FILE.opml", help="the OPML file")
    q.add_argument("--no-check", action="store_true", help=no_check_help)
    q = fd.add_parser(
        "export", help="print every feed as OPML (for other readers)", parents=[common]
    )
    q.add_argument("--opml", action="store_true", help="OPML 2.0 (the default and only format)")
    q = fd.add_parser("remove", help="stop polling a feed added with feeds add", parents=[common])
    q.add_argument("url", help="the feed's URL, exactly as feeds list shows it")
    q = fd.add_parser(
        "retry",
        help="clear a failing feed's back-off: poll it on the next cycle",
        description="Clear the error back-off of one feed, or of every failing feed with "
        "--all, so a running bot polls it on its next look (within 30 s). A Retry-After "
        "the server sent is still honoured.",
        parents=[common],
    )
    q.add_argument("url", nargs="?", help="the feed's URL, exactly as feeds list shows it")
    q.add_argument("--all", action="store_true", help="every feed that is failing")

    platform_help = "the chat platform"
    channel_help = "the platform's channel id"
    p = add("subscriptions", "manage channel subscriptions without chat", cmd_subscriptions)
    sb = p.add_subparsers(dest="sub_command", metavar="ACTION", required=True)
    q = sb.add_parser("list", help="all subscriptions", parents=[common])
    q.add_argument("--platform", choices=platforms.names(), help="only this platform's")
    q.add_argument("--channel", metavar="ID", help="only this channel's")
    q.add_argument("--json", action="store_true", help=json_help)
    for name, what in (("add", "subscribe a channel"), ("remove", "unsubscribe a channel")):
        q = sb.add_parser(name, help=what, parents=[common])
        q.add_argument("--platform", choices=platforms.names(), required=True, help=platform_help)
        q.add_argument("--channel", required=True, metavar="ID", help=channel_help)
        q.add_argument("--watchlist", metavar="NAME", help=name_help + " (or --feed)")
        q.add_argument(
            "--feed",
            action="append",
            metavar="URL",
            help="only items of this feed (repeatable); without --watchlist: every new "
            "item of it"
            + (" (a feed not polled yet is fetched once, then added)" if name == "add" else ""),
        )
        q.add_argument("--guild", metavar="ID", help="Discord guild / Slack team id")
        if name == "add":
            q.add_argument(
                "--mode",
                choices=["realtime", "digest"],
                default="realtime",
                help="realtime: an alert per story (default); digest: one message per "
                "[alerts] digest_every (a day by default)",
            )
            q.add_argument(
                "--format",
                default="full",
                choices=("full", "compact"),
                help="full (default): title, summary, outlets; compact: headline, outlets, link",
            )
            q.add_argument(
                "--mention",
                metavar="role:ID|group:ID",
                help="ping this Discord role or Slack user group with each new alert",
            )
            q.add_argument(
                "--quiet",
                metavar="HH:MM-HH:MM",
                help="hold alerts in these hours and send them as one digest after, "
                'e.g. "22:00-07:00"',
            )
            q.add_argument(
                "--timezone",
                metavar="ZONE",
                help="the IANA zone --quiet is read in, e.g. Europe/Belgrade (default UTC)",
            )

    p = add("db", "the database: move to another one", cmd_db)
    sb = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    q = sb.add_parser(
        "copy",
        help="copy everything into an empty database (stop the bot first)",
        description="Copy feeds, stories, events, the outbox with its sent marks, "
        "watchlists and subscriptions from the configured database into an empty one, "
        "e.g. SQLite into PostgreSQL, so nothing is alerted again there. Stop every "
        "alertbot process first; then point [bot] database (or ALERTBOT_DATABASE) at the "
        "new one.",
        parents=[common],
    )
    q.add_argument(
        "--to",
        required=True,
        metavar="DATABASE",
        help="postgresql://USER[:PASSWORD]@HOST[:PORT]/NAME, or a new SQLite file path",
    )

    for chat in platforms.PLATFORMS.values():
        if chat.cli:
            _register_platform(chat.cli, sub)
    return parser


def _register_platform(module: str, sub: Any) -> None:
    import importlib

    before = set(sub.choices)
    importlib.import_module(module).register(sub)
    for name in set(sub.choices) - before:
        _add_config_option(sub.choices[name])


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    """Give a platform's commands --config like every other command."""
    if not any(a.dest == "config" for a in parser._actions):
        _config_option(parser, "configuration file")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse has no public walk
            for child in set(action.choices.values()):
                _add_config_option(child)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _resolve_config(args)
    try:
        return int(args.func(args))
    except CliError as e:
        print(f"alertbot: {e}", file=sys.stderr)
        return e.code
    except StoreError as e:  # an unusable or newer database file
        print(f"alertbot: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            # Flush here, not at interpreter exit, so a closed pipe surfaces below
            # (also after --help, whose SystemExit this lets through).
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`alertbot … | head -1`): stop quietly, like a C tool
        # killed by SIGPIPE. Point stdout at devnull so Python's final flush of the
        # unwritten rest does not raise again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout without a file descriptor
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
