"""The Dagster single-run backfill of the market + features layers on daily equity bars, timed as users run
it (``dagster asset materialize --partition-range`` in a subprocess, fresh DAGSTER_HOME and store), as a ratio
against the library computing the same chain (clean → features → context → events) on the same data in one
fresh process. Peak RSS is the backfill's whole process tree (the run and its step processes), polled.

Rows
- 20 symbols x 2 years of the synthetic equity panel: target ≤ 2x the library's time, peak RSS < 1 GiB.
- Seed scale, 2,000 symbols x 10 years (only with ``QP_BENCH_SEED_SCALE=1``: about an hour of two cores):
  time and peak RSS against the seed's own panel build (2.75M rows in 639 s at 9.1 GiB); target ≥ 10x faster
  at < 3 GiB.

Where the time goes (20 x 2 years, measured 2026-12-08 on 2 cores shared with other work, load average 14-20):
the library chain took 43.5 s; the backfill 471 s (multiprocess) to 1,370 s (in_process, under heavier load).
The computation is once per block of days (core/day_blocks.py), so what remains is Dagster's own bookkeeping
per partition: before the first step the run logs one ASSET_MATERIALIZATION_PLANNED event per output per day
(8,041 events, 2-11 min in SQLite), then one ASSET_MATERIALIZATION per output per day (~30 ms each), each a
separate SQLite transaction in the event log.
"""

from __future__ import annotations

import os

from bench.backfill_workloads import Panel, dagster_backfill, library_chain
from bench.common import isolated_result, row

NAME = "backfill"
SEED_SECONDS, SEED_PEAK_GIB = 639.0, 9.1  # the seed's panel build (2.75M rows)


def _timed_library(panel: Panel) -> tuple[float, float, dict]:
    import time

    from bench.common import _peak_rss_mib

    start = time.perf_counter()
    counts = library_chain(panel)
    return time.perf_counter() - start, _peak_rss_mib(), counts


def run(quick: bool = False) -> list[dict]:
    panel = Panel(20, "2015-01-01", "2015-03-31") if quick else Panel(20, "2015-01-01", "2016-12-31")
    library_s, library_rss, counts = isolated_result(_timed_library, panel)
    label = f"{panel.n_symbols} x {panel.start[:4]}..{panel.end[:4]} daily"
    rows = []
    for in_process in (True, False):
        backfill = dagster_backfill(panel, in_process=in_process)
        executor = "in_process" if in_process else "multiprocess"
        rows.append(
            row(
                NAME,
                f"dagster backfill {label} ({counts['bars']} bars, {executor})",
                backfill["seconds"],
                "s",
                reference=library_s,
                reference_name=f"library chain {library_s:.1f}s, {library_rss:.0f}MiB",
                higher_is_better=False,
                target="<= 2x library, peak < 1 GiB",
                target_met=backfill["seconds"] <= 2 * library_s and backfill["peak_tree_mib"] < 1024,
                peak_rss_mb=backfill["peak_tree_mib"],
            )
        )
    if os.environ.get("QP_BENCH_SEED_SCALE") == "1" and not quick:
        seed = Panel(2000, "2007-01-01", "2016-12-31")
        big = dagster_backfill(seed, timeout_s=6 * 3600, in_process=True)
        rows.append(
            row(
                NAME,
                "dagster backfill 2000 x 10y daily (seed scale, in_process)",
                big["seconds"],
                "s",
                reference=SEED_SECONDS,
                reference_name="seed panel build 639s, 9.1GiB",
                higher_is_better=False,
                target=">= 10x faster than the seed, peak < 3 GiB",
                target_met=big["seconds"] * 10 <= SEED_SECONDS and big["peak_tree_mib"] < 3 * 1024,
                peak_rss_mb=big["peak_tree_mib"],
            )
        )
    return rows
