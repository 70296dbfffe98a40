"""The one backoff of the package: how long to wait before trying again, or polling again.

Two shapes, both here so that no module grows its own formula:

- :func:`backoff_delay` (retries): capped exponential from ``base``, with jitter
  between half and all of the delay, so that many clients failing together do not
  come back together; a server's ``Retry-After`` wins when given (up to a ceiling).
- :func:`grow_interval` (polling): the vendor's documented polling ramp, each wait
  ``factor`` times the last, up to a cap; no jitter, a poll is not a retry storm.

No I/O: callers sleep.
"""

from __future__ import annotations

import random

__all__ = ["backoff_delay", "grow_interval"]


def backoff_delay(
    attempt: int,
    base: float,
    cap: float = 30.0,
    rng: random.Random | None = None,
    *,
    retry_after: float | None = None,
    max_retry_after: float | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts the tries made, from 1).

    Exponential from ``base`` (attempt 1 waits about ``base``, attempt 2 about twice
    that), capped at ``cap``, then jittered to between half and all of it. A
    ``retry_after`` the server sent replaces all that, capped at ``max_retry_after``.

    Example:
        >>> 0.5 <= backoff_delay(1, 1.0, rng=random.Random(0)) <= 1.0
        True
        >>> backoff_delay(3, 1.0, retry_after=120, max_retry_after=60)
        60
    """
    if retry_after is not None and retry_after >= 0:
        return retry_after if max_retry_after is None else min(retry_after, max_retry_after)
    raw = min(cap, base * (2 ** max(0, attempt - 1)))
    return raw * (0.5 + 0.5 * (rng or random).random())


def grow_interval(interval: float, cap: float, factor: float = 1.5) -> float:
    """The next polling interval: ``factor`` times ``interval``, at most ``cap``.

    Example:
        >>> grow_interval(5, cap=30), grow_interval(25, cap=30)
        (7.5, 30)
    """
    return min(cap, interval * factor)
