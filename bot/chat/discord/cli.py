"""``alertbot discord commands [--json]`` and ``alertbot discord sync [--guild ID]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import discord

from bot.chat.discord.client import DiscordBot, SyncResult, command_payload, payload_hash
from bot.config import Config, ConfigError, load_config, parse_config
from bot.service import Service


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``discord`` and its subcommands to the ``alertbot`` parser."""
    p = sub.add_parser(
        "discord",
        help="Discord slash commands: print or push the command tree",
        description="Print the slash-command tree, or push it to Discord.",
    )
    dsub = p.add_subparsers(dest="discord_command", metavar="COMMAND", required=True)
    c = dsub.add_parser(
        "commands",
        help="print the slash-command tree that would be synced",
        description="Print the slash-command tree that `alertbot discord sync` pushes.",
    )
    c.add_argument("--json", action="store_true", help="print the JSON Discord receives")
    c.set_defaults(func=cmd_commands)
    s = dsub.add_parser(
        "sync",
        help="push the command tree to Discord (only when it changed)",
        description=(
            "Push the slash-command tree. Without --guild it goes to the servers in "
            "[discord] guilds of the config (instant), else globally (Discord may take "
            "up to an hour to show global changes). Needs DISCORD_TOKEN."
        ),
    )
    s.add_argument(
        "--guild", metavar="ID", help="push to this server only (its id; shows up at once)"
    )
    s.add_argument(
        "--force", action="store_true", help="push even when the stored hash says it is unchanged"
    )
    s.set_defaults(func=cmd_sync)


def _usage(cmd: dict[str, Any], prefix: str = "") -> list[str]:
    name = f"{prefix}{cmd['name']}"
    options = cmd.get("options", [])
    if options and all(o["type"] in (1, 2) for o in options):
        return [line for o in options for line in _usage(o, name + " ")]
    params = " ".join(o["name"] if o.get("required") else f"[{o['name']}]" for o in options)
    return [f"/{name} {params}".rstrip() + f" — {cmd['description']}"]


def cmd_commands(args: argparse.Namespace) -> int:
    # Printing the tree needs no config, token or database.
    config = parse_config({}, Path(getattr(args, "config", "config/alertbot.toml")), env={})
    bot = DiscordBot(config, None)
    payload = command_payload(bot.tree)
    if args.json:
        json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for cmd in payload:
        for line in _usage(cmd):
            print(line)
    print(f"\n{len(payload)} top-level commands; tree sha256 {payload_hash(payload)[:12]}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    if not config.secrets.discord_token:
        print(
            "DISCORD_TOKEN is not set: copy the bot token from the Developer Portal → "
            "your application → Bot, then export DISCORD_TOKEN=…",
            file=sys.stderr,
        )
        return 2
    if args.guild is not None and not args.guild.isdigit():
        print(f"--guild {args.guild!r}: expected a server id (digits)", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(_sync(config, args.guild, args.force))
    except discord.Forbidden as e:
        print(
            f"Discord refused the sync ({e.status} {e.text}): invite the bot to that server "
            "with the applications.commands scope (see 'Run on Discord' in README.md)",
            file=sys.stderr,
        )
        return 1
    except (discord.HTTPException, aiohttp.ClientError, RuntimeError) as e:
        print(f"sync failed: {e}", file=sys.stderr)
        return 1
    for r in results:
        where = "globally" if r.target == "global" else f"to server {r.target}"
        if r.pushed:
            print(f"pushed {r.commands} commands {where} (tree sha256 {r.sha256[:12]})")
        else:
            print(
                f"unchanged {where}: {r.commands} commands (tree sha256 {r.sha256[:12]}); "
                "--force pushes anyway"
            )
    return 0


async def _sync(config: Config, guild: str | None, force: bool) -> list[SyncResult]:
    service = await Service.open(config)
    bot = DiscordBot(config, service)
    try:
        await bot.start()
        return await bot.sync_commands(guild=guild, force=force)
    finally:
        await bot.close()
        await service.close()
