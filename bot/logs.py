"""Log output: dated text lines for people, or one JSON object per line for collectors.

``setup(...)`` installs one handler on the root logger and replaces the one it
installed before, so the command line can be run again in one process (tests
do) and a later call never doubles the lines.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
TEXT_DATES = "%Y-%m-%d %H:%M:%S"

NOISY = ("aiosqlite", "asyncpg", "discord", "slack_bolt", "slack_sdk", "trafilatura", "htmldate")
"""Libraries whose chatter stays out of the operator's way unless asked for."""

# The fields every LogRecord has; anything else was passed with ``extra=`` and is
# printed as a field of its own in JSON lines.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, then any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class _NoVoiceWarnings(logging.Filter):
    """discord.py warns at every start that voice needs PyNaCl and davey; the bot has no voice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "voice will NOT be supported" not in record.getMessage()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so a later ``setup`` can find and replace it."""


def setup(
    level: str = "INFO", *, quiet: bool = False, fmt: str = "text", stream: TextIO | None = None
) -> None:
    """Send log records to ``stream`` (default: the current ``sys.stderr``)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(h)
    handler = _Handler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, TEXT_DATES))
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else getattr(logging, level, logging.INFO))
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    voice = logging.getLogger("discord.client")
    if not any(isinstance(f, _NoVoiceWarnings) for f in voice.filters):
        voice.addFilter(_NoVoiceWarnings())
