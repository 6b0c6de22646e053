"""Benchmark harness shared by every ``bench/bench_*.py`` module.

Each benchmark module exposes ``run(quick: bool = False) -> list[dict]``; each row is a :func:`row`.
Timings are wall-clock best-of-N; peak RSS is measured in a fresh subprocess so one benchmark's memory never
leaks into another's reading. Results are ratios against a reference measured in the same run, never
absolute thresholds inside unit tests.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall-clock seconds of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_rss_mib() -> float:
    """This process's own high-water mark. ``ru_maxrss`` is not used: a spawned child inherits the parent's."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # non-Linux fallback


def _child(fn: Callable[..., Any], args: tuple, queue: Any) -> None:
    start = time.perf_counter()
    result = fn(*args)
    elapsed = time.perf_counter() - start
    queue.put((elapsed, _peak_rss_mib(), result))


def _spawned(fn: Callable[..., Any], args: tuple) -> tuple[float, float, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"benchmark child failed with exit code {proc.exitcode}")
    return queue.get()


def isolated(fn: Callable[..., Any], *args: Any) -> tuple[float, float]:
    """Run ``fn(*args)`` in a fresh spawned process; return (seconds, peak RSS in MiB) of that process.

    ``fn`` must be a module-level function (picklable). The peak includes the interpreter and imports.
    """
    seconds, peak_rss, _ = _spawned(fn, args)
    return seconds, peak_rss


def isolated_result(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``'s (small, picklable) return value, computed in a fresh spawned process: e.g. a timing
    taken where no earlier workload of the benchmark has left its heap, allocator or caches behind."""
    return _spawned(fn, args)[2]


def row(
    benchmark: str,
    metric: str,
    value: float,
    unit: str,
    *,
    reference: float | None = None,
    reference_name: str | None = None,
    higher_is_better: bool = True,
    target: str = "",
    target_met: bool | None = None,
    peak_rss_mb: float | None = None,
) -> dict[str, Any]:
    """One result line. ``ratio`` is expressed so that > 1 means "better than the reference"."""
    ratio = None
    if reference is not None and reference > 0 and value > 0:
        ratio = value / reference if higher_is_better else reference / value
    return {
        "benchmark": benchmark,
        "metric": metric,
        "value": value,
        "unit": unit,
        "reference": reference,
        "reference_name": reference_name,
        "ratio": ratio,
        "target": target,
        "target_met": target_met,
        "peak_rss_mb": peak_rss_mb,
    }
