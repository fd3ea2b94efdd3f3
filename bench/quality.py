"""Quality of what chat would show: every corpus entry through parse → match → summary.

Not a speed benchmark: it counts defects a reader would notice, one count per rule
(an entry can break several rules), and prints random summaries to read.

Rules (each is checked on what reaches chat: the summary, the title, the outlet):

- ``invisible``: a zero-width, soft hyphen, BOM, bidi control or other format
  character (Unicode category Cf) in the summary, title or outlet name.
- ``cut``: a summary that ends mid-sentence without "…" (a phrase without a final
  stop after full sentences, or one ending on a connecting word or a comma, or one
  over 200 characters), or whose "…" follows part of a word of the source text. A
  phrase that ends without a stop but is whole ("…, and more") is not counted.
- ``bullet_or_heading``: a summary that starts with a bullet, a list number
  ("1- ", "2) ") or a heading line of the text (a line of under 15 words without
  final punctuation, other than a sentence of six words or more ending in ":")
  run into the next sentence.
- ``repeats_title``: a summary that is the title, or opens with it as a sentence or
  heading of its own (not "Eternal Return was newly added", a sentence about it).
- ``caption_or_credit``: a photo/video caption or credit pattern in the summary
  ("Photo: …", "(AP Photo/…)", "Getty Images", "FILE - ", "The Brief …", "Watch: …").
- ``outlet_generic``: an outlet name that is a section or noise ("World", "RSS",
  "… Search Records Found 1000", "Category World", "feed"), or empty.
- ``hit_not_shown``: a watched term hit in the story's text but no sentence with
  that hit is in the summary.

Watchlist: the shipped watchlists plus the names from issue 12 (Iran, Ukraine,
NATO, Trump), so ``hit_not_shown`` has hits to look at.

Run: ``python bench/quality.py`` (``--quick`` for a smoke run on the five smallest
files of each folder, ``--corpus DIR`` once or more for other folders,
``--seed N`` for another sample, ``--examples N`` to list defects per rule).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.corpus import CORPUS, require_corpus  # noqa: E402  # needs the path above
from bot.core.matching import compile_matcher  # noqa: E402
from bot.core.models import Match, Story, Summary, Term, Watchlist  # noqa: E402
from bot.core.summarize import summarize  # noqa: E402
from bot.core.watchlist import parse_watchlist  # noqa: E402
from bot.feeds.parse import ParseError, parse_feed  # noqa: E402

CORPORA = [CORPUS, CORPUS.parent / "realfeeds-more"]
RULES = (
    "invisible",
    "cut",
    "bullet_or_heading",
    "repeats_title",
    "caption_or_credit",
    "outlet_generic",
    "hit_not_shown",
)
ISSUE_NAMES = Watchlist(
    name="issue12",
    terms=tuple(Term(name=n, forms=(n,)) for n in ("Iran", "Ukraine", "NATO", "Trump")),
)

_FINAL = re.compile(r"""[.!?…。！？।؟]["'”’»)\]]*$""")
_BULLET = re.compile(r"^(?:[•·▪◦►▶■□●○➤✓✔*#>|–—-]|\d{1,2}\s?[-.)]\s)")
_CONNECTIVE_WORDS = """a an the and or but nor of to in on at by for from with as into
    about after before over under between than that which who this these those its his
    her their our your is are was were be been has have had will would can could"""
_CONNECTIVES = frozenset(_CONNECTIVE_WORDS.split())
_CAPTION = re.compile(
    r"""(?:^|\()\s*(?:photo|image|picture|video|graphic|illustration)s?\s*(?:credit\s*)?:
      | \((?:ap|afp|reuters|getty|photo|image|picture|file)\s*(?:photo|images?|/|:|by)
      | \bgetty\s+images\b | \bap\s+photo\b | \bfile\s+photo\b | \bphoto\s+by\b
      | \bphoto\s+credit\b | \bimage\s+credit\b | \bcredit\s*: | (?:^|\s)FILE\s*[-–—]\s
      | ^the\s+brief\b | ^watch\s*: | ^video\s*: | ^listen\s*: | \bclick\s+to\s+enlarge\b
      | /(?:reuters|afp|ap|anadolu|epa|getty\s+images)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_GENERIC_WORDS = """world news latest home homepage rss feed feeds blog articles posts stories
    headlines tech technology politics business sport sports science health
    entertainment opinion topics section all main international national local
    us uk europe asia africa americas updates everything top comments"""
_GENERIC = frozenset(_GENERIC_WORDS.split())
_NOISE = re.compile(
    r"records\s+found|\bsearch\b|\bcategory\b|\bfeed\b|\brss\b|^comments\s+on\b|[-–—|:>»]\s*$",
    re.IGNORECASE,
)


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def invisible(s: str) -> bool:
    return any(unicodedata.category(c) == "Cf" and c != "\u200d" for c in s)


def outlet_generic(name: str) -> bool:
    words = re.findall(r"\w+", name.casefold())
    if not words:
        return True
    if all(w in _GENERIC for w in words):
        return True
    return _NOISE.search(name) is not None


def cut_short(summary: str, source: str) -> bool:
    """Ends mid-sentence without "…", or with "…" right after part of a word."""
    if summary.endswith(("…", "...")):
        word = re.search(r"(\w+)\W*(?:…|\.\.\.)$", summary)
        # The word before "…" must be whole in the source text.
        return bool(word) and not re.search(
            re.escape(word.group(1)) + r"(?!\w)", source, re.IGNORECASE
        )
    if _FINAL.search(summary):
        return False
    last = re.split(r"(?<=[a-z0-9)][.!?…])\s+(?=[A-Z“\"‘])", summary)[-1]
    # A phrase without a final stop is a sentence cut short when it follows full
    # sentences, ends on a connecting word or mark, or runs on.
    tail = re.search(r"(\w+)\W*$", last)
    return (
        last != summary
        or last.rstrip()[-1:] in ",;:–—-(/&"
        or (tail is not None and tail.group(1).casefold() in _CONNECTIVES)
        or len(last) > 200
    )


def title_first(summary: str, title: str) -> bool:
    """The summary is the title, or opens with it as a sentence or heading of its own."""
    s, t = _norm(summary), _norm(title)
    if s == t or s.rstrip(".") == t:
        return True
    if not s.startswith(t):
        return False
    rest = summary.strip()[len(" ".join(title.split())) :]
    return bool(re.match(r"\s*[.:!?|–—-]|\s+[A-Z“\"‘]", rest))


def defects(story: Story, summary: Summary, matches: list[Match]) -> list[str]:
    """The rules this entry breaks (see the module docstring)."""
    found: list[str] = []
    text = summary.text
    if invisible(text) or invisible(story.title) or invisible(story.outlet):
        found.append("invisible")
    from_title = _norm(text) == _norm(story.title)
    if text and not from_title and cut_short(text, story.text):
        found.append("cut")
    lines = [ln.strip() for ln in story.text.splitlines() if ln.strip()]
    # A heading: a short first line without a final stop, run into the next one; a
    # sentence of six words or more that introduces what follows with ":" is not one.
    heading = bool(lines) and (
        _norm(text).startswith(_norm(lines[0]) + " ")
        and not _FINAL.search(lines[0])
        and len(lines[0].split()) < 15
        and not (lines[0].endswith(":") and len(lines[0].split()) >= 6)
    )
    if text and (_BULLET.match(text) or heading):
        found.append("bullet_or_heading")
    if story.title and text and title_first(text, story.title):
        found.append("repeats_title")
    if _CAPTION.search(text):
        found.append("caption_or_credit")
    if outlet_generic(story.outlet):
        found.append("outlet_generic")
    shown = {_norm(s.text) for s in summary.spans if s.highlight}
    for term in {m.term for m in matches if m.field == "text"}:
        hits = {_norm(story.text[m.start : m.end]) for m in matches if m.term == term}
        if not hits & shown and not any(m.term == term and m.field == "title" for m in matches):
            found.append("hit_not_shown")
            break
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, action="append", help="folder of *.xml feeds")
    ap.add_argument("--seed", type=int, default=12, help="seed of the sample of summaries")
    ap.add_argument("--sample", type=int, default=20, help="summaries to print")
    ap.add_argument("--examples", type=int, default=0, help="defective entries to list per rule")
    ap.add_argument("--budget", type=int, default=600, help="summary characters ([alerts])")
    ap.add_argument("--quick", action="store_true", help="the five smallest files of each folder")
    args = ap.parse_args(argv)
    folders: list[Path] = args.corpus or CORPORA
    for folder in folders:
        require_corpus(folder, "quality.py")
    lists = [ISSUE_NAMES]
    for p in sorted((ROOT / "watchlists").glob("*.toml")):
        lists.append(parse_watchlist(p.read_text(encoding="utf-8"), str(p)))
    matcher = compile_matcher(lists)

    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    rows: list[tuple[str, Story, Summary]] = []
    errors = 0
    files = 0
    for folder in folders:
        paths = sorted(folder.glob("*.xml"))
        if args.quick:
            paths = sorted(paths, key=lambda p: p.stat().st_size)[:5]
        for path in paths:
            files += 1
            try:
                parsed = parse_feed(path.read_bytes(), str(path))
            except ParseError:
                errors += 1
                continue
            for story in parsed.stories:
                matches = matcher.match(story.title, story.text)
                summary = summarize(story.title, story.text, matches, budget=args.budget)
                rows.append((path.name, story, summary))
                for rule in defects(story, summary, matches):
                    counts[rule] += 1
                    examples[rule].append(
                        f"{folder.name}/{path.name} [{story.outlet}] {story.title[:60]!r}: "
                        f"{summary.text[:70]!r} … {summary.text[-110:]!r}"
                    )
    total = len(rows)
    print(f"entries {total} from {files} files ({errors} unreadable)")
    for rule in RULES:
        print(f"defect {rule:<18} {counts[rule]:>5}  ({100 * counts[rule] / max(total, 1):.1f}%)")
    print(f"defect {'any':<18} {sum(counts.values()):>5}  (entries × rules)")
    if args.examples:
        for rule in RULES:
            for line in examples[rule][: args.examples]:
                print(f"  {rule}: {line}")
    rng = random.Random(args.seed)
    print(f"\n{min(args.sample, total)} random summaries (seed {args.seed}):")
    for _name, story, summary in rng.sample(rows, min(args.sample, total)):
        print(f"- [{story.outlet}] {story.title[:100]}")
        print(f"  {summary.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
