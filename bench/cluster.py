"""Clustering benchmark: threshold sweep on the labelled set, and speed.

    .venv/bin/python bench/cluster.py [--corpus DIR] [--files N] [--scan N] [--show]

1. Precision / recall / F1 of the pipeline's decision on ``tests/data/clusters.tsv`` for a
   sweep of thresholds: the earlier story of a pair is a candidate when it shares a band
   key with the later one, and ``choose_cluster`` (publication gap, same feed, threshold)
   says whether they join; overall and split into real cross-outlet pairs and synthetic
   variants (syndicated, retitled, boilerplate). The baseline, measured in the same run,
   is the first rule: Jaccard of the unstemmed title+lead words >= 0.3, no time rule.
2. Fingerprint speed over every story of the real-feed corpus (title + text), against a
   baseline measured in the same run: building the feature sets alone.
3. Candidate lookup: each story against all earlier ones, through an in-memory LSH band
   index (what the store does with SQL) versus a full scan; the ratio, and how many of
   the full scan's matches at the default threshold the index finds.
4. The whole corpus run through the pipeline's decision in publication order (band
   index, then ``choose_cluster`` at the default threshold and window): how many
   stories join an earlier story of another feed, and of those, how many are labelled
   positive pairs of the set. The rest is unlabelled; ``--show`` lists them to read
   (the way the ``added`` pairs of the set were found).
Peak memory is measured with tracemalloc.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
import tracemalloc
from calendar import timegm
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.corpus import CORPUS, require_corpus  # noqa: E402  # needs the path above
from bot.core.cluster import (  # noqa: E402  # the repo root must be on sys.path first
    DEFAULT_THRESHOLD,
    Candidate,
    bands,
    choose_cluster,
    features,
    fingerprint,
    similarity,
)
from bot.core.fold import fold  # noqa: E402  # the repo root must be on sys.path first

DATA = ROOT / "tests" / "data" / "clusters.tsv"


Story = tuple[str, str, str, datetime]  # title, text, outlet, published


Pair = tuple[int, str, str, str, bool]  # label, kind, story a, story b, added later


def load_pairs(path: Path = DATA) -> tuple[dict[str, Story], list[Pair]]:
    stories: dict[str, Story] = {}
    pairs: list[Pair] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cells[0] == "S":
            stories[cells[1]] = (cells[4], cells[5], cells[2], datetime.fromisoformat(cells[3]))
        elif cells[0] == "P":
            added = len(cells) > 5 and cells[5] == "added"
            pairs.append((int(cells[1]), cells[2], cells[3], cells[4], added))
    return stories, pairs


_V1_STOP_WORDS = """a an the and or but nor of to in on at for by with from as into onto over under
    about after before between during against amid among via per than then so if while
    is are was were be been being has have had do does did it its this that these those
    he she they we you i his her their our your my him them us me not no yes all any
    some more most new also up out who whom whose what which when where why how says
    said say will would could can may might must should just over off s t"""
_V1_STOP = frozenset(_V1_STOP_WORDS.split())


def v1_features(title: str, text: str) -> set[str]:
    """The first rule's feature set (before stemming, title sketch and time rule)."""

    def words(s: str) -> list[str]:
        return [t for t in re.findall(r"\w+", fold(s).text) if len(t) > 1 and t not in _V1_STOP]

    tw = words(title)
    return set(tw) | set(words(text[:1500])[:40]) | {"T:" + w for w in tw}


def _row(scored: list[tuple[int, str, bool]]) -> tuple[float, float, float, float, float, int]:
    pos = sum(1 for label, _, _ in scored if label)
    tp = sum(1 for label, _, h in scored if label and h)
    fp = sum(1 for label, _, h in scored if not label and h)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / pos
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    real = [h for _, kind, h in scored if kind == "real"]
    syn = [h for label, kind, h in scored if label and kind != "real"]
    return p, r, f1, sum(real) / len(real), sum(syn) / len(syn), fp


def _print_row(name: str, row: tuple[float, float, float, float, float, int], mark: str) -> None:
    p, r, f1, rr, rs, fp = row
    cells = f"{p:.3f}    {r:.3f}  {f1:.3f}  |    {rr:.3f}     {rs:.3f}  | {fp:3d}"
    print(f"  {name:>6}      {cells}{mark}")


def sweep() -> None:
    stories, pairs = load_pairs()
    fps = {sid: fingerprint(s[0], s[1]) for sid, s in stories.items()}
    keys = {sid: set(bands(fp)) for sid, fp in fps.items()}

    def decide(t: float) -> list[tuple[int, str, bool]]:
        out = []
        for label, kind, a, b, _ in pairs:
            (title_a, _, outlet_a, when_a), (_, _, outlet_b, when_b) = stories[a], stories[b]
            cand = [Candidate(1, fps[a], when_a, outlet_a, title_a)]
            joined = choose_cluster(fps[b], when_b, outlet_b, cand, threshold=t) == 1
            out.append((label, kind, joined and bool(keys[a] & keys[b])))
        return out

    def original(scored: list[tuple[int, str, bool]]) -> list[tuple[int, str, bool]]:
        return [x for x, p in zip(scored, pairs, strict=True) if not p[4]]

    pos = sum(1 for p in pairs if p[0])
    added = sum(1 for p in pairs if p[4])
    print(
        f"labelled set: {len(stories)} stories, {pos} positive, {len(pairs) - pos} negative "
        f"pairs ({added} added after tuning; 'orig' rows leave them out)"
    )
    print("threshold  precision  recall     F1  | recall real  synthetic | false merges")
    v1 = {sid: v1_features(s[0], s[1]) for sid, s in stories.items()}
    base = [
        (label, kind, len(v1[a] & v1[b]) / len(v1[a] | v1[b]) >= 0.3)
        for label, kind, a, b, _ in pairs
    ]
    _print_row("v1 0.30", _row(base), "  <- baseline: first rule (exact Jaccard)")
    _print_row("orig", _row(original(base)), "  <- baseline on the original set")
    for t in sorted({x / 100 for x in range(14, 48, 2)} | {DEFAULT_THRESHOLD}):
        scored = decide(t)
        _print_row(f"{t:.2f}", _row(scored), "  <- default" if t == DEFAULT_THRESHOLD else "")
        if t == DEFAULT_THRESHOLD:
            _print_row("orig", _row(original(scored)), "  <- default, original set")
    # The score alone, without the time and same-feed rules, at the default threshold.
    alone = [
        (label, kind, similarity(fps[a], fps[b]) >= DEFAULT_THRESHOLD)
        for label, kind, a, b, _ in pairs
    ]
    _print_row(f"s {DEFAULT_THRESHOLD:.2f}", _row(alone), "  <- similarity only, no time rule")


CorpusStory = tuple[str, str, str, datetime | None]  # title, text, feed file, published


def corpus_stories(corpus: Path, files: int | None) -> list[CorpusStory]:
    import feedparser  # a dev dependency of the bench only; bot.core never imports it

    out: list[CorpusStory] = []
    for path in sorted(corpus.glob("*.xml"))[:files]:
        for e in feedparser.parse(str(path)).entries:
            body = e["content"][0].get("value", "") if e.get("content") else ""
            body = body or e.get("summary", "")
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
            t = e.get("published_parsed") or e.get("updated_parsed")
            when = datetime.fromtimestamp(timegm(t), UTC) if t else None
            out.append((e.get("title", ""), text, path.name, when))
    return out


def corpus_merges(stories: list[CorpusStory], show: bool) -> None:
    labelled, pairs = load_pairs()
    norm = " ".join
    positive = {
        frozenset((norm(labelled[a][0].split()), norm(labelled[b][0].split())))
        for label, kind, a, b, _ in pairs
        if label and kind == "real"
    }
    dated = sorted((s[3], s[0], s[1], s[2]) for s in stories if s[3] is not None)
    fps = [fingerprint(title, text) for _, title, text, _ in dated]
    index: dict[int, list[int]] = defaultdict(list)
    joins = cross = known = 0
    others = []
    for i, (when, title, _, feed) in enumerate(dated):
        keys = bands(fps[i])
        found = sorted({j for k in keys for j in index.get(k, ())})
        cands = [Candidate(j, fps[j], dated[j][0], dated[j][3], dated[j][1]) for j in found]
        j = choose_cluster(fps[i], when, feed, cands)
        if j is not None:
            joins += 1
            if dated[j][3] != feed:
                cross += 1
                if frozenset((norm(title.split()), norm(dated[j][1].split()))) in positive:
                    known += 1
                else:
                    others.append((dated[j][1], title))
        for k in keys:
            index[k].append(i)
    print(f"\ncorpus through the decision: {len(dated)} dated stories, {joins} join an earlier one")
    print(
        f"  across feeds: {cross}, of which {known} labelled positive pairs, "
        f"{cross - known} unlabelled{'' if show else ' (--show lists them)'}"
    )
    if show:
        for a, b in others:
            print(f"    {a[:70]}  ||  {b[:70]}")


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
    ap.add_argument("--show", action="store_true", help="list unlabelled cross-feed merges")
    args = ap.parse_args()
    sweep()  # needs only the labelled set bundled in tests/data
    sys.stdout.flush()
    require_corpus(args.corpus, "cluster.py")  # parts 2 to 4 read the corpus
    corpus = corpus_stories(args.corpus, args.files)
    if not corpus:
        print("\nno stories in the chosen feed files: speed part skipped")
        return
    stories = [(title, text) for title, text, _, _ in corpus]
    speed(stories, args.scan)
    corpus_merges(corpus, args.show)
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
