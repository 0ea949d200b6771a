"""Timing and verdicts shared by the benchmarks."""

import gc
import statistics
import time
from collections.abc import Callable

__all__ = ["interleaved_medians", "verdict"]


def interleaved_medians(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median ms of each function, run in turn so that machine noise falls on all of them alike;
    the garbage collector is paused while timing, as timeit does."""
    for fn in fns.values():
        fn()  # warm-up: caches, prepared content types
    timings: dict[str, list[float]] = {name: [] for name in fns}
    gc.disable()
    try:
        for _ in range(runs):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                timings[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return {name: statistics.median(values) * 1000 for name, values in timings.items()}


def verdict(checks: list[tuple[str, bool]]) -> int:
    """Print a PASS or FAIL line per target; the exit status: 1 if any was missed."""
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1
