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
import random
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
    STORIES_PER_KEY,
    Candidate,
    Hit,
    bands,
    choose_cluster,
    decode,
    encode,
    features,
    fingerprint,
    linked_clusters,
    near_copy,
    pick_candidates,
    similarity,
)
from bot.core.fold import fold  # noqa: E402  # the repo root must be on sys.path first

DATA = ROOT / "tests" / "data" / "clusters.tsv"
MORE = ROOT / "tests" / "data" / "clusters_more.tsv"


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
    nan = float("nan")
    rr = sum(real) / len(real) if real else nan
    return p, r, f1, rr, sum(syn) / len(syn) if syn else nan, fp


def _print_row(name: str, row: tuple[float, float, float, float, float, int], mark: str) -> None:
    p, r, f1, rr, rs, fp = row
    cells = f"{p:.3f}    {r:.3f}  {f1:.3f}  |    {rr:.3f}     {rs:.3f}  | {fp:3d}"
    print(f"  {name:>6}      {cells}{mark}")


def events(
    stories: list[tuple[str, str, str, datetime]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    bounded: bool = True,
) -> list[int]:
    """The pipeline's events over ``stories`` (title, text, feed, published) taken in the
    order given: band index, the bounded candidates (``pick_candidates``) decoded from
    their stored bytes, every event the story links to (``linked_clusters``), bridged
    events merged, near copies not indexed. Returns each story's event.

    ``bounded=False`` is the rule before: every band-sharing story decoded and compared
    (``choose_cluster``), every story indexed, no merging."""
    fps = [fingerprint(title, text) for title, text, _, _ in stories]
    stored = [encode(fp) for fp in fps]
    index: dict[int, list[int]] = defaultdict(list)
    event: list[int] = []
    for i, (_, _, feed, when) in enumerate(stories):
        keys = bands(fps[i])
        shared: dict[int, int] = defaultdict(int)
        for k in keys:
            # The store offers each key's newest stories only (bounded) or all of them.
            for j in index.get(k, [])[-STORIES_PER_KEY if bounded else 0 :]:
                shared[j] += 1
        if not bounded:
            cands = [
                Candidate(event[j], decode(stored[j]), stories[j][3], stories[j][2], "")
                for j in sorted(shared)
            ]
            joined = choose_cluster(fps[i], when, feed, cands, threshold=threshold)
            event.append(i if joined is None else joined)
            for k in keys:
                index[k].append(i)
            continue
        chosen = pick_candidates(Hit(j, event[j], n) for j, n in shared.items())
        cands = [
            Candidate(event[j], decode(stored[j]), stories[j][3], stories[j][2], "") for j in chosen
        ]
        linked = linked_clusters(fps[i], when, feed, cands, threshold=threshold)
        mine = linked[0] if linked else i
        if len(linked) > 1:
            merged = set(linked[1:])
            event = [mine if e in merged else e for e in event]
        event.append(mine)
        if not near_copy(fps[i], when, cands):
            for k in keys:
                index[k].append(i)
    return event


def sweep(path: Path = DATA, *, full: bool = True) -> None:
    stories, pairs = load_pairs(path)
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

    def through_events(t: float) -> list[tuple[int, str, bool]]:
        # Every story of the set through the event builder, in publication order (a
        # story with a synthetic variant: the variants too); a pair is joined when
        # its two stories end in one event, directly or through others.
        ids = sorted(stories, key=lambda sid: (stories[sid][3], sid))
        ev = dict(zip(ids, events([stories[sid] for sid in ids], threshold=t), strict=True))
        return [(label, kind, ev[a] == ev[b]) for label, kind, a, b, _ in pairs]

    pos = sum(1 for p in pairs if p[0])
    added = sum(1 for p in pairs if p[4])
    print(
        f"labelled set {path.name}: {len(stories)} stories, {pos} positive, "
        f"{len(pairs) - pos} negative pairs"
        + (f" ({added} added after tuning; 'orig' rows leave them out)" if added else "")
    )
    print("threshold  precision  recall     F1  | recall real  synthetic | false merges")
    if full:
        v1 = {sid: v1_features(s[0], s[1]) for sid, s in stories.items()}
        base = [
            (label, kind, len(v1[a] & v1[b]) / len(v1[a] | v1[b]) >= 0.3)
            for label, kind, a, b, _ in pairs
        ]
        _print_row("v1 0.30", _row(base), "  <- baseline: first rule (exact Jaccard)")
        if added:
            _print_row("orig", _row(original(base)), "  <- baseline on the original set")
    grid = range(14, 48, 2) if full else range(24, 38, 2)
    for t in sorted({x / 100 for x in grid} | {DEFAULT_THRESHOLD}):
        scored = decide(t)
        mark = "  <- default, pairs" if t == DEFAULT_THRESHOLD else ""
        _print_row(f"{t:.2f}", _row(scored), mark)
        if t == DEFAULT_THRESHOLD and added:
            _print_row("orig", _row(original(scored)), "  <- default, original set")
    for t in sorted({DEFAULT_THRESHOLD, 0.32, 0.34}):
        mark = "  <- default, through events" if t == DEFAULT_THRESHOLD else "  <- through events"
        _print_row(f"e {t:.2f}", _row(through_events(t)), mark)
    if full:
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
    batch = [(title, text, feed, when) for when, title, text, feed in dated]
    for name, bounded in (("before: each story joins its best candidate", False), ("", True)):
        ev = events(batch, bounded=bounded)
        members: dict[int, list[int]] = defaultdict(list)
        for i, e in enumerate(ev):
            members[e].append(i)
        joins = len(ev) - len(members)
        cross = known = 0
        others = []
        for group in members.values():
            for x, i in enumerate(group):
                for j in group[x + 1 :]:
                    if batch[i][2] == batch[j][2]:
                        continue
                    cross += 1
                    titles = frozenset((norm(batch[i][0].split()), norm(batch[j][0].split())))
                    if titles in positive:
                        known += 1
                    else:
                        others.append((batch[i][0], batch[j][0]))
        label = name or "after: events (single linkage, bounded candidates)"
        print(f"\ncorpus through the decision, {label}:")
        print(f"  {len(dated)} dated stories in {len(members)} events ({joins} joined one)")
        print(
            f"  cross-feed pairs in one event: {cross}, of which {known} labelled positive, "
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


def near_identical(corpus: list[CorpusStory], copies: int = 200) -> None:
    """Cost of ``copies`` near-identical stories (one wire story carried by every feed)
    against as many different stories, through the event builder, with the candidate
    bound and without it (every band-sharing story compared, the old way)."""
    stories = [s for s in corpus if s[3] is not None and len(s[1]) > 200]
    copies = min(copies, len(stories))
    rng = random.Random(7)
    sample = rng.sample(stories, copies)
    unique: list[tuple[str, str, str, datetime]] = [
        (t, x, f"feed{i}", w) for i, (t, x, _, w) in enumerate(sample) if w is not None
    ]
    title, text, _, when = unique[0]
    near = [
        (title, f"{text} ({('Reuters', 'AP', 'AFP')[i % 3]} {i})", f"feed{i}", when)
        for i in range(copies)
    ]
    print(f"\n{copies} near-identical stories vs {copies} different ones, through the events")
    for bounded in (False, True):
        timing = {}
        for name, batch in (("different", unique), ("near-identical", near)):
            t0 = time.perf_counter()
            ev = events(batch, bounded=bounded)
            timing[name] = (time.perf_counter() - t0, len(set(ev)))
        (t_u, n_u), (t_n, n_n) = timing["different"], timing["near-identical"]
        label = "events, bounded (after)" if bounded else "every candidate (before)"
        print(
            f"  {label:26} different {t_u:6.3f} s ({n_u} events), near-identical {t_n:6.3f} s "
            f"({n_n} events), ratio {t_n / t_u:.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--files", type=int, default=None, help="only the first N feed files")
    ap.add_argument("--scan", type=int, default=1500, help="stories in the lookup comparison")
    ap.add_argument("--show", action="store_true", help="list unlabelled cross-feed merges")
    args = ap.parse_args()
    sweep()  # needs only the labelled sets bundled in tests/data
    print()
    sweep(MORE, full=False)
    sys.stdout.flush()
    require_corpus(args.corpus, "cluster.py")  # parts 2 to 4 read the corpus
    corpus = corpus_stories(args.corpus, args.files)
    if not corpus:
        print("\nno stories in the chosen feed files: speed part skipped")
        return
    stories = [(title, text) for title, text, _, _ in corpus]
    near_identical(corpus)
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
