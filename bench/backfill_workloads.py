"""Workloads of ``bench_backfill``: the Dagster single-run backfill of the market + features layers as a user
launches it (a ``dagster asset materialize --partition-range`` subprocess), and the library computing the
same chain on the same data in one process (the reference).

Kept apart from ``bench_backfill`` so the reference's fresh process imports only what the chain needs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Everything the market and features layers materialise for a day range.
CHAIN_ASSETS = (
    "raw_perp_bars",
    "raw_spot_bars",
    "raw_funding",
    "raw_open_interest",
    "raw_liquidations",
    "bars_5m",
    "quarantined_rows",
    "features_v1",
    "context_features",
    "market_events",
    "event_flags",
)


@dataclass(frozen=True)
class Panel:
    """A synthetic daily equity panel: ``n_symbols`` symbols from ``start`` to ``end`` (sessions observed)."""

    n_symbols: int
    start: str
    end: str
    seed: int = 7

    @property
    def symbols(self) -> list[str]:
        return [f"S{i:04d}" for i in range(self.n_symbols)]

    def source_options(self) -> dict:
        return {"symbols": tuple(self.symbols), "seed": self.seed, "start": self.start, "end": self.end}

    def run_config(self, in_process: bool = False) -> dict:
        """Run config of the backfill; ``in_process`` picks Dagster's in-process executor (one process for every
        step) instead of the default multiprocess one (a process per step)."""
        execution = {"execution": {"config": {"in_process": {}}}} if in_process else {}
        return execution | {
            "resources": {
                "market_data": {
                    "config": {
                        "kind": "synthetic_equity",
                        "symbols": self.symbols,
                        "seed": self.seed,
                        "equity_start": self.start,
                        "equity_end": self.end,
                        "bar_minutes": 1440,
                        "sessions": "observed",
                    }
                }
            }
        }


def library_chain(panel: Panel) -> dict:
    """Raw panel → cleaned daily bars (each day's members) → features_v1 → context → events, in memory."""
    import polars as pl

    from quant_platform.core.timeutil import day_range
    from quant_platform.events.detect import detect_events
    from quant_platform.features.compute import compute_features
    from quant_platform.features.context import compute_context
    from quant_platform.market import cleaning
    from quant_platform.market.sources.base import RAW_TABLES
    from quant_platform.market.sources.factory import make_source
    from quant_platform.market.universe import dated_listings, members_on

    source = make_source("synthetic_equity", **panel.source_options())
    listings = dated_listings(source)
    config = cleaning.CleaningConfig(interval_minutes=1440, sessions="observed")
    bars = []
    for day in day_range(panel.start, panel.end):
        raw = {table: source.fetch(table, day) for table in RAW_TABLES}
        members = tuple(members_on(listings, day)) if listings is not None else tuple(source.symbols)
        result = cleaning.clean_day(
            day,
            raw["perp_bars"],
            raw["spot_bars"],
            raw["funding"],
            raw["open_interest"],
            raw["liquidations"],
            universe=members,
            config=config,
        )
        bars.append(result.bars)
    frame = pl.concat(bars)
    features = compute_features(frame, grid_minutes=1440, sessions="observed")
    context = compute_context(features)
    events, flags = detect_events(features, context)
    return {"bars": frame.height, "features": features.height, "events": events.height, "flags": flags.height}


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (KiB), from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as handle:
                total += next((int(line.split()[1]) for line in handle if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    stack.extend(int(c) for c in handle.read().split())
        except (OSError, ValueError):
            continue
    return total


def dagster_backfill(panel: Panel, timeout_s: float = 3600.0, in_process: bool = False) -> dict:
    """``dagster asset materialize --partition-range start...end`` of :data:`CHAIN_ASSETS` in a subprocess with
    its own DAGSTER_HOME and store; wall seconds, peak RSS of the process tree (polled every 0.1 s) and the
    largest single process's peak (``ru_maxrss`` of the waited children)."""
    import resource

    work = Path(tempfile.mkdtemp(prefix="qp_bench_backfill_"))
    try:
        home = work / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "QP_STORE_ROOT": str(work / "store"),
            "QP_REGISTRY_ROOT": str(work / "registry"),
            "QP_BAR_MINUTES": "1440",
            "QP_SESSIONS": "observed",
        }
        command = [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-m",
            "quant_platform.definitions",
            "--select",
            ",".join(CHAIN_ASSETS),
            "--partition-range",
            f"{panel.start}...{panel.end}",
            "--config-json",
            json.dumps(panel.run_config(in_process)),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        peak_tree = 0
        log = bytearray()
        os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]
        while proc.poll() is None:
            peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))
            chunk = proc.stdout.read()  # type: ignore[union-attr]
            if chunk:
                log.extend(chunk)
            if time.perf_counter() - start > timeout_s:
                proc.kill()
                raise TimeoutError(f"dagster backfill exceeded {timeout_s} s")
            time.sleep(0.1)
        seconds = time.perf_counter() - start
        rest = proc.stdout.read()  # type: ignore[union-attr]
        if rest:
            log.extend(rest)
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        text = log.decode(errors="replace")
        if proc.returncode != 0 or "RUN_SUCCESS" not in text:
            raise RuntimeError(f"dagster backfill failed (exit {proc.returncode}):\n{text[-4000:]}")
        from quant_platform.storage import ParquetStore

        store = ParquetStore(str(work / "store"))
        stored = {
            asset: len(store.partitions(asset)) for asset in ("bars_5m", "features_v1", "market_events")
        }
        return {
            "seconds": seconds,
            "peak_tree_mib": peak_tree / 1024.0,
            "peak_process_mib": max(after, before) / 1024.0 if after > before else None,
            "partitions": stored,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
