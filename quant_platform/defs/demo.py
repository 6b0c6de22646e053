"""``make demo``: run the whole graph on the embedded synthetic market into the local Dagster instance.

1. The daily layer (raw market tables → bars_5m + quarantine → features, context, events) for the demo
   window, as one single-run backfill (one run over 7 partitions in the UI).
2. A dataset and a RunSet in the registry (what ``qp dataset register`` / ``qp runset create`` do), and the
   RunSet's ``runset`` partition in the instance.
3. The research job for that RunSet partition (hypotheses → bridge → Stage A → Stage B → blueprints).

Then it prints what landed where. ``DAGSTER_HOME`` must point at the instance (the Makefile sets it to
``.dagster_home/``). Re-running it is idempotent: identical content writes no new versions.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
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


DEMO_DATASET = "synthetic_demo"
DEMO_RUNSET = "demo_week"
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _execute(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, label: str, **kwargs) -> None:
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, raise_on_error=False, run_config=_QUIET, **kwargs
    )
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise SystemExit(
            f"{job_name} failed in steps {failed}; see the run {result.run_id} in the UI (make ui)"
        )
    print(f"  {job_name}: run {result.run_id} succeeded ({label})")


def _register_runset(first: str, last: str, symbols: list[str], instance: dg.DagsterInstance) -> None:
    from datetime import date

    from quant_platform.defs.registry import add_runset_partitions
    from quant_platform.defs.resources import default_registry_root, default_store_root
    from quant_platform.registry import DatasetSpec, Registry, RunSetSpec

    registry = Registry(default_registry_root(), default_store_root())
    registry.register_dataset(
        DatasetSpec(
            dataset_id=DEMO_DATASET,
            source="synthetic",
            # raw_funding: the funding prints the bridge and stage replays settle
            # external_events: caller alerts, news and macro releases for external_hypothesis_candidates
            assets=("bars_5m", "features_v1", "market_events", "raw_funding", "external_events"),
            symbols=tuple(symbols),
            first_day=date.fromisoformat(first),
            description="the embedded synthetic market (seed 7), grows daily",
        ),
        verify_store=True,
    )
    spec = RunSetSpec(
        dataset_id=DEMO_DATASET, start=date.fromisoformat(first), end=date.fromisoformat(last), tags=("demo",)
    )
    info = registry.create_runset(DEMO_RUNSET, spec)
    add_runset_partitions([DEMO_RUNSET], instance)
    print(
        f"  registry: dataset {DEMO_DATASET}, RunSet {DEMO_RUNSET} (id {info.runset_id[:12]}…), {first}..{last}"
    )
    print(
        f"  (from the shell: qp runset create --id {DEMO_RUNSET} --dataset {DEMO_DATASET} "
        f"--from {first} --to {last} --tag demo)"
    )


DAILY_ASSETS = (
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
    "external_events",
    "external_quarantined_records",
)
RESEARCH_ASSETS = (
    "hypothesis_candidates",
    "bridge_evaluation",
    "stage_a_screen",
    "stage_b_survivors",
    "strategy_blueprints",
    "external_hypothesis_candidates",
)


def _summary(store_root: str, days: list[str]) -> None:
    from quant_platform.storage import ParquetStore

    store = ParquetStore(store_root)
    print("\nDaily assets, rows (current versions):")
    for asset in DAILY_ASSETS:
        present = [d for d in days if store.current_hash(asset, d)]
        if present:
            frame, _ = store.scan(asset, present)
            print(
                f"  {asset:<30} {frame.select(pl.len()).collect().item():>10,} rows in {len(present)} partitions"
            )
    if all(store.current_hash("quarantined_rows", d) for d in days):
        quarantine, _ = store.scan("quarantined_rows", days)
        reasons = (
            quarantine.group_by("source_table", "reason", maintain_order=True)
            .len()
            .sort("source_table", "reason")
            .collect()
        )
        print("\nQuarantined rows by reason (raw = clean + quarantined, nothing dropped):")
        for row in reasons.iter_rows(named=True):
            print(f"  {row['source_table']:<14} {row['reason']:<28} {row['len']:>6}")
    print(f"\nResearch assets for RunSet {DEMO_RUNSET}:")
    for asset in RESEARCH_ASSETS:
        if store.current_hash(asset, DEMO_RUNSET):
            frame = store.scan(asset, [DEMO_RUNSET])[0].collect()
            print(f"  {asset:<30} {frame.height:>10,} rows")
    candidates = store.scan("hypothesis_candidates", [DEMO_RUNSET])[0].collect()
    print(
        f"  hypotheses tested: {int(candidates['tested'].sum()):,}; passing BH-FDR: "
        f"{int(candidates['passes_fdr'].sum()):,}; promotion tracks: "
        f"{dict(candidates.group_by('promotion_track', maintain_order=True).len().sort('promotion_track').iter_rows())}"
    )
    if store.current_hash("experiments", DEMO_RUNSET):
        print(
            f'\nExperiments on RunSet {DEMO_RUNSET} (qp experiment list; qp sql "SELECT * FROM runset_trades"):'
        )
        for row in store.scan("experiments", [DEMO_RUNSET])[0].collect().iter_rows(named=True):
            print(
                f"  {row['strategy']:<26} {row['trades']:>5} trades  pnl_net {row['pnl_net']:>12,.2f}  {row['status']}"
            )
    print(f"\nParquet store: {store_root}")
    print("Open the UI on the same instance: make ui  (then http://localhost:3000)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", default=DEMO_FIRST_DAY)
    parser.add_argument("--last", default=DEMO_LAST_DAY)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    instance = _instance()
    from quant_platform.definitions import defs
    from quant_platform.defs.resources import MarketDataResource, default_store_root

    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    print("1. The daily layer (market + features) on the synthetic market, as one single-run backfill:")
    span = {"dagster/asset_partition_range_start": args.first, "dagster/asset_partition_range_end": args.last}
    _execute(defs, "market_daily", instance, f"{args.first}..{args.last}", tags=span)
    _execute(defs, "external_daily", instance, f"{args.first}..{args.last}", tags=span)
    print("2. A RunSet over those days:")
    _register_runset(args.first, args.last, list(MarketDataResource().symbols), instance)
    print("3. The research chain for the RunSet:")
    _execute(defs, "research", instance, f"RunSet {DEMO_RUNSET}", partition_key=DEMO_RUNSET)
    _summary(default_store_root(), day_range(args.first, args.last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
