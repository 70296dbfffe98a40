"""How often an Anchor batch is polled: the interval policy, decided without I/O.

The batch is polled with the documented backoff (x1.5 up to a cap), tightened back to
the minimum whenever new sessions arrive. The pool's polling loop
(:mod:`._anchor_pool`) asks here how long to sleep and does the sleeping.
"""

from __future__ import annotations

from .._core.backoff import grow_interval

__all__ = ["next_poll_interval"]


def next_poll_interval(
    interval: float, *, fresh: bool, any_ready: bool, minimum: float, documented: float, cap: float
) -> float:
    """Seconds until the next batch poll.

    New sessions just arrived: poll again soon (``minimum``), more are likely. None ready
    yet: ramp x1.5 from ``minimum`` up to the documented start (5 s), so the first session
    is seen early. After that: the documented backoff, x1.5 up to ``cap`` (30 s).

    Example:
        >>> next_poll_interval(4.0, fresh=False, any_ready=False, minimum=1, documented=5, cap=30)
        5
        >>> next_poll_interval(20.0, fresh=False, any_ready=True, minimum=1, documented=5, cap=30)
        30
    """
    if fresh:
        return minimum
    return grow_interval(interval, cap if any_ready else documented)
