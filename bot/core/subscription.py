"""What a subscription may ask for beyond its watchlists, checked without I/O.

- **Feeds.** ``feeds`` limits a subscription to items of those feeds; a
  subscription with feeds and no watchlist (stored with ``watchlist = ""``)
  gets every new item of its feeds.
- **Format.** ``full`` (title, summary, outlets, watchlists) or ``compact``
  (headline, outlets, link; no summary).
- **Mention.** Opt-in: ``role:ID`` (a Discord role) or ``group:ID`` (a Slack user
  group). The alert pings exactly that; nothing from feed text can ping.
- **Quiet hours.** See :mod:`bot.core.quiet`.

When several subscriptions of one channel want the same event they share one
message: :func:`presentation` says how it looks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.core.models import Format

FORMATS: tuple[Format, ...] = ("full", "compact")
FEED_ONLY = ""
"""The ``watchlist`` of a subscription that gets every item of its feeds."""

ROLE_ID = re.compile(r"\d{15,21}")
GROUP_ID = re.compile(r"S[A-Z0-9]{6,20}")


@dataclass(frozen=True, slots=True)
class MentionKind:
    """What a platform's subscriptions may ping: ``{prefix}:ID``. A chat platform's
    registry entry names its kind (``bot.platforms``); none: no mentions."""

    prefix: str
    """``role`` in ``role:ID``."""
    pattern: re.Pattern[str]
    """What an id looks like."""
    example: str
    """The id, for errors: ``a numeric role id such as 123456789012345678``."""
    what: str
    """The thing, for errors: ``a Discord role``."""


ROLE = MentionKind(
    "role", ROLE_ID, "a numeric role id such as 123456789012345678", "a Discord role"
)
GROUP = MentionKind("group", GROUP_ID, "a user group id such as S0123ABCD", "a Slack user group")


class OptionError(ValueError):
    """A subscription option that cannot be used; the message names it and the fix."""


def check_format(value: str) -> Format:
    v = value.strip().lower()
    if v == "full":
        return "full"
    if v == "compact":
        return "compact"
    raise OptionError(
        f"format: {value!r} is not a format: use full (title, summary, outlets) "
        "or compact (headline, outlets, link)"
    )


def check_mention(value: str, platform: str, kinds: Mapping[str, MentionKind]) -> str:
    """``{kind}:ID`` for ``platform``'s kind of mention (``kinds``: platform → its kind,
    from the registry: Discord ``role:ID``, Slack ``group:ID``), normalised;
    OptionError otherwise.

    Empty means no mention. Only the id's shape is checked here; whether it exists
    is the platform's to say (the chat adapters ask it)."""
    v = value.strip()
    if not v:
        return ""
    want = kinds.get(platform)
    if want is None:
        raise OptionError(f"mention: {platform} alerts cannot mention anyone; remove mention")
    known = {k.prefix: k for k in kinds.values()}
    prefix, sep, ident = v.partition(":")
    prefix = prefix.strip().lower()
    ident = ident.strip()
    if not sep or prefix not in known:
        raise OptionError(
            f"mention: {value!r} is not a mention: write {want.prefix}:ID ({want.example})"
        )
    if prefix != want.prefix:
        raise OptionError(
            f"mention: {value!r} names {known[prefix].what}, but this is a {platform} channel: "
            f"use {want.prefix}:ID ({want.example})"
        )
    if not want.pattern.fullmatch(ident):
        raise OptionError(f"mention: {ident!r} is not {want.example}")
    return f"{prefix}:{ident}"


def mention_id(mention: str) -> str:
    """The id of a ``role:ID`` / ``group:ID`` mention."""
    return mention.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Presentation:
    """How one channel's message about one event looks, and when it may go out."""

    format: Format = "full"
    mentions: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()
    """Quiet-hours specs (``"22:00-07:00@Europe/Belgrade"``); empty when any of the
    subscriptions that want the event has none (it goes out at once)."""


def quiet_spec(quiet: str, timezone: str) -> str:
    """One stored spec for a quiet range and its zone ("" when there is no range)."""
    return f"{quiet}@{timezone or 'UTC'}" if quiet else ""


def split_quiet_spec(spec: str) -> tuple[str, str]:
    quiet, _, zone = spec.partition("@")
    return quiet, zone or "UTC"


def presentation(subs: Iterable[tuple[Format, str, str]]) -> Presentation:
    """One presentation for the subscriptions ((format, mention, quiet spec)) that
    share a message: full when any wants it; every mention; held only while all
    are quiet."""
    formats: set[str] = set()
    mentions: set[str] = set()
    quiet: set[str] = set()
    awake = False
    for fmt, mention, spec in subs:
        formats.add(fmt)
        if mention:
            mentions.add(mention)
        if spec:
            quiet.add(spec)
        else:
            awake = True
    return Presentation(
        format="full" if "full" in formats or not formats else "compact",
        mentions=tuple(sorted(mentions)),
        quiet=() if awake else tuple(sorted(quiet)),
    )
