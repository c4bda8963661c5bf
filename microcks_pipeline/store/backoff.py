"""Retry delays after transient failures: exponential, jittered, capped."""

from __future__ import annotations

import math
import random

BASE_DELAY_SECONDS = 10.0
MAX_DELAY_SECONDS = 900.0  # 15 minutes
JITTER = 0.2  # ±20 %, so entities that failed together do not retry together
# A Retry-After beyond this is not trusted: a mock must not be parked for days by one header.
MAX_RETRY_AFTER_SECONDS = 3600.0

_default_rng = random.Random()


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th consecutive failure (1 → ~10 s, 2 → ~20 s, ...).

    The base doubles from 10 s up to 15 min; jitter of ±20 % is applied and the result never
    exceeds 15 min.
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be an integer >= 1, got {attempts!r}")
    doublings = min(attempts - 1, 16)  # 10 s * 2**7 already exceeds the cap
    base = min(BASE_DELAY_SECONDS * 2**doublings, MAX_DELAY_SECONDS)
    factor = (rng or _default_rng).uniform(1.0 - JITTER, 1.0 + JITTER)
    return min(base * factor, MAX_DELAY_SECONDS)


def checked_retry_after(retry_after: float | None) -> float | None:
    """`retry_after` as seconds (capped at 1 h), or ValueError for anything but a number >= 0."""
    if retry_after is None:
        return None
    if isinstance(retry_after, bool) or not isinstance(retry_after, int | float):
        raise ValueError(f"retry_after must be a number of seconds, got {retry_after!r}")
    if not math.isfinite(retry_after) or retry_after < 0:
        raise ValueError(f"retry_after must be a finite number >= 0, got {retry_after!r}")
    return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)


def retry_delay(
    attempts: int, retry_after: float | None = None, *, rng: random.Random | None = None
) -> float:
    """The backoff delay, or the server's Retry-After (429/503) when that is longer."""
    delay = backoff_delay(attempts, rng=rng)
    server = checked_retry_after(retry_after)
    return delay if server is None else max(delay, server)
