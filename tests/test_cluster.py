"""Clustering: measured on the labelled set built from the real-feed corpus, plus rules."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.cluster import (
    BANDS,
    DEFAULT_THRESHOLD,
    MAX_BRIDGE,
    SIZE,
    Candidate,
    Hit,
    Sketch,
    _content_similarity,
    _title_similarity,
    bands,
    choose_cluster,
    decode,
    encode,
    features,
    fingerprint,
    linked_clusters,
    links,
    pick_candidates,
    pick_story_ids,
    similarity,
    story_features,
)
from tests.conftest import BENCH_FEEDS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "clusters.tsv"
T0 = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)

# Floors, set a little under what the set measures at the default threshold 0.3 through
# the pipeline's decision (band keys, then choose_cluster with the pairs' outlets and
# publication times): precision 0.992, synthetic recall 1.000, real cross-outlet recall
# 0.519, overall 0.750 (original set alone: 0.991, 1.000, 0.526, 0.758). A change that
# lowers precision or loses syndicated copies must fail here; the real-recall floor
# guards the gain over the first rule (0.167).
PRECISION_FLOOR = 0.97
SYNTHETIC_RECALL_FLOOR = 0.95
REAL_RECALL_FLOOR = 0.5
OVERALL_RECALL_FLOOR = 0.72

Story = tuple[str, str, str, datetime]  # title, text, outlet, published


Pair = tuple[int, str, str, str, bool]  # label, kind, story a, story b, added later


def load_set() -> tuple[dict[str, Story], list[Pair]]:
    stories: dict[str, Story] = {}
    pairs: list[Pair] = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if cells[0] == "S":
            published = datetime.fromisoformat(cells[3])
            stories[cells[1]] = (cells[4], cells[5], cells[2], published)
        elif cells[0] == "P":
            added = len(cells) > 5 and cells[5] == "added"
            pairs.append((int(cells[1]), cells[2], cells[3], cells[4], added))
    return stories, pairs


def test_labelled_set_is_big_enough():
    stories, pairs = load_set()
    positives = [p for p in pairs if p[0] == 1]
    negatives = [p for p in pairs if p[0] == 0]
    assert len(positives) >= 60
    assert len(negatives) >= 150
    assert sum(1 for p in positives if p[1] == "real") >= 60
    assert sum(1 for p in negatives if p[1] == "hard") >= 100
    assert all(a in stories and b in stories for _, _, a, b, _ in pairs)
    # The original set (labelled before the rule was tuned) is kept whole.
    original = [p for p in pairs if not p[4]]
    assert sum(p[0] for p in original) == 153 and len(original) == 153 + 321


def _decide(stories: dict[str, Story], pairs: list[Pair], t: float) -> list[tuple[int, str, bool]]:
    """The pipeline's decision for each pair: the earlier story is a candidate only when
    the band index returns it (a shared key), then choose_cluster applies time, feed and
    threshold."""
    fps = {sid: fingerprint(s[0], s[1]) for sid, s in stories.items()}
    keys = {sid: set(bands(fp)) for sid, fp in fps.items()}
    out = []
    for label, kind, a, b, _ in pairs:
        (title_a, _, outlet_a, when_a), (_, _, outlet_b, when_b) = stories[a], stories[b]
        cand = [Candidate(1, fps[a], when_a, outlet_a, title_a)]
        joined = choose_cluster(fps[b], when_b, outlet_b, cand, threshold=t) == 1
        out.append((label, kind, joined and bool(keys[a] & keys[b])))
    return out


def _measure(hit: list[tuple[int, str, bool]]) -> tuple[float, float, float, float, str]:
    tp = sum(1 for label, _, h in hit if label and h)
    fp = sum(1 for label, _, h in hit if not label and h)
    positives = sum(1 for label, _, _ in hit if label)
    real = [h for _, kind, h in hit if kind == "real"]
    synthetic = [h for label, kind, h in hit if label and kind != "real"]
    p, r = tp / (tp + fp), tp / positives
    rr, rs = sum(real) / len(real), sum(synthetic) / len(synthetic)
    text = (
        f"precision {p:.3f} recall {r:.3f} (real cross-outlet {rr:.3f}, synthetic {rs:.3f}); "
        f"{tp} true merges, {fp} false merges, {positives - tp} missed"
    )
    return p, r, rr, rs, text


def test_precision_and_recall_at_default_threshold():
    stories, pairs = load_set()
    t = DEFAULT_THRESHOLD
    hit = _decide(stories, pairs, t)
    precision, recall, real_recall, synthetic_recall, text = _measure(hit)
    original = [h for h, p in zip(hit, pairs, strict=True) if not p[4]]
    print(f"\nclustering at threshold {t}: {text}")
    print(f"original set only: {_measure(original)[4]}")
    assert precision >= PRECISION_FLOOR
    assert synthetic_recall >= SYNTHETIC_RECALL_FLOOR
    assert real_recall >= REAL_RECALL_FLOOR
    assert recall >= OVERALL_RECALL_FLOOR
    assert _measure(original)[0] >= PRECISION_FLOOR


def test_fingerprint_is_stable_across_processes():
    title, text = "Bayraktar TB2 drones delivered to Kosovo", "The Kosovo Security Force said…"
    code = (
        "from bot.core.cluster import fingerprint, encode;"
        f"print(encode(fingerprint({title!r}, {text!r})).hex())"
    )
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outs.add(done.stdout.strip())
    assert outs == {encode(fingerprint(title, text)).hex()}


def test_encode_decode_round_trip():
    fp = fingerprint("KFOR patrol near Jarinje", "KFOR soldiers patrolled the crossing.")
    assert len(fp) == SIZE
    data = encode(fp)
    assert isinstance(data, bytes) and len(data) == 4 * SIZE
    assert decode(data) == fp
    assert decode(b"") == () and encode(()) == b""
    with pytest.raises(ValueError, match="736 bytes"):
        decode(b"\x00" * 10)


def test_empty_story_is_similar_to_nothing():
    empty = fingerprint("", "  — , . ")
    assert empty == ()
    assert bands(empty) == []
    assert similarity(empty, empty) == 0.0
    assert similarity(empty, fingerprint("Some title here", "")) == 0.0


def test_folding_and_case_do_not_matter():
    assert features("Orbán meets Erdoğan", "") == features("ORBAN MEETS ERDOGAN", "")
    a = fingerprint("Türkiye delivers Akıncı drones", "")
    b = fingerprint("Turkiye delivers Akinci drones", "")
    assert similarity(a, b) == 1.0


def test_bands_are_signed_64_bit_and_shared_by_copies():
    title = "KFOR increases patrols in northern Kosovo after border incident"
    text = (
        "NATO-led peacekeepers in Kosovo said on Tuesday they had increased patrols along "
        "the northern boundary line after an armed incident near the Jarinje crossing."
    )
    keys = bands(fingerprint(title, text))
    # One key per MinHash band, plus one per pair of the title's 7 content words.
    assert len(story_features(title, text).title) == 7
    assert len(keys) == BANDS + 7 * 6 // 2
    assert all(-(2**63) <= k < 2**63 for k in keys)
    copy = bands(fingerprint("UPDATE 1-" + title, text + " The post appeared first on X."))
    assert set(keys) & set(copy)
    assert bands(fingerprint(title, text)) == keys


def _story(title: str, text: str) -> tuple[int, ...]:
    return fingerprint(title, text)


SALE_A = (
    "Bayraktar TB2 drones sold to Kosovo in first Balkan deal",
    "Kosovo's defence ministry signed a contract on Monday to buy Bayraktar TB2 drones "
    "from Baykar, Prime Minister Albin Kurti said in Pristina, calling it a historic step "
    "for the Kosovo Security Force. Deliveries are expected before the end of the year.",
)
SALE_B = (
    "Bayraktar TB2 sold to Croatia as Zagreb expands drone fleet",
    "Croatia's government approved the purchase of six Bayraktar TB2 unmanned aircraft "
    "for its army on Thursday, Defence Minister Ivan Anušić told reporters in Zagreb, "
    "adding that pilots would train in Turkey this spring.",
)


def test_different_sales_of_the_same_drone_stay_apart():
    a, b = _story(*SALE_A), _story(*SALE_B)
    assert similarity(a, b) < DEFAULT_THRESHOLD
    candidates = [Candidate(1, a, T0, "https://a.example/feed", SALE_A[0])]
    assert choose_cluster(b, T0 + timedelta(hours=5), "https://b.example/feed", candidates) is None


def test_syndicated_copy_joins_within_the_window_only():
    a = _story(*SALE_A)
    copy = _story("Kosovo buys Bayraktar TB2 drones in first Balkan deal", SALE_A[1])
    cand = [Candidate(7, a, T0, "https://a.example/feed", SALE_A[0])]
    later = T0 + timedelta(hours=30)
    assert choose_cluster(copy, later, "https://b.example/feed", cand) == 7
    week = T0 + timedelta(days=7)
    assert choose_cluster(copy, week, "https://b.example/feed", cand) is None
    # The window is symmetric: a story published before the candidate joins too.
    assert choose_cluster(copy, T0 - timedelta(hours=2), "https://b.example/feed", cand) == 7
    assert (
        choose_cluster(
            copy, week, "https://b.example/feed", cand, window=timedelta(days=8), threshold=0.3
        )
        == 7
    )


def test_two_patrol_stories_a_week_apart_stay_apart():
    title = "KFOR troops patrol northern Kosovo"
    first = _story(title, "KFOR troops patrolled near Zvečan on Monday, a spokesman said.")
    second = _story(title, "KFOR troops patrolled near Leposavić on Monday, a spokesman said.")
    cand = [Candidate(3, first, T0, "https://a.example/feed", title)]
    assert choose_cluster(second, T0 + timedelta(days=7), "https://b.example/feed", cand) is None


def test_same_feed_needs_a_higher_bar():
    a = _story(*SALE_A)
    reworded = _story(
        "Kosovo signs deal for Bayraktar TB2 drones",
        "Kosovo signed a contract on Monday to buy Bayraktar TB2 drones from Baykar, "
        "the prime minister said in Pristina.",
    )
    score = similarity(a, reworded)
    assert DEFAULT_THRESHOLD <= score < 0.6, score
    feed = "https://a.example/feed"
    cand = [Candidate(1, a, T0, feed, SALE_A[0])]
    assert choose_cluster(reworded, T0, "https://other.example/feed", cand) == 1
    assert choose_cluster(reworded, T0, feed, cand) is None
    assert choose_cluster(_story(*SALE_A), T0, feed, cand) == 1


def test_best_candidate_wins_regardless_of_order():
    a = _story(*SALE_A)
    weaker = _story(SALE_A[0], "Different words entirely about weather in Skopje today.")
    cands = [
        Candidate(5, weaker, T0, "https://c.example/feed", "x"),
        Candidate(9, a, T0 + timedelta(hours=1), "https://d.example/feed", "y"),
        Candidate(4, a, T0 + timedelta(hours=2), "https://e.example/feed", "z"),
    ]
    for order in (cands, cands[::-1], [cands[1], cands[0], cands[2]]):
        assert choose_cluster(a, T0, "https://b.example/feed", order) == 9
    assert choose_cluster(a, T0, "https://b.example/feed", []) is None


def test_bench_smoke_runs():
    done = subprocess.run(
        [
            sys.executable,
            "bench/cluster.py",
            "--corpus",
            str(BENCH_FEEDS),
            "--files",
            "1",
            "--scan",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "<- default" in done.stdout
    assert "peak memory" in done.stdout


# Two independent write-ups of one event: different headlines and leads, the same
# headline subject (the Ukraine/Russia talks pair of the labelled set, shortened).
TALKS_A = (
    "Ukraine and Russia hold new round of peace talks in Geneva",
    "Negotiators from Kyiv and Moscow met in Switzerland on Tuesday for a third round of "
    "talks brokered by Washington, with officials playing down hopes of a deal.",
)
TALKS_B = (
    "Peace talks resume in Geneva as Washington presses Kyiv and Moscow",
    "Delegations from Ukraine and Russia sat down at a lakeside hotel as the United States "
    "urged both governments to agree a ceasefire before spring, a diplomat said.",
)


def test_independent_reports_join_through_the_title_on_the_same_day():
    a, b = _story(*TALKS_A), _story(*TALKS_B)
    score = similarity(a, b)
    assert score >= DEFAULT_THRESHOLD * 0.8, score
    # The band index returns the pair (shared title-word keys) so the store finds it.
    assert set(bands(a)) & set(bands(b))
    cand = [Candidate(2, a, T0, "https://a.example/feed", TALKS_A[0])]
    assert choose_cluster(b, T0 + timedelta(hours=6), "https://b.example/feed", cand) == 2
    # Two days later the same words more likely describe the next round: a higher bar.
    assert choose_cluster(b, T0 + timedelta(hours=48), "https://b.example/feed", cand) is None


def test_headlines_naming_different_subjects_do_not_use_the_title_route():
    # Half of the title words are shared, but each headline names a country the other
    # story never mentions: only the lead overlap counts, and it is low.
    f = story_features(*SALE_A)
    assert {"kosovo", "bayraktar"} <= f.title_names
    assert "monday" not in f.names and "minister" not in f.names
    a, b = _story(*SALE_A), _story(*SALE_B)
    assert similarity(a, b) < DEFAULT_THRESHOLD * 0.8


def test_title_case_headlines_take_names_from_the_lead():
    f = story_features(
        "Peru Votes To Impeach President José Jerí Over Corruption Probe",
        "Lawmakers in Lima voted on Tuesday to remove interim President José Jerí.",
    )
    assert f.title_names == {"jose", "jeri"}
    assert {"lima", "jose", "jeri"} <= f.names


def test_light_stemming_joins_word_forms():
    assert features("Talks impeached charges", "") == features("talk impeach charge", "")
    # Short words are left alone: "spring" is not "spr", "bus" is not "bu".
    assert {"spring", "bus"} <= features("spring bus", "")


def test_same_feed_ignores_the_title_route():
    # A feed's recurring headline ("Morning briefing: …") over different stories.
    title = "Morning briefing: markets, weather and sport"
    a = _story(title, "Stocks rose in Tokyo as exporters gained on a weaker yen overnight.")
    b = _story(title, "A storm hit Lisbon, closing schools and the port for a second day.")
    # Across feeds the shared headline lifts the pair over even the same-feed bar …
    assert similarity(a, b) >= 0.6
    cand = [Candidate(1, a, T0, "https://a.example/feed", "x")]
    assert choose_cluster(b, T0 + timedelta(hours=1), "https://b.example/feed", cand) == 1
    # … but within the feed only the title+lead words count, and they differ.
    assert choose_cluster(b, T0 + timedelta(hours=1), "https://a.example/feed", cand) is None


def test_a_story_links_to_every_event_it_matches_in_any_order():
    a = _story(*SALE_A)
    copy = _story("Kosovo buys Bayraktar TB2 drones in first Balkan deal", SALE_A[1])
    other = _story(*SALE_B)
    cands = [
        Candidate(9, a, T0, "https://a.example/feed", SALE_A[0]),
        Candidate(4, copy, T0, "https://c.example/feed", "x"),
        Candidate(6, other, T0, "https://d.example/feed", SALE_B[0]),
    ]
    for order in (cands, cands[::-1]):
        assert linked_clusters(a, T0, "https://b.example/feed", order) == [4, 9]
    assert linked_clusters(a, T0, "https://b.example/feed", []) == []


def test_the_link_rule_is_symmetric():
    a = _story(*SALE_A)
    copy = _story("Kosovo buys Bayraktar TB2 drones in first Balkan deal", SALE_A[1])
    for gap in (timedelta(hours=1), timedelta(hours=20), timedelta(hours=40)):
        ab = links(copy, T0 + gap, "https://b/", Candidate(0, a, T0, "https://a/", ""))
        ba = links(a, T0, "https://a/", Candidate(0, copy, T0 + gap, "https://b/", ""))
        assert ab == ba


def test_candidates_are_bounded_per_event_and_overall():
    # 200 copies of one wire story in one event, and 3 other events.
    hits = [Hit(i, 1, 60) for i in range(200)] + [Hit(1000 + i, 2 + i, 5) for i in range(3)]
    picked = pick_candidates(hits, per_event=3, limit=60)
    assert picked == [0, 1, 2, 1000, 1001, 1002]
    assert pick_candidates(reversed(hits), per_event=3, limit=60) == picked
    many = [Hit(i, i, 1) for i in range(500)]
    assert len(pick_candidates(many, per_event=3, limit=60)) == 60


def _through_events(path: Path) -> tuple[float, float, int]:
    """Precision and real recall of the pairs when every story of the set goes through
    the event builder in publication order (what a reader sees: joins through others
    count)."""
    from bench.cluster import events, load_pairs

    stories, pairs = load_pairs(path)
    ids = sorted(stories, key=lambda sid: (stories[sid][3], sid))
    ev = dict(zip(ids, events([stories[sid] for sid in ids]), strict=True))
    tp = sum(1 for label, _, a, b, _ in pairs if label and ev[a] == ev[b])
    fp = sum(1 for label, _, a, b, _ in pairs if not label and ev[a] == ev[b])
    real = [ev[a] == ev[b] for label, kind, a, b, _ in pairs if label and kind == "real"]
    return tp / (tp + fp), sum(real) / len(real), len(pairs)


def test_events_raise_recall_without_losing_precision_on_both_sets():
    precision, real_recall, _ = _through_events(DATA)
    assert precision >= 0.98 and real_recall >= 0.70, (precision, real_recall)
    precision, real_recall, n = _through_events(ROOT / "tests" / "data" / "clusters_more.tsv")
    assert n >= 150
    assert precision >= 0.98 and real_recall >= 0.80, (precision, real_recall)


def test_a_template_story_joins_only_its_best_match():
    """Numbered patrol reports of one template: the new report links to all of them,
    but it is no bridge; it joins the one with its own number."""

    def report(n: int) -> tuple[int, ...]:
        return _story(
            f"KFOR patrol number {n} near crossing {n * 7}",
            f"KFOR said patrol {n} went to village {n * 13} and checkpoint {n * 31}.",
        )

    cands = [Candidate(10 + n, report(n), T0, "https://a.example/feed", "") for n in range(6)]
    new = report(3)
    assert sum(links(new, T0, "https://b.example/feed", c) for c in cands) > MAX_BRIDGE
    assert linked_clusters(new, T0, "https://b.example/feed", cands) == [13]
    assert linked_clusters(new, T0, "https://b.example/feed", cands[::-1]) == [13]


def test_sketches_score_exactly_like_fingerprints():
    """The pipeline compares candidates as sketches (packed MinHash, sets built once,
    read straight from the stored bytes): the same content and title scores as the
    fingerprint functions, for every pair of a sample of the labelled stories."""
    stories, _ = load_set()
    fps = [fingerprint(title, text) for _, (title, text, _, _) in sorted(stories.items())]
    fps.append(())  # the empty fingerprint is similar to nothing, as a sketch too
    sketches = [Sketch(fp) for fp in fps]
    for fp, sk in zip(fps, sketches, strict=True):
        back = Sketch.from_bytes(encode(fp))
        assert (back.valid, back.packed, back.title, back.names) == (
            sk.valid,
            sk.packed,
            sk.title,
            sk.names,
        )
    pairs = 0
    for i in range(0, len(fps), 3):
        for j in range(len(fps)):
            a, b = sketches[i], sketches[j]
            assert a.content(b) == _content_similarity(fps[i], fps[j])
            assert a.title_score(b) == _title_similarity(fps[i], fps[j])
            pairs += 1
    assert pairs > 10_000


def test_pick_story_ids_is_pick_candidates_on_tuples():
    hits = [Hit(sid, sid % 7 if sid % 3 else -sid, (sid * 37) % 9 + 1) for sid in range(1, 300)]
    assert pick_story_ids((h.story_id, h.cluster_id, h.shared) for h in hits) == (
        pick_candidates(hits)
    )
