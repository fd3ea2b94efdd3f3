"""The console sink: alerts printed to a stream (stdout by default).

Human mode prints a readable block per alert; ``json`` mode prints one JSON
object per line per delivery (``{"action": "post"|"edit", "channel", ...}``),
a contract scripts rely on.

A terminal cannot be read back: :meth:`ConsoleSender.find_posted` always answers
``{}``, so an alert printed just before a crash is printed again after it.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Collection
from datetime import datetime
from typing import TextIO

from bot.core.models import Alert, Platform
from bot.core.render import alert_json, render_console, render_digest_console


class ConsoleSender:
    platform: Platform = "console"

    def __init__(
        self, *, json_lines: bool = False, color: bool | None = None, out: TextIO | None = None
    ):
        self.out = out or sys.stdout
        self.json_lines = json_lines
        self.color = self.out.isatty() if color is None else color
        self._ids = itertools.count(1)

    def _emit(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def _json(self, alert: Alert, action: str, channel: str, **extra: object) -> None:
        doc = alert_json(alert, action=action, channel=channel)
        doc.update(extra)
        self._emit(json.dumps(doc, ensure_ascii=False))

    async def post(self, channel: str, alert: Alert, *, key: str) -> str:
        ref = f"console-{next(self._ids)}"
        if self.json_lines:
            self._json(alert, "post", channel)
        else:
            self._emit(render_console(alert, action="post", channel=channel, color=self.color))
        return ref

    async def edit(self, channel: str, ref: str, alert: Alert) -> str:
        if self.json_lines:
            self._json(alert, "edit", channel)
        else:
            self._emit(render_console(alert, action="edit", channel=channel, color=self.color))
        return ref

    async def post_digest(self, channel: str, alerts: list[Alert], *, key: str) -> str:
        ref = f"console-{next(self._ids)}"
        if self.json_lines:
            for alert in alerts:
                self._json(alert, "post", channel, digest=True)
        else:
            self._emit(render_digest_console(alerts, channel=channel))
        return ref

    async def post_notice(self, channel: str, text: str, *, key: str) -> str:
        ref = f"console-{next(self._ids)}"
        if self.json_lines:
            doc = {"action": "notice", "channel": channel, "text": text}
            self._emit(json.dumps(doc, ensure_ascii=False))
        else:
            self._emit(f"[{channel}] notice: {text}\n")
        return ref

    def digest_fit(self, alerts: list[Alert]) -> int:
        return max(1, len(alerts))  # a terminal has no message size limit

    def permalink(self, channel: str, ref: str, place: str | None = None) -> str | None:
        return None

    def place(self, channel: str) -> str | None:
        return None

    async def find_posted(
        self, channel: str, keys: Collection[str], since: datetime
    ) -> dict[str, str]:
        """Always ``{}``: what was written to the stream cannot be read back (the
        console's limit), so after a crash the deliverer prints such alerts again."""
        return {}
