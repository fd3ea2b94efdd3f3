"""The bookkeeping of a supervised chat connection, on a hand-driven clock."""

from __future__ import annotations

import logging

import pytest

from bot.chat.base import STABLE_AFTER, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervisor(clock: Clock) -> Supervisor:
    return Supervisor("Test link", base=1.0, cap=8.0, rng=lambda: 0.0, clock=clock)


def test_an_outage_backs_off_to_the_cap_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.chat.base")
    clock = Clock()
    s = supervisor(clock)
    delays = [s.failed("refused") for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # 1, 2, 4, 8, 8, 8 at the lowest jitter
    clock.now += 15
    s.connected()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "cannot connect (refused)" in warnings[0].getMessage()
    assert infos == ["Test link: connected again after 15 s (6 failed tries)"]
    assert (s.stats.failures, s.stats.outages, s.stats.connects, s.up) == (6, 1, 1, True)


def test_a_drop_after_a_stable_connection_reconnects_at_once_and_forgets_the_back_off() -> None:
    clock = Clock()
    s = supervisor(clock)
    for _ in range(4):
        s.failed("refused")
    s.connected()
    clock.now += STABLE_AFTER
    assert s.dropped("closed") == 0.0
    assert s.failed("refused") == 0.5  # the count started afresh
    assert (s.stats.drops, s.stats.outages) == (1, 2)


def test_a_connection_that_drops_right_after_opening_is_a_failed_try() -> None:
    clock = Clock()
    s = supervisor(clock)
    delays = []
    for _ in range(4):
        s.connected(resumed=True)
        clock.now += 1
        delays.append(s.dropped("closed"))
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert (s.stats.resumes, s.stats.drops, s.stats.failures) == (4, 4, 4)


def test_at_least_raises_the_wait_for_errors_that_need_an_operator() -> None:
    s = supervisor(Clock())
    assert s.failed("token rejected", at_least=8.0) == 8.0
