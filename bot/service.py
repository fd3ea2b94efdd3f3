"""The commands people run, platform-neutral.

Every chat adapter (Discord, Slack) and the CLI call these methods. Adapters
only parse arguments, build a :class:`Caller` from the platform's own view of
who is asking, and render the result. Permission checks happen here, never in
the adapters: the platform's hints are inputs, not verdicts.

Errors a user can fix raise :class:`CommandError` with a message that says what
is wrong and how to fix it; adapters show it ephemerally.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import Mode, Platform


class CommandError(Exception):
    """A command could not run; ``str(err)`` is meant for the user."""


class PermissionDenied(CommandError):
    """The caller lacks the permission the command needs; the message names it."""


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


@dataclass(frozen=True, slots=True)
class HelpEntry:
    usage: str
    does: str
    example: str
    who: str  # "anyone" | "channel managers" | "admins"


# The Service class (bot/service.py) offers exactly these coroutine methods;
# chat adapters call them and render the results:
#
#   subscribe(caller, watchlist, mode="realtime") -> Subscription
#   unsubscribe(caller, watchlist) -> Subscription          (the removed one)
#   subscriptions(caller) -> list[Subscription]              (this channel's)
#   lookup(caller, query, since=None, watchlist=None, limit=10) -> list[StoryHit]
#       since: a duration string such as "7d" (CommandError if malformed)
#   watchlists() -> list[Watchlist]
#   watchlist(name) -> Watchlist                             (CommandError if unknown)
#   watchlist_names() -> list[str]                           (autocomplete)
#   watchlist_create(caller, name, description="") -> Watchlist
#   watchlist_delete(caller, name) -> None
#   watchlist_add_term(caller, watchlist, term, forms=(), case="auto") -> Watchlist
#   watchlist_remove_term(caller, watchlist, term) -> Watchlist
#   watchlist_add_form(caller, watchlist, term, form) -> Watchlist
#   watchlist_remove_form(caller, watchlist, term, form) -> Watchlist
#   feeds() -> list[FeedStatus]
#   feed_urls() -> list[str]                                 (autocomplete)
#   feed_add(caller, url) -> FeedStatus                      (public http/https only)
#   feed_remove(caller, url) -> None
#   help() -> list[HelpEntry]                                (sync)
