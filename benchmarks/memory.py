"""Peak RSS of one scrape in a fresh process: ``python -m benchmarks.memory ROWS``.

Prints one JSON line: the RSS before the run (imports done, a one-row warm-up
run finished, the input frame built), the peak during the run, and the size of
the result frames, so growth can be compared with what the run returns.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
from typing import Any

import pandas as pd
import psutil

import anchorframe as af
from anchorframe.backends.fake import FakeBackend

from .suites import by_row


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the peak is the run's own (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _peak_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(rows: int) -> dict[str, Any]:
    # The in-memory backend: the engine's and the frames' memory, no browser's.
    options: dict[str, Any] = {"backend": FakeBackend(), "sessions": 1, "tabs": 4, "progress": False}
    af.scrape(["http://127.0.0.1:9/warm-up"], by_row, **options)
    frame = pd.DataFrame({"url": [f"http://127.0.0.1:9/item/{i}" for i in range(rows)]})
    gc.collect()
    before = psutil.Process().memory_info().rss
    exact = _reset_peak()
    result = af.scrape(frame, by_row, **options)
    peak = _peak_bytes()
    results_bytes = int(result.results.memory_usage(deep=True).sum())
    assert (result.results["af_status"] == "ok").all()
    return {
        "rows": rows,
        "rss_before_mb": before / 2**20,
        "peak_mb": peak / 2**20,
        "growth_mb": (peak - before) / 2**20,
        "peak_is_the_runs_own": exact,
        "results_mb": results_bytes / 2**20,
        "input_mb": int(frame.memory_usage(deep=True).sum()) / 2**20,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
