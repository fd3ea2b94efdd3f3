"""Why a watchlist did not fire: a missing required term, or an excluded phrase."""

from __future__ import annotations

from bot.core.explain import MissExplainer
from bot.core.models import Term, Watchlist

DRONES = Watchlist(
    name="Bayraktar",
    terms=(
        Term("Bayraktar", ("Bayraktar",)),
        Term("Drone context", ("drone", "drones")),
    ),
    require=("Bayraktar", "Drone context"),
)
KFOR = Watchlist(
    name="KFOR",
    terms=(Term("KFOR", ("KFOR",)),),
    exclude=("KFOR Street",),
)
EXPLAIN = MissExplainer([DRONES, KFOR])


def test_missing_required_term_is_named() -> None:
    title = "Bayraktar scores twice as Partizan win"
    assert EXPLAIN.why_not(title, "", []) == {"Bayraktar": "it also needs Drone context"}


def test_excluded_phrase_is_named() -> None:
    text = "A new café opened on KFOR  street in Pristina."  # folded: case and spacing
    assert EXPLAIN.why_not("", text, []) == {
        "KFOR": "the story contains a phrase this watchlist excludes: 'KFOR Street'"
    }


def test_nothing_to_explain() -> None:
    assert EXPLAIN.why_not("Bayraktar drones delivered", "", ["Bayraktar"]) == {}
    assert EXPLAIN.why_not("Workforce shortages", "The workforce is shrinking.", []) == {}
