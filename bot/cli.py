"""The ``alertbot`` command.

Human output goes to stdout; ``--json`` prints one JSON document on stdout;
errors go to stderr with a non-zero exit (1 for a failed command, 2 for bad
usage).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import DEFAULT_CONFIG, Config, ConfigError, load_config, parse_duration
from bot.core.models import PLATFORMS, FeedStatus, StoryHit, Subscription, Watchlist
from bot.service import Caller, CommandError, Service, read_watchlist_files
from bot.store.sqlite import StoreError

log = logging.getLogger("alertbot")

EXAMPLES = """\
examples:
  alertbot run                       poll and alert until stopped (Ctrl-C)
  alertbot run --once --json         one cycle; one JSON line per delivery
  alertbot check                     validate the config and watchlists
  alertbot try feed.xml https://example.org/rss --json
  alertbot lookup "Kosovo Force" --since 7d
  alertbot watchlist show KFOR
  alertbot feeds status
  alertbot subscriptions add --platform slack --channel C0123 --watchlist KFOR
"""


class CliError(Exception):
    """A failed command: message to stderr, exit status ``code``."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _setup_logging(level: str, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Library chatter stays out of the operator's way unless asked for.
    for noisy in ("aiosqlite", "discord", "slack_bolt", "slack_sdk", "trafilatura", "htmldate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config(args: argparse.Namespace) -> Config:
    try:
        return load_config(args.config)
    except ConfigError as e:
        raise CliError("configuration errors:\n  " + "\n  ".join(e.problems)) from None


def _operator(platform: str = "console", channel: str = "cli", guild: str = "") -> Caller:
    """The CLI is run by the operator, who may do everything."""
    return Caller(
        platform=platform,  # type: ignore[arg-type]  # argparse choices are PLATFORMS
        user="cli",
        channel=channel,
        guild=guild,
        is_admin=True,
        manages_channel=True,
    )


def _with_service(args: argparse.Namespace, work: Callable[[Service], Awaitable[int]]) -> int:
    config = _config(args)
    _setup_logging(config.log_level, quiet=True)

    async def main() -> int:
        service = await Service.open(config)
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


# ------------------------------------------------------------------ run / check / try


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import open_runtime, run_once, serve

    config = _config(args)
    _setup_logging(config.log_level)

    async def main() -> int:
        async with open_runtime(config, json_lines=args.json) as rt:
            if args.once:
                stats, _ = await run_once(rt, all_feeds=args.all)
                return 0 if stats.errors < max(stats.feeds, 1) or stats.feeds == 0 else 1
            await serve(rt)
            return 0

    from bot.chat.base import DeliveryError

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, DeliveryError) as e:  # a chat login refused: say why, no traceback
        raise CliError(str(e)) from None


def cmd_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    try:
        config = load_config(args.config)
    except ConfigError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        return 1
    found, wl_problems = read_watchlist_files(config.watchlists_dir)
    problems.extend(wl_problems)
    names = {w.name.casefold() for w, _ in found}
    from bot.feeds.fetch import FetchError, check_url

    for i, f in enumerate(config.feeds):
        if f.url.lower().startswith(("http://", "https://")) or "://" in f.url:
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
            if name.casefold() not in names:
                known = ", ".join(sorted(w.name for w, _ in found)) or "none"
                problems.append(
                    f"{config.path}: subscriptions[{i}].watchlists: no watchlist {name!r} "
                    f"(known: {known})"
                )
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(
        f"OK: {config.path}: {len(config.feeds)} feeds, {len(found)} watchlists, "
        f"{len(config.subscriptions)} subscriptions"
    )
    return 0


def cmd_try(args: argparse.Namespace) -> int:
    from bot.config import FetchConfig
    from bot.core.matching import compile_matcher
    from bot.core.summarize import summarize
    from bot.feeds.fetch import Fetched, Fetcher, FetchError, create_session
    from bot.feeds.parse import ParseError, parse_feed

    _setup_logging("WARNING", quiet=True)
    folder = Path(args.watchlists) if args.watchlists else None
    limits = FetchConfig(allow_private=args.allow_private)
    if folder is None:
        try:
            config = load_config(args.config)
            folder = config.watchlists_dir
            limits = FetchConfig(**{**_fields(config.fetch), "allow_private": args.allow_private})
        except ConfigError:
            folder = Path("watchlists")
    found, problems = read_watchlist_files(folder)
    if problems:
        raise CliError("watchlist errors:\n  " + "\n  ".join(problems))
    matcher = compile_matcher(w for w, _ in found)

    async def fetch_all() -> list[tuple[str, bytes, str] | tuple[str, Exception]]:
        out: list[tuple[str, bytes, str] | tuple[str, Exception]] = []
        async with create_session(limits) as session:
            fetcher = Fetcher(session, limits)
            for feed in args.feeds:
                try:
                    if feed.lower().startswith(("http://", "https://")):
                        got = await fetcher.fetch(feed)
                    else:
                        got = await fetcher.fetch_file(Path(feed))
                    assert isinstance(got, Fetched)  # no validators sent: never Unchanged
                    out.append((feed, got.body, got.content_type))
                except FetchError as e:
                    out.append((feed, e))
        return out

    results = asyncio.run(fetch_all())
    stories_out: list[dict[str, Any]] = []
    failed = 0
    for result in results:
        if len(result) == 2:
            print(f"error: {result[1]}", file=sys.stderr)
            failed += 1
            continue
        feed, body, ctype = result
        try:
            parsed = parse_feed(body, feed, content_type=ctype)
        except ParseError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        for s in parsed.stories:
            matches = matcher.match(s.title, s.text)
            fired = sorted({m.watchlist for m in matches})
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
                print(f"    {s.url or '(no link)'}")
    if args.json:
        _print_json({"stories": stories_out})
    elif not stories_out and not failed:
        print("no entries")
    return 1 if failed == len(results) and failed else 0


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


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
        hits = await service.lookup(
            _operator(), " ".join(args.query), args.since, args.watchlist, limit=args.limit
        )
        if args.json:
            _print_json({"stories": [_hit_json(h) for h in hits]})
            return 0
        if not hits:
            print("no stories found", file=sys.stderr)
            return 0
        for h in hits:
            tags = f" [{', '.join(h.watchlists)}]" if h.watchlists else ""
            print(f"{_when(h.story.published)}  {h.story.outlet}: {h.story.title}{tags}")
            print(f"    {h.story.url}")
        return 0

    return _with_service(args, work)


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


def cmd_watchlist(args: argparse.Namespace) -> int:
    op = args.wl_command
    me = _operator()

    async def work(service: Service) -> int:
        if op == "list":
            ws = await service.watchlists()
            if args.json:
                _print_json({"watchlists": [_watchlist_json(w) for w in ws]})
            for w in [] if args.json else ws:
                forms = sum(len(t.forms) for t in w.terms)
                print(f"{w.name:<20} {len(w.terms):>3} terms {forms:>4} forms  {w.description}")
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
                await asyncio.to_thread(Path(args.output).write_text, body, encoding="utf-8")
                print(f"wrote {args.output}", file=sys.stderr)
            else:
                sys.stdout.write(body)
            return 0
        if op == "import":
            for file in args.files:
                try:
                    body = await asyncio.to_thread(Path(file).read_text, encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError) as e:
                    raise CliError(f"{file}: cannot read: {e}") from None
                w = await service.watchlist_import(me, body, file)
                print(f"imported {w.name} ({len(w.terms)} terms) from {file}")
            return 0
        if op == "create":
            w = await service.watchlist_create(me, args.name, args.description or "")
            print(f"created watchlist {w.name}")
            return 0
        if op == "delete":
            await service.watchlist_delete(me, args.name)
            print(f"deleted watchlist {args.name} and its subscriptions")
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
                print(
                    f"{state} {f.url}\n    {f.title or '-'} · {f.stories} stories · "
                    f"last ok {_when(f.last_ok)} · next {_when(f.next_due)} · {f.origin}"
                )
                if f.error:
                    print(f"    error ({f.error_count}x): {f.error}")
                elif f.warning:
                    print(f"    broken but readable: {f.warning}")
            if op == "status":
                print(f"{len(feeds)} feeds, {bad} with errors")
            return 0
        if op == "add":
            f = await service.feed_add(_operator(), args.url)
            print(f"added {f.url}: it is polled on the next cycle")
            return 0
        await service.feed_remove(_operator(), args.url)
        print(f"removed {args.url}")
        return 0

    return _with_service(args, work)


# ------------------------------------------------------------------ subscriptions


def _sub_json(s: Subscription) -> dict[str, Any]:
    return {
        "platform": s.platform,
        "channel": s.channel,
        "guild": s.guild,
        "watchlist": s.watchlist,
        "mode": s.mode,
        "paused": s.paused_reason,
    }


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
                print(f"{s.platform:<8} {s.channel:<24} {s.watchlist:<16} {s.mode}{paused}")
            if not subs:
                print("no subscriptions", file=sys.stderr)
            return 0
        me = _operator(args.platform, args.channel, args.guild or "")
        if op == "add":
            s = await service.subscribe(me, args.watchlist, args.mode)
            print(f"{s.platform} {s.channel} now gets {s.watchlist} ({s.mode})")
            return 0
        s = await service.unsubscribe(me, args.watchlist)
        print(f"{s.platform} {s.channel} no longer gets {s.watchlist}")
        return 0

    return _with_service(args, work)


# ------------------------------------------------------------------ parser


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        metavar="PATH",
        help=f"configuration file (default: {DEFAULT_CONFIG})",
    )
    parser = argparse.ArgumentParser(
        prog="alertbot",
        description="Watchlist alerts from RSS/Atom feeds into Discord, Slack and the console.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    p = add("run", "run the bot: poll feeds, alert channels, answer commands", cmd_run)
    p.add_argument("--once", action="store_true", help="one poll cycle, deliver, exit")
    p.add_argument("--all", action="store_true", help="with --once: poll every feed, due or not")
    p.add_argument("--json", action="store_true", help="console alerts as one JSON object per line")

    add("check", "validate the config and watchlists; exit 1 on any error", cmd_check)

    p = add("try", "parse feeds (URLs or files) and show what would alert", cmd_try)
    p.add_argument("feeds", nargs="+", metavar="FEED", help="feed URL or file path")
    p.add_argument("--watchlists", metavar="DIR", help="watchlist folder (default: the config's)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument(
        "--allow-private",
        action="store_true",
        help="allow URLs on private/loopback addresses (e.g. a local test server)",
    )

    p = add("lookup", "search stored stories", cmd_lookup)
    p.add_argument("query", nargs="*", help='words that must all occur; quote a "phrase"')
    p.add_argument("--since", type=_duration, metavar="DURATION", help="e.g. 24h, 7d, 2w")
    p.add_argument("--watchlist", metavar="NAME", help="only stories that fired this watchlist")
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = add("watchlist", "list, show and edit watchlists", cmd_watchlist)
    wl = p.add_subparsers(dest="wl_command", metavar="ACTION", required=True)
    q = wl.add_parser("list", help="all watchlists", parents=[common])
    q.add_argument("--json", action="store_true")
    q = wl.add_parser("show", help="a watchlist's terms and forms", parents=[common])
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q = wl.add_parser("create", help="a new, empty watchlist", parents=[common])
    q.add_argument("name")
    q.add_argument("--description", default="")
    q = wl.add_parser("delete", help="delete a watchlist and its subscriptions", parents=[common])
    q.add_argument("name")
    for name, aliases in (("add-term", ["add"]),):
        q = wl.add_parser(
            name, aliases=aliases, help="watch a new name (forms default to it)", parents=[common]
        )
        q.add_argument("watchlist")
        q.add_argument("term")
        q.add_argument("forms", nargs="*", help="surface forms (default: the term name)")
        q.add_argument("--case", choices=["auto", "exact", "fold"], default="auto")
    q = wl.add_parser(
        "remove-term", aliases=["remove"], help="stop watching a name", parents=[common]
    )
    q.add_argument("watchlist")
    q.add_argument("term")
    for name, what in (("add-form", "add a spelling to a term"), ("remove-form", "drop one")):
        q = wl.add_parser(name, help=what, parents=[common])
        q.add_argument("watchlist")
        q.add_argument("term")
        q.add_argument("form")
    q = wl.add_parser(
        "import", help="create or replace watchlists from TOML files", parents=[common]
    )
    q.add_argument("files", nargs="+", metavar="FILE")
    q = wl.add_parser("export", help="print a watchlist as TOML", parents=[common])
    q.add_argument("name")
    q.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    p = add("feeds", "list, add and remove feeds; show their health", cmd_feeds)
    fd = p.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    for name, what in (("list", "the feeds"), ("status", "the feeds and their health")):
        q = fd.add_parser(name, help=what, parents=[common])
        q.add_argument("--json", action="store_true")
    q = fd.add_parser("add", help="poll another feed (public http/https)", parents=[common])
    q.add_argument("url")
    q = fd.add_parser("remove", help="stop polling a feed added with feeds add", parents=[common])
    q.add_argument("url")

    p = add("subscriptions", "manage channel subscriptions without chat", cmd_subscriptions)
    sb = p.add_subparsers(dest="sub_command", metavar="ACTION", required=True)
    q = sb.add_parser("list", help="all subscriptions", parents=[common])
    q.add_argument("--platform", choices=PLATFORMS)
    q.add_argument("--channel")
    q.add_argument("--json", action="store_true")
    for name, what in (("add", "subscribe a channel"), ("remove", "unsubscribe a channel")):
        q = sb.add_parser(name, help=what, parents=[common])
        q.add_argument("--platform", choices=PLATFORMS, required=True)
        q.add_argument("--channel", required=True, help="the platform's channel id")
        q.add_argument("--watchlist", required=True)
        q.add_argument("--guild", help="Discord guild / Slack team id")
        if name == "add":
            q.add_argument("--mode", choices=["realtime", "digest"], default="realtime")

    for module in ("bot.chat.slack_cli", "bot.chat.discord_cli"):
        _register_platform(module, sub)
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
        parser.add_argument(
            "--config", default=str(DEFAULT_CONFIG), metavar="PATH", help="configuration file"
        )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse has no public walk
            for child in set(action.choices.values()):
                _add_config_option(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
