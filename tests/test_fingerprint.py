"""The fast fingerprint and band keys are bit for bit those of the formula they replaced.

Fingerprints and band keys are stored and compared across processes and versions, so
``bot.core.cluster.fingerprint`` / ``bands`` / ``story_features`` must give exactly what
the plain formula gives (kept verbatim in ``bench/fingerprint.py`` as the bench's
baseline): on every story of the real-feed corpora, and on random text built to hit the
edges (non-ASCII letters that fold to ASCII or not, characters that split or join
tokens differently when folded with and without case, long leads that cross the ASCII
prefix, word memos that turn over during the run).
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.fingerprint import old_bands, old_fingerprint, old_story_features
from bot.core import cluster
from bot.core.cluster import SIZE, bands, decode, encode, fingerprint, story_features
from bot.feeds.parse import ParseError, parse_feed
from tests.conftest import CORPUS, NO_CORPUS

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)


def corpus_stories(folder: Path, step: int) -> list[tuple[str, str]]:
    """Title and text of every story of every ``step``-th feed of ``folder``."""
    stories: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.xml"))[::step]:
        try:
            parsed = parse_feed(
                path.read_bytes(), path.as_uri(), content_type="", outlet="o", now=NOW
            )
        except ParseError:
            continue
        stories.extend((s.title, s.text) for s in parsed.stories)
    return stories


def assert_same(stories: list[tuple[str, str]]) -> int:
    """Every story: same features, fingerprint and band keys; returns how many had words."""
    nonempty = 0
    for title, text in stories:
        assert story_features(title, text) == old_story_features(title, text), (title, text)
        fp = fingerprint(title, text)
        old = old_fingerprint(title, text)
        assert fp == old, (title, text)
        assert all(type(x) is int for x in fp)
        if fp:
            nonempty += 1
            assert len(fp) == SIZE
            assert bands(fp) == old_bands(fp), (title, text)
            assert bands(decode(encode(fp))) == old_bands(old)
        else:
            assert bands(fp) == []
    return nonempty


@pytest.fixture
def small_memos() -> Iterator[None]:
    """Word memos of a few words, so they turn over many times during a test."""
    saved = cluster._rows.limit, cluster._hashes.limit
    cluster._rows.limit = cluster._hashes.limit = 7
    cluster._rows.clear()
    cluster._hashes.clear()
    try:
        yield
    finally:
        cluster._rows.limit, cluster._hashes.limit = saved
        cluster._rows.clear()
        cluster._hashes.clear()


@pytest.mark.skipif(not (CORPUS / "realfeeds").is_dir(), reason=NO_CORPUS)
@pytest.mark.parametrize(("folder", "step"), [("realfeeds", 8), ("realfeeds-more", 8)])
def test_fingerprints_and_bands_equal_the_old_formula_on_the_corpus(folder: str, step: int) -> None:
    stories = corpus_stories(CORPUS / folder, step)
    assert len(stories) > 300
    assert assert_same(stories) > 300


@pytest.mark.skipif(not (CORPUS / "realfeeds").is_dir(), reason=NO_CORPUS)
def test_corpus_fingerprints_do_not_depend_on_the_memos(small_memos: None) -> None:
    stories = corpus_stories(CORPUS / "realfeeds", 20)
    first = [fingerprint(t, x) for t, x in stories]
    assert len(cluster._rows.young) <= 7 and len(cluster._rows.old) <= 7
    assert first == [old_fingerprint(t, x) for t, x in stories]
    assert [fingerprint(t, x) for t, x in reversed(stories)] == first[::-1]


_WORDS = """the a of to Minister President Orbán Erdoğan Akıncı Türkiye KFOR TB2 drones
    talks talked talking charges impeached news says said Kosovo Jarinje Monday May
    Paris BREAKING Live update, analysis: report. quake M5.2 strikes near coast
    straße Øresund Łódź Æsir œuvre þorn Đorđe ﬁnance ＡＢＣ Ⅻ ½ naïve café
    Ꭰꭰ ꮳ Σίσυφος ΣΊΣΥΦΟΣ Москва КФОР 東京 北京市 😀 e\u0301te\u0301 n\u0303 İstanbul
    ı I i x s t us is ss es ses zes xes"""
WORDS = _WORDS.split()
PUNCT = [
    " ",
    "  ",
    ". ",
    "! ",
    "? ",
    ": ",
    "; ",
    '"',
    "“",
    "”",
    "‘",
    "’",
    "'",
    "`",
    "-",
    "–",
    "—",
    "\u2212",
    "\u00a0",
    "\t",
    "\n",
    "\x1c",
    "\u00ad",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u0301",
    "\x00",
    "_",
    "(",
    ")",
    ",",
    "…",
    "T:",
    "\u3000",
]


def random_text(rng: random.Random, words: int, ascii_only: bool) -> str:
    parts: list[str] = []
    for _ in range(words):
        if ascii_only:
            word = "".join(
                rng.choice("abcdefghijklmnopqrstuvwxyzAEIKMST0123456789_")
                for _ in range(rng.randint(1, 9))
            )
            if rng.random() < 0.3:
                word = word.capitalize()
            if rng.random() < 0.2:
                word = rng.choice(["the", "and", "of", "Monday", "President", "news", "TB2"])
            parts.append(word)
            parts.append(
                rng.choice([" ", " ", " ", ". ", ", ", ': "', "-", "`", "\t", "\x00", "\n"])
            )
        else:
            parts.append(rng.choice(WORDS))
            parts.append(rng.choice(PUNCT))
    return "".join(parts)


@pytest.mark.parametrize("seed", range(4))
def test_fingerprints_and_bands_equal_the_old_formula_on_random_text(
    seed: int, small_memos: None
) -> None:
    rng = random.Random(seed)
    stories = []
    for _ in range(150):
        ascii_only = rng.random() < 0.5
        title = random_text(rng, rng.randint(0, 14), ascii_only)
        # Leads from empty to well past the 1,500 characters folded and the ASCII prefix.
        text = random_text(rng, rng.choice([0, 3, 30, 80, 200, 400]), ascii_only)
        stories.append((title, text))
    stories += [("", ""), ("  — , . ", ""), ("a", "I"), ("The Of And", "the of and " * 200)]
    assert assert_same(stories) > 100


def test_bands_of_other_lengths_keep_the_plain_formula() -> None:
    """``bands`` of a tuple that is not a fingerprint of ours (decode rejects such rows)
    still gives the plain formula's keys."""
    rng = random.Random(5)
    for n in (1, 2, 3, 100, 128, 129, 150, SIZE - 1, SIZE + 1, 300):
        fp = tuple(rng.choice([0, rng.getrandbits(32)]) for _ in range(n))
        assert bands(fp) == old_bands(fp)
    for _ in range(50):
        fp = tuple(rng.getrandbits(32) if rng.random() < 0.8 else 0 for _ in range(SIZE))
        assert bands(fp) == old_bands(fp)


def test_fingerprint_bench_smoke_run() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fingerprint.py"),
            "--files",
            "3",
            "--rounds",
            "1",
            "--corpus",
            str(ROOT / "config" / "samples"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "differing from the baseline: 0" in out
    assert "ours, cold word memos" in out and "MiB" in out
