"""The research chain in Dagster honours what the RunSet selects and what the spec assumes, through the real
registry and Parquet store:

- the RunSet's template filter reaches discovery (only matching templates tested and counted as trials,
  named in the metadata) and carries through the bridge; a pattern matching no template fails the run;
- bridge and stage replays use the spec's cost model and entry lag, the resource overriding only the fields
  set on it (a different entry lag is refused);
- funding prints of a dataset with ``raw_funding`` are settled in the replays (the bridge table equals the
  library's replay with those prints), and a dataset without them says so in the metadata;
- the stage assets check their input's ontology hash and attach it, and depend on the inputs they read.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from quant_platform.bridge import default_engine_config, evaluate_bridge
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.registry import Registry
from quant_platform.defs.research import bridge_evaluation, hypothesis_candidates, research_engine_config
from quant_platform.defs.validation import stage_a_screen, stage_b_survivors
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.storage import ParquetStore

PLANTED, NOISE = "SYM00USDT", "SYM01USDT"
N_DAYS = 20
FUNDED, PLAIN, BAD = "cont_funded", "all_plain", "bad_pattern"
CHAIN = [hypothesis_candidates, bridge_evaluation, stage_a_screen, stage_b_survivors]


def _funding_prints(first: date, n_days: int) -> pl.DataFrame:
    """Every 8 hours per symbol, a large alternating rate (so funding visibly moves the bridge's results),
    and one print without a rate (left out, counted)."""
    rows = []
    for d in range(n_days):
        for k, hour in enumerate((0, 8, 16)):
            for symbol in (PLANTED, NOISE):
                rows.append((symbol, d, hour, 1e-3 if (d + k) % 2 else -5e-4))
    frame = pl.DataFrame(rows, schema=["symbol", "d", "hour", "funding_rate"], orient="row")
    start = pl.lit(first).cast(pl.Datetime("ms", "UTC"))
    frame = frame.select(
        "symbol",
        (start + pl.duration(days=pl.col("d"), hours=pl.col("hour"))).cast(TS_DTYPE).alias("ts"),
        pl.col("funding_rate").cast(pl.Float64),
        pl.lit(None, dtype=pl.Float64).alias("mark_price"),
    )
    gap = pl.DataFrame(
        {"symbol": [PLANTED], "ts": [frame["ts"][0] + timedelta(hours=4)], "funding_rate": [None],
         "mark_price": [None]},
        schema=frame.schema,
    )  # fmt: skip
    return pl.concat([frame, gap]).sort("symbol", "ts")


def _write_days(store: ParquetStore, asset: str, frame: pl.DataFrame) -> None:
    for (day,), part in (
        frame.with_columns(day=pl.col("ts").dt.date()).partition_by("day", as_dict=True).items()
    ):
        store.write(asset, day.isoformat(), part.drop("day"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("research_runset")
    spec = load_discovery_spec()
    effects = (PlantedDrift("VOL_SHOCK", PLANTED, 12, 80.0),)
    world = make_world(
        WorldConfig(n_symbols=2, n_days=N_DAYS, events_per_day=3.0, effects=effects, seed=4), spec
    )
    first, last = world.bars["ts"].min().date(), world.bars["ts"].max().date()
    funding = _funding_prints(first, N_DAYS)
    store = ParquetStore(str(root / "store"))
    for asset, frame in (("bars_5m", world.bars), ("market_events", world.events), ("features_v1", world.states),
                         ("raw_funding", funding)):  # fmt: skip
        _write_days(store, asset, frame)
    registry = Registry(root=str(root / "registry"), store_root=str(root / "store"))
    library = registry.library()
    inputs = ("bars_5m", "market_events", "features_v1")
    for dataset, assets in (("with_funding", (*inputs, "raw_funding")), ("no_funding", inputs)):
        library.register_dataset(
            DatasetSpec(dataset_id=dataset, source="planted_world", assets=list(assets),
                        symbols=[PLANTED, NOISE], first_day=first, last_day=last)
        )  # fmt: skip
    window = {"start": first, "end": last}
    library.create_runset(FUNDED, RunSetSpec(dataset_id="with_funding", templates=["continuation"], **window))
    library.create_runset(PLAIN, RunSetSpec(dataset_id="no_funding", **window))
    library.create_runset(BAD, RunSetSpec(dataset_id="no_funding", templates=["momentum_*"], **window))
    engine = BacktestEngine(min_observation_days=5)  # the only field set: everything else from the spec
    resources = {
        "registry": registry,
        "io_manager": ImmutableParquetIOManager(root=str(root / "store")),
        "backtest_engine": engine,
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, [FUNDED, PLAIN, BAD])
    runs = {
        FUNDED: dg.materialize(CHAIN, partition_key=FUNDED, instance=instance, resources=resources),
        PLAIN: dg.materialize(CHAIN[:2], partition_key=PLAIN, instance=instance, resources=resources),
    }
    assert all(r.success for r in runs.values())
    tables = {
        (runset, asset): store.scan(asset, [runset])[0].collect()
        for runset in runs
        for asset in ("hypothesis_candidates", "bridge_evaluation")
    }
    return {
        "world": world, "funding": funding, "spec": spec, "runs": runs, "tables": tables, "store": store,
        "instance": instance, "resources": resources, "library": library,
    }  # fmt: skip


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def test_template_filter_reaches_discovery_and_the_bridge(lab):
    funded = lab["tables"][(FUNDED, "hypothesis_candidates")]
    everything = lab["tables"][(PLAIN, "hypothesis_candidates")]
    assert set(funded["template"]) == {"continuation"}
    assert len(set(everything["template"])) > 1
    assert set(lab["tables"][(FUNDED, "bridge_evaluation")]["template"]) <= {"continuation"}
    meta = _metadata(lab["runs"][FUNDED], "hypothesis_candidates")
    assert meta["templates_applied"] == ["continuation"]
    assert meta["template_filter"] == ["continuation"]
    assert meta["trials_recorded"] == int(funded["tested"].sum()) < int(everything["tested"].sum())
    assert _metadata(lab["runs"][FUNDED], "bridge_evaluation")["templates_applied"] == ["continuation"]
    assert _metadata(lab["runs"][PLAIN], "hypothesis_candidates")["template_filter"] == ["*"]


def test_a_template_pattern_matching_nothing_fails_the_run(lab):
    result = dg.materialize(
        CHAIN[:1],
        partition_key=BAD,
        instance=lab["instance"],
        resources=lab["resources"],
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "momentum_*" in str(failure.step_failure_data.error)
    assert "matches no rule template" in str(failure.step_failure_data.error)


def test_replays_use_the_spec_cost_model_and_the_resource_only_where_set(lab):
    spec = lab["spec"]
    expected = default_engine_config(spec, min_observation_days=5)
    for asset in ("bridge_evaluation", "stage_a_screen", "stage_b_survivors"):
        assert _metadata(lab["runs"][FUNDED], asset)["engine_config_id"] == expected.content_id(), asset
    assert research_engine_config(BacktestEngine(), spec) == default_engine_config(spec)
    # the resource's generic defaults differ from the spec's cost model: they must not leak in
    assert BacktestEngine().engine_config().taker_fee_bps != spec.cost.fee_bps_per_side
    custom = research_engine_config(BacktestEngine(taker_fee_bps=7.0, latency_bars=1), spec)
    assert (custom.taker_fee_bps, custom.latency_bars) == (7.0, 1)
    assert custom.slippage_base_bps == spec.cost.slippage_bps_per_side
    assert research_engine_config(
        BacktestEngine(entry_lag_bars=spec.entry_lag_bars), spec
    ) == default_engine_config(spec)
    with pytest.raises(ValueError, match=r"entry_lag_bars=.* differs from the spec"):
        research_engine_config(BacktestEngine(entry_lag_bars=spec.entry_lag_bars + 1), spec)


def test_funding_is_settled_when_the_dataset_has_it(lab):
    world, spec = lab["world"], lab["spec"]
    candidates = lab["tables"][(FUNDED, "hypothesis_candidates")]
    bridge = lab["tables"][(FUNDED, "bridge_evaluation")]
    assert bridge.height > 0
    prints = (
        lab["funding"].filter(pl.col("funding_rate").is_not_null()).select("symbol", "ts", "funding_rate")
    )
    config = default_engine_config(spec, min_observation_days=5)
    args = (candidates, world.bars, world.events, world.states, spec)
    funded = evaluate_bridge(*args, base_config=config, funding=prints)
    unfunded = evaluate_bridge(*args, base_config=config)
    assert bridge["expectancy_bps"].to_list() == funded["expectancy_bps"].to_list()
    assert bridge["expectancy_bps"].to_list() != unfunded["expectancy_bps"].to_list()
    for asset in ("bridge_evaluation", "stage_a_screen", "stage_b_survivors"):
        meta = _metadata(lab["runs"][FUNDED], asset)
        assert meta["funding_settled"] is True, asset
        assert meta["funding"] == f"settled: {prints.height} prints of raw_funding"
        assert meta["funding_prints_without_rate"] == 1


def test_funding_not_settled_is_explicit(lab):
    meta = _metadata(lab["runs"][PLAIN], "bridge_evaluation")
    assert meta["funding_settled"] is False
    assert "does not include raw_funding" in meta["funding"]


def test_bridge_counts_incomplete_entries(lab):
    bridge = lab["tables"][(FUNDED, "bridge_evaluation")]
    per_candidate = bridge.group_by("candidate_id").agg(pl.col("n_entries_incomplete").first())
    meta = _metadata(lab["runs"][FUNDED], "bridge_evaluation")
    assert meta["entries_incomplete"] == int(per_candidate["n_entries_incomplete"].sum())


def test_stage_assets_depend_on_their_inputs_and_carry_the_ontology_hash(lab):
    for node in (stage_a_screen, stage_b_survivors):
        deps = {k.to_user_string() for k in node.asset_deps[node.key]}
        assert {"bars_5m", "market_events", "features_v1", "raw_funding", "bridge_evaluation"} <= deps
        assert (
            _metadata(lab["runs"][FUNDED], node.key.to_user_string())["ontology_hash"]
            == lab["spec"].ontology_hash
        )


def test_stage_a_refuses_a_bridge_table_from_another_spec(lab):
    bridge = lab["tables"][(FUNDED, "bridge_evaluation")]
    lab["store"].write("bridge_evaluation", FUNDED, bridge.with_columns(ontology_hash=pl.lit("e" * 64)))
    result = dg.materialize(
        [stage_a_screen, bridge_evaluation.to_source_asset()], selection=[stage_a_screen],
        partition_key=FUNDED, instance=lab["instance"], resources=lab["resources"], raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "ontology hash mismatch" in str(failure.step_failure_data.error)


def test_bridge_registers_one_deterministic_run_per_replayed_candidate(lab):
    """Each replay is a registry run: run_id = sha256(dataset ids + strategy hash + engine version + seed)."""
    from quant_platform.core.hashing import canonical_hash
    from quant_platform.engine import ENGINE_VERSION
    from quant_platform.registry import run_id

    bridge = lab["tables"][(FUNDED, "bridge_evaluation")]
    meta = _metadata(lab["runs"][FUNDED], "bridge_evaluation")
    assert sorted(meta["registry_runs"]) == sorted(bridge["candidate_id"].unique().to_list())
    config_id = meta["engine_config_id"]
    seed = default_engine_config(lab["spec"], min_observation_days=5).seed
    for candidate, recorded in meta["registry_runs"].items():
        strategy = canonical_hash({"candidate_id": candidate, "engine_config_id": config_id})
        assert recorded == run_id(["with_funding"], strategy, ENGINE_VERSION, seed)
    runs = lab["library"].runs()
    assert set(meta["registry_runs"].values()) <= set(runs["run_id"].to_list())


def test_replay_assets_report_every_order_outcome_of_their_engine_runs(lab):
    """Clipped, rejected and unfilled-at-end orders of every replay are in the assets' metadata."""
    from quant_platform.engine import OUTCOME_KEYS, record_order_outcomes

    bridge = lab["tables"][(FUNDED, "bridge_evaluation")]
    meta = _metadata(lab["runs"][FUNDED], "bridge_evaluation")
    reported = meta["engine_order_outcomes"]
    assert reported["engine_runs"] == bridge.filter(pl.col("status") != "no_trades").height > 0
    prints = (
        lab["funding"].filter(pl.col("funding_rate").is_not_null()).select("symbol", "ts", "funding_rate")
    )
    candidates = lab["tables"][(FUNDED, "hypothesis_candidates")]
    world = lab["world"]
    config = default_engine_config(lab["spec"], min_observation_days=5)
    with record_order_outcomes() as tally:
        evaluate_bridge(
            candidates,
            world.bars,
            world.events,
            world.states,
            lab["spec"],
            base_config=config,
            funding=prints,
        )
    assert reported == tally.as_dict()
    assert reported["n_orders_submitted"] > 0
    assert set(OUTCOME_KEYS) <= set(reported)
    for asset in ("bridge_evaluation", "stage_a_screen", "stage_b_survivors"):
        asset_meta = _metadata(lab["runs"][FUNDED], asset)
        for key in ("n_orders_rejected", "n_orders_clipped", "n_orders_unfilled_at_end"):
            assert asset_meta[f"engine_{key}"] == asset_meta["engine_order_outcomes"][key], (asset, key)
