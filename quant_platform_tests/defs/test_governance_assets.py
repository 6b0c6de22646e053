"""The ``champion`` asset on an ephemeral instance: strategy blueprints in the store are the candidates, run
observations in the registry are what the gate judges, and each materialization records one decision (or,
on the same inputs, none)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from quant_platform.defs.governance import ChampionConfig, champion
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.registry import Registry
from quant_platform.registry import RunSetSpec
from quant_platform.storage import ParquetStore
from quant_platform_tests.governance.world import DAY0, MAINTENANCE, World


def _materialize(root: Path, instance: dg.DagsterInstance, **config) -> dg.ExecuteInProcessResult:
    registry = Registry(root=str(root / "registry"), store_root=str(root / "store"))
    return dg.materialize(
        [champion],
        instance=instance,
        resources={"registry": registry, "io_manager": ImmutableParquetIOManager(root=str(root / "store"))},
        run_config=dg.RunConfig({"champion": ChampionConfig(**config)}),
    )


def test_champion_asset_records_decisions_and_shows_them(tmp_path: Path) -> None:
    world = World(tmp_path, source="synthetic")
    world.registry.create_runset("demo", RunSetSpec(dataset_id="live_v1", symbols=["BTCUSDT"]))
    runset_id = world.registry.runset("demo").runset_id
    blueprints = pl.DataFrame({"blueprint_id": ["c_good"], "runset_id": [runset_id], "candidate_id": ["x"]})
    ParquetStore(str(tmp_path / "store")).write("strategy_blueprints", "demo", blueprints)
    world.candidate("c_good")
    world.observe("c_good", DAY0, 60, sharpe=3.0, provenance=MAINTENANCE)
    instance = dg.DagsterInstance.ephemeral()
    as_of = str(DAY0 + timedelta(days=59))

    refused = _materialize(tmp_path, instance, as_of_day=as_of)
    assert refused.success
    meta = refused.asset_materializations_for_node("champion")[0].metadata
    assert meta["decision"].value == "NO_PROMOTION (DATA_REGIME_NOT_PROD_LIVE, INSUFFICIENT_OBSERVATION)"
    assert meta["champion"].value == "none"
    assert meta["candidates_considered"].value == 1
    assert meta["candidates_read"].value[0]["asset"] == "strategy_blueprints"

    demo = {
        "as_of_day": as_of,
        "override_run_sources": ["maintenance"],
        "override_data_regimes": ["maintenance_replay"],
        "override_reason": "demo: synthetic market",
    }
    promoted = _materialize(tmp_path, instance, **demo)
    meta = promoted.asset_materializations_for_node("champion")[0].metadata
    assert meta["decision"].value == "PROMOTE (NO_EXISTING_CHAMPION)"
    assert meta["prod_gated"].value is False
    assert "c_good" in meta["state_events"].value
    checks = promoted.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {"schema", "candidates_present"} and all(
        c.passed for c in checks
    )

    again = _materialize(tmp_path, instance, **demo)
    meta = again.asset_materializations_for_node("champion")[0].metadata
    assert meta["recorded"].value == "same inputs as the ledger head: nothing new"
    assert len(world.ledger_files()) == 2


def test_a_decision_without_candidates_warns_naming_what_was_read(tmp_path: Path) -> None:
    World(tmp_path)  # a registry with a dataset, no blueprint anywhere
    result = _materialize(tmp_path, dg.DagsterInstance.ephemeral(), as_of_day=str(DAY0))
    assert result.success
    meta = result.asset_materializations_for_node("champion")[0].metadata
    assert meta["decision"].value == "NO_PROMOTION (NO_CANDIDATES)"
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "candidates_present"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
