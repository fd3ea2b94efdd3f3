"""Clustering benchmark: threshold sweep on the labelled set, and speed.

    .venv/bin/python bench/cluster.py [--corpus DIR] [--files N]

1. Precision / recall / F1 of ``similarity(fingerprint(a), fingerprint(b)) >= t`` on
   ``tests/data/clusters.tsv`` for a sweep of thresholds, overall and split into real
   cross-outlet pairs and synthetic variants (syndicated, retitled, boilerplate).
2. Fingerprint speed over every story of the real-feed corpus (title + text), against a
   baseline measured in the same run: building the feature sets alone.
3. Candidate lookup: each story against all earlier ones, through an in-memory LSH band
   index (what the store does with SQL) versus a full scan; the ratio, and how many of
   the full scan's matches at the default threshold the index finds.
Peak memory is measured with tracemalloc.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.cluster import (  # noqa: E402  # the repo root must be on sys.path first
    DEFAULT_THRESHOLD,
    bands,
    features,
    fingerprint,
    similarity,
)

DATA = ROOT / "tests" / "data" / "clusters.tsv"
CORPUS = ROOT.parent / "shared" / "corpus" / "realfeeds"


def load_pairs(
    path: Path = DATA,
) -> tuple[dict[str, tuple[str, str]], list[tuple[int, str, str, str]]]:
    stories: dict[str, tuple[str, str]] = {}
    pairs: list[tuple[int, str, str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cells[0] == "S":
            stories[cells[1]] = (cells[4], cells[5])
        elif cells[0] == "P":
            pairs.append((int(cells[1]), cells[2], cells[3], cells[4]))
    return stories, pairs


def sweep() -> None:
    stories, pairs = load_pairs()
    fps = {sid: fingerprint(title, text) for sid, (title, text) in stories.items()}
    scored = [(label, kind, similarity(fps[a], fps[b])) for label, kind, a, b in pairs]
    pos = sum(1 for s in scored if s[0])
    print(f"labelled set: {len(stories)} stories, {pos} positive, {len(scored) - pos} negative")
    print("threshold  precision  recall     F1  | recall real  synthetic | false merges")
    for t in sorted({x / 100 for x in range(10, 72, 4)} | {DEFAULT_THRESHOLD}):
        tp = sum(1 for label, _, s in scored if label and s >= t)
        fp = sum(1 for label, _, s in scored if not label and s >= t)
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / pos
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        real = [s for label, kind, s in scored if kind == "real"]
        syn = [s for label, kind, s in scored if label and kind != "real"]
        rr = sum(1 for s in real if s >= t) / len(real)
        rs = sum(1 for s in syn if s >= t) / len(syn)
        mark = "  <- default" if t == DEFAULT_THRESHOLD else ""
        print(
            f"   {t:.2f}      {p:.3f}    {r:.3f}  {f1:.3f}  |"
            f"    {rr:.3f}     {rs:.3f}  | {fp:3d}{mark}"
        )


def corpus_stories(corpus: Path, files: int | None) -> list[tuple[str, str]]:
    import feedparser  # a dev dependency of the bench only; bot.core never imports it

    out = []
    for path in sorted(corpus.glob("*.xml"))[:files]:
        for e in feedparser.parse(str(path)).entries:
            body = e["content"][0].get("value", "") if e.get("content") else ""
            body = body or e.get("summary", "")
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
            out.append((e.get("title", ""), text))
    return out


def speed(stories: list[tuple[str, str]], scan_limit: int) -> None:
    n = len(stories)
    t0 = time.perf_counter()
    for title, text in stories:
        features(title, text)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    fps = [fingerprint(title, text) for title, text in stories]
    t_fp = time.perf_counter() - t0
    print(f"\nfingerprints: {n} stories")
    print(f"  baseline (feature sets only): {n / t_base:10.0f} stories/s")
    print(
        f"  fingerprint (features+MinHash): {n / t_fp:8.0f} stories/s  ratio {t_fp / t_base:.2f}x"
    )

    # The full scan is quadratic: both lookups run on the first ``scan_limit`` stories.
    fps = fps[:scan_limit]
    n = len(fps)
    t0 = time.perf_counter()
    scan_hits = 0
    scan_pairs: set[tuple[int, int]] = set()
    for i, fp in enumerate(fps):
        for j in range(i):
            if similarity(fp, fps[j]) >= DEFAULT_THRESHOLD:
                scan_hits += 1
                scan_pairs.add((j, i))
    t_scan = time.perf_counter() - t0

    t0 = time.perf_counter()
    index: dict[int, list[int]] = defaultdict(list)
    found: set[tuple[int, int]] = set()
    compared = 0
    for i, fp in enumerate(fps):
        keys = bands(fp)
        candidates = {j for k in keys for j in index.get(k, ())}
        compared += len(candidates)
        for j in candidates:
            if similarity(fp, fps[j]) >= DEFAULT_THRESHOLD:
                found.add((j, i))
        for k in keys:
            index[k].append(i)
    t_lsh = time.perf_counter() - t0
    total = n * (n - 1) // 2
    print(f"candidate lookup: each story against all earlier ones ({total} pairs)")
    print(f"  baseline full scan:  {t_scan:7.3f} s, {scan_hits} pairs ≥ {DEFAULT_THRESHOLD}")
    print(
        f"  LSH band index:      {t_lsh:7.3f} s, compared {compared} pairs, "
        f"ratio {t_lsh / t_scan:.3f}x, found {len(found & scan_pairs)}/{len(scan_pairs)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--files", type=int, default=None, help="only the first N feed files")
    ap.add_argument("--scan", type=int, default=1500, help="stories in the lookup comparison")
    args = ap.parse_args()
    sweep()
    if not args.corpus.is_dir():
        print(f"\n{args.corpus} not found: speed part skipped")
        return
    stories = corpus_stories(args.corpus, args.files)
    if not stories:
        print("\nno stories in the chosen feed files: speed part skipped")
        return
    speed(stories, args.scan)
    # Memory is measured in a separate pass: tracemalloc slows allocation-heavy code ~8x
    # and would distort the timings above.
    tracemalloc.start()
    fps = [fingerprint(title, text) for title, text in stories]
    index: dict[int, list[int]] = defaultdict(list)
    for i, fp in enumerate(fps):
        for k in bands(fp):
            index[k].append(i)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\npeak memory (tracemalloc) fingerprinting {len(fps)} stories and indexing "
        f"{len(index)} band keys: {peak / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
