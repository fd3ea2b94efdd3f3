"""Near-duplicate detection: stories about the same event form one cluster.

The rule
--------
A story is reduced to a *set of features*: the content words of its title and of
the first :data:`LEAD_WORDS` content words of its text, after folding with
``bot.core.fold`` (case-folded, diacritics stripped, so "Orbán" = "Orban"), with a
short stop-word list removed and one-character tokens dropped. Title words are added
a second time with a ``T:`` tag, so the headline weighs about as much as the lead.

The set is summarised by a MinHash signature of :data:`PERMUTATIONS` values. Each
value is the minimum, over the features, of an independent 32-bit hash taken from
``hashlib.shake_128`` (never Python's salted ``hash()``), so signatures are stable
across processes and machines and can be stored. ``similarity`` is the fraction of
equal positions: an unbiased estimate of the Jaccard index of the two feature sets
(standard error about 0.04 at the threshold).

``choose_cluster`` joins a new story to the most similar candidate cluster whose story
was published within ``window`` of it and whose similarity reaches ``threshold``.
Candidates from the *same feed* must reach :data:`SAME_FEED_THRESHOLD` as well:
one outlet writing twice about a subject is usually a new development, not a copy.
``bands`` gives LSH keys (:data:`BANDS` bands of :data:`ROWS` rows) so the store can
fetch candidates by key instead of scanning every recent story; with two rows per band
a pair at Jaccard 0.3 shares a key with probability 0.998, at 0.1 with 0.47.

The threshold
-------------
Measured on ``tests/data/clusters.tsv`` (hand-labelled pairs of real stories from the
corpus, see ``tests/data/make_clusters.py``; ``bench/cluster.py`` prints the sweep).
:data:`DEFAULT_THRESHOLD` 0.3 keeps precision at about 0.99: a wrong merge hides an
event from a channel, while a missed merge only costs one extra message, so precision
comes first. At 0.3 every syndicated copy, rewritten headline and copy with boilerplate
added is found, but only about a fifth of independently written reports of one event.

Known misses
------------
* Independent write-ups of one event by different outlets share few words (different
  headlines, different leads); most stay separate alerts. Lexical overlap alone cannot
  tell them from follow-ups about the same names (see the hard negatives in the set).
* Two different events told in nearly the same words ("TB2 sold to Poland" / "TB2 sold
  to Kuwait" from a template press release) merge when only a name or two differ.
* Stop words are English only; other languages' function words add shared noise and
  raise similarity a little. Scripts without spaces (Chinese, Japanese) tokenise into
  long runs and rarely match.
* Very short stories (a headline and no text) have few features, so one shared name
  moves the score a lot; the same-feed rule and the window limit the damage.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.fold import fold

Fingerprint = tuple[int, ...]
"""A MinHash signature: :data:`PERMUTATIONS` unsigned 32-bit ints, or ``()`` for a story
with no usable words (it is similar to nothing)."""

PERMUTATIONS = 128
ROWS = 2
BANDS = PERMUTATIONS // ROWS
LEAD_WORDS = 40
"""Content words of the text taken as the lead: later paragraphs drift to background
and boilerplate, which differ between outlets and inflate unrelated overlap."""

DEFAULT_THRESHOLD = 0.3
DEFAULT_WINDOW = timedelta(hours=72)
SAME_FEED_THRESHOLD = 0.6
"""Stricter bar for a candidate from the same feed (see the module docstring)."""

_LEAD_CHARS = 1500
_ENCODING = struct.Struct(f">{PERMUTATIONS}I")
_WORD = re.compile(r"\w+")
_STOP_WORDS = """a an the and or but nor of to in on at for by with from as into onto over under
    about after before between during against amid among via per than then so if while
    is are was were be been being has have had do does did it its this that these those
    he she they we you i his her their our your my him them us me not no yes all any
    some more most new also up out who whom whose what which when where why how says
    said say will would could can may might must should just over off s t"""
_STOP = frozenset(_STOP_WORDS.split())


def _tokens(text: str) -> list[str]:
    # bot.core.fold: case-folded, marks stripped, Türkiye = Turkiye, Akıncı = akinci.
    return [t for t in _WORD.findall(fold(text).text) if len(t) > 1 and t not in _STOP]


def features(title: str, text: str) -> set[str]:
    """The feature set a fingerprint summarises (exposed for tests and the bench)."""
    title_words = _tokens(title)
    # Forty content words fit well inside the first 1,500 characters; folding only that
    # much keeps long articles as cheap as teasers.
    lead = _tokens(text[:_LEAD_CHARS])[:LEAD_WORDS]
    out = set(title_words) | set(lead)
    out.update("T:" + w for w in title_words)
    return out


def fingerprint(title: str, text: str) -> Fingerprint:
    """MinHash signature of the story's title and lead."""
    feats = features(title, text)
    if not feats:
        return ()
    rows = [
        _ENCODING.unpack(hashlib.shake_128(f.encode("utf-8")).digest(_ENCODING.size))
        for f in sorted(feats)
    ]
    return tuple(min(column) for column in zip(*rows, strict=True))


def encode(fp: Fingerprint) -> bytes:
    """Bytes for a BLOB column (512 bytes, or empty for the empty fingerprint)."""
    return _ENCODING.pack(*fp) if fp else b""


def decode(data: bytes) -> Fingerprint:
    """Inverse of :func:`encode`; ValueError on anything else."""
    if not data:
        return ()
    if len(data) != _ENCODING.size:
        raise ValueError(f"a fingerprint is {_ENCODING.size} bytes, got {len(data)}")
    return tuple(_ENCODING.unpack(data))


def bands(fp: Fingerprint) -> list[int]:
    """LSH keys, one per band, as signed 64-bit ints (they fit an SQLite INTEGER).

    Two stories are worth comparing when they share at least one key; the band number
    is part of the key so equal values in different bands do not collide.
    """
    if not fp:
        return []
    keys = []
    for b in range(BANDS):
        chunk = struct.pack(f">H{ROWS}I", b, *fp[b * ROWS : (b + 1) * ROWS])
        digest = hashlib.blake2b(chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Estimated Jaccard index of the two stories' feature sets, from 0 to 1."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recent story already in a cluster, as the store hands it back."""

    cluster_id: int
    fingerprint: Fingerprint
    published: datetime
    feed_url: str
    title: str


def choose_cluster(
    fp: Fingerprint,
    published: datetime,
    feed_url: str,
    candidates: Iterable[Candidate],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = DEFAULT_WINDOW,
) -> int | None:
    """The cluster a new story joins, or None when it starts a new one.

    The best candidate wins: highest similarity, then the earliest published, then the
    lowest cluster id, so the answer does not depend on the order of ``candidates``.
    """
    best: tuple[float, datetime, int] | None = None
    for c in candidates:
        if abs(c.published - published) > window:
            continue
        score = similarity(fp, c.fingerprint)
        bar = max(threshold, SAME_FEED_THRESHOLD) if c.feed_url == feed_url else threshold
        if score < bar or score <= 0.0:
            continue
        key = (-score, c.published, c.cluster_id)
        if best is None or key < (-best[0], best[1], best[2]):
            best = (score, c.published, c.cluster_id)
    return None if best is None else best[2]
