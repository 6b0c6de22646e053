"""Engine-replayed candidate streams and the Stage A/B wrappers over the bridge's survivors.

Truths: a hand-built tape whose round-trip return is known in closed form; the engine's own steps for
hand-built targets; cost stress can only take money away, step by step; the price transforms match
their definitions (vol ×k scales log-return deviations exactly, gaps stay gaps); a planted post-event
drift survives Stage A while the same rule on a symbol without an effect does not."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.bridge import (
    bridge_candidates,
    default_engine_config,
    dsr_trials_from_ledger,
    evaluate_stage_a_survivors,
    rule_streams,
    screen_bridge_survivors,
    stage_a_trials,
    stage_b_trials,
    stress_bars,
    stressed_rule_streams,
)
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery import load_discovery_spec
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world
from quant_platform.discovery.trials import trial_ledger
from quant_platform.engine import EngineConfig, run_backtest
from quant_platform.validation import StressScenario
from quant_platform.validation.schemas import CandidateStreams, StageADecisions
from quant_platform.validation.sharpe import SharpeUnits, expected_max_sharpe, probabilistic_sharpe_ratio

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NO_STRESS_LATENCY = (StressScenario("cost_x2", cost_multiplier=2.0),)


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


def _candidate(symbol: str, cid: str, *, event_type: str = "VOL_SHOCK", tradable: bool = True, horizon=12):
    return {
        "candidate_id": cid,
        "family": "VOLATILITY_TRANSITION",
        "event_type": event_type,
        "symbol": symbol,
        "horizon_bars": horizon,
        "template": "continuation",
        "state_column": "all",
        "state_value": "all",
        "tradable": tradable,
    }


def _bridge(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"horizon_bars": pl.Int32})


def _linear_tape(n_bars: int = 288) -> pl.DataFrame:
    close = 100.0 * (1.0 + 0.001 * np.arange(1, n_bars + 1))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pl.DataFrame(
        {
            "symbol": "AAAUSDT",
            "ts": [T0 + timedelta(minutes=5 * i) for i in range(n_bars)],
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": 1e9,
            "gap": False,
        },
        schema_overrides={"ts": TS_DTYPE},
    )


def _one_event(bar: int, direction: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": ["AAAUSDT"], "ts": [T0 + timedelta(minutes=5 * bar)], "event_type": ["VOL_SHOCK"],
         "direction": [direction]},
        schema_overrides={"ts": TS_DTYPE, "direction": pl.Int8},
    )  # fmt: skip


@pytest.mark.parametrize("fee_bps", [0.0, 4.0])
def test_hand_built_round_trip_return_in_closed_form(spec, fee_bps):
    bars = _linear_tape()
    config = EngineConfig(taker_fee_bps=fee_bps, slippage_base_bps=0.0, slippage_vol_coef=0.0,
                          slippage_impact_bps=0.0)  # fmt: skip
    stream = rule_streams(
        _bridge([_candidate("AAAUSDT", "c1")]), bars, _one_event(10), base_config=config, spec=spec,
        scenarios=NO_STRESS_LATENCY,
    )  # fmt: skip
    CandidateStreams.validate(stream)
    opens = bars["open"].to_numpy()
    # Signal at bar 10's close; entry fills at bar 11's open, the exit (signal bar 22) at bar 23's open.
    entry, exit_ = opens[11], opens[23]
    expected = exit_ / entry - 1.0 - fee_bps * 1e-4 * (1.0 + exit_ / entry)
    assert stream["ret_after_cost"].sum() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    held = np.flatnonzero(stream["signal"].to_numpy() != 0)
    assert held.tolist() == list(range(11, 23))  # held from the entry fill until the exit fill
    closes = bars["close"].to_numpy()
    np.testing.assert_allclose(stream["forward_return"].to_numpy()[:-1], closes[1:] / closes[:-1] - 1.0)
    assert stream["forward_return"][-1] is None


def test_stream_is_the_engines_per_step_pnl_for_the_rule_targets(spec):
    bars = _linear_tape()
    config = (
        EngineConfig()
    )  # volatility and impact slippage on: whatever the engine charges, the stream shows
    events = pl.concat([_one_event(10, 1), _one_event(60, -1), _one_event(65, 1)])  # 65 overlaps 60's window
    stream = rule_streams(
        _bridge([_candidate("AAAUSDT", "c1")]), bars, events, base_config=config, spec=spec,
        scenarios=NO_STRESS_LATENCY,
    )  # fmt: skip
    targets = pl.DataFrame(
        {"symbol": "AAAUSDT", "ts": [T0 + timedelta(minutes=5 * b) for b in (10, 22, 60, 72)],
         "target_weight": [1.0, 0.0, -1.0, 0.0]},
        schema_overrides={"ts": TS_DTYPE},
    )  # fmt: skip
    steps = run_backtest(bars, targets, config).steps
    np.testing.assert_allclose(
        stream["ret_after_cost"].to_numpy(), steps["pnl_net"].to_numpy() / 1e6, rtol=1e-14
    )
    np.testing.assert_array_equal(stream["signal"].to_numpy(), steps["target_weight"].to_numpy())


def test_a_rule_without_trades_is_flat_on_every_step(spec):
    bars = _linear_tape()
    stream = rule_streams(
        _bridge([_candidate("AAAUSDT", "c1")]), bars, _one_event(280), base_config=EngineConfig(), spec=spec
    )  # an event too close to the tape's end cannot complete, so it is not traded
    assert stream.height == bars.height
    assert (stream["ret_after_cost"] == 0.0).all() and (stream["signal"] == 0.0).all()


def _discovery_ledger(trial_ids: list[str], *, seed: int) -> pl.DataFrame:
    """Discovery's ledger rows (its own ``trial_ledger``) of tested hypotheses with random t tests."""
    rng = np.random.default_rng(seed)
    k = len(trial_ids)
    candidates = pl.DataFrame(
        {
            "tested": [True] * k,
            "candidate_id": trial_ids,
            "family": ["VOLATILITY_TRANSITION"] * k,
            "event_type": ["VOL_SHOCK"] * k,
            "template": ["continuation"] * k,
            "horizon_bars": [12] * k,
            "n_observations": rng.integers(60, 300, k),
            "mean_net_bps": rng.normal(0.0, 5.0, k),
            "t_statistic": rng.normal(0.0, 1.0, k),
            "p_value": rng.uniform(0.0, 1.0, k),
            "q_value": rng.uniform(0.0, 1.0, k),
            "passes_gates": [False] * k,
        }
    )
    wide = trial_ledger(candidates, "runset")
    metrics = [c for c in wide.columns if c not in ("runset_id", "stage", "trial_id", "family")]
    return wide.unpivot(
        index=["runset_id", "stage", "trial_id", "family"],
        on=metrics,
        variable_name="metric",
        value_name="value",
    ).with_columns(pl.lit("hypothesis").alias("kind"), pl.lit("").alias("sub_id"))


def test_dsr_trials_from_ledger_by_hand():
    """Hypotheses counted once across stages; one Sharpe per hypothesis with a t test, the latest record of a
    metric winning; folds, paths and untested rows carry no t test."""
    ledger = pl.DataFrame(
        {
            "stage": ["d", "d", "d", "d", "d", "d", "stage_a", "stage_a", "d"],
            "kind": ["hypothesis"] * 6 + ["hypothesis", "fold", "hypothesis"],
            "trial_id": ["a", "a", "b", "b", "a", "c", "a", "a", "e"],
            "sub_id": [""] * 7 + ["0", ""],
            "metric": ["t_statistic", "n_observations"] * 2 + ["t_statistic", "n_observations", "passed",
                       "t_statistic", "t_statistic"],
            "value": [1.0, 100.0, -2.0, 400.0, 3.0, 50.0, 1.0, 9.0, float("nan")],
        }
    )  # fmt: skip
    n_total, sharpes = dsr_trials_from_ledger(ledger, n_days=100)
    assert n_total == 4  # a, b, c, e
    s_a, s_b = 3.0 / 10.0, -2.0 / 20.0  # a's t test re-recorded as 3.0: the latest wins
    expected = [np.sqrt(1.0) * s_a / np.sqrt(1 + s_a**2), np.sqrt(4.0) * s_b / np.sqrt(1 + s_b**2)]
    assert sharpes == pytest.approx(expected)
    assert dsr_trials_from_ledger(ledger.filter(pl.col("metric") == "passed"), 100)[1].size == 0
    with pytest.raises(ValueError, match="n_days"):
        dsr_trials_from_ledger(ledger, 0)


@pytest.fixture(scope="module")
def planted(spec):
    effects = (PlantedDrift("VOL_SHOCK", "SYM00USDT", 12, 30.0),)
    config = WorldConfig(n_symbols=2, n_days=90, events_per_day=3.0, gap_rate=0.002, effects=effects, seed=4)
    world = make_world(config, spec)
    bridge = _bridge([_candidate("SYM00USDT", "planted"), _candidate("SYM01USDT", "noise")])
    return world, bridge


def test_cost_stress_never_beats_the_base_step_by_step(spec, planted):
    world, bridge = planted
    base = default_engine_config(spec)
    streams = rule_streams(bridge, world.bars, world.events, world.states, base_config=base, spec=spec)
    stressed = stressed_rule_streams(
        bridge, world.bars, world.events, world.states, base_config=base, spec=spec
    )
    assert sorted(stressed) == ["correlation_spike", "cost_x2", "latency_plus_1_bar", "vol_shock"]
    cost = stressed["cost_x2"]
    assert cost.select("candidate_id", "ts").equals(streams.select("candidate_id", "ts"))
    diff = cost["ret_after_cost"].to_numpy() - streams["ret_after_cost"].to_numpy()
    assert (diff <= 1e-15).all()
    traded = streams["signal"].to_numpy() != np.roll(streams["signal"].to_numpy(), 1)
    assert (diff[traded] < 0).sum() > 100  # every fill pays the doubled cost
    # Latency: the same trades, each entered one bar later.
    latency = stressed["latency_plus_1_bar"]
    for cid in ("planted", "noise"):
        base_entries, late_entries = (
            _entry_bars(s.filter(pl.col("candidate_id") == cid)) for s in (streams, latency)
        )
        assert base_entries.size > 100 and late_entries.size == base_entries.size
        assert np.median(late_entries - base_entries) == 1


def _entry_bars(stream: pl.DataFrame) -> np.ndarray:
    held = stream["signal"].to_numpy() != 0
    return np.flatnonzero(held & ~np.concatenate([[False], held[:-1]]))


def _log_returns(bars: pl.DataFrame) -> np.ndarray:
    wide = bars.pivot(on="symbol", index="ts", values="close", sort_columns=True).sort("ts").drop("ts")
    return np.diff(np.log(wide.to_numpy()), axis=0)


def test_price_stress_transforms_match_their_definitions(spec):
    world = make_world(WorldConfig(n_symbols=2, n_days=3, gap_rate=0.0, seed=1), spec)
    base = _log_returns(world.bars)
    shocked = _log_returns(stress_bars(world.bars, StressScenario("vol", vol_shock=2.0)))
    np.testing.assert_allclose(shocked - shocked.mean(0), 2.0 * (base - base.mean(0)), atol=1e-12)
    spiked = _log_returns(stress_bars(world.bars, StressScenario("corr", correlation_spike=0.8)))
    assert abs(np.corrcoef(base.T)[0, 1]) < 0.1 < 0.6 < np.corrcoef(spiked.T)[0, 1]
    np.testing.assert_allclose(spiked.std(0), base.std(0), rtol=1e-9)  # vols kept
    shaped = stress_bars(world.bars, StressScenario("vol", vol_shock=2.0))
    ratio = shaped.select((pl.col("open") / pl.col("close")).alias("r"))["r"]
    np.testing.assert_allclose(ratio.to_numpy(), (world.bars["open"] / world.bars["close"]).to_numpy())


def test_price_stress_keeps_gaps_as_gaps(spec):
    world = make_world(WorldConfig(n_symbols=2, n_days=3, gap_rate=0.02, seed=2), spec)
    stressed = stress_bars(world.bars, StressScenario("vol", vol_shock=2.0))
    gaps = world.bars.sort("symbol", "ts")["close"].is_null()
    assert gaps.sum() > 0
    assert stressed.sort("symbol", "ts")["close"].is_null().equals(gaps)


def test_planted_effect_survives_stage_a_and_noise_does_not(spec, planted):
    world, bridge = planted
    base = default_engine_config(spec)
    result = screen_bridge_survivors(bridge, world.bars, world.events, world.states, base_config=base)
    decisions = {r["candidate_id"]: r for r in result.decisions.iter_rows(named=True)}
    assert decisions["planted"]["passed"] and decisions["planted"]["mean_ic"] > 0.02
    assert not decisions["noise"]["passed"] and decisions["noise"]["failure_reasons"]
    trials = stage_a_trials(result, bridge, "runset")
    planted_rows = trials.filter(pl.col("trial_id") == "planted")
    # One hypothesis evaluation (passed) and one fold evaluation per anchored fold, each with IC, Sharpe,
    # test days, training expectancy, selected_in_train and fold_passed.
    by_evaluation = (
        planted_rows.group_by("kind", "sub_id").agg(pl.col("metric").sort()).sort("kind", "sub_id")
    )
    fold_metrics = sorted(
        ["ic", "sharpe_ann", "n_test_days", "train_expectancy_bps", "selected_in_train", "fold_passed"]
    )
    assert by_evaluation.rows() == [
        ("fold", "0", fold_metrics),
        ("fold", "1", fold_metrics),
        ("fold", "2", fold_metrics),
        ("hypothesis", "", ["passed"]),
    ]
    fold_rows = result.fold_metrics.filter(pl.col("candidate_id") == "planted").sort("fold")
    assert planted_rows.filter(pl.col("kind") == "fold", pl.col("metric") == "ic").sort("sub_id")[
        "value"
    ].to_list() == pytest.approx(fold_rows["ic"].to_list(), nan_ok=True)
    assert (
        planted_rows.filter(pl.col("sub_id") == "0", pl.col("metric") == "selected_in_train")["value"].item()
        == 1.0
    )
    assert trials["family"].null_count() == 0
    # Stage B: only the Stage A survivor is evaluated, deflated by every hypothesis of the ledger: 30 tested
    # by discovery (the two replayed ones among them), which Stage A's rows re-evaluate without adding any.
    discovery = _discovery_ledger(["planted", "noise", *[f"h{i:02d}" for i in range(28)]], seed=21)
    ledger = pl.concat([discovery, trials], how="diagonal_relaxed")
    stage_b = evaluate_stage_a_survivors(
        bridge,
        result.decisions,
        world.bars,
        world.events,
        world.states,
        trial_ledger=ledger,
        base_config=base,
    )
    assert stage_b.candidates["candidate_id"].to_list() == ["planted"]
    row = stage_b.candidates.row(0, named=True)
    # A single survivor gets a defined DSR: V[SR] comes from the 30 tested hypotheses, not the replayed one.
    assert row["dsr_n_trials_total"] == 30 and row["dsr_n_trials_used"] == 30.0
    assert row["dsr"] is not None and row["dsr_expected_max_sharpe_ann"] is not None
    assert "unestimable" not in (row["dsr_reason"] or "")
    assert row["dsr_trial_count_method"] == "all_trials"
    # Independent truth: per-trade Sharpe t/sqrt(n) -> per-day sqrt(n/D) s / sqrt(1 + s^2) (compound Poisson),
    # V[SR] over the 30, then the published E[max] and PSR formulas.
    t = discovery.filter(pl.col("metric") == "t_statistic")["value"].to_numpy()
    n = discovery.filter(pl.col("metric") == "n_observations")["value"].to_numpy()
    s = t / np.sqrt(n)
    days = world.bars["ts"].dt.date().n_unique()
    variance = np.var(np.sqrt(n / days) * s / np.sqrt(1 + s**2), ddof=1)
    emax = expected_max_sharpe(variance, 30.0, units=SharpeUnits.PER_PERIOD)
    assert row["dsr_expected_max_sharpe_ann"] == pytest.approx(emax * math.sqrt(365), rel=1e-9)
    dsr = probabilistic_sharpe_ratio(
        row["sharpe_ann"] / math.sqrt(365), emax, row["n_days"], row["skew"], row["kurtosis"],
        units=SharpeUnits.PER_PERIOD,
    )  # fmt: skip
    assert row["dsr"] == pytest.approx(dsr, rel=1e-9)
    assert set(stage_b.stress["scenario"]) == {
        "cost_x2",
        "latency_plus_1_bar",
        "correlation_spike",
        "vol_shock",
    }
    assert stage_b.stress["evaluated"].all()
    funnel = stage_b.funnel["n_remaining"].to_list()
    assert funnel == sorted(funnel, reverse=True) and funnel[0] == 1
    # The ledger holds the survivor's statistics and gates, and one cpcv_path evaluation per path.
    ledger = stage_b_trials(stage_b, bridge, "runset")
    paths = ledger.filter(pl.col("kind") == "cpcv_path")
    assert paths.height == paths["sub_id"].n_unique() == stage_b.cpcv_paths.height > 0
    assert set(paths["metric"]) == {"sharpe_ann"}
    expected_paths = stage_b.cpcv_paths.sort("path")["sharpe_ann"].fill_null(float("nan")).to_list()
    got_paths = paths.sort(pl.col("sub_id").cast(pl.Int64))["value"].to_list()
    assert got_paths == pytest.approx(expected_paths, nan_ok=True)
    assert set(ledger.filter(pl.col("kind") == "hypothesis")["sub_id"]) == {""}
    assert set(ledger["trial_id"]) == {"planted"}


def test_bridge_candidates_keeps_tradable_and_refuses_two_verdicts():
    rows = [_candidate("A", "a"), _candidate("B", "b", tradable=False)]
    bridge = _bridge([*rows, rows[0]])  # the long table repeats a candidate per scenario
    assert bridge_candidates(bridge)["candidate_id"].to_list() == ["a"]
    assert bridge_candidates(bridge, tradable_only=False)["candidate_id"].to_list() == ["a", "b"]
    with pytest.raises(ValueError, match="two different tradability verdicts"):
        bridge_candidates(_bridge([rows[0], {**rows[0], "tradable": False}]))
    with pytest.raises(ValueError, match="lacks columns"):
        bridge_candidates(bridge.drop("template"))


def test_no_survivors_give_empty_schema_valid_results(spec):
    bridge = _bridge([_candidate("AAAUSDT", "x", tradable=False)])
    bars = _linear_tape()
    result = screen_bridge_survivors(bridge, bars, _one_event(10), base_config=EngineConfig())
    assert result.decisions.height == 0
    StageADecisions.validate(result.decisions)
    ledger = _discovery_ledger(["x"], seed=1)
    stage_b = evaluate_stage_a_survivors(
        bridge, result.decisions, bars, _one_event(10), trial_ledger=ledger, base_config=EngineConfig()
    )
    assert stage_b.candidates.height == 0 and stage_b.funnel["n_remaining"].sum() == 0
    stranger = pl.DataFrame({"candidate_id": ["zzz"], "passed": [True]})
    with pytest.raises(ValueError, match="not tradable candidates"):
        evaluate_stage_a_survivors(
            bridge, stranger, bars, _one_event(10), trial_ledger=ledger, base_config=EngineConfig()
        )
