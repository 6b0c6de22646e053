"""``make demo``: run the graph on the embedded synthetic market into the local Dagster instance.

Materializes the market layer for the demo window as one single-run backfill (so it shows in the UI as one
run over 7 partitions), then prints what landed where. ``DAGSTER_HOME`` must point at the instance
(the Makefile sets it to ``.dagster_home/``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from quant_platform.core.timeutil import day_range

DEMO_FIRST_DAY = "2024-01-01"
DEMO_LAST_DAY = "2024-01-07"


def _instance() -> dg.DagsterInstance:
    if not os.environ.get("DAGSTER_HOME"):
        home = Path(__file__).resolve().parents[2] / ".dagster_home"
        home.mkdir(exist_ok=True)
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _run_range(
    defs: dg.Definitions, job_name: str, first: str, last: str, instance: dg.DagsterInstance
) -> None:
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise SystemExit(
            f"{job_name} failed in steps {failed}; see the run {result.run_id} in the UI (make ui)"
        )
    print(f"  {job_name}: run {result.run_id} succeeded over {first}..{last}")


def _summary(store_root: str, days: list[str]) -> None:
    from quant_platform.storage import ParquetStore

    store = ParquetStore(store_root)
    print("\nRows per asset (current versions):")
    for asset in (
        "raw_perp_bars",
        "raw_spot_bars",
        "raw_funding",
        "raw_open_interest",
        "raw_liquidations",
        "bars_5m",
        "quarantined_rows",
    ):
        present = [d for d in days if store.current_hash(asset, d)]
        if not present:
            continue
        frame, _ = store.scan(asset, present)
        print(
            f"  {asset:<20} {frame.select(pl.len()).collect().item():>10,} rows in {len(present)} partitions"
        )
    if all(store.current_hash("quarantined_rows", d) for d in days):
        quarantine, _ = store.scan("quarantined_rows", days)
        reasons = quarantine.group_by("source_table", "reason").len().sort("source_table", "reason").collect()
        print("\nQuarantined rows by reason:")
        for row in reasons.iter_rows(named=True):
            print(f"  {row['source_table']:<14} {row['reason']:<36} {row['len']:>6}")
    print(f"\nParquet store: {store_root}")
    print("Open the UI on the same instance: make ui  (then http://localhost:3000)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", default=DEMO_FIRST_DAY)
    parser.add_argument("--last", default=DEMO_LAST_DAY)
    args = parser.parse_args(argv)
    instance = _instance()
    from quant_platform.definitions import defs
    from quant_platform.defs.resources import default_store_root

    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    print("Materializing the market layer on the synthetic market:")
    _run_range(defs, "market_daily", args.first, args.last, instance)
    _summary(default_store_root(), day_range(args.first, args.last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
