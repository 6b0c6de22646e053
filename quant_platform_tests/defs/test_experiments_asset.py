"""The ``experiments`` asset through Dagster: the shipped strategy specs executed on a RunSet of a planted
world, summary rows equal to the facts the library wrote, metrics table and equity picture in the metadata,
re-materialization writing no new facts, and a strategy that cannot trade failing the run (never green)."""

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs.experiments import experiments
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.registry import Registry
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import WorldConfig, make_world
from quant_platform.experiments import list_strategies
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.registry.experiment_facts import read_facts
from quant_platform.storage import ParquetStore
from quant_platform_tests.experiments.conftest import write_days

RUNSET = "planted_week"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments_asset")
    world = make_world(WorldConfig(n_symbols=2, n_days=6, events_per_day=6.0, seed=3), load_discovery_spec())
    store = ParquetStore(str(root / "store"))
    for asset, frame in (
        ("bars_5m", world.bars),
        ("market_events", world.events),
        ("features_v1", world.states),
    ):
        write_days(store, asset, frame)
    registry = Registry(root=str(root / "registry"), store_root=str(root / "store"))
    first, last = world.bars["ts"].min().date(), world.bars["ts"].max().date()
    registry.library().register_dataset(
        DatasetSpec(dataset_id="planted", source="planted_world", assets=["bars_5m", "market_events", "features_v1"],
                    symbols=sorted(world.bars["symbol"].unique().to_list()), first_day=first, last_day=last)
    )  # fmt: skip
    registry.library().create_runset(RUNSET, RunSetSpec(dataset_id="planted", start=first, end=last))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, [RUNSET])
    resources = {"registry": registry, "io_manager": ImmutableParquetIOManager(root=str(root / "store"))}
    return {"registry": registry, "instance": instance, "resources": resources, "store": store}


def _materialize(lab, strategies=None):
    config = {"ops": {"experiments": {"config": {"strategies": strategies or []}}}}
    return dg.materialize(
        [experiments], partition_key=RUNSET, instance=lab["instance"], resources=lab["resources"],
        run_config=config, raise_on_error=False,
    )  # fmt: skip


def test_shipped_strategies_run_and_show_their_metrics_and_equity(lab):
    result = _materialize(lab)
    assert result.success
    materialization = result.asset_materializations_for_node("experiments")[0]
    meta = {k: v.value for k, v in materialization.metadata.items()}
    summary = lab["store"].scan("experiments", [RUNSET])[0].collect()
    shipped = sorted(s.name for s in list_strategies())
    assert sorted(summary["strategy"]) == shipped
    facts = read_facts(lab["registry"].library().fs, "trades")
    per_run = facts.group_by("run_id").len()
    for row in summary.iter_rows(named=True):
        assert row["trades"] > 0
        assert row["trades"] == per_run.filter(pl.col("run_id") == row["run_id"])["len"].item()
        assert meta["run_ids"][row["strategy"]] == row["run_id"]
    assert meta["equity_curves_format"] == "png"
    assert meta["equity_curves"].startswith(
        "![equity: RunSet planted_week](data:image/png;base64,iVBORw0KGgo"
    )
    assert [r.data["strategy"] for r in meta["metrics"].records] == summary["strategy"].to_list()
    assert meta["mode"] == "exploratory"
    # the same RunSet and strategies again: no new facts
    again = _materialize(lab)
    assert again.success
    meta_again = {
        k: v.value for k, v in again.asset_materializations_for_node("experiments")[0].metadata.items()
    }
    assert meta_again["facts_written"] == 0 and meta_again["run_ids"] == meta["run_ids"]


def test_a_strategy_that_cannot_trade_fails_the_run(lab, tmp_path):
    path = tmp_path / "never.yaml"
    path.write_text(
        "name: never\npolicy: {kind: rule, event_type: LIQUIDATION_CASCADE, template: continuation, horizon_bars: 3}\n"
    )
    model = tmp_path / "model.yaml"
    model.write_text("name: model_one\npolicy: {kind: model, name: lgbm, version: '1'}\n")
    result = _materialize(lab, [str(path), str(model), "vol_shock_continuation"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.step_failure_data.user_failure_data.metadata["failures"].value)
    assert "no LIQUIDATION_CASCADE events" in text and "model policies are not available yet" in text
