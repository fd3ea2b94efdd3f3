"""The commands people run, platform-neutral.

Every chat adapter (Discord, Slack) and the CLI call these methods. Adapters
only parse arguments, build a :class:`Caller` from the platform's own view of
who is asking, and render the result. Permission checks happen here, never in
the adapters: the platform's hints are inputs, not verdicts.

Errors a user can fix raise :class:`CommandError` with a message that says what
is wrong and how to fix it; adapters show it ephemerally.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.commands import CommandError as CommandError  # re-exported: callers import it from here
from bot.commands import PermissionDenied as PermissionDenied
from bot.commands import Values
from bot.config import Config, is_http_url, parse_duration, quiet_problem
from bot.core.lookup import PER_PAGE, LookupPage
from bot.core.models import (
    CaseRule,
    FeedStatus,
    Mode,
    Platform,
    Subscription,
    Term,
    Watchlist,
)
from bot.core.subscription import FEED_ONLY, OptionError, check_format, check_mention
from bot.core.text import canonical_url
from bot.core.watchlist import (
    CASE_RULES,
    WatchlistError,
    dump_watchlist,
    parse_watchlist,
    validate_form,
    validate_name,
    validate_watchlist,
)
from bot.feeds.fetch import Fetcher, FetchError, check_url
from bot.feeds.opml import OpmlFeed, write_opml
from bot.feeds.probe import ProbeError, probe_feed
from bot.platforms import PLATFORMS, mention_kinds
from bot.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a command, and where.

    ``manages_channel`` / ``is_admin`` come from the platform (Discord Manage
    Channels / Manage Server, Slack workspace admin or owner); ``roles`` are the
    platform role or user-group ids, checked against the config's lists.
    """

    platform: Platform
    user: str
    channel: str
    guild: str = ""
    manages_channel: bool = False
    is_admin: bool = False
    roles: tuple[str, ...] = ()


MODES: tuple[Mode, ...] = ("realtime", "digest")


IMPORT_PROBES = 8
"""Feeds fetched at once while an import checks them."""


def channel_problem(platform: str, channel: str) -> str | None:
    """What is wrong with a channel id for its platform, or None."""
    if not channel.strip():
        return "The channel is empty: give the platform's channel id."
    chat = PLATFORMS.get(platform)
    return chat.channel_problem(channel) if chat is not None else None


def chat_url(text: str) -> str:
    """A URL as typed in chat: Slack's ``<https://x|label>`` and ``<https://x>`` unwrapped."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].partition("|")[0]
    return text.strip()


def utcnow() -> datetime:
    return datetime.now(UTC)


def read_watchlist_files(folder: Path) -> tuple[list[tuple[Watchlist, str]], list[str]]:
    """Parse every ``*.toml`` in ``folder``: ((watchlist, body) pairs, problems)."""
    if not folder.is_dir():
        return [], [f"{folder}: watchlist folder not found (set bot.watchlists in the config)"]
    return parse_watchlist_files(sorted(folder.glob("*.toml")))


def parse_watchlist_files(
    paths: Sequence[Path],
) -> tuple[list[tuple[Watchlist, str]], list[str]]:
    """Read and parse watchlist files: ((watchlist, body) pairs, one line per problem).

    Two files may not name the same watchlist (names compare case-insensitively).
    """
    found: list[tuple[Watchlist, str]] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            body = path.read_text(encoding="utf-8-sig")  # a BOM is not TOML
        except IsADirectoryError:
            problems.append(f"{path}: is a folder; name the .toml files in it")
            continue
        except FileNotFoundError:
            problems.append(f"{path}: no such file")
            continue
        except OSError as e:
            problems.append(f"{path}: cannot read: {e.strerror or e}")
            continue
        except UnicodeDecodeError as e:
            problems.append(f"{path}: cannot read: not UTF-8 text ({e.reason})")
            continue
        try:
            w = parse_watchlist(body, str(path))
        except WatchlistError as e:
            problems.extend(str(p) for p in e.problems)
            continue
        key = w.name.casefold()
        if key in seen:
            problems.append(f"{path}: name: {w.name!r} is already the name of {seen[key]}")
            continue
        seen[key] = path
        found.append((w, body))
    return found, problems


class Service:
    """Subscriptions, lookups, watchlist and feed edits, for every platform and the CLI."""

    def __init__(self, store: Store, config: Config, *, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.config = config
        self.clock = clock
        self._seeded: tuple[tuple[str, int, int], ...] | None = None
        self.feed_probe: Callable[[str], Awaitable[str]] | None = None
        """Fetches a URL once and raises ``CommandError`` unless it is a feed
        (set where a fetcher exists: the running bot, the CLI)."""
        self.mention_checks: dict[str, Callable[[str, str], Awaitable[None]]] = {}
        """Per platform: raises ``CommandError`` unless a mention (``role:ID`` /
        ``group:ID``) names a role or group that exists in the guild or workspace
        (set by the chat adapters, which can ask the platform)."""
        self.problems: list[str] = []
        """What is wrong in the config or the watchlist files as last read: invalid
        files, subscriptions naming a watchlist that does not exist."""

    @classmethod
    async def open(
        cls, config: Config, *, clock: Callable[[], datetime] = utcnow, prepare: bool = True
    ) -> Service:
        """Open the store and, unless ``prepare`` is False (read-only commands), seed
        watchlists from files and apply the config's feeds and subscriptions."""
        store = await open_store(config.database)
        svc = cls(store, config, clock=clock)
        try:
            if prepare:
                await svc.prepare()
        except BaseException:
            await store.close()
            raise
        return svc

    async def prepare(self) -> list[str]:
        """Bring the database in line with the config; return warnings to log."""
        now = self.clock()
        warnings: list[str] = []
        warnings.extend(await self.reseed(force=True))
        await self.store.sync_config_feeds(
            [(f.url, f.interval, f.title) for f in self.config.feeds], now
        )
        known = {n.casefold() for n in await self.watchlist_names()}
        subs: dict[tuple[str, str, str], Subscription] = {}
        for s in self.config.subscriptions:
            names = list(s.watchlists) or [FEED_ONLY]
            for name in names:
                if name and name.casefold() not in known:
                    problem = (
                        f"{self.config.path}: subscriptions: channel {s.channel!r} names "
                        f"watchlist {name!r}, which does not exist (skipped)"
                    )
                    warnings.append(problem)
                    self.problems.append(problem)
                    continue
                key = (s.platform, s.channel, name.casefold())
                feeds = s.feeds
                if key in subs:  # two feed subscriptions of one channel: one, with both's feeds
                    feeds = tuple(dict.fromkeys(subs[key].feeds + s.feeds))
                subs[key] = Subscription(
                    id=0,
                    platform=s.platform,
                    channel=s.channel,
                    watchlist=name,
                    mode=s.mode,
                    guild=s.guild,
                    origin="config",
                    feeds=feeds,
                    format=s.format,
                    mention=s.mention,
                    quiet=s.quiet,
                    timezone=s.timezone,
                )
        await self.store.sync_config_subscriptions(list(subs.values()), now)
        for w in warnings:
            log.warning("%s", w)
        return warnings

    async def close(self) -> None:
        await self.store.close()

    def _folder_signature(self) -> tuple[tuple[str, int, int], ...]:
        folder = self.config.watchlists_dir
        try:
            entries = [e for e in os.scandir(folder) if e.name.endswith(".toml")]
            return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries))
        except OSError:
            return ()

    async def reseed(self, *, force: bool = False) -> list[str]:
        """Read the watchlist folder again when its files changed (or when forced).

        The running bot calls this every poll cycle, so a file edit takes effect
        without a restart. Returns warnings: invalid files, and files not used
        because their watchlist was edited or deleted from chat or the CLI.
        """
        signature = await asyncio.to_thread(self._folder_signature)
        if not force and signature == self._seeded:
            return []
        self._seeded = signature
        found, problems = await asyncio.to_thread(read_watchlist_files, self.config.watchlists_dir)
        self.problems = list(problems)
        changed, notes = await self.store.seed_watchlists(
            [(w.name, body) for w, body in found], self.clock()
        )
        if changed and not force:
            log.info("watchlist files changed: %s", ", ".join(changed))
        warnings = problems + [f"{self.config.watchlists_dir}: {n}" for n in notes]
        if not force:
            for w in warnings:
                log.warning("%s", w)
        return warnings

    # ------------------------------------------------------------ permissions

    def _listed(self, c: Caller, rank: str) -> bool:
        """Named in the config's ``{rank}_users`` / ``{rank}_roles|groups`` for the platform."""
        chat = PLATFORMS.get(c.platform)
        section = self.config.section(c.platform)
        if chat is None or section is None:
            return False
        users = getattr(section, f"{rank}_users")
        roles = getattr(section, f"{rank}_{chat.roles}")
        return c.user in users or any(r in roles for r in c.roles)

    def _is_admin(self, c: Caller) -> bool:
        # The console and the CLI are the operator's own.
        return c.platform == "console" or self._platform_admin(c) or self._listed(c, "admin")

    def _platform_admin(self, c: Caller) -> bool:
        """The platform's own admin right (Discord Manage Server, Slack admin),
        where the platform's registry entry trusts it (``trust_admin``).

        Watchlists and feeds are shared by every server the bot is in, so on
        Discord, Manage Server confers bot-admin rights only in the servers that
        ``[discord] guilds`` names as trusted. Without that list, anyone who can
        invite the bot to a server of their own would have Manage Server there:
        then only ``admin_roles`` / ``admin_users`` edit what every server shares.
        """
        if not c.is_admin:
            return False
        chat = PLATFORMS.get(c.platform)
        return chat is None or chat.trusts_admin(self.config, c)

    def _manages(self, c: Caller) -> bool:
        # A platform admin (Manage Server) manages the channels of their own server,
        # trusted or not; subscriptions are per channel, nothing shared.
        return self._is_admin(c) or c.is_admin or c.manages_channel or self._listed(c, "manager")

    def _need_admin(self, c: Caller, action: str) -> None:
        if not self._is_admin(c):
            chat = PLATFORMS.get(c.platform)
            need = chat.needs_admin if chat is not None else "admin rights"
            raise PermissionDenied(f"Only admins can {action}: you need {need}.")

    def _need_manager(self, c: Caller, action: str) -> None:
        if not self._manages(c):
            chat = PLATFORMS.get(c.platform)
            need = chat.needs_manager if chat is not None else "channel manager rights"
            raise PermissionDenied(f"Only channel managers can {action}: you need {need}.")

    # ------------------------------------------------------------ subscriptions

    async def _existing(self, caller: Caller, watchlist: str) -> Subscription | None:
        for s in await self.subscriptions(caller):
            if s.watchlist.casefold() == watchlist.strip().casefold():
                return s
        return None

    def _from_config(self, s: Subscription, action: str) -> CommandError:
        return CommandError(
            f"This channel's {s.watchlist} subscription is set in the bot's config file "
            f"({self.config.path}); {action} it there (or ask the operator)."
        )

    async def subscribe(
        self,
        caller: Caller,
        watchlist: str = "",
        mode: str = "realtime",
        *,
        feeds: Sequence[str] = (),
        format: str = "full",
        mention: str = "",
        quiet: str = "",
        timezone: str = "",
    ) -> Subscription:
        """Subscribe the caller's channel to a watchlist's alerts, limited to
        ``feeds`` when given; with feeds and no watchlist, to every new item of
        those feeds (added to the ones it already follows). A feed not polled yet
        is added when the caller may add feeds (fetched once first). Everything is
        checked before anything is written."""
        self._need_manager(caller, "subscribe a channel")
        if mode not in MODES:
            raise CommandError(
                f"Unknown mode {mode!r}: use realtime (each alert as it comes) "
                "or digest (one message a day)."
            )
        try:
            fmt = check_format(format)
            mention = check_mention(mention, caller.platform, mention_kinds())
        except OptionError as e:
            raise CommandError(str(e)) from None
        quiet, timezone = quiet.strip(), timezone.strip()
        if (bad := quiet_problem(quiet, timezone)) is not None:
            raise CommandError(f"{bad[0]}: {bad[1]}")
        if (problem := channel_problem(caller.platform, caller.channel)) is not None:
            raise CommandError(problem)
        if not watchlist.strip() and not feeds:
            raise CommandError(
                "Name a watchlist (subscribe KFOR) or a feed (subscribe feed:https://…/rss)."
            )
        name = (await self.watchlist(watchlist)).name if watchlist.strip() else FEED_ONLY
        urls, new = await self._subscription_feeds(caller, feeds)
        check = self.mention_checks.get(caller.platform)
        if mention and check is not None:
            await check(caller.guild, mention)
        existing = await self._existing(caller, name)
        if existing is not None and existing.feeds and urls:  # follows these feeds too
            urls = list(dict.fromkeys([*existing.feeds, *urls]))
        wanted = Subscription(
            id=0,
            platform=caller.platform,
            channel=caller.channel,
            watchlist=name,
            mode="digest" if mode == "digest" else "realtime",
            guild=caller.guild,
            feeds=tuple(urls),
            format=fmt,
            mention=mention,
            quiet=quiet,
            timezone=timezone,
        )
        same = existing is not None and dataclasses.replace(
            wanted, id=existing.id, origin=existing.origin, guild=existing.guild
        ) == dataclasses.replace(existing, paused_reason="")
        if existing is not None and existing.origin == "config" and not same:
            raise self._from_config(existing, "change")
        return await self.store.subscribe(
            caller.platform,
            caller.channel,
            name,
            mode=mode,
            guild=caller.guild,
            origin="cli" if caller.platform == "console" else "chat",
            now=self.clock(),
            options=wanted,
            new_feeds=new,
        )

    async def subscribe_from(self, caller: Caller, v: Values) -> Subscription:
        """``subscribe`` as the catalogue declares it (every chat platform)."""
        watchlist, mode = v.text("watchlist"), v.text("mode")
        if v.optional("feed") and watchlist.lower() in MODES and mode == "realtime":
            watchlist, mode = "", watchlist.lower()  # subscribe feed:URL digest
        return await self.subscribe(
            caller,
            watchlist,
            mode,
            feeds=v.words("feed"),
            format=v.text("format"),
            mention=v.text("mention"),
            quiet=v.text("quiet"),
            timezone=v.text("timezone"),
        )

    async def unsubscribe_from(self, caller: Caller, v: Values) -> Subscription:
        """``unsubscribe`` as the catalogue declares it (every chat platform)."""
        return await self.unsubscribe(caller, v.text("watchlist"), feeds=v.words("feed"))

    async def _subscription_feeds(
        self, caller: Caller, feeds: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """The polled URLs of ``feeds`` and those of them to add (checked and fetched
        once, the caller allowed to add feeds); CommandError naming the bad one."""
        urls: list[str] = []
        new: list[str] = []
        for raw in feeds:
            text = chat_url(raw)
            known = await self.store.feed(text)
            if known is None and "://" in text:
                try:
                    text = canonical_url(
                        check_url(text, allow_private=self.config.fetch.allow_private)
                    )
                except FetchError as e:
                    raise CommandError(f"feed: {e}") from None
                known = await self.store.feed(text)
            if known is not None:
                urls.append(known.url)
                continue
            if "://" not in text:
                raise CommandError(
                    f"feed: {text!r} is not a feed URL: give the feed's http(s) address"
                )
            try:
                self._need_admin(caller, f"add feeds ({text} is not polled yet)")
            except PermissionDenied as e:
                raise PermissionDenied(
                    f"feed: {e} Ask one to run feeds add {text}, then subscribe again."
                ) from None
            if self.feed_probe is not None:
                try:
                    await self.feed_probe(text)
                except CommandError as e:
                    raise CommandError(f"feed: {e}") from None
            urls.append(text)
            new.append(text)
        return list(dict.fromkeys(urls)), list(dict.fromkeys(new))

    async def unsubscribe(
        self, caller: Caller, watchlist: str = "", *, feeds: Sequence[str] = ()
    ) -> Subscription:
        """Stop a watchlist's alerts here, or (with ``feeds``) stop taking them from those
        feeds; a subscription left with no feed ends (it does not widen to every feed)."""
        self._need_manager(caller, "unsubscribe a channel")
        name = watchlist.strip() or FEED_ONLY
        if not name and not feeds:
            raise CommandError(
                "Name a watchlist (unsubscribe KFOR) or a feed (unsubscribe feed:https://…/rss)."
            )
        existing = await self._existing(caller, name)
        if existing is not None and existing.origin == "config":
            raise self._from_config(existing, "remove")
        if feeds and existing is not None:
            gone = {chat_url(f) for f in feeds}
            gone |= {canonical_url(f) for f in gone if "://" in f}
            left = tuple(f for f in existing.feeds if f not in gone)
            if len(left) == len(existing.feeds):
                has = ", ".join(existing.feeds) or "every feed"
                raise CommandError(
                    f"feed: this subscription does not name that feed (it takes {has})."
                )
            if left:
                return await self.store.subscribe(
                    caller.platform,
                    caller.channel,
                    existing.watchlist,
                    mode=existing.mode,
                    guild=existing.guild,
                    now=self.clock(),
                    options=dataclasses.replace(existing, feeds=left),
                )
        removed = await self.store.unsubscribe(caller.platform, caller.channel, name)
        if removed is None:
            current = [s.label for s in await self.subscriptions(caller)]
            has = ", ".join(current) if current else "nothing"
            what = watchlist or "any feed"
            raise CommandError(f"This channel is not subscribed to {what!r} (it gets: {has}).")
        return removed

    async def subscriptions(self, caller: Caller) -> list[Subscription]:
        """What the caller's channel gets."""
        return await self.store.subscriptions(caller.platform, caller.channel)

    async def workspace_subscriptions(self, platform: Platform, guild: str) -> list[Subscription]:
        """Every subscription of one Discord guild or Slack workspace (and the
        config-made ones that name no guild)."""
        return [s for s in await self.store.subscriptions(platform) if s.guild in ("", guild)]

    # ------------------------------------------------------------ lookup

    async def lookup(
        self,
        caller: Caller,
        query: str,
        since: str | None = None,
        watchlist: str | None = None,
        *,
        page: int = 1,
        per_page: int = PER_PAGE,
        everything: bool = False,
    ) -> LookupPage:
        """A page of stored stories (see ``bot.core.lookup``): by default only those
        that fired a watchlist; ``everything`` includes the rest."""
        query = query.strip()
        since_at = None
        if since:
            try:
                since_at = self.clock() - parse_duration(since.removeprefix("since:"))
            except ValueError as e:
                raise CommandError(f"Bad 'since': {e}.") from None
        name = None
        if watchlist:
            name = (await self.watchlist(watchlist)).name
        if not query and name is None:
            raise CommandError(
                'Say what to look for, e.g. lookup "Kosovo Force" since:7d, or give a watchlist.'
            )
        if len(query) > 300:
            raise CommandError("That query is too long: use at most 300 characters.")
        return await self.store.lookup(
            query,
            since=since_at,
            watchlist=name,
            alerted_only=not everything,
            page=page,
            per_page=per_page,
            now=self.clock(),
        )

    # ------------------------------------------------------------ watchlists

    async def watchlists(self) -> list[Watchlist]:
        out: list[Watchlist] = []
        for name, body in await self.store.watchlist_bodies():
            try:
                out.append(parse_watchlist(body, f"watchlist {name}"))
            except WatchlistError as e:  # stored bodies are validated on write
                log.error("stored watchlist %s is invalid: %s", name, e)
        return out

    async def watchlist_names(self) -> list[str]:
        return [name for name, _ in await self.store.watchlist_bodies()]

    async def watchlist(self, name: str) -> Watchlist:
        row = await self.store.watchlist_body(name.strip())
        if row is None:
            names = await self.watchlist_names()
            known = ", ".join(names) if names else "none yet"
            raise CommandError(f"No watchlist named {name!r}. Known watchlists: {known}.")
        return parse_watchlist(row[1], f"watchlist {row[0]}")

    async def _save(self, w: Watchlist, *, previous: str = "") -> Watchlist:
        problems = validate_watchlist(w)
        if problems:
            raise CommandError("; ".join(problems))
        body = dump_watchlist(w)
        await self.store.put_watchlist(w.name, body, self.clock(), rename_from=previous)
        return w

    async def watchlist_create(self, caller: Caller, name: str, description: str = "") -> Watchlist:
        self._need_admin(caller, "create watchlists")
        name = name.strip()
        if problems := validate_name(name, "watchlist name"):
            raise CommandError("; ".join(problems))
        if await self.store.watchlist_body(name) is not None:
            raise CommandError(f"A watchlist named {name!r} already exists.")
        return await self._save(Watchlist(name=name, terms=(), description=description.strip()))

    async def watchlist_delete(self, caller: Caller, name: str) -> None:
        self._need_admin(caller, "delete watchlists")
        w = await self.watchlist(name)
        await self.store.delete_watchlist(w.name)

    def _term(self, w: Watchlist, term: str) -> Term:
        for t in w.terms:
            if t.name.casefold() == term.strip().casefold():
                return t
        names = ", ".join(t.name for t in w.terms) or "none"
        raise CommandError(f"Watchlist {w.name!r} has no term {term!r}. Its terms: {names}.")

    async def watchlist_add_term(
        self,
        caller: Caller,
        watchlist: str,
        term: str,
        forms: tuple[str, ...] | list[str] = (),
        case: str = "auto",
    ) -> Watchlist:
        self._need_admin(caller, "edit watchlists")
        w = await self.watchlist(watchlist)
        term = term.strip()
        if problems := validate_name(term, "term name"):
            raise CommandError("; ".join(problems))
        if any(t.name.casefold() == term.casefold() for t in w.terms):
            raise CommandError(
                f"{w.name!r} already has a term {term!r}: use add-form to give it another spelling."
            )
        if case not in CASE_RULES:
            raise CommandError(f"Unknown case rule {case!r}: use auto, exact or fold.")
        all_forms = tuple(dict.fromkeys(f.strip() for f in (forms or (term,))))
        for f in all_forms:
            if problems := validate_form(f):
                raise CommandError("; ".join(problems))
        new = Term(name=term, forms=all_forms, case=_case(case))
        return await self._save(dataclasses.replace(w, terms=(*w.terms, new)))

    async def watchlist_remove_term(self, caller: Caller, watchlist: str, term: str) -> Watchlist:
        self._need_admin(caller, "edit watchlists")
        w = await self.watchlist(watchlist)
        t = self._term(w, term)
        if t.name in w.require:
            raise CommandError(
                f"{w.name!r} requires {t.name!r}; that requirement must go first "
                "(edit the watchlist file or export/import it)."
            )
        return await self._save(
            dataclasses.replace(w, terms=tuple(x for x in w.terms if x is not t))
        )

    async def watchlist_add_form(
        self, caller: Caller, watchlist: str, term: str, form: str
    ) -> Watchlist:
        self._need_admin(caller, "edit watchlists")
        w = await self.watchlist(watchlist)
        t = self._term(w, term)
        form = form.strip()
        if problems := validate_form(form):
            raise CommandError("; ".join(problems))
        if form in t.forms:
            raise CommandError(f"{t.name!r} already has the form {form!r}.")
        new = dataclasses.replace(t, forms=(*t.forms, form))
        return await self._save(
            dataclasses.replace(w, terms=tuple(new if x is t else x for x in w.terms))
        )

    async def watchlist_remove_form(
        self, caller: Caller, watchlist: str, term: str, form: str
    ) -> Watchlist:
        self._need_admin(caller, "edit watchlists")
        w = await self.watchlist(watchlist)
        t = self._term(w, term)
        form = form.strip()
        if form not in t.forms:
            forms = ", ".join(repr(f) for f in t.forms)
            raise CommandError(f"{t.name!r} has no form {form!r}. Its forms: {forms}.")
        if len(t.forms) == 1:
            raise CommandError(f"{form!r} is the last form of {t.name!r}: remove the term instead.")
        new = dataclasses.replace(t, forms=tuple(f for f in t.forms if f != form))
        return await self._save(
            dataclasses.replace(w, terms=tuple(new if x is t else x for x in w.terms))
        )

    async def watchlist_import(self, caller: Caller, body: str, source: str) -> Watchlist:
        """Replace (or create) a watchlist from TOML text, as ``watchlist import`` does."""
        self._need_admin(caller, "import watchlists")
        try:
            w = parse_watchlist(body, source)
        except WatchlistError as e:
            raise CommandError(str(e)) from None
        return await self._save(w)

    async def watchlist_export(self, name: str) -> str:
        row = await self.store.watchlist_body(name)
        if row is None:
            await self.watchlist(name)  # raises with the list of names
        assert row is not None
        return row[1]

    # ------------------------------------------------------------ feeds

    async def feeds(self) -> list[FeedStatus]:
        return await self.store.feed_statuses()

    async def feeds_opml(self) -> tuple[str, int]:
        """Every http(s) feed as an OPML 2.0 document, and how many it lists.

        Local file feeds mean nothing to another machine's reader, so they are left out.
        """
        feeds = [OpmlFeed(f.url, f.title) for f in await self.feeds() if is_http_url(f.url)]
        return write_opml(feeds), len(feeds)

    async def feed_urls(self) -> list[str]:
        return [f.url for f in await self.store.feeds()]

    async def feed_add(self, caller: Caller, url: str) -> FeedStatus:
        self._need_admin(caller, "add feeds")
        url = url.strip().strip("<>")
        try:
            url = check_url(url, allow_private=self.config.fetch.allow_private)
        except FetchError as e:
            raise CommandError(str(e)) from None
        url = canonical_url(url)  # HTTPS://EXAMPLE.org/rss is example.org's feed too
        if await self.store.feed(url) is not None:
            raise CommandError(f"{url} is already polled.")
        title = await self.feed_probe(url) if self.feed_probe is not None else ""
        await self.store.add_feed(url, self.clock(), origin="user", title=title)
        return next(f for f in await self.store.feed_statuses() if f.url == url)

    async def feeds_import(
        self,
        caller: Caller,
        urls: Sequence[str],
        *,
        check: bool = True,
        titles: Mapping[str, str] | None = None,
    ) -> tuple[list[str], list[str]]:
        """Add every new URL of ``urls``, all or none; return (added, already polled).

        Every URL is checked like ``feed_add`` (and fetched once when ``check`` and a
        probe is set) before any is added; one bad URL refuses the whole import,
        naming every bad one. A new feed is named by its own title when fetched, else
        by ``titles`` (URL as given → name, e.g. an OPML outline's), until it is polled."""
        self._need_admin(caller, "add feeds")
        problems: list[str] = []
        fresh: list[str] = []
        known: list[str] = []
        named: dict[str, str] = {}
        for raw in urls:
            try:
                url = canonical_url(
                    check_url(raw.strip(), allow_private=self.config.fetch.allow_private)
                )
            except FetchError as e:
                problems.append(str(e))
                continue
            if url in fresh or url in known:
                continue
            (known if await self.store.feed(url) is not None else fresh).append(url)
            named[url] = (titles or {}).get(raw, "")
        if check and self.feed_probe is not None and fresh:
            probe = self.feed_probe
            limit = asyncio.Semaphore(IMPORT_PROBES)

            async def one(url: str) -> str | None:
                async with limit:
                    try:
                        named[url] = await probe(url) or named[url]
                    except CommandError as e:
                        return str(e)
                    return None

            problems += [p for p in await asyncio.gather(*(one(u) for u in fresh)) if p]
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise CommandError(
                f"{len(problems)} of {len(urls)} feeds cannot be added; nothing was imported:"
                f"\n  {shown}{more}"
            )
        now = self.clock()
        async with self.store.transaction():  # all or none
            for url in fresh:
                await self.store.add_feed(url, now, origin="user", title=named[url])
        return fresh, known

    async def feed_remove(self, caller: Caller, url: str) -> None:
        self._need_admin(caller, "remove feeds")
        url = url.strip().strip("<>")
        feed = await self.store.feed(url)
        if feed is None:
            raise CommandError(f"{url} is not polled: see feeds list for the exact URLs.")
        if feed.origin == "config":
            raise CommandError(
                f"{url} comes from the bot's config file ({self.config.path}); remove it there."
            )
        await self.store.remove_feed(url)

    async def feed_retry(self, caller: Caller, url: str | None) -> list[FeedStatus]:
        """Poll ``url`` (None: every failing feed) on the next cycle, back-off cleared."""
        self._need_admin(caller, "retry feeds")
        urls: list[str] | None = None
        if url is not None:
            url = url.strip().strip("<>")
            if await self.store.feed(url) is None:
                raise CommandError(f"{url} is not polled: see feeds list for the exact URLs.")
            urls = [url]
        done = set(await self.store.retry_feeds(urls, self.clock()))
        return [f for f in await self.store.feed_statuses() if f.url in done]


def fetching_probe(fetcher: Fetcher) -> Callable[[str], Awaitable[str]]:
    """A ``Service.feed_probe`` that fetches the URL once with ``fetcher``."""

    async def probe(url: str) -> str:
        try:
            return await probe_feed(fetcher, url)
        except ProbeError as e:
            raise CommandError(str(e)) from None

    return probe


def _case(value: str) -> CaseRule:
    if value == "exact":
        return "exact"
    if value == "fold":
        return "fold"
    return "auto"
