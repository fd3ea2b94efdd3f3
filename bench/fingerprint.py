"""Benchmark: fingerprint + band keys, ours against the formula they replaced.

    .venv/bin/python bench/fingerprint.py [--corpus DIR] [--files N] [--rounds N]

Stories: every entry of the real-feed corpus (``../shared/corpus/realfeeds``, parsed
with ``bot.feeds.parse.parse_feed``), title and text, as the parse workers see them.
Ours: ``bot.core.cluster.fingerprint`` then ``bands``, what ``bot.feeds.work.analyse_body``
runs for every story that may alert. Baseline, measured in the same run: the code of
the release before (kept below verbatim, ``old_fingerprint`` / ``old_bands``): folding
twice, one ``shake_128`` digest unpacked into 128 ints per word and a column-wise
``min``, one ``blake2b`` over a packed struct per band key. The two must agree bit for
bit (fingerprints and band keys are stored and compared across processes and
versions); the bench checks every story and ``tests/test_fingerprint.py`` checks
random and corpus inputs.

Both run in this process, in ``--rounds`` interleaved rounds (best of each, CPU
seconds): ours with empty word memos at the start of the round (a fresh worker) and
with the memos left by the round before (warm), plus the features and the band keys
alone. Memory: what the word memos hold after a cold round (dicts, keys and values)
and tracemalloc over one cold round that keeps no results. ``--memo N`` sets the
words per generation of the row memo, to see the trade between memory and hits.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.corpus import CORPUS, require_corpus  # noqa: E402  # needs the path above
from bot.core import cluster  # noqa: E402
from bot.core.cluster import Features, Fingerprint  # noqa: E402
from bot.core.fold import fold  # noqa: E402

# ---------------------------------------------------------------------------------------
# The baseline: fingerprint and bands as they were before the fast path (copied verbatim
# from bot/core/cluster.py, constants included, so a change there cannot move it).
# ---------------------------------------------------------------------------------------

PERMUTATIONS = 128
ROWS = 2
BANDS = PERMUTATIONS // ROWS
TITLE_SLOTS = 16
TITLE_NAME_SLOTS = 8
NAME_SLOTS = 32
SIZE = PERMUTATIONS + TITLE_SLOTS + TITLE_NAME_SLOTS + NAME_SLOTS
LEAD_WORDS = 40
MIN_TITLE_WORDS = 3
TITLE_BAND_WORDS = 10

_VERSION = 2  # part of every band key: keys of older fingerprints never match these
_TITLE_KEY = 0xFFFF  # band number of the title-pair keys
_LEAD_CHARS = 1500
_MINHASH = struct.Struct(f">{PERMUTATIONS}I")
_TOKEN = re.compile(r"\w+|[.!?:;\"]")
_SENTENCE_END = frozenset('.!?:;"')
_STOP_WORDS = """a an the and or but nor of to in on at for by with from as into onto over under
    about after before between during against amid among via per than then so if while
    is are was were be been being has have had do does did it its this that these those
    he she they we you i his her their our your my him them us me not no yes all any
    some more most new also up out who whom whose what which when where why how says
    said say will would could can may might must should just over off s t"""
_STOP = frozenset(_STOP_WORDS.split())
# Capitalised words that are not names of people, places or organisations: days,
# months, titles and roles written before names. They would make every story about a
# minister "share a name".
_NOT_NAME_WORDS = """monday tuesday wednesday thursday friday saturday sunday january february march
    april may june july august september october november december today yesterday
    mr mrs ms dr sir president presidential prime minister ministry secretary general
    chief leader spokesman spokeswoman spokesperson official officials government
    state police army court congress parliament senate king queen prince pope
    breaking live update updates watch video photos opinion analysis news report
    read more follow subscribe"""
_NOT_NAMES = _STOP | frozenset(_NOT_NAME_WORDS.split())


def _stem(word: str) -> str:
    # Light suffix stripping so "talks"/"talk", "impeached"/"impeach", "charges"/
    # "charged"/"charging" meet; errors ("news" -> "new") only merge rare pairs of words.
    n = len(word)
    if n > 6 and word.endswith("ing"):
        return word[:-3]
    if n > 4 and word.endswith("ed"):
        return word[:-2]
    if n > 4 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if n > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str) -> list[tuple[str, bool]]:
    """Content words (folded, stemmed) of ``text``, each with "written as a name".

    A name is a word capitalised where the sentence does not force it (not the first
    word, not after ``. ! ? : ;`` or a double quote).
    """
    low = _TOKEN.findall(fold(text).text)
    cased = _TOKEN.findall(fold(text, case=False).text)
    # Folding keeps words whole, so both token lists align; when a rare character
    # splits differently, capitalisation is ignored rather than misread.
    aligned = len(low) == len(cased)
    out: list[tuple[str, bool]] = []
    start = True
    for i, tok in enumerate(low):
        if tok in _SENTENCE_END:
            start = True
            continue
        name = aligned and not start and cased[i][0].isupper()
        start = False
        if len(tok) > 1 and tok not in _STOP:
            out.append((_stem(tok), name and tok not in _NOT_NAMES))
    return out


def old_story_features(title: str, text: str) -> Features:
    """Feature sets of a story's title and lead (see the module docstring)."""
    title_words = _words(title)
    # Forty content words fit well inside the first 1,500 characters; folding only that
    # much keeps long articles as cheap as teasers.
    lead = _words(text[:_LEAD_CHARS])[:LEAD_WORDS]
    lead_names = {w for w, name in lead if name}
    tset = {w for w, _ in title_words}
    # In Title Case Headlines Every Word Is Capitalised, so capitals there say nothing;
    # a title word then counts as a name only when the lead writes it as one.
    capitals = sum(1 for w, name in title_words if name)
    title_case = capitals + 1 >= 0.6 * len(title_words) and len(title_words) > 2
    title_names = {w for w in tset if w in lead_names}
    if not title_case:
        title_names.update(w for w, name in title_words if name)
    words = tset | {w for w, _ in lead} | {"T:" + w for w in tset}
    return Features(
        words=frozenset(words),
        title=frozenset(tset),
        names=frozenset(lead_names | title_names),
        title_names=frozenset(title_names),
    )


def _h32(word: str) -> int:
    # Zero pads the sketches, so no word may hash to it.
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest()) or 1


def _sketch(words: Iterable[str], slots: int) -> list[int]:
    """The ``slots`` smallest word hashes, sorted, padded with zeros."""
    hashes = sorted({_h32(w) for w in words})[:slots]
    return hashes + [0] * (slots - len(hashes))


def old_fingerprint(title: str, text: str) -> Fingerprint:
    """MinHash signature of the story's title and lead, plus its title and name sketches."""
    f = old_story_features(title, text)
    if not f.words:
        return ()
    rows = [
        _MINHASH.unpack(hashlib.shake_128(w.encode("utf-8")).digest(_MINHASH.size))
        for w in sorted(f.words)
    ]
    minhash = [min(column) for column in zip(*rows, strict=True)]
    return tuple(
        minhash
        + _sketch(f.title, TITLE_SLOTS)
        + _sketch(f.title_names, TITLE_NAME_SLOTS)
        + _sketch(f.names, NAME_SLOTS)
    )


def _key(*parts: int) -> int:
    digest = hashlib.blake2b(struct.pack(f">H{len(parts)}I", _VERSION, *parts), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _parts(fp: Fingerprint) -> tuple[Fingerprint, list[int], list[int], list[int]]:
    t0 = PERMUTATIONS
    t1 = t0 + TITLE_SLOTS
    t2 = t1 + TITLE_NAME_SLOTS
    nonzero = [[x for x in fp[a:b] if x] for a, b in ((t0, t1), (t1, t2), (t2, SIZE))]
    return fp[:t0], nonzero[0], nonzero[1], nonzero[2]


def old_bands(fp: Fingerprint) -> list[int]:
    """LSH keys as signed 64-bit ints (they fit an SQLite INTEGER).

    Two stories are worth comparing when they share at least one key: :data:`BANDS`
    keys of :data:`ROWS` MinHash values each (band number included, so equal values
    in different bands do not collide), and one key per pair of title words among the
    :data:`TITLE_BAND_WORDS` smallest title hashes.
    """
    if not fp:
        return []
    minhash, title, _, _ = _parts(fp)
    keys = [_key(b, *minhash[b * ROWS : (b + 1) * ROWS]) for b in range(BANDS)]
    if len(title) >= MIN_TITLE_WORDS:
        top = title[:TITLE_BAND_WORDS]
        keys.extend(_key(_TITLE_KEY, x, y) for i, x in enumerate(top) for y in top[i + 1 :])
    return keys


# ---------------------------------------------------------------------------------------
# The bench.
# ---------------------------------------------------------------------------------------


def load_stories(corpus: Path, files: int | None) -> list[tuple[str, str]]:
    from bot.feeds.parse import ParseError, parse_feed

    now = datetime.now(UTC)
    stories: list[tuple[str, str]] = []
    for path in sorted(corpus.glob("*.xml"))[:files]:
        try:
            body = path.read_bytes()
            parsed = parse_feed(body, path.as_uri(), content_type="", outlet="o", now=now)
        except ParseError:
            continue
        stories.extend((s.title, s.text) for s in parsed.stories)
    return stories


def cache_bytes() -> int:
    """Bytes the word memos of bot.core.cluster hold: dicts, keys and values."""
    total = 0
    for memo in MEMOS:
        for d in (memo.young, memo.old):
            total += sys.getsizeof(d) + sum(deep(k) + deep(v) for k, v in d.items())
    return total


def deep(value: object) -> int:
    if isinstance(value, tuple):
        return sys.getsizeof(value) + sum(deep(v) for v in value)
    return sys.getsizeof(value)


def ours(stories: list[tuple[str, str]]) -> list[tuple[Fingerprint, list[int]]]:
    out = []
    for title, text in stories:
        fp = cluster.fingerprint(title, text)
        out.append((fp, cluster.bands(fp)))
    return out


def old(stories: list[tuple[str, str]]) -> list[tuple[Fingerprint, list[int]]]:
    out = []
    for title, text in stories:
        fp = old_fingerprint(title, text)
        out.append((fp, old_bands(fp) if fp else []))
    return out


def ours_discarding(stories: list[tuple[str, str]]) -> None:
    """What a worker does: each story's fingerprint and keys, then on to the next."""
    for title, text in stories:
        cluster.bands(cluster.fingerprint(title, text))


MEMOS = (cluster._rows, cluster._hashes)


def cold() -> None:
    for memo in MEMOS:
        memo.clear()


def cpu(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--files", type=int, default=None, help="only the first N feed files")
    ap.add_argument("--rounds", type=int, default=5, help="best of N rounds (default 5)")
    ap.add_argument(
        "--memo",
        type=int,
        default=cluster.ROW_MEMO_WORDS,
        help=f"words per generation of the row memo (default {cluster.ROW_MEMO_WORDS})",
    )
    args = ap.parse_args()
    require_corpus(args.corpus, "fingerprint.py")
    cluster._rows.limit = args.memo
    stories = load_stories(args.corpus, args.files)
    cold()
    new_out = ours(stories)
    old_out = old(stories)
    differ = sum(1 for a, b in zip(new_out, old_out, strict=True) if a != b)
    keys = sum(len(b) for _, b in new_out)
    print(
        f"{len(stories)} stories, {sum(1 for fp, _ in new_out if fp)} fingerprinted, "
        f"{keys} band keys; differing from the baseline: {differ}"
    )
    fps = [fp for fp, _ in new_out if fp]
    texts = [(t, x) for t, x in stories]
    # Rounds interleave old and new, so a busy machine slows both alike; best of each.
    runs: dict[str, Callable[[], object]] = {
        "old fingerprint+bands": lambda: old(stories),
        "cold fingerprint+bands": lambda: (cold(), ours(stories)),
        "warm fingerprint+bands": lambda: ours(stories),
        "old features": lambda: [old_story_features(t, x) for t, x in texts],
        "features": lambda: [cluster.story_features(t, x) for t, x in texts],
        "old bands": lambda: [old_bands(fp) for fp in fps],
        "bands": lambda: [cluster.bands(fp) for fp in fps],
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, run in runs.items():
            best[name] = min(best[name], cpu(run))
    base = best["old fingerprint+bands"]
    print(f"baseline (old formula)  fingerprint+bands {base:7.3f} s CPU")
    for label, name in (("cold", "cold fingerprint+bands"), ("warm", "warm fingerprint+bands")):
        t = best[name]
        print(f"ours, {label} word memos  fingerprint+bands {t:7.3f} s CPU  {base / t:5.2f}x")
    for part in ("features", "bands"):
        old_t, new_t = best[f"old {part}"], best[part]
        print(f"  {part:9s} old {old_t:6.3f} s  ours {new_t:6.3f} s  {old_t / new_t:5.2f}x")
    cold()
    tracemalloc.start()
    ours_discarding(stories)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held = " + ".join(f"{len(m.young) + len(m.old)}" for m in MEMOS)
    print(
        f"word memos (rows {args.memo}/generation): {held} rows + hashes held, "
        f"{cache_bytes() / 2**20:.2f} MiB; tracemalloc over one cold round: "
        f"{current / 2**20:.2f} MiB kept, {peak / 2**20:.2f} MiB peak"
    )
    if differ:
        raise SystemExit(f"bench/fingerprint.py: {differ} stories differ from the baseline")


if __name__ == "__main__":
    main()
