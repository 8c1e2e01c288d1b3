"""hitbox.RateLimitedLogger: one message per kind per interval, suppressed ones counted."""

from __future__ import annotations

import logging
import threading

import hitbox
import pytest

LOGGER = "tests.ratelimit"


class StepClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def limiter(clock: StepClock) -> hitbox.RateLimitedLogger:
    return hitbox.RateLimitedLogger(LOGGER, interval=60, clock=clock)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def test_one_message_per_window_then_the_suppressed_count(
    limiter: hitbox.RateLimitedLogger, clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert limiter.warning("down", "backend down: %s", "first") is True
    for attempt in range(5):
        clock.now += 10
        assert limiter.warning("down", "backend down: %s", attempt) is False
    assert limiter.suppressed("down") == 5
    clock.now += 10.0  # 60 s after the first: a new window
    assert limiter.warning("down", "backend down: %s", "again") is True
    assert messages(caplog) == [
        "backend down: first",
        "backend down: again (5 similar messages suppressed)",
    ]
    assert limiter.suppressed("down") == 0
    clock.now += 60
    limiter.warning("down", "backend down: %s", "calm")
    assert messages(caplog)[-1] == "backend down: calm"  # nothing was held back this time


def test_kinds_have_their_own_windows(
    limiter: hitbox.RateLimitedLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter.warning("get", "get failed")
    limiter.warning("get", "get failed")
    limiter.warning("set", "set failed")
    assert messages(caplog) == ["get failed", "set failed"]


def test_record_names_the_caller_and_level(
    limiter: hitbox.RateLimitedLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter.error("boom", "exploded")
    limiter.log(logging.WARNING, "other", "odd")
    first, second = caplog.records
    assert (first.levelno, second.levelno) == (logging.ERROR, logging.WARNING)
    assert first.filename == second.filename == "test_logging.py"
    assert first.funcName == "test_record_names_the_caller_and_level"


def test_disabled_level_is_neither_logged_nor_counted(
    limiter: hitbox.RateLimitedLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    assert limiter.warning("quiet", "not shown") is False
    assert limiter.suppressed("quiet") == 0
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert limiter.warning("quiet", "shown") is True


def test_clock_going_backwards_ends_the_window(
    limiter: hitbox.RateLimitedLogger, clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter.warning("k", "one")
    clock.now -= 3600  # e.g. a wall clock stepped back: do not go silent for an hour
    assert limiter.warning("k", "two") is True


def test_interval_zero_logs_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter = hitbox.RateLimitedLogger(logging.getLogger(LOGGER), interval=0)
    for _ in range(3):
        assert limiter.warning("k", "each") is True
    assert messages(caplog) == ["each"] * 3


@pytest.mark.parametrize("interval", [-1, float("nan")])
def test_bad_interval_is_a_config_error(interval: float) -> None:
    with pytest.raises(hitbox.ConfigError, match="interval") as info:
        hitbox.RateLimitedLogger(LOGGER, interval=interval)
    assert info.value.field == "interval"


def test_kind_table_stays_bounded(
    limiter: hitbox.RateLimitedLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for index in range(5000):  # a caller passing keys as kinds by mistake
        limiter.warning(f"key-{index}", "oops")
    assert len(limiter._last) <= 1024


def test_threads_share_one_window(clock: StepClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter = hitbox.RateLimitedLogger(LOGGER, interval=60, clock=clock)
    results: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(200):
            logged = limiter.warning("k", "busy")
            with lock:
                results.append(logged)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert limiter.suppressed("k") == 799
