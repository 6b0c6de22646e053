"""The validation assets in Dagster, end to end through the real registry and Parquet IO manager.

A planted world (a post-event drift on one symbol, none on the other) is written into a temporary store as
``bars_5m`` / ``market_events`` / ``features_v1`` day partitions, registered as a dataset and a RunSet; then
hypothesis_candidates → bridge_evaluation → stage_a_screen → stage_b_survivors materialize for that RunSet
partition on an ephemeral instance. Truths: the planted symbol gets further down the chain than the noise
symbol; the gate funnel never grows; the trial ledger grows by exactly the candidates, folds and CPCV paths
each stage judged and Stage B deflates by every hypothesis in it; every blocking check passes; the funnel chart draws the counts."""

from datetime import date

import dagster as dg
import polars as pl
import pytest

from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.registry import Registry, upstream_resolution
from quant_platform.defs.research import bridge_evaluation, hypothesis_candidates
from quant_platform.defs.validation import (
    funnel_bar_chart,
    stage_a_screen,
    stage_b_survivors,
)
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.storage import ParquetStore

PLANTED, NOISE = "SYM00USDT", "SYM01USDT"
RUNSET = "planted_90d"
N_DAYS = 90  # Stage A needs 3 test folds of >= 20 days, Stage B >= 60 days


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation_assets")
    spec = load_discovery_spec()
    effects = (PlantedDrift("VOL_SHOCK", PLANTED, 12, 80.0),)
    world = make_world(
        WorldConfig(n_symbols=2, n_days=N_DAYS, events_per_day=3.0, effects=effects, seed=4), spec
    )
    store = ParquetStore(str(root / "store"))
    for asset, frame in (
        ("bars_5m", world.bars),
        ("market_events", world.events),
        ("features_v1", world.states),
    ):
        for (day,), part in (
            frame.with_columns(day=pl.col("ts").dt.date()).partition_by("day", as_dict=True).items()
        ):
            store.write(asset, day.isoformat(), part.drop("day"))
    registry = Registry(root=str(root / "registry"), store_root=str(root / "store"))
    library = registry.library()
    last_day = world.bars["ts"].max().date()
    library.register_dataset(
        DatasetSpec(dataset_id="planted", source="planted_world", assets=["bars_5m", "market_events", "features_v1"],
                    symbols=[PLANTED, NOISE], first_day=date(2024, 1, 1), last_day=last_day)
    )  # fmt: skip
    library.create_runset(RUNSET, RunSetSpec(dataset_id="planted", start=date(2024, 1, 1), end=last_day))
    resources = {
        "registry": registry,
        "io_manager": ImmutableParquetIOManager(root=str(root / "store")),
        # the discovery cost model, so the bridge's x1 replays what discovery assumed
        "backtest_engine": BacktestEngine(taker_fee_bps=4.0, slippage_base_bps=1.0, slippage_vol_coef=0.0,
                                          slippage_impact_bps=0.0, min_observation_days=5),
    }  # fmt: skip
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, [RUNSET])
        result = dg.materialize(
            [hypothesis_candidates, bridge_evaluation, stage_a_screen, stage_b_survivors],
            partition_key=RUNSET,
            instance=instance,
            resources=resources,
        )
        assert result.success
        outputs = {  # the versions the IO manager wrote
            name: store.scan(name, [RUNSET])[0].collect()
            for name in ("hypothesis_candidates", "bridge_evaluation", "stage_a_screen", "stage_b_survivors")
        }
        metadata = {
            name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
            for name in ("stage_a_screen", "stage_b_survivors")
        }
        checks = result.get_asset_check_evaluations()
        again = dg.materialize(
            [hypothesis_candidates, bridge_evaluation, stage_a_screen, stage_b_survivors],
            selection=["stage_b_survivors"],
            partition_key=RUNSET,
            instance=instance,
            resources=resources,
        )
        assert again.success
        (event,) = again.asset_materializations_for_node("stage_b_survivors")
        metadata["stage_b_again"] = {k: v.value for k, v in event.metadata.items()}
        metadata["stage_b_versions"] = [
            store.read_version("stage_b_survivors", RUNSET, metadata[name]["content_hash"])
            for name in ("stage_b_survivors", "stage_b_again")
        ]
    return outputs, metadata, checks, library


def test_every_blocking_check_passes(materialized):
    _, _, checks, _ = materialized
    by_asset = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in checks}
    assert by_asset == {
        ("hypothesis_candidates", "schema"): True,
        ("bridge_evaluation", "schema"): True,
        ("stage_a_screen", "schema"): True,
        ("stage_b_survivors", "schema"): True,
        ("stage_b_survivors", "funnel_monotone"): True,
    }


def _depth(outputs: dict[str, pl.DataFrame], symbol: str) -> int:
    """How far the symbol's best candidate got: 1 passes discovery gates, 2 tradable, 3 Stage A, 4 Stage B."""
    cands = outputs["hypothesis_candidates"].filter(pl.col("symbol") == symbol)
    ids = set(cands["candidate_id"])
    bridge = outputs["bridge_evaluation"].filter(pl.col("candidate_id").is_in(ids))
    stages = [
        cands["passes_gates"].any(),
        bridge["tradable"].any(),
        outputs["stage_a_screen"].filter(pl.col("candidate_id").is_in(ids), pl.col("passed")).height > 0,
        outputs["stage_b_survivors"].filter(pl.col("candidate_id").is_in(ids), pl.col("passed")).height > 0,
    ]
    depth = 0
    for reached in stages:
        if not reached:
            break
        depth += 1
    return depth


def test_planted_effect_gets_further_than_noise(materialized):
    outputs, _, _, _ = materialized
    assert _depth(outputs, PLANTED) >= 3  # the planted drift survives Stage A at least
    assert _depth(outputs, NOISE) < _depth(outputs, PLANTED)
    stage_a = outputs["stage_a_screen"]
    tradable = outputs["bridge_evaluation"].filter(pl.col("tradable"))["candidate_id"].unique()
    assert sorted(stage_a["candidate_id"]) == sorted(tradable)  # Stage A screens exactly the bridge survivors
    stage_b = outputs["stage_b_survivors"]
    assert sorted(stage_b["candidate_id"]) == sorted(stage_a.filter(pl.col("passed"))["candidate_id"])


def test_trial_ledger_grows_by_each_stage_and_stage_b_deflates_by_all_of_it(materialized):
    outputs, metadata, _, library = materialized
    discovery = library.count_trials(RUNSET, "phase2_discovery")
    stage_a = library.count_trials(RUNSET, "stage_a")
    stage_b = library.count_trials(RUNSET, "stage_b")
    assert discovery == outputs["hypothesis_candidates"]["tested"].sum()
    assert stage_a == outputs["stage_a_screen"].height
    assert stage_b == outputs["stage_b_survivors"].height
    # Stage B deflates by every hypothesis tested (discovery's), each once: Stage A re-screens known ones.
    assert library.count_hypotheses(RUNSET) == discovery
    assert metadata["stage_b_survivors"]["n_trials_total"] == discovery
    assert (outputs["stage_b_survivors"]["dsr_n_trials_total"] == discovery).all()
    assert (outputs["stage_b_survivors"]["dsr_trial_count_method"] == "all_trials").all()
    assert outputs["stage_b_survivors"]["dsr_expected_max_sharpe_ann"].null_count() == 0
    assert library.count_trials(RUNSET) == discovery + stage_a + stage_b


def test_ledger_records_every_fold_and_cpcv_path_as_its_own_evaluation(materialized):
    outputs, metadata, _, library = materialized
    stage_a, stage_b = outputs["stage_a_screen"], outputs["stage_b_survivors"]
    n_folds = int(stage_a["n_folds"].sum())
    n_paths = int(stage_b["cpcv_n_paths"].sum())
    assert n_folds >= 3 * stage_a.height > 0 and n_paths > 0
    assert library.count_evaluations(RUNSET, "stage_a", "fold") == n_folds
    assert library.count_evaluations(RUNSET, "stage_a", "hypothesis") == stage_a.height
    assert metadata["stage_a_screen"]["trials_recorded"] == stage_a.height + n_folds
    assert library.count_evaluations(RUNSET, "stage_b", "cpcv_path") == n_paths
    folds = library.trials(RUNSET, "stage_a", "fold")
    per_fold = folds.group_by("trial_id", "sub_id").agg(pl.col("metric").n_unique())
    assert per_fold.height == n_folds and (per_fold["metric"] == 6).all()
    # A hypothesis is one trial however many stages, folds and paths evaluated it.
    assert library.count_hypotheses(RUNSET) == library.count_hypotheses(RUNSET, "phase2_discovery")


def test_rematerializing_stage_b_is_byte_identical(materialized):
    _, metadata, _, _ = materialized
    first, again = metadata["stage_b_survivors"], metadata["stage_b_again"]
    assert again["n_trials_total"] == first["n_trials_total"]  # its own earlier records are not new trials
    assert metadata["stage_b_versions"][0].height > 0
    # Same inputs, same code: the same bytes, so the IO manager finds the version already stored.
    assert again["content_hash"] == first["content_hash"] and again["new_versions_written"] == 0


def test_gate_funnel_is_monotone_and_drawn(materialized):
    outputs, metadata, _, _ = materialized
    meta = metadata["stage_b_survivors"]
    rows = [r.data for r in meta["gate_funnel"].records]
    remaining = [r["n_remaining"] for r in rows]
    assert rows[0]["gate"] == "input" and remaining[0] == outputs["stage_b_survivors"].height
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] == outputs["stage_b_survivors"]["passed"].sum() == meta["passed"]
    chart = meta["gate_funnel_chart"]
    for row in rows:
        assert f"{row['gate']}" in chart and chart.count("\n") == len(rows) + 1
    for name in ("stage_a_screen", "stage_b_survivors"):
        assert metadata[name]["runset_name"] == RUNSET and len(metadata[name]["resolution_hash"]) == 64


def test_funnel_bar_chart_scales_bars_to_the_counts():
    funnel = pl.DataFrame({"gate": ["input", "psr", "dsr"], "n_remaining": [10, 5, 0]})
    lines = funnel_bar_chart(funnel).strip("`\n").splitlines()
    assert [line.count("█") for line in lines] == [30, 15, 0]
    assert [line.split()[-1] for line in lines] == ["10", "5", "0"]


def test_upstream_resolution_refuses_a_partition_never_materialized(tmp_path):
    registry = Registry(root=str(tmp_path / "registry"), store_root=str(tmp_path / "store"))
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_asset_context(partition_key="never", instance=instance)
        with pytest.raises(LookupError, match="bridge_evaluation has no materialization"):
            upstream_resolution(context, registry, "bridge_evaluation")
