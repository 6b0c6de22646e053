"""``strategy_blueprints`` at the end of the real research chain, through the registry and the IO manager.

A planted world (a post-event drift on one symbol) goes hypothesis_candidates → bridge_evaluation →
stage_a_screen → stage_b_survivors → strategy_blueprints for one RunSet on an ephemeral instance. Truths: one
blueprint per strict Stage-B survivor, each line in the jsonl file equal to its table row and its id the hash
of its content; the lineage is the RunSet's resolution; a re-materialization writes the same bytes (no new
version, no new file); and every blueprint of the run passes research-to-execution parity in NautilusTrader,
from the library and from ``qp blueprint check`` on the written file."""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_platform.blueprints import blueprint_id, read_blueprints_jsonl
from quant_platform.cli import main
from quant_platform.defs.blueprints import strategy_blueprints
from quant_platform.defs.engine import BacktestEngine
from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.research import bridge_evaluation, hypothesis_candidates
from quant_platform.defs.validation import stage_a_screen, stage_b_survivors
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.storage import ParquetStore

pytest.importorskip("nautilus_trader")  # the [nautilus] extra (make test installs it)

PLANTED, NOISE = "SYM00USDT", "SYM01USDT"
RUNSET = "planted_blueprints"
# A drift strong enough for Stage B's deflated Sharpe (trials = every hypothesis of the RunSet) yet below the
# per-day Sharpe ceiling; the RunSet tests the continuation template only (fewer trials to deflate by).
N_DAYS, DRIFT_BPS, EVENTS_PER_DAY, SEED = 150, 210.0, 2.0, 4
CHAIN = [hypothesis_candidates, bridge_evaluation, stage_a_screen, stage_b_survivors, strategy_blueprints]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("blueprint_assets")
    spec = load_discovery_spec()
    effects = (PlantedDrift("VOL_SHOCK", PLANTED, 12, DRIFT_BPS),)
    world = make_world(
        WorldConfig(n_symbols=2, n_days=N_DAYS, events_per_day=EVENTS_PER_DAY, effects=effects, seed=SEED),
        spec,
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
    registry_root, store_root = str(root / "registry"), str(root / "store")
    from quant_platform.defs.registry import Registry

    registry = Registry(root=registry_root, store_root=store_root)
    library = registry.library()
    last_day = world.bars["ts"].max().date()
    library.register_dataset(
        DatasetSpec(dataset_id="planted", source="planted_world", assets=["bars_5m", "market_events", "features_v1"],
                    symbols=[PLANTED, NOISE], first_day=date(2024, 1, 1), last_day=last_day)
    )  # fmt: skip
    library.create_runset(
        RUNSET,
        RunSetSpec(dataset_id="planted", start=date(2024, 1, 1), end=last_day, templates=("continuation",)),
    )
    resources = {
        "registry": registry,
        "io_manager": ImmutableParquetIOManager(root=store_root),
        "backtest_engine": BacktestEngine(taker_fee_bps=4.0, slippage_base_bps=1.0, slippage_vol_coef=0.0,
                                          slippage_impact_bps=0.0, min_observation_days=5),
    }  # fmt: skip
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, [RUNSET])
        first = dg.materialize(CHAIN, partition_key=RUNSET, instance=instance, resources=resources)
        assert first.success
        again = dg.materialize(
            CHAIN,
            selection=["strategy_blueprints"],
            partition_key=RUNSET,
            instance=instance,
            resources=resources,
        )
        assert again.success
        meta = [
            {
                k: v.value
                for k, v in r.asset_materializations_for_node("strategy_blueprints")[0].metadata.items()
            }
            for r in (first, again)
        ]
        checks = {
            (c.asset_key.to_user_string(), c.check_name): c.passed
            for c in first.get_asset_check_evaluations()
        }
        parity = {
            c.check_name: {k: v.value for k, v in c.metadata.items()}
            for c in first.get_asset_check_evaluations()
            if c.check_name == "nautilus_parity"
        }
    outputs = {
        name: store.scan(name, [RUNSET])[0].collect() for name in ("stage_b_survivors", "strategy_blueprints")
    }
    resolution = library.current_resolution(RUNSET)
    return {"world": world, "outputs": outputs, "meta": meta, "checks": checks, "roots": (registry_root, store_root),
            "resolution": resolution, "parity": parity}  # fmt: skip


def test_one_blueprint_per_survivor_and_the_file_is_the_table(chain):
    survivors = chain["outputs"]["stage_b_survivors"].filter(pl.col("passed"))
    table = chain["outputs"]["strategy_blueprints"]
    assert survivors.height >= 1  # the planted drift survives Stage B: the test would be vacuous otherwise
    assert sorted(table["candidate_id"]) == sorted(survivors["candidate_id"])
    meta = chain["meta"][0]
    assert meta["blueprints"] == table.height == meta["survivors"]
    lines = read_blueprints_jsonl(Path(meta["blueprints_jsonl"]))
    assert (
        [line["blueprint_id"] for line in lines] == table["blueprint_id"].to_list() == meta["blueprint_ids"]
    )
    text = Path(meta["blueprints_jsonl"]).read_text().splitlines()
    assert text == table["blueprint_json"].to_list()
    for line in lines:
        assert line["blueprint_id"] == blueprint_id(line)
        assert line["lineage"]["runset_name"] == RUNSET
        assert line["lineage"]["runset_id"] == chain["resolution"].runset_id
        assert line["lineage"]["resolution_hash"] == chain["resolution"].resolution_hash
        assert line["gates"]["summary"]["passed"] is True
        assert all(line["gates"][g]["passed"] for g in ("psr", "dsr", "cpcv", "bootstrap", "stress"))
        assert line["costs"]["engine_config_id"] == meta["engine_config_id"]
    assert chain["checks"][("strategy_blueprints", "schema")]


def test_the_parity_check_ran_on_every_blueprint(chain):
    assert chain["checks"][("strategy_blueprints", "nautilus_parity")]
    meta = chain["parity"]["nautilus_parity"]
    assert meta["blueprints_checked"] == chain["outputs"]["strategy_blueprints"].height >= 1
    assert meta["fills_compared"] >= 20 and meta["max_pnl_rel_diff"] <= 1e-9


def test_rematerializing_writes_the_same_bytes(chain):
    first, again = chain["meta"]
    assert again["content_hash"] == first["content_hash"] and again["new_versions_written"] == 0
    assert again["blueprints_jsonl"] == first["blueprints_jsonl"]
    assert again["blueprints_jsonl_sha256"] == first["blueprints_jsonl_sha256"]
    assert first["blueprints_jsonl_written"] is True and again["blueprints_jsonl_written"] is False


def test_every_blueprint_of_the_run_trades_the_same_in_nautilus(chain):
    from quant_platform.execution.nautilus.parity import check_blueprints

    world = chain["world"]
    lines = read_blueprints_jsonl(Path(chain["meta"][0]["blueprints_jsonl"]))
    results = check_blueprints(lines, world.bars, world.events, world.states)
    for r in results:
        assert r.passed, r.failures
        assert r.n_fills_engine == r.n_fills_nautilus >= 20
        assert r.pnl_rel_diff <= 1e-9


def test_qp_blueprint_check_prints_the_side_by_side_table(chain, capsys):
    registry_root, store_root = chain["roots"]
    path = chain["meta"][0]["blueprints_jsonl"]
    code = main(["blueprint", "check", path, "--registry-root", registry_root, "--store-root", store_root,
                 "--slippage", "--fills", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "price_engine" in out and "price_nautilus" in out and "zero_slippage" in out and "slippage" in out
    n = chain["outputs"]["strategy_blueprints"].height
    assert out.count("fills side by side") == 2 * n


def test_qp_blueprint_check_refuses_an_edited_file(chain, capsys, tmp_path):
    registry_root, store_root = chain["roots"]
    line = read_blueprints_jsonl(Path(chain["meta"][0]["blueprints_jsonl"]))[0]
    line["config"]["horizon_bars"] += 1  # the id no longer matches the content
    edited = tmp_path / "edited.jsonl"
    edited.write_text(json.dumps(line) + "\n")
    code = main(
        ["blueprint", "check", str(edited), "--registry-root", registry_root, "--store-root", store_root]
    )
    assert code == 2
    assert "not the hash of its content" in capsys.readouterr().err
