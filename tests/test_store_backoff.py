"""Specification of retry delays: 10 s doubling to 15 min, ±20 % jitter, Retry-After honoured."""

from __future__ import annotations

import random

import pytest

from microcks_pipeline.store import backoff_delay, retry_delay
from microcks_pipeline.store.backoff import MAX_RETRY_AFTER_SECONDS

CAP = 15 * 60


@pytest.mark.parametrize("attempts", range(1, 12))
def test_each_delay_stays_within_twenty_percent_of_its_base(attempts: int) -> None:
    base = min(10 * 2 ** (attempts - 1), CAP)
    rng = random.Random(attempts)

    delays = [backoff_delay(attempts, rng=rng) for _ in range(200)]

    assert all(0.8 * base <= d <= min(1.2 * base, CAP) for d in delays)


def test_the_delay_doubles_with_each_attempt_below_the_cap() -> None:
    for attempts in range(1, 7):
        same_jitter = backoff_delay(attempts, rng=random.Random(7))
        doubled = backoff_delay(attempts + 1, rng=random.Random(7))

        assert doubled == pytest.approx(2 * same_jitter)


def test_the_delay_never_exceeds_fifteen_minutes() -> None:
    rng = random.Random(1)

    delays = [backoff_delay(n, rng=rng) for n in (8, 9, 20, 100, 10**6) for _ in range(100)]

    assert max(delays) <= CAP
    assert min(delays) >= 0.8 * CAP


def test_jitter_spreads_retries_that_failed_together() -> None:
    rng = random.Random(3)

    delays = [backoff_delay(3, rng=rng) for _ in range(500)]

    assert len(set(delays)) > 400
    assert min(delays) < 40 * 0.85 and max(delays) > 40 * 1.15


@pytest.mark.parametrize("attempts", [0, -1, 1.5, True, "2", None])
def test_attempts_must_be_a_positive_integer(attempts: object) -> None:
    with pytest.raises(ValueError, match="attempts"):
        backoff_delay(attempts)  # type: ignore[arg-type]


def test_a_longer_retry_after_wins() -> None:
    assert retry_delay(1, 90, rng=random.Random(0)) == 90


def test_a_shorter_retry_after_is_ignored() -> None:
    rng_a, rng_b = random.Random(5), random.Random(5)

    assert retry_delay(4, 1, rng=rng_a) == backoff_delay(4, rng=rng_b)


def test_an_absurd_retry_after_is_capped() -> None:
    assert retry_delay(1, 10**9) == MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("retry_after", [-1, float("nan"), float("inf"), "30", True])
def test_retry_after_must_be_a_finite_non_negative_number(retry_after: object) -> None:
    with pytest.raises(ValueError, match="retry_after"):
        retry_delay(1, retry_after)  # type: ignore[arg-type]
