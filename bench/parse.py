"""Benchmark: our ``parse_feed`` against plain ``feedparser.parse`` on real feeds.

Parses every file of ``../shared/corpus/realfeeds`` (or ``--corpus DIR``) with
both, in the same run, and prints files/s and entries/s for each, the ratio, the
number of files whose entries differ (entry count, ids, titles, links, published;
after the intended normalisation of ``bot.feeds.parse``: links resolved and
canonicalised, titles as plain text) and memory: the ``tracemalloc`` peak of one
parse of the largest file with each parser, and the process's peak RSS.

    python bench/parse.py            # the whole corpus
    python bench/parse.py --quick    # three files: a smoke test, run by the tests
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the three smallest files (smoke test)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.xml feeds")
    args = ap.parse_args(argv)
    require_corpus(args.corpus, "parse.py")
    files = corpus_files(args.corpus, args.quick)
    bodies = [(p.name, p.read_bytes()) for p in files]
    size = sum(len(b) for _, b in bodies)

    t0 = time.perf_counter()
    theirs = [feedparser.parse(io.BytesIO(body)) for _, body in bodies]
    fp_time = time.perf_counter() - t0

    # What parse_feed runs inside (sanitiser and URI resolution off): the difference
    # from parse_feed's time is our own work (html_to_text, ids, URLs, dates).
    t0 = time.perf_counter()
    for _, body in bodies:
        feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    inner_time = time.perf_counter() - t0

    ours: list[ParsedFeed | None] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    for name, body in bodies:
        try:
            ours.append(parse_feed(body, FEED_URL.format(name=name)))
        except ParseError as exc:
            ours.append(None)
            errors.append(str(exc))
    our_time = time.perf_counter() - t0
    # Memory apart from timing (tracemalloc slows Python code down several times):
    # the peak of one parse of the largest file, for each parser.
    name, largest = max(bodies, key=lambda b: len(b[1]))
    fp_peak = peak_bytes(lambda: feedparser.parse(io.BytesIO(largest)))
    our_peak = peak_bytes(lambda: parse_feed(largest, FEED_URL.format(name=name)))

    fp_entries = sum(len(r.entries) for r in theirs)
    our_entries = sum(len(r.stories) for r in ours if r is not None)
    by_field: Counter[str] = Counter()
    differing = 0
    for (name, _), mine, theirs_one in zip(bodies, ours, theirs, strict=True):
        diff = differences(mine, theirs_one, FEED_URL.format(name=name))
        by_field.update(diff)
        differing += bool(diff)
    n = len(bodies)
    print(f"corpus: {n} files, {size / 1e6:.1f} MB, {args.corpus}")
    print(
        f"feedparser.parse (defaults): {fp_time:.2f} s, {n / fp_time:.1f} files/s, "
        f"{fp_entries / fp_time:.0f} entries/s, {fp_entries} entries, "
        f"peak {fp_peak / 2**20:.1f} MiB on the largest file"
    )
    print(
        f"parse_feed:                  {our_time:.2f} s, {n / our_time:.1f} files/s, "
        f"{our_entries / our_time:.0f} stories/s, {our_entries} stories, "
        f"peak {our_peak / 2**20:.1f} MiB on the largest file"
    )
    print(
        f"feedparser.parse (sanitize_html=False, resolve_relative_uris=False): {inner_time:.2f} s"
    )
    print(f"ratio parse_feed / feedparser time: {our_time / fp_time:.2f}x")
    print(
        f"our work on top of feedparser: {our_time - inner_time:.2f} s "
        f"({(our_time - inner_time) / inner_time:.0%} of the inner feedparser run)"
    )
    print(f"ParseError: {len(errors)}" + "".join(f"\n  {e}" for e in errors))
    fields = ", ".join(f"{k} {v}" for k, v in sorted(by_field.items())) or "none"
    print(f"files whose entries differ from feedparser's: {differing} ({fields})")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
