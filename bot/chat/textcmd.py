"""Text commands for any platform where people type them (``/alertbot subscribe KFOR``).

The words are split by :func:`tokenize` (quotes honoured, also the curly ones
phones type), then :func:`parse` finds the command in the catalogue
(:mod:`bot.commands`) and binds its arguments: positional ones in order,
``key:value`` ones anywhere, flags as bare words; choices, numbers and
lengths are checked here, everything else by the service. Every mistake is a
:class:`UsageError` whose message says what is wrong and shows the usage line.
:class:`Dispatcher` then calls the platform's handler for the command
(``cmd_…``, see :func:`bot.commands.handler_name`).

A platform supplies only what is its own: unwrapping its markup before
tokenizing (Slack's ``<…>`` references), the command prefix shown in usage,
and rendering the handler's answer.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.commands import (
    TEXT_ALIASES,
    Arg,
    Command,
    CommandError,
    Group,
    Value,
    Values,
    find,
    handler_name,
    missing_handlers,
    subcommands,
    top_level,
)

C = TypeVar("C")
R = TypeVar("R")


class UsageError(CommandError):
    """The command line could not be understood; the message shows the right usage."""


_DOUBLE_QUOTES = '"“”„‟«»'
_SINGLE_QUOTES = "'‘’‚‛‹›"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tokenize(text: str) -> list[str]:
    """Split a command line on spaces, honouring quotes.

    Like :func:`shlex.split` but forgiving: curly and guillemet quotes count
    (macOS and phones "smarten" quotes as people type), a quote only opens at
    the start of a word (so ``O'Brien`` needs none), and an unclosed quote is a
    :class:`UsageError` that says where it opened, not a stack trace.
    Known misses: a word that starts with an apostrophe (``'90s``) opens a quote,
    and there is no backslash escape; quote such words with the other quote kind.
    """
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        family = (
            _DOUBLE_QUOTES
            if ch in _DOUBLE_QUOTES
            else _SINGLE_QUOTES
            if ch in _SINGLE_QUOTES
            else ""
        )
        if family:
            end = next((j for j in range(i + 1, n) if text[j] in family), -1)
            if end < 0:
                snippet = _cut(text[i + 1 :], 30)
                raise UsageError(
                    f"The quote {ch} before “{snippet}” is never closed. Put the same quote at "
                    'the end of the name, e.g. watchlist add-form KFOR "Kosovo Force".'
                )
            tokens.append(text[i + 1 : end])
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(text[i:j])
        i = j
    return tokens


def suggest(word: str, choices: Sequence[str]) -> str:
    """`` Did you mean `x`?`` for the closest choice, or nothing."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return f" Did you mean `{close[0]}`?" if close else ""


def group_usage(group: Group) -> str:
    """``watchlist list | show NAME | …``: every subcommand of a group."""
    subs = [c.usage().removeprefix(group.name + " ") for c in subcommands(group.name)]
    return f"{group.name} " + " | ".join(subs)


def _or(choices: Sequence[str]) -> str:
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]


@dataclass(frozen=True, slots=True)
class Parsed:
    command: Command
    values: Values


class _Binder:
    """Binds one command's words to its arguments, or raises a UsageError with its usage."""

    def __init__(self, command: Command, prefix: str):
        self.command = command
        self.prefix = prefix

    def fail(self, problem: str) -> UsageError:
        return UsageError(f"{problem} Usage: {self.prefix} {self.command.usage()}")

    def convert(self, a: Arg, raw: str) -> Value:
        if a.kind == "choice":
            value = raw.lower()
            if value not in a.choices:
                raise self.fail(f"The {a.name} must be {_or(a.choices)}, not “{_cut(raw, 40)}”.")
            return value
        if a.kind == "int":
            low, high = a.min if a.min is not None else 0, a.max
            if (
                not (raw.isascii() and raw.isdigit())
                or int(raw) < low
                or (high is not None and int(raw) > high)
            ):
                bounds = f"from {low} to {high}" if high is not None else f"from {low}"
                raise self.fail(
                    f"The {a.name} must be a whole number {bounds}, not “{_cut(raw, 40)}”."
                )
            return int(raw)
        if a.max is not None and len(raw) > a.max:
            raise self.fail(f"The {a.name} is too long: at most {a.max} characters.")
        if a.min and len(raw.strip()) < a.min:
            raise self.fail(f"The {a.name} is empty.")
        return raw

    def bind(self, tokens: Sequence[str]) -> Values:
        args = self.command.args
        keyed = {k.lower(): a for a in args if a.style == "keyed" for k in (a.name, *a.aliases)}
        flags = {a.name: a for a in args if a.style == "flag"}
        given: dict[str, Value] = {}
        words: list[str] = []
        for token in tokens:
            key, sep, raw = token.partition(":")
            named = keyed.get(key.lower()) if sep else None
            if named is not None:
                given[named.name] = self.convert(named, raw)
                continue
            flag = flags.get(token.lower().removeprefix("--"))
            if flag is not None:
                given[flag.name] = True
                continue
            words.append(token)
        positional = [a for a in args if a.style == "positional"]
        rest = positional[-1] if positional and positional[-1].rest else None
        slots = positional[:-1] if rest is not None else positional
        if len(words) < sum(a.required for a in slots):
            slots = [a for a in slots if not a.guess]  # left out: the handler guesses it
        required = [a for a in slots if a.required]
        if len(words) < len(required):
            raise self.fail(f"Missing {required[len(words)].shown}.")
        for a, word in zip(slots, words, strict=False):
            given[a.name] = self.convert(a, word)
        extra = words[len(slots) :]
        if extra and rest is None:
            raise self.fail(f"Too many words: “{_cut(' '.join(extra), 60)}”.")
        if rest is not None:
            if not extra and rest.required:
                raise self.fail(f"Missing {rest.shown}.")
            if extra and rest.many:
                given[rest.name] = tuple(str(self.convert(rest, w)) for w in extra)
            elif extra:
                given[rest.name] = self.convert(rest, " ".join(extra))
        return Values(self.command, given)


def parse(tokens: Sequence[str], prefix: str) -> Parsed:
    """Words → the catalogue's command and its values; no words → help."""
    if not tokens:
        help_ = find("help")
        return Parsed(help_, Values(help_, {}))
    head = tokens[0].lower()
    head = TEXT_ALIASES.get(head, head)
    commands = top_level()
    entry = commands.get(head)
    if entry is None:
        raise UsageError(
            f"Unknown command “{_cut(tokens[0], 40)}”.{suggest(head, list(commands))} "
            f"Try `{prefix} help`."
        )
    rest = list(tokens[1:])
    if isinstance(entry, Group):
        subs = {c.path[1]: c for c in subcommands(entry.name)}
        sub = rest.pop(0).lower() if rest else entry.default
        command = subs.get(sub)
        if command is None:
            raise UsageError(
                f"Unknown {entry.name} command “{_cut(sub, 40)}”.{suggest(sub, list(subs))} "
                f"Usage: {prefix} {group_usage(entry)}"
            )
    else:
        command = entry
    return Parsed(command, _Binder(command, prefix).bind(rest))


Handler = Callable[[C, Values], Awaitable[R]]


class Dispatcher(Generic[C, R]):
    """Runs a text command line through ``handlers``' ``cmd_…`` methods.

    Every command of the catalogue must have its handler: a platform that lacks
    one fails here, at start, not when someone types the command.
    """

    def __init__(self, handlers: object, prefix: str):
        missing = missing_handlers(handlers)
        if missing:
            raise TypeError(f"{type(handlers).__name__} has no handler for: {', '.join(missing)}")
        self.handlers = handlers
        self.prefix = prefix

    def parse(self, tokens: Sequence[str]) -> Parsed:
        return parse(tokens, self.prefix)

    async def run(self, caller: C, tokens: Sequence[str]) -> R:
        parsed = self.parse(tokens)
        handler: Handler[C, R] = getattr(self.handlers, handler_name(parsed.command))
        return await handler(caller, parsed.values)
