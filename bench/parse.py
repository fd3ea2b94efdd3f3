"""Benchmark: our ``parse_feed`` against plain ``feedparser.parse`` on real feeds.

Parses every file of ``../shared/corpus/realfeeds`` and ``realfeeds-more`` (or each
``--corpus DIR``) with both, in the same run, and prints CPU seconds (process time, so
other work on the machine counts less), files/s and entries/s for each, the speed-up,
the files whose entries differ (entry count, ids, titles, links, published; after the
intended normalisation of ``bot.feeds.parse``: links resolved and canonicalised,
titles as plain text), named, and memory: the ``tracemalloc`` peak of one parse of
the largest file with each parser, and the process's peak RSS. ``--all`` also runs
``parse_feed`` over every file of every folder of the corpus and counts exceptions
other than ``ParseError`` (there must be none).

    python bench/parse.py --all      # both folders, then every file of the corpus
    python bench/parse.py --quick    # three files a folder: a smoke test, run by the tests
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import CORPUS, require_corpus  # needs the path above
from bot.core.text import canonical_url, html_to_text, one_line  # imported after the sys.path line
from bot.feeds.parse import ParsedFeed, ParseError, parse_feed  # imported after the sys.path line

FEED_URL = "https://feeds.example.org/{name}"
"""Every file is parsed as if fetched from here (relative links resolve against it)."""


def corpus_files(folder: Path, quick: bool) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix == ".xml")
    return sorted(files, key=lambda p: p.stat().st_size)[:3] if quick else files


def fp_title(entry: Any) -> str:
    detail = entry.get("title_detail") or {}
    value = entry.get("title") or ""
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return one_line(html_to_text(value, limit=500))
    return one_line(value)


def fp_published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = dict.get(entry, key)  # no DeprecationWarning fallback of FeedParserDict
        if t and t.tm_year >= 1990:
            return datetime(t[0], t[1], t[2], t[3], t[4], min(t[5], 59), tzinfo=UTC)
    return None


def comparable(entries: list[Any]) -> list[Any]:
    """feedparser's entries less the ones ``parse_feed`` skips on purpose: repeats
    of an id already seen in the feed, and entries with no title, text, link or id."""
    seen: set[str] = set()
    kept = []
    for entry in entries:
        guid = (entry.get("id") or "").strip()
        if guid in seen:
            continue
        if not (guid or entry.get("title") or entry.get("link") or entry.get("summary")):
            continue
        if guid:
            seen.add(guid)
        kept.append(entry)
    return kept


def differences(ours: ParsedFeed | None, theirs: Any, feed_url: str) -> Counter[str]:
    """Which fields of this file disagree (each field counted once per file).

    Intended differences are normalised away first: relative links and permalink
    guids resolved against the feed URL, links canonicalised, titles as plain text,
    repeated and empty entries skipped (see ``bot.feeds.parse``).
    """
    diff: Counter[str] = Counter()
    stories = ours.stories if ours is not None else []
    entries = comparable(theirs.entries)
    if len(stories) != len(entries):
        diff["count"] += 1
    for story, entry in zip(stories, entries, strict=False):
        guid = (entry.get("id") or "").strip()
        if guid and story.id not in (guid, urljoin(feed_url, guid)):
            diff["id"] += 1
        if story.title != fp_title(entry)[:500]:
            diff["title"] += 1
        link = entry.get("link") or ""
        if story.url != (canonical_url(urljoin(feed_url, link)) if link else ""):
            diff["link"] += 1
        if story.published != fp_published(entry):
            diff["published"] += 1
    return Counter({k: 1 for k in diff})


def peak_bytes(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_folder(folder: Path, quick: bool) -> tuple[float, float, list[str]]:
    """Parse one folder with both parsers; print its lines; return both CPU times and
    the names of the files whose entries differ."""
    files = corpus_files(folder, quick)
    bodies = [(p.name, p.read_bytes()) for p in files]
    size = sum(len(b) for _, b in bodies)

    c0 = time.process_time()
    theirs = [feedparser.parse(io.BytesIO(body)) for _, body in bodies]
    fp_time = time.process_time() - c0

    ours: list[ParsedFeed | None] = []
    errors: list[str] = []
    c0 = time.process_time()
    for name, body in bodies:
        try:
            ours.append(parse_feed(body, FEED_URL.format(name=name)))
        except ParseError as exc:
            ours.append(None)
            errors.append(str(exc))
    our_time = time.process_time() - c0
    # Memory apart from timing (tracemalloc slows Python code down several times):
    # the peak of one parse of the largest file, for each parser.
    name, largest = max(bodies, key=lambda b: len(b[1]))
    fp_peak = peak_bytes(lambda: feedparser.parse(io.BytesIO(largest)))
    our_peak = peak_bytes(lambda: parse_feed(largest, FEED_URL.format(name=name)))

    fp_entries = sum(len(r.entries) for r in theirs)
    our_entries = sum(len(r.stories) for r in ours if r is not None)
    differing: list[str] = []
    for (name, _), mine, theirs_one in zip(bodies, ours, theirs, strict=True):
        diff = differences(mine, theirs_one, FEED_URL.format(name=name))
        if diff:
            differing.append(f"{folder.name}/{name} ({', '.join(sorted(diff))})")
    n = len(bodies)
    print(f"corpus: {n} files, {size / 1e6:.1f} MB, {folder}")
    print(
        f"  feedparser.parse (defaults): {fp_time:.2f} s CPU, {n / fp_time:.1f} files/s, "
        f"{fp_entries / fp_time:.0f} entries/s, {fp_entries} entries, "
        f"peak {fp_peak / 2**20:.1f} MiB on the largest file"
    )
    print(
        f"  parse_feed:                  {our_time:.2f} s CPU, {n / our_time:.1f} files/s, "
        f"{our_entries / our_time:.0f} stories/s, {our_entries} stories, "
        f"peak {our_peak / 2**20:.1f} MiB on the largest file"
    )
    print(f"  speed-up (feedparser CPU / parse_feed CPU): {fp_time / our_time:.1f}x")
    print(f"  ParseError: {len(errors)}" + "".join(f"\n    {e}" for e in errors))
    print(
        f"  files whose entries differ from feedparser's: {len(differing)}"
        + "".join(f"\n    {d}" for d in differing)
    )
    return fp_time, our_time, differing


def every_file(root: Path) -> tuple[int, int, list[str]]:
    """parse_feed over every file under ``root``: (files, ParseErrors, other exceptions)."""
    files = errors = 0
    crashes: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name in ("LICENSE", "README.md", "INDEX.tsv"):
            continue
        files += 1
        try:
            parse_feed(path.read_bytes(), FEED_URL.format(name=path.name))
        except ParseError:
            errors += 1
        except Exception as exc:  # what this check is for: nothing but ParseError escapes
            crashes.append(f"{path.relative_to(root)}: {type(exc).__name__}: {exc}")
    return files, errors, crashes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the three smallest files (smoke test)")
    ap.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="folder of *.xml feeds (repeatable; default: realfeeds and realfeeds-more)",
    )
    ap.add_argument(
        "--all",
        action="store_true",
        help="also run parse_feed over every file of every folder beside the corpus and "
        "count exceptions other than ParseError",
    )
    args = ap.parse_args(argv)
    folders = args.corpus or [CORPUS, CORPUS.parent / "realfeeds-more"]
    for folder in folders:
        require_corpus(folder, "parse.py")
    fp_total = our_total = 0.0
    differing: list[str] = []
    for folder in folders:
        fp_time, our_time, diff = run_folder(folder, args.quick)
        fp_total += fp_time
        our_total += our_time
        differing += diff
    print(
        f"all folders: feedparser {fp_total:.2f} s CPU, parse_feed {our_total:.2f} s CPU, "
        f"speed-up {fp_total / our_total:.1f}x, {len(differing)} files differ"
    )
    if args.all:
        root = folders[0].parent
        files, errors, crashes = every_file(root)
        print(
            f"every file under {root}: {files} files, {errors} ParseError, "
            f"{len(crashes)} other exceptions" + "".join(f"\n  {c}" for c in crashes)
        )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
