"""Why a watchlist did not fire on a story that names one of its terms.

The rule: match the story again with relaxed copies of the watchlists — first
without ``require``, then also without the watchlist-level ``exclude``. A
watchlist that fires only without its ``exclude`` was stopped by an excluded
phrase (named when it is found in the folded text); one that fires without
``require`` lacked a required term (named). Term-level exclusions are kept in
both copies, so a hit inside an excluded phrase is never reported as a miss.

Known misses: an excluded phrase that the matcher found across a line break
may not be named (the reason is still given), and the explanation covers one
story at a time, not clustering or backfill, which decide later whether an
alert is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from bot.core.fold import fold, fold_form
from bot.core.matching import compile_matcher
from bot.core.models import Watchlist


class MissExplainer:
    """Built once per set of watchlists; ``why_not`` per story."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        ws = list(watchlists)
        self._by_name = {w.name: w for w in ws}
        self._no_require = compile_matcher(dataclasses.replace(w, require=()) for w in ws)
        self._bare = compile_matcher(dataclasses.replace(w, require=(), exclude=()) for w in ws)

    def why_not(self, title: str, text: str, fired: Iterable[str]) -> dict[str, str]:
        """Watchlist name → reason, for watchlists whose terms occur but did not fire."""
        done = set(fired)
        bare = self._bare.match(title, text)
        missed = sorted({m.watchlist for m in bare} - done)
        if not missed:
            return {}
        without_require = {m.watchlist for m in self._no_require.match(title, text)}
        folded = fold(title).text + "\n" + fold(text).text
        reasons: dict[str, str] = {}
        for name in missed:
            w = self._by_name[name]
            if name not in without_require:
                found = [p for p in w.exclude if fold_form(p) in folded]
                which = f": {', '.join(repr(p) for p in found)}" if found else ""
                reasons[name] = f"the story contains a phrase this watchlist excludes{which}"
                continue
            hit = {m.term for m in bare if m.watchlist == name}
            missing = [t for t in w.require if t not in hit]
            reasons[name] = (
                f"it also needs {', '.join(missing)}"
                if missing
                else "its required terms are missing"
            )
        return reasons
