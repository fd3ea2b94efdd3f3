"""The command catalogue: every chat command once, read by every platform.

Each :class:`Command` names its words (``("watchlist", "add-term")``), its
arguments with their kinds, who may run it, its help and an example. From it:

* Discord's app-command tree is generated (``bot.chat.discord``): names,
  descriptions, option types, bounds, choices, autocomplete by kind;
* text platforms (Slack's ``/alertbot …``, and any other) parse and dispatch
  with :mod:`bot.chat.textcmd`, and their usage lines and help come from here;
* the CLI (``bot.cli``) keeps its own argparse tree, which a test checks
  against this one (:attr:`Command.cli`, :data:`CLI_ONLY`).

A platform answers a command with a method named :func:`handler_name`
(``cmd_watchlist_add_term``) taking the caller and the parsed
:class:`Values`; a platform missing one fails at start, and
``tests/test_commands.py`` fails when the catalogue, the Discord tree, the
Slack commands and the CLI disagree.

Pure: no I/O, no asyncio, no platform imports (importable without aiosqlite,
aiohttp, discord or slack).

To add a command: one entry in :data:`CATALOGUE`, one ``cmd_…`` method per
platform (and a CLI subcommand, or an entry in :data:`CLI_ONLY` and
``Command.cli = None``). To add an argument: one :class:`Arg`, then read it in
the platforms' handlers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.core.views import HelpEntry


class CommandError(Exception):
    """A command could not run; ``str(err)`` is meant for the user."""


class PermissionDenied(CommandError):
    """The caller lacks the permission the command needs; the message names it."""


Kind = Literal[
    "text",
    "choice",
    "int",
    "bool",
    "duration",
    "url",
    "feed",
    "watchlist",
    "term",
    "form",
    "channel",
]
"""What an argument holds. Platforms map kinds onto their own types: ``choice``
becomes a fixed list, ``int`` a bounded number, ``bool`` a flag, ``channel`` a
channel picker; ``watchlist``, ``term``, ``form`` and ``feed`` are strings the
platform may autocomplete from what exists; ``url`` and ``duration`` are strings
the service checks."""

Style = Literal["positional", "keyed", "flag"]
"""How a text platform takes an argument: in order (``subscribe KFOR digest``),
as ``key:value`` anywhere (``since:7d``), or as a bare word (``all``). Discord
and the CLI name every argument, so the style matters to text only."""

Who = Literal["anyone", "channel managers", "admins"]
"""Who may run a command; the service enforces it, this is what help says."""

Value = str | int | bool | tuple[str, ...] | None

DESCRIPTION_CHARS = 100
"""The longest command or argument description (Discord's limit, the tightest)."""
NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
"""Command and argument names every platform accepts (Discord's rule, lower case)."""


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: Kind
    help: str
    required: bool = True
    choices: tuple[str, ...] = ()
    default: Value = None
    min: int | None = None
    """Smallest value (``int``) or length (text kinds)."""
    max: int | None = None
    """Largest value (``int``) or length (text kinds)."""
    style: Style = "positional"
    aliases: tuple[str, ...] = ()
    """Other keys a text platform accepts for a keyed argument (``wl:`` for ``watchlist:``)."""
    rest: bool = False
    """The last positional argument takes every remaining word."""
    many: bool = False
    """The value is several strings (a tuple); Discord takes them comma-separated."""
    guess: bool = False
    """A text platform may leave it out when the handler can guess it (a
    watchlist's only term); Discord and the CLI always ask for it."""
    metavar: str = ""

    @property
    def shown(self) -> str:
        """How usage lines name the value: ``WATCHLIST``, ``realtime|digest``."""
        if self.kind == "choice":
            return "|".join(self.choices)
        return self.metavar or self.name.upper()

    def usage(self) -> str:
        if self.style == "flag":
            return f"[{self.name}]"
        if self.style == "keyed":
            return f"[{self.name}:{self.metavar or self.name.upper()}]"
        word = self.shown + ("…" if self.many else "")
        return word if self.required and not self.guess else f"[{word}]"


@dataclass(frozen=True, slots=True)
class Command:
    path: tuple[str, ...]
    """The words that name it: ``("subscribe",)``, ``("watchlist", "add-term")``."""
    summary: str
    """One line: Discord's description, the help's "does"."""
    who: Who
    example: str
    args: tuple[Arg, ...] = ()
    public: bool = False
    """The answer is shown to the channel (an edit others should see); else only
    to the asker."""
    cli: tuple[str, ...] | None = None
    """The ``alertbot`` subcommand that does the same, or None (chat only)."""
    cli_options: tuple[str, ...] = ()
    """Options that subcommand has beyond the arguments here (``json``, ``platform``…)."""

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def description(self) -> str:
        """The summary and, unless anyone may run it, who may: ``Stop polling a feed (admins)``."""
        return self.summary if self.who == "anyone" else f"{self.summary} ({self.who})"

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(f"{self.name} has no argument {name!r}")

    def usage(self) -> str:
        """``subscribe WATCHLIST [realtime|digest]``."""
        return " ".join([*self.path, *(a.usage() for a in self.args)])

    def help_entry(self) -> HelpEntry:
        return HelpEntry(self.usage(), self.summary, self.example, self.who)


@dataclass(frozen=True, slots=True)
class Group:
    """The first word of several commands (``watchlist``, ``feeds``)."""

    name: str
    summary: str
    default: str
    """The subcommand a text platform runs for the bare group word."""


class Values(Mapping[str, Value]):
    """A command's parsed arguments, read by kind; absent ones give their default."""

    def __init__(self, command: Command, given: Mapping[str, Value]):
        unknown = set(given) - {a.name for a in command.args}
        if unknown:
            raise KeyError(f"{command.name} has no argument(s) {sorted(unknown)}")
        self._values: dict[str, Value] = {a.name: a.default for a in command.args}
        self._values.update({k: v for k, v in given.items() if v is not None})

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, name: str) -> str:
        v = self._values[name]
        return "" if v is None else str(v)

    def optional(self, name: str) -> str | None:
        v = self._values[name]
        return None if v is None or v == "" else str(v)

    def flag(self, name: str) -> bool:
        return bool(self._values[name])

    def number(self, name: str) -> int:
        v = self._values[name]
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    def words(self, name: str) -> tuple[str, ...]:
        v = self._values[name]
        if isinstance(v, tuple):
            return v
        return () if v is None or v == "" else (str(v),)


def handler_name(command: Command) -> str:
    """The method a platform answers ``command`` with: ``cmd_watchlist_add_term``."""
    return "cmd_" + "_".join(command.path).replace("-", "_")


def missing_handlers(platform: object) -> list[str]:
    """The catalogue's commands ``platform`` has no handler for (should be none)."""
    return [c.name for c in CATALOGUE if not callable(getattr(platform, handler_name(c), None))]


# --------------------------------------------------------------------------- the catalogue

_WATCHLIST = Arg("watchlist", "watchlist", "Watchlist name (start typing to pick one)")
_NAME = Arg("name", "watchlist", "Watchlist name (start typing to pick one)")

GROUPS: dict[str, Group] = {
    "watchlist": Group("watchlist", "See and edit watchlists", default="list"),
    "feeds": Group("feeds", "See and edit feeds", default="list"),
}

_FEED = Arg(
    "feed",
    "feed",
    "Only this feed's items; with no watchlist, every item of it (a new feed is added)",
    required=False,
    style="keyed",
    metavar="URL",
)

CATALOGUE: tuple[Command, ...] = (
    Command(
        ("subscribe",),
        "Post a watchlist's alerts, or a feed's items, in this channel",
        "channel managers",
        "subscribe KFOR digest",
        (
            dataclasses.replace(_WATCHLIST, required=False),
            Arg(
                "mode",
                "choice",
                "realtime: each alert as it comes; digest: one summary message a day",
                required=False,
                choices=("realtime", "digest"),
                default="realtime",
            ),
            _FEED,
            Arg(
                "format",
                "choice",
                "full: title, summary, outlets; compact: headline, outlets, link",
                required=False,
                choices=("full", "compact"),
                default="full",
                style="keyed",
            ),
            Arg(
                "mention",
                "text",
                "Ping a role (Discord role:ID) or user group (Slack group:ID) with each alert",
                required=False,
                max=40,
                style="keyed",
                metavar="role:ID|group:ID",
            ),
            Arg(
                "quiet",
                "text",
                "Hold alerts in these hours, then send one digest, e.g. 22:00-07:00",
                required=False,
                max=20,
                style="keyed",
                metavar="22:00-07:00",
            ),
            Arg(
                "timezone",
                "text",
                "The time zone of the quiet hours, e.g. Europe/Belgrade (default UTC)",
                required=False,
                max=64,
                style="keyed",
                aliases=("tz",),
                metavar="ZONE",
            ),
        ),
        public=True,
        cli=("subscriptions", "add"),
        cli_options=("platform", "channel", "guild"),
    ),
    Command(
        ("unsubscribe",),
        "Stop a watchlist's alerts, or a feed's items, in this channel",
        "channel managers",
        "unsubscribe KFOR",
        (dataclasses.replace(_WATCHLIST, required=False), _FEED),
        public=True,
        cli=("subscriptions", "remove"),
        cli_options=("platform", "channel", "guild"),
    ),
    Command(
        ("subscriptions",),
        "What this channel gets",
        "anyone",
        "subscriptions",
        cli=("subscriptions", "list"),
        cli_options=("platform", "channel", "json"),
    ),
    Command(
        ("lookup",),
        "Search stored stories (words must all occur; quote a phrase)",
        "anyone",
        'lookup "Kosovo Force" since:7d',
        (
            Arg(
                "query",
                "text",
                "Words to find, e.g. Bayraktar Kosovo",
                required=False,
                max=300,
                rest=True,
            ),
            Arg(
                "since",
                "duration",
                "How far back, e.g. 12h, 7d, 2w (default: everything stored)",
                required=False,
                style="keyed",
                metavar="7d",
            ),
            Arg(
                "watchlist",
                "watchlist",
                "Only stories that matched this watchlist",
                required=False,
                style="keyed",
                aliases=("wl",),
                metavar="NAME",
            ),
            Arg(
                "all",
                "bool",
                "Also stories that fired no watchlist (default: only those that did)",
                required=False,
                default=False,
                style="flag",
            ),
            Arg(
                "page",
                "int",
                "Which page of results (default: the first)",
                required=False,
                default=1,
                min=1,
                max=1000,
                style="keyed",
                metavar="N",
            ),
        ),
        cli=("lookup",),
        cli_options=("limit", "json"),
    ),
    Command(("help",), "What alertbot can do, with examples", "anyone", "help"),
    Command(
        ("watchlist", "list"),
        "All watchlists",
        "anyone",
        "watchlist list",
        cli=("watchlist", "list"),
        cli_options=("json",),
    ),
    Command(
        ("watchlist", "show"),
        "A watchlist's terms and their forms",
        "anyone",
        "watchlist show MKE",
        (_NAME,),
        cli=("watchlist", "show"),
        cli_options=("json",),
    ),
    Command(
        ("watchlist", "create"),
        "Create an empty watchlist",
        "admins",
        'watchlist create Drones "Turkish drones"',
        (
            Arg("name", "text", "New watchlist name", min=1, max=64),
            Arg("description", "text", "What it is about", required=False, max=300, rest=True),
        ),
        public=True,
        cli=("watchlist", "create"),
    ),
    Command(
        ("watchlist", "delete"),
        "Delete a watchlist and its subscriptions",
        "admins",
        "watchlist delete Drones",
        (_NAME,),
        public=True,
        cli=("watchlist", "delete"),
    ),
    Command(
        ("watchlist", "add-term"),
        "Watch a new name; its forms default to the name",
        "admins",
        'watchlist add-term KFOR "Camp Bondsteel"',
        (
            _WATCHLIST,
            Arg("term", "text", "The name to watch, e.g. Bayraktar TB2", min=1, max=100),
            Arg(
                "forms",
                "text",
                "Other spellings, comma-separated, e.g. TB2, Bayraktar-TB2",
                required=False,
                rest=True,
                many=True,
                metavar="FORM",
            ),
            Arg(
                "case",
                "choice",
                "auto: acronyms as written, words any case; exact; fold: ignore case",
                required=False,
                choices=("auto", "exact", "fold"),
                default="auto",
                style="keyed",
                metavar="auto|exact|fold",
            ),
        ),
        public=True,
        cli=("watchlist", "add-term"),
    ),
    Command(
        ("watchlist", "remove-term"),
        "Stop watching a name",
        "admins",
        'watchlist remove-term KFOR "Camp Bondsteel"',
        (_WATCHLIST, Arg("term", "term", "The term to remove")),
        public=True,
        cli=("watchlist", "remove-term"),
    ),
    Command(
        ("watchlist", "add-form"),
        "Add a spelling, alias or translation of a term",
        "admins",
        'watchlist add-form KFOR KFOR "Kosovo Force"',
        (
            _WATCHLIST,
            Arg("term", "term", "The term it belongs to", guess=True),
            Arg("form", "text", "The spelling, e.g. Kosovo Force", min=1, max=100),
        ),
        public=True,
        cli=("watchlist", "add-form"),
    ),
    Command(
        ("watchlist", "remove-form"),
        "Remove a spelling of a term",
        "admins",
        'watchlist remove-form KFOR KFOR "Kosovo Force"',
        (
            _WATCHLIST,
            Arg("term", "term", "The term", guess=True),
            Arg("form", "form", "The form to remove"),
        ),
        public=True,
        cli=("watchlist", "remove-form"),
    ),
    Command(
        ("feeds", "list"),
        "The feeds alertbot reads",
        "anyone",
        "feeds list",
        cli=("feeds", "list"),
        cli_options=("json",),
    ),
    Command(
        ("feeds", "status"),
        "Feed health: last success, errors, stories",
        "anyone",
        "feeds status",
        cli=("feeds", "status"),
        cli_options=("json",),
    ),
    Command(
        ("feeds", "export"),
        "The feeds as an OPML file, for other feed readers",
        "anyone",
        "feeds export",
        cli=("feeds", "export"),
        cli_options=("opml",),
    ),
    Command(
        ("feeds", "add"),
        "Poll another public http(s) feed",
        "admins",
        "feeds add https://example.org/rss",
        (
            Arg(
                "url",
                "url",
                "A public http(s) feed URL, e.g. https://example.com/rss",
                min=1,
                max=2000,
            ),
        ),
        public=True,
        cli=("feeds", "add"),
        cli_options=("no_check",),
    ),
    Command(
        ("feeds", "remove"),
        "Stop polling a feed",
        "admins",
        "feeds remove https://example.org/rss",
        (Arg("url", "feed", "The feed URL (start typing to pick one)"),),
        public=True,
        cli=("feeds", "remove"),
    ),
)
"""Every chat command, in the order help lists them."""

TEXT_ALIASES: dict[str, str] = {
    "sub": "subscribe",
    "unsub": "unsubscribe",
    "subs": "subscriptions",
    "search": "lookup",
    "watchlists": "watchlist",
    "wl": "watchlist",
    "feed": "feeds",
}
"""Other first words a text platform accepts."""

CLI_ONLY: tuple[tuple[str, ...], ...] = (
    ("init",),
    ("run",),
    ("check",),
    ("try",),
    ("watchlist", "import"),
    ("watchlist", "export"),
    ("feeds", "import"),
    ("feeds", "retry"),
    ("db",),
)
"""``alertbot`` subcommands (and whole groups) that have no chat command: the
operator's own (files, the database, the process). Each chat platform's setup
group (``alertbot discord …``, its registry entry's ``cli``) is the operator's too."""


def find(path: tuple[str, ...] | str) -> Command:
    """The command named ``path`` (words or one string)."""
    words = tuple(path.split()) if isinstance(path, str) else path
    for c in CATALOGUE:
        if c.path == words:
            return c
    raise KeyError(f"no command {' '.join(words)!r}")


def top_level() -> dict[str, Command | Group]:
    """First words in catalogue order: a command, or the group of several."""
    out: dict[str, Command | Group] = {}
    for c in CATALOGUE:
        head = c.path[0]
        if head not in out:
            out[head] = GROUPS[head] if len(c.path) > 1 else c
    return out


def subcommands(group: str) -> list[Command]:
    return [c for c in CATALOGUE if len(c.path) > 1 and c.path[0] == group]


def help_entries() -> list[HelpEntry]:
    return [c.help_entry() for c in CATALOGUE]


def problems() -> list[str]:
    """What is wrong with the catalogue itself (names, lengths, argument order)."""
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for c in CATALOGUE:
        if c.path in seen:
            out.append(f"{c.name}: declared twice")
        seen.add(c.path)
        for word in c.path:
            if not NAME.match(word):
                out.append(f"{c.name}: {word!r} is not a valid command name")
        if len(c.path) > 1 and c.path[0] not in GROUPS:
            out.append(f"{c.name}: group {c.path[0]!r} is not in GROUPS")
        if len(c.path) == 1 and c.path[0] in GROUPS:
            out.append(f"{c.name}: is also a group")
        if not 0 < len(c.description) <= DESCRIPTION_CHARS:
            out.append(f"{c.name}: the summary must have 1 to {DESCRIPTION_CHARS} characters")
        if not c.example.startswith(c.name):
            out.append(f"{c.name}: the example must start with the command")
        names: set[str] = set()
        positional = [a for a in c.args if a.style == "positional"]
        for i, a in enumerate(c.args):
            if a.name in names:
                out.append(f"{c.name}: argument {a.name} declared twice")
            names.add(a.name)
            if not NAME.match(a.name):
                out.append(f"{c.name}: {a.name!r} is not a valid argument name")
            if not 0 < len(a.help) <= DESCRIPTION_CHARS:
                out.append(f"{c.name} {a.name}: the help must have 1 to 100 characters")
            if (a.kind == "choice") != bool(a.choices):
                out.append(f"{c.name} {a.name}: choices go with kind choice only")
            if a.kind == "bool" and (a.style != "flag" or a.required):
                out.append(f"{c.name} {a.name}: a bool is an optional flag")
            if a.style == "flag" and a.kind != "bool":
                out.append(f"{c.name} {a.name}: only a bool is a flag")
            if a.rest and a is not (positional[-1] if positional else None):
                out.append(f"{c.name} {a.name}: only the last positional argument takes the rest")
            if a.many and not a.rest:
                out.append(f"{c.name} {a.name}: many values need rest")
            if (
                a.style == "positional"
                and a.required
                and i
                and not all(b.required for b in positional[: positional.index(a)])
            ):
                out.append(f"{c.name} {a.name}: a required argument follows an optional one")
            if a.default is not None and a.required:
                out.append(f"{c.name} {a.name}: a required argument has no default")
    return out
