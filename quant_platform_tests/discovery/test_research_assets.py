"""The RunSet-partitioned assets materialize through Dagster: resolved inputs in, the library's tables out,
trials recorded, schema checks passing. The registry is a stand-in that points at Parquet files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import polars as pl

from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.registry import Registry
from quant_platform.defs.research import bridge_evaluation, hypothesis_candidates
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world
from quant_platform.storage import ParquetStore


class PointingRegistry(Registry):
    """Resolves every RunSet to files under ``root`` (its assets: the ``<asset>.parquet`` files there; no
    template filter) and appends trials to ``root/trials.parquet``."""

    def resolve(self, runset: str):  # type: ignore[override]
        meta = {
            "runset_id": "f" * 64,
            "runset_name": runset,
            "resolution_hash": "0" * 64,
            "mode": "exploratory",
        }
        assets = sorted(p.stem for p in Path(self.root).glob("*.parquet") if p.stem != "trials")
        return SimpleNamespace(
            runset_id=meta["runset_id"],
            symbols=(),
            templates=(),
            strategies=(),
            artifacts=pl.DataFrame({"asset": assets}, schema={"asset": pl.String}),
            metadata=lambda: meta,
        )

    def resolution(self, runset: str, resolution_hash: str):  # type: ignore[override]
        assert resolution_hash == "0" * 64  # downstream reads exactly the upstream's resolution
        return self.resolve(runset)

    def profile(self, resolution) -> None:  # type: ignore[override]
        return None  # the spec's default profile (the planted world is 5-minute crypto bars)

    def scan(self, resolution, asset: str) -> pl.LazyFrame:  # type: ignore[override]
        return pl.scan_parquet(Path(self.root) / f"{asset}.parquet")

    def register_replays(self, resolution, strategy_ids, config, dagster_run_id):  # type: ignore[override]
        return dict.fromkeys(sorted(strategy_ids), "not-registered-in-this-stand-in")

    def record_trials(self, frame: pl.DataFrame) -> int:
        frame.write_parquet(Path(self.root) / "trials.parquet")
        return frame.height


def test_assets_materialize_for_a_runset(tmp_path: Path):
    spec = load_discovery_spec()
    effects = (PlantedDrift("VOL_SHOCK", "SYM00USDT", 12, 80.0),)
    world = make_world(WorldConfig(n_symbols=2, n_days=20, events_per_day=3.0, effects=effects, seed=4), spec)
    world.bars.write_parquet(tmp_path / "bars_5m.parquet")
    world.events.write_parquet(tmp_path / "market_events.parquet")
    world.states.write_parquet(tmp_path / "features_v1.parquet")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, ["demo"])
    result = dg.materialize(
        [hypothesis_candidates, bridge_evaluation],
        partition_key="demo",
        instance=instance,
        resources={
            "registry": PointingRegistry(root=str(tmp_path), store_root=str(tmp_path)),
            # the engine resource configured like the discovery cost model, so x1 replays what discovery assumed
            "backtest_engine": BacktestEngine(taker_fee_bps=4.0, slippage_base_bps=1.0, slippage_vol_coef=0.0,
                                              slippage_impact_bps=0.0, min_observation_days=5),
            "io_manager": ImmutableParquetIOManager(root=str(tmp_path / "store")),
        },
    )  # fmt: skip
    assert result.success
    store = ParquetStore(str(tmp_path / "store"))
    candidates = store.scan("hypothesis_candidates", ["demo"])[0].collect()
    bridge = store.scan("bridge_evaluation", ["demo"])[0].collect()
    mat = result.asset_materializations_for_node("hypothesis_candidates")[0]
    assert mat.tags["dagster/data_version"] == store.current_hash("hypothesis_candidates", "demo")
    trials = pl.read_parquet(tmp_path / "trials.parquet")
    assert trials.height == candidates["tested"].sum()
    planted = candidates.filter(pl.col("passes_gates"), pl.col("symbol") == "SYM00USDT")
    assert planted.height > 0
    assert set(bridge["candidate_id"]) == set(candidates.filter(pl.col("passes_gates"))["candidate_id"])
    assert bridge.filter(pl.col("tradable"))["symbol"].unique().to_list() == ["SYM00USDT"]
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(c.passed for c in checks)
