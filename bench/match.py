"""Benchmark: the watchlist matcher against one regex per term, in the same run.

Stories: the text of every entry of ../shared/corpus/realfeeds (title plus
content or summary, tags stripped crudely), about 3,700 stories.
Terms: the shipped watchlists plus 100 / 1,000 / 10,000 generated terms, half
acronyms (KXR, TB7Q) and half phrases of two or three words taken from the
corpus itself, so the automaton walks many partial matches.
Ours: ``compile_matcher`` once, then ``Matcher.match(title, text)`` per story.
Baseline: one compiled case-insensitive ``\\bform\\b`` regex per form, each run
over title and text of every story. When the baseline would take long it is
measured on an evenly spaced sample of the stories and scaled; the output says so.

Run: ``python bench/match.py`` (``--quick`` for a smoke run with tiny sizes, ``--corpus DIR``
for another folder of feeds).
"""

from __future__ import annotations

import argparse
import html
import random
import re
import resource
import string
import sys
import time
import tracemalloc
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.corpus import CORPUS, require_corpus  # noqa: E402  # needs the path above
from bot.core.matching import compile_matcher  # noqa: E402  (needs the path set above)
from bot.core.models import Term, Watchlist  # noqa: E402
from bot.core.watchlist import parse_watchlist  # noqa: E402

TAG = re.compile(r"<[^>]*>")
WORD = re.compile(r"[A-Za-z]{4,12}")
BASELINE_BUDGET_S = 6.0  # time the baseline may take per size before we sample


def load_stories(corpus: Path, limit: int | None) -> list[tuple[str, str]]:
    stories: list[tuple[str, str]] = []
    for path in sorted(corpus.glob("*.xml")):
        # No sanitising/URI resolution: we only want text, and they dominate parse time.
        parsed = feedparser.parse(str(path), sanitize_html=False, resolve_relative_uris=False)
        for entry in parsed.entries:
            body = entry.get("content", [{}])[0].get("value") or entry.get("summary", "")
            title = html.unescape(TAG.sub(" ", entry.get("title", "")))
            stories.append((title, html.unescape(TAG.sub(" ", body))))
            if limit is not None and len(stories) >= limit:
                return stories
    return stories


def shipped() -> list[Watchlist]:
    paths = sorted((ROOT / "watchlists").glob("*.toml"))
    return [parse_watchlist(p.read_text(encoding="utf-8"), str(p)) for p in paths]


def generated(n: int, vocabulary: list[str], rng: random.Random) -> Watchlist:
    terms = []
    for i in range(n):
        if i % 2:
            letters = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(2, 4)))
            form = letters + (str(rng.randint(0, 9)) if rng.random() < 0.3 else "")
        else:
            form = " ".join(rng.choices(vocabulary, k=rng.randint(2, 3)))
        terms.append(Term(name=f"term {i}", forms=(form,)))
    return Watchlist(name=f"generated {n}", terms=tuple(terms))


def run_ours(
    watchlists: list[Watchlist], stories: list[tuple[str, str]]
) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    matcher = compile_matcher(watchlists)
    build = time.perf_counter() - t0
    hits = 0
    t0 = time.perf_counter()
    for title, text in stories:
        hits += len(matcher.match(title, text))
    return build, time.perf_counter() - t0, hits


def run_baseline(
    watchlists: list[Watchlist], stories: list[tuple[str, str]], budget: float
) -> tuple[float, float, int, int]:
    """Seconds for all stories (scaled if sampled), build time, hits, stories timed."""
    t0 = time.perf_counter()
    patterns = [
        re.compile(r"\b" + re.escape(form) + r"\b", re.IGNORECASE)
        for w in watchlists
        for term in w.terms
        for form in term.forms
    ]
    build = time.perf_counter() - t0
    # Time a few stories first to decide whether the whole set fits the budget.
    step = max(1, len(stories) // 40)
    probe = stories[::step]
    t0 = time.perf_counter()
    for title, text in probe:
        for p in patterns:
            p.findall(title)
            p.findall(text)
    per_story = (time.perf_counter() - t0) / len(probe)
    if per_story * len(stories) <= budget:
        sample = stories
    else:
        count = max(len(probe), int(budget / per_story))
        step = max(1, len(stories) // count)
        sample = stories[::step]
    hits = 0
    t0 = time.perf_counter()
    for title, text in sample:
        for p in patterns:
            hits += len(p.findall(title)) + len(p.findall(text))
    elapsed = time.perf_counter() - t0
    return elapsed * len(stories) / len(sample), build, hits, len(sample)


def peak_build_memory(watchlists: list[Watchlist], stories: list[tuple[str, str]]) -> int:
    """Peak traced bytes while compiling and matching a few stories (untimed)."""
    tracemalloc.start()
    matcher = compile_matcher(watchlists)
    for title, text in stories[:200]:
        matcher.match(title, text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.xml feeds")
    args = parser.parse_args()
    require_corpus(args.corpus, "match.py")
    sizes = [10, 30] if args.quick else [100, 1_000, 10_000]
    stories = load_stories(args.corpus, 60 if args.quick else None)
    budget = 0.5 if args.quick else BASELINE_BUDGET_S
    chars = sum(len(t) + len(x) for t, x in stories)
    rng = random.Random(20261125)
    vocabulary = sorted({w.lower() for _, x in stories[:400] for w in WORD.findall(x)})
    base = shipped()
    print(
        f"{len(stories)} stories, {chars / 1e6:.1f} M characters; Python {sys.version.split()[0]}"
    )
    print(
        f"{'terms':>7} {'build ours':>10} {'build base':>10} {'ours stories/s':>15} "
        f"{'baseline stories/s':>19} {'ratio':>7} {'ours hits':>9} {'peak MB':>8}  note"
    )
    first: float | None = None
    growth = []
    for n in sizes:
        watchlists = [*base, generated(n, vocabulary, rng)]
        build, ours, hits = run_ours(watchlists, stories)
        theirs, base_build, _, timed = run_baseline(watchlists, stories, budget)
        peak = peak_build_memory(watchlists, stories)
        note = "" if timed == len(stories) else f"baseline timed on {timed} stories, scaled"
        print(
            f"{n:>7} {build:>9.3f}s {base_build:>9.3f}s {len(stories) / ours:>15.0f} "
            f"{len(stories) / theirs:>19.1f} {theirs / ours:>6.1f}x {hits:>9} {peak / 1e6:>8.1f}  "
            f"{note}"
        )
        first = first or ours
        growth.append(f"{n}: {ours / first:.2f}x")
    print(f"ours, time relative to {sizes[0]} terms: " + ", ".join(growth))
    print(
        f"terms grow {sizes[-1] // sizes[0]}x; ratio = baseline time / ours; peak MB = "
        "tracemalloc peak while compiling and matching 200 stories"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MB (includes the parsed corpus)")


if __name__ == "__main__":
    main()
