"""Experiments against independent truth: round trips computed by hand on a world whose prices move 0.01 per
bar, byte-identical facts on re-execution of a frozen experiment, nothing written when re-executed, the
one-query "all trades of RunSet X" through membership, and clear refusals for bad input."""

import hashlib
import os
import shutil
from datetime import datetime

import polars as pl
import pytest

from quant_platform.experiments import (
    EXPLORATORY,
    REPRODUCIBLE,
    EmptyExperimentError,
    ModelPolicyUnavailableError,
    create_experiment,
    execute_experiment,
    get_experiment,
    list_experiments,
    parse_strategy,
)
from quant_platform.registry.experiment_facts import conform
from quant_platform.registry.experiment_projection import RUNSET_TRADES_SQL
from quant_platform_tests.experiments.conftest import A, B, bar_ts, open_price

FEE_BPS = 5.0
CAPITAL = 1_000_000.0
WEIGHT = 0.5


def strategy(**changes):
    payload = {
        "name": "hand_vol_shock",
        "policy": {"kind": "rule", "event_type": "VOL_SHOCK", "template": "continuation", "horizon_bars": 3},
        "sizing": {"initial_capital": CAPITAL, "weight_per_symbol": WEIGHT},
        "costs": {"taker_fee_bps": FEE_BPS, "slippage_base_bps": 0.0, "slippage_vol_coef": 0.0,
                  "slippage_impact_bps": 0.0},
    }  # fmt: skip
    payload.update(changes)
    return parse_strategy(payload)


def hand_trip(event_bar: int, direction: int, horizon: int = 3, lag: int = 1) -> dict:
    """Signal at the event bar's close, fill at the open ``lag`` bars later; flat ``horizon`` bars after the
    event, filled ``lag`` bars after that; fee = FEE_BPS of each leg's notional."""
    entry, exit_ = open_price(event_bar + lag), open_price(event_bar + horizon + lag)
    units = WEIGHT * CAPITAL / entry
    gross = direction * units * (exit_ - entry)
    fees = FEE_BPS * 1e-4 * units * (entry + exit_)
    return {"entry_price": entry, "exit_price": exit_, "size": units, "pnl_net": gross - fees}


def _files(root) -> dict[str, str]:
    out = {}
    for folder, _, names in os.walk(root):
        if "/cache" in folder:
            continue
        for name in names:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def test_round_trips_match_the_hand_computation(lab):
    registry = lab["registry"]
    experiment = create_experiment(registry, "both_days", strategy())
    run = execute_experiment(registry, experiment.experiment_id)
    trades = run.trades.sort("symbol", "entry_ts")
    expected = [(A, 10, 1), (A, 300, -1), (B, 20, -1), (B, 400, 1)]
    assert trades.height == len(expected)
    for row, (symbol, bar, direction) in zip(trades.iter_rows(named=True), expected, strict=True):
        hand = hand_trip(bar, direction)
        assert row["symbol"] == symbol and row["closed"]
        assert row["side"] == ("long" if direction > 0 else "short")
        assert row["entry_ts"] == pl.select(bar_ts(bar + 1)).item()
        assert row["exit_ts"] == pl.select(bar_ts(bar + 4)).item()
        assert row["entry_price"] == pytest.approx(hand["entry_price"], rel=1e-12)
        assert row["exit_price"] == pytest.approx(hand["exit_price"], rel=1e-12)
        assert row["size"] == pytest.approx(hand["size"], rel=1e-12)
        assert row["pnl_net"] == pytest.approx(hand["pnl_net"], rel=1e-9)
    # daily PnL sums to the run's PnL, which is the sum of the trips
    total = sum(hand_trip(b, d)["pnl_net"] for _, b, d in expected)
    assert run.daily_pnl["pnl_net"].sum() == pytest.approx(total, rel=1e-9)
    assert run.run["final_equity"] == pytest.approx(CAPITAL + total, rel=1e-12)
    assert run.mode == EXPLORATORY and run.wrote_anything


def test_reexecution_writes_nothing_new(lab):
    registry, root = lab["registry"], lab["root"]
    experiment = create_experiment(registry, "both_days", strategy())
    first = execute_experiment(registry, experiment.experiment_id)
    before = _files(root)
    assert create_experiment(registry, "both_days", strategy()) == experiment  # idempotent
    again = execute_experiment(registry, experiment.experiment_id)
    assert again.run_id == first.run_id and not again.wrote_anything
    assert _files(root) == before


def test_frozen_runset_gives_byte_identical_facts(lab):
    registry, root = lab["registry"], lab["root"]
    registry.freeze("both_days")
    experiment = create_experiment(registry, "both_days", strategy())
    run = execute_experiment(registry, experiment.experiment_id)
    assert run.mode == REPRODUCIBLE
    facts_dir = root / "registry" / "experiments" / "facts"
    hashes = {k: v for k, v in _files(facts_dir).items()}
    assert len(hashes) == 4  # runs, trades, daily PnL, metrics of one run
    shutil.rmtree(facts_dir)
    rerun = execute_experiment(registry, experiment.experiment_id)
    assert rerun.run_id == run.run_id and all(rerun.written.values())
    assert _files(facts_dir) == hashes


def test_a_changed_replay_is_an_integrity_error(lab):
    registry, root = lab["registry"], lab["root"]
    experiment = create_experiment(registry, "both_days", strategy())
    run = execute_experiment(registry, experiment.experiment_id)
    path = root / "registry" / "experiments" / "facts" / "trades" / f"{run.run_id}.parquet"
    tampered = pl.read_parquet(path).with_columns(pl.col("pnl_net") + 1.0)
    os.chmod(path, 0o644)
    tampered.write_parquet(path)
    with pytest.raises(Exception, match="different content"):
        execute_experiment(registry, experiment.experiment_id)


def test_all_trades_of_a_runset_in_one_query(lab):
    registry = lab["registry"]
    both = execute_experiment(registry, create_experiment(registry, "both_days", strategy()).experiment_id)
    day_one = execute_experiment(registry, create_experiment(registry, "day_one", strategy()).experiment_id)
    other = execute_experiment(
        registry,
        create_experiment(registry, "day_one", strategy(name="hand_long_horizon", policy={
            "kind": "rule", "event_type": "VOL_SHOCK", "template": "reversal", "horizon_bars": 6})).experiment_id,
    )  # fmt: skip
    assert len({both.run_id, day_one.run_id, other.run_id}) == 3
    for runset, runs in (("both_days", [both]), ("day_one", [day_one, other])):
        got = registry.query(RUNSET_TRADES_SQL, {"runset": runset}).sort("run_id", "trade_no")
        want = pl.concat([r.trades for r in runs]).sort("run_id", "trade_no")
        assert got.columns == [*want.columns, "fact_file"]
        assert conform("trades", got.drop("fact_file")).equals(want)  # DuckDB hands back µs timestamps
    # day one has only the two day-one events; the window limits what the engine replays
    assert day_one.trades.height == 2
    view = registry.query("SELECT runset_name, count(*) AS n FROM runset_trades GROUP BY 1 ORDER BY 1")
    assert view.rows() == [("both_days", 4), ("day_one", day_one.trades.height + other.trades.height)]


def test_runs_with_artifacts_points_at_the_resolved_versions(lab):
    registry = lab["registry"]
    run = execute_experiment(registry, create_experiment(registry, "both_days", strategy()).experiment_id)
    rows = registry.query(
        "SELECT asset, partition, content_hash, artifact_id FROM runs_with_artifacts WHERE run_id = $run "
        "ORDER BY asset, partition",
        {"run": run.run_id},
    )
    resolution = registry.resolution("both_days", run.resolution_hash)
    assert (
        rows.select("asset", "partition", "content_hash").rows()
        == resolution.artifacts.select("asset", "partition", "content_hash").rows()
    )
    assert rows["artifact_id"].null_count() == 0


def test_exploratory_runset_follows_new_data_with_a_new_run(lab):
    registry, store = lab["registry"], lab["store"]
    experiment = create_experiment(registry, "both_days", strategy())
    first = execute_experiment(registry, experiment.experiment_id)
    events = store.scan("market_events", ["2024-01-02"])[0].collect()
    store.write("market_events", "2024-01-02", events.filter(pl.col("symbol") == A))  # B's event withdrawn
    second = execute_experiment(registry, experiment.experiment_id)
    assert second.run_id != first.run_id and second.resolution_hash != first.resolution_hash
    assert second.trades.height == first.trades.height - 1
    # membership follows the RunSet's current resolution: only the new run's trades are the RunSet's now
    current = registry.query(RUNSET_TRADES_SQL, {"runset": "both_days"})
    assert set(current["run_id"]) == {second.run_id} and current.height == second.trades.height
    listed = {e["experiment_id"]: e for e in list_experiments(registry)}
    assert listed[experiment.experiment_id]["runs"] == 2
    assert listed[experiment.experiment_id]["current_run_id"] == second.run_id
    assert listed[experiment.experiment_id]["mode"] == EXPLORATORY


def test_bad_input_is_refused_clearly(lab):
    registry = lab["registry"]
    with pytest.raises(ValueError, match="leverage"):
        strategy(leverage=3)
    with pytest.raises(ValueError, match="horizon"):
        parse_strategy({"name": "x", "policy": {"kind": "rule", "event_type": "VOL_SHOCK",
                                                "template": "continuation", "horizon_bars": 3, "horizon": 2}})  # fmt: skip
    unknown_event = strategy(policy={"kind": "rule", "event_type": "VOL_SHOCKK", "template": "continuation",
                                     "horizon_bars": 3})  # fmt: skip
    with pytest.raises(ValueError, match=r"'VOL_SHOCKK' is not in the event registry.*VOL_SHOCK"):
        create_experiment(registry, "both_days", unknown_event)
    with pytest.raises(ValueError, match="does not select"):
        create_experiment(registry, "day_one", strategy(symbols=["CCCUSDT"]))
    nothing = create_experiment(registry, "only_c", strategy())
    with pytest.raises(EmptyExperimentError, match=r"no bars_5m rows for \['CCCUSDT'\]"):
        execute_experiment(registry, nothing.experiment_id)
    never_fires = create_experiment(registry, "both_days", strategy(policy={
        "kind": "rule", "event_type": "OI_FLUSH", "template": "continuation", "horizon_bars": 3}))  # fmt: skip
    with pytest.raises(EmptyExperimentError, match="no OI_FLUSH events"):
        execute_experiment(registry, never_fires.experiment_id)
    model = create_experiment(
        registry, "both_days", strategy(policy={"kind": "model", "name": "lgbm", "version": "1"})
    )
    with pytest.raises(ModelPolicyUnavailableError, match="model policies are not available yet"):
        execute_experiment(registry, model.experiment_id)
    assert registry.query("SELECT count(*) AS n FROM experiment_runs")["n"][0] == 0  # nothing half-written
    with pytest.raises(LookupError):
        get_experiment(registry, "0" * 64)


def test_experiment_id_is_the_hash_of_runset_and_strategy(lab):
    from quant_platform.core.hashing import canonical_hash

    registry = lab["registry"]
    spec = strategy()
    experiment = create_experiment(registry, "both_days", spec)
    runset_id = registry.runset("both_days").runset_id
    assert experiment.experiment_id == canonical_hash(
        {"runset_id": runset_id, "strategy_hash": spec.strategy_hash}
    )
    assert spec.strategy_hash == canonical_hash(spec.model_dump(mode="json"))
    assert strategy(seed=1).strategy_hash != spec.strategy_hash
    assert isinstance(datetime.now(), datetime)


def test_concurrent_executions_agree(lab):
    from concurrent.futures import ThreadPoolExecutor

    registry, root = lab["registry"], lab["root"]
    registry.freeze("both_days")
    experiment = create_experiment(registry, "both_days", strategy())
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda _: execute_experiment(registry, experiment.experiment_id), range(3)))
    assert len({r.run_id for r in runs}) == 1
    written = [r.written["experiment_runs"] for r in runs]
    assert written.count(True) == 1  # exactly one execution created the facts, the others found them equal
    assert len(_files(root / "registry" / "experiments" / "facts")) == 4
