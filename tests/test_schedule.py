"""bot.core.schedule.next_poll: the rule of its docstring, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.schedule import (
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    next_poll,
    reconnect_delay,
    stable_jitter,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
TEN = timedelta(minutes=10)
HOUR = timedelta(hours=1)
MID = 0.0  # jitter that moves nothing


def delay(**kwargs: object) -> timedelta:
    args: dict[str, object] = {"interval": TEN, "max_interval": HOUR, "jitter": MID}
    args.update(kwargs)
    return next_poll(NOW, **args) - NOW  # type: ignore[arg-type]  # test helper


def test_default_interval() -> None:
    assert delay() == TEN


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ({"ttl": 30 * MIN}, 30 * MIN),  # longer ttl stretches the interval
        ({"max_age": 20 * MIN}, 20 * MIN),
        ({"max_age": 20 * MIN, "ttl": 40 * MIN}, 40 * MIN),  # the longer hint wins
        ({"ttl": 2 * MIN}, TEN),  # shorter hints never speed polling up
        ({"max_age": timedelta(0)}, TEN),
        ({"ttl": timedelta(days=1)}, HOUR),  # capped at max_interval
        ({"max_age": 5 * HOUR}, HOUR),
    ],
)
def test_feed_hints(hints: dict[str, timedelta], expected: timedelta) -> None:
    assert delay(**hints) == expected


def test_operator_interval_longer_than_max_interval_is_kept() -> None:
    assert delay(interval=2 * HOUR) == 2 * HOUR
    assert delay(interval=2 * HOUR, ttl=3 * HOUR) == 2 * HOUR


def test_backoff_doubles_per_error_up_to_the_cap() -> None:
    got = [delay(error_count=n) for n in range(8)]
    assert got[:6] == [TEN * 2**n for n in range(6)]  # 10, 20, 40, 80, 160, 320 min
    assert got[6] == got[7] == MAX_BACKOFF == timedelta(hours=6)
    assert delay(error_count=10_000) == MAX_BACKOFF  # no overflow


def test_backoff_starts_from_the_stretched_interval_and_never_shortens_it() -> None:
    assert delay(ttl=30 * MIN, error_count=1) == HOUR
    assert delay(interval=8 * HOUR, error_count=3) == 8 * HOUR


def test_jitter_only_makes_a_poll_earlier() -> None:
    assert delay(jitter=0.0) == TEN
    assert delay(jitter=0.5) == TEN * 0.95
    assert delay(jitter=0.999999) == pytest.approx(9 * MIN, abs=timedelta(seconds=1))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, float("nan")])
def test_jitter_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        delay(jitter=bad)


def test_retry_after_is_never_undercut() -> None:
    assert delay(retry_after=2 * HOUR, jitter=0.0) == 2 * HOUR
    assert delay(retry_after=2 * HOUR, jitter=0.5) == 2 * HOUR * 1.05
    # A short Retry-After does not shorten the normal (or backed-off) delay.
    assert delay(retry_after=MIN) == TEN
    assert delay(retry_after=MIN, error_count=2) == 4 * TEN
    assert delay(retry_after=timedelta(0)) == TEN


def test_absurd_retry_after_is_clamped() -> None:
    assert delay(retry_after=timedelta(days=400), jitter=0.0) == MAX_RETRY_AFTER


def test_rejects_naive_now_and_bad_values() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_poll(datetime(2026, 1, 1), interval=TEN, max_interval=HOUR, jitter=0.1)
    with pytest.raises(ValueError, match="positive"):
        delay(interval=timedelta(0))
    with pytest.raises(ValueError, match="error_count"):
        delay(error_count=-1)


def test_stable_jitter() -> None:
    a = stable_jitter("https://example.org/rss")
    assert a == stable_jitter("https://example.org/rss")
    assert a != stable_jitter("https://example.org/atom")
    values = [stable_jitter(f"https://feeds.example/{i}") for i in range(1000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55  # spread, not clumped


@given(
    interval=st.integers(60, 86_400).map(lambda s: timedelta(seconds=s)),
    max_interval=st.integers(60, 86_400).map(lambda s: timedelta(seconds=s)),
    hint=st.none() | st.integers(0, 10**6).map(lambda s: timedelta(seconds=s)),
    errors=st.integers(0, 100),
    retry=st.none() | st.integers(0, 10**8).map(lambda s: timedelta(seconds=s)),
    jitter=st.floats(0.0, 1.0, exclude_max=True),
)
def test_properties(
    interval: timedelta,
    max_interval: timedelta,
    hint: timedelta | None,
    errors: int,
    retry: timedelta | None,
    jitter: float,
) -> None:
    when = next_poll(
        NOW,
        interval=interval,
        max_interval=max_interval,
        max_age=hint,
        error_count=errors,
        retry_after=retry,
        jitter=jitter,
    )
    d = when - NOW
    assert d >= interval * 0.9 - timedelta(microseconds=1)  # never faster than asked
    if retry is not None:
        assert d >= min(retry, MAX_RETRY_AFTER)
    upper = max(interval, min(hint or interval, max_interval))
    upper = max(upper, MAX_BACKOFF if errors else upper, min(retry or upper, MAX_RETRY_AFTER))
    # Jitter never delays a poll; only Retry-After's own spread adds (up to 10 %).
    plain = max(interval, min(hint or interval, max_interval))
    plain = max(plain, MAX_BACKOFF if errors else plain)
    if retry is None:
        assert d <= plain + timedelta(microseconds=1)
    assert d <= upper * 1.1 + timedelta(microseconds=1)


# --------------------------------------------------------------------------- reconnect_delay


@pytest.mark.parametrize(
    ("failures", "jitter", "expected"),
    [
        (0, 0.0, 0.5),  # fewer than one failure counts as one
        (1, 0.0, 0.5),  # half of the base at the lowest jitter
        (1, 0.999999, 1.0),
        (2, 0.0, 1.0),
        (3, 0.5, 3.0),  # 4 s · 0.75
        (7, 0.0, 30.0),  # 64 s capped at 60, · 0.5
        (10_000, 0.0, 30.0),  # no overflow
    ],
)
def test_reconnect_delay_table(failures: int, jitter: float, expected: float) -> None:
    got = reconnect_delay(failures, base=1.0, cap=60.0, jitter=jitter)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"base": 1.0, "cap": 60.0, "jitter": 1.0}, "jitter"),
        ({"base": 0.0, "cap": 60.0, "jitter": 0.0}, "base"),
        ({"base": 5.0, "cap": 1.0, "jitter": 0.0}, "base"),
    ],
)
def test_reconnect_delay_rejects_bad_arguments(kwargs: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        reconnect_delay(1, **kwargs)


@given(failures=st.integers(-5, 200), jitter=st.floats(0.0, 1.0, exclude_max=True))
def test_reconnect_delay_stays_within_half_base_and_cap(failures: int, jitter: float) -> None:
    got = reconnect_delay(failures, base=1.0, cap=60.0, jitter=jitter)
    assert 0.5 <= got <= 60.0
