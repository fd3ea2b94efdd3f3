"""``alertbot slack manifest``: the Slack app manifest a new user pastes into Slack.

The manifest is built by :func:`build_manifest` (pure) and kept in
``config/slack-manifest.json`` (Socket Mode, the default command); a test fails
when that file and this code drift apart.

Bot scopes, each for a reason:

* ``commands``: the ``/alertbot`` slash command.
* ``chat:write``: post alerts, edit them when a cluster grows (``chat.update``),
  and reply ephemerally.
* ``chat:write.public``: post into public channels without being invited first,
  so ``/alertbot subscribe`` just works there (private channels still need
  ``/invite``; without it delivery pauses with ``not_in_channel``).
* ``users:read``: ``users.info`` tells whether the asker is a workspace admin or
  owner, who may edit watchlists and feeds.
* ``usergroups:read``: ``usergroups.list`` / ``usergroups.users.list`` for the user
  groups named in ``[slack]`` (admin_groups, manager_groups).
* ``channels:history``, ``groups:history``: ``conversations.history`` in public and
  private channels, to find an alert that was posted just before a crash so it is
  not posted twice. The bot reads only its own messages' metadata, at most one
  call (or a few pages) per channel per recovery.
* ``files:write``: ``/alertbot feeds export`` uploads the OPML file into the
  channel it was asked in (``files.getUploadURLExternal`` and
  ``files.completeUploadExternal``).

Not requested: ``channels:read`` (channels are shown as ``<#C…>`` references,
which Slack resolves in the client), ``im:history``/``mpim:history`` (alerts go to
channels only) and any scope to read messages as they arrive.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.chat.slack import config as slack_config
from bot.chat.slack.config import SlackConfig
from bot.config import ConfigError, load_config

BOT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "usergroups:read",
    "channels:history",
    "groups:history",
    "files:write",
)
MANIFEST_FILE = Path(__file__).resolve().parents[3] / "config" / "slack-manifest.json"
USAGE_HINT = 'subscribe KFOR digest · lookup "Skydagger" since:7d · help'


def build_manifest(
    *,
    command: str = "/alertbot",
    mode: str = "socket",
    request_url: str = "",
    name: str = "alertbot",
) -> dict[str, Any]:
    """The app manifest: Socket Mode, or HTTP with ``request_url`` for commands and events."""
    if mode not in ("socket", "http"):
        raise ValueError(f"mode must be socket or http, not {mode!r}")
    if mode == "http" and not request_url.startswith("https://"):
        raise ValueError(
            "HTTP mode needs --request-url https://your.host/slack/events "
            "(Slack only calls https URLs)"
        )
    slash: dict[str, Any] = {
        "command": command,
        "description": "Watchlist alerts: subscribe, look up stories, edit watchlists",
        "usage_hint": USAGE_HINT,
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": ["app_home_opened"]}
    # Interactivity: the Previous / Next buttons under a lookup answer.
    interactivity: dict[str, Any] = {"is_enabled": True}
    if mode == "http":
        slash["url"] = request_url
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": (
                "Posts news that touches your watchlists, with every outlet that ran it."
            ),
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": False,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": mode == "socket",
            "token_rotation_enabled": False,
        },
    }


def manifest_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def _manifest(args: argparse.Namespace) -> int:
    path = Path(args.config)
    slack = SlackConfig()
    if path.exists():
        try:
            slack = slack_config.of(load_config(path))
        except ConfigError as e:
            print(e, file=sys.stderr)
            return 1
    else:
        # A new user makes the Slack app before writing a config: defaults are fine.
        print(f"note: {path} not found; using the default command {slack.command}", file=sys.stderr)
    try:
        manifest = build_manifest(
            command=slack.command, mode=args.mode, request_url=args.request_url, name=args.name
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(manifest_json(manifest))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``alertbot slack …`` to the main parser."""
    slack = sub.add_parser("slack", help="Slack app helpers", description="Slack app helpers.")
    slack_sub = slack.add_subparsers(dest="slack_command", metavar="COMMAND", required=True)
    man = slack_sub.add_parser(
        "manifest",
        help="print the Slack app manifest (slash command, scopes, App Home)",
        description=(
            "Print a Slack app manifest as JSON. Paste it at api.slack.com/apps → "
            "Create New App → From an app manifest."
        ),
    )
    man.add_argument(
        "--mode",
        choices=("socket", "http"),
        default="socket",
        help="socket: no public URL needed (default); http: Slack calls --request-url",
    )
    man.add_argument(
        "--request-url",
        default="",
        metavar="URL",
        help="public https URL of the bot's [slack] http_path, for --mode http",
    )
    man.add_argument("--name", default="alertbot", help="app and bot user name (default alertbot)")
    man.set_defaults(func=_manifest)
