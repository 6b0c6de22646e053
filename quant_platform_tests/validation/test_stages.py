"""Stage A / Stage B on synthetic streams with planted effects, against independent recomputation."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from scipy import stats

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.validation.cpcv import CombinatorialPurgedKFold
from quant_platform.validation.schemas import GATE_NAMES
from quant_platform.validation.sharpe import (
    SharpeUnits,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from quant_platform.validation.stage_a import StageAConfig, stage_a_screen
from quant_platform.validation.stage_b import StageBConfig, stage_b_evaluate
from quant_platform.validation.trials import per_period_sharpe_from_trades
from quant_platform_tests.validation.synthetic import make_streams


@pytest.fixture(scope="module")
def stage_a_result():
    streams = make_streams(31, 240, 24, skill={0: 0.3}, seed=1)
    return streams, stage_a_screen(streams, StageAConfig.from_spec())


def test_stage_a_planted_survives_noise_mostly_fails(stage_a_result):
    _, result = stage_a_result
    decisions = result.decisions
    assert decisions.filter(pl.col("candidate_id") == "cand0000")["passed"].item()
    noise = decisions.filter(pl.col("candidate_id") != "cand0000")
    assert noise["passed"].mean() <= 0.3
    failed = noise.filter(~pl.col("passed"))
    assert (failed["failure_reasons"] != "").all()
    assert result.survivors.height == decisions["passed"].sum()


def test_stage_a_metrics_match_scipy_and_manual_sharpe(stage_a_result):
    streams, result = stage_a_result
    config = StageAConfig.from_spec()
    days = streams["ts"].dt.date().unique().sort().to_list()
    chunks = np.array_split(np.arange(len(days)), config.n_folds + 1)[1:]
    for candidate in ("cand0000", "cand0007"):
        mine = streams.filter(pl.col("candidate_id") == candidate).with_columns(day=pl.col("ts").dt.date())
        for fold, chunk in enumerate(chunks):
            test_days = [days[i] for i in chunk]
            part = mine.filter(pl.col("day").is_in(test_days))
            rho, p = stats.spearmanr(part["signal"].to_numpy(), part["forward_return"].to_numpy())
            daily = part.group_by("day").agg(pl.col("ret_after_cost").sum())["ret_after_cost"].to_numpy()
            sharpe = daily.mean() / daily.std(ddof=1) * math.sqrt(365)
            row = result.fold_metrics.filter((pl.col("candidate_id") == candidate) & (pl.col("fold") == fold))
            assert row["ic"].item() == pytest.approx(rho, abs=1e-10)
            assert row["ic_pvalue"].item() == pytest.approx(p, rel=1e-6, abs=1e-300)
            assert row["sharpe_ann"].item() == pytest.approx(sharpe, rel=1e-10)
            assert row["n_test_days"].item() == len(test_days)
            # The embargo gap: the training window ends embargo_days before the test fold.
            if fold == 0:
                assert row["n_train_days"].item() == chunks[0][0] - config.embargo_days


def test_stage_a_short_candidate_is_insufficient_not_passed():
    streams = make_streams(2, 200, 12, skill={0: 0.4, 1: 0.4}, seed=2)
    cutoff = streams["ts"].min() + pl.duration(days=100)
    short = streams.filter((pl.col("candidate_id") == "cand0000") | (pl.col("ts") < cutoff))
    decisions = stage_a_screen(short, StageAConfig.from_spec()).decisions
    assert decisions.filter(pl.col("candidate_id") == "cand0000")["passed"].item()
    reasons = decisions.filter(pl.col("candidate_id") == "cand0001")["failure_reasons"].item()
    assert "insufficient_observation" in reasons


def _regime_streams(flip_days: tuple[int, int]) -> pl.DataFrame:
    """Three skilled candidates (skill 0.3): ``cand0000`` stable; ``cand0001`` reverses after the first half
    (days >= 120 of 240: returns and forward returns negated, so the signal then predicts the wrong way);
    ``cand0002`` is reversed only on days ``flip_days`` (the first anchored chunk), good afterwards."""
    streams = make_streams(3, 240, 24, skill={0: 0.3, 1: 0.3, 2: 0.3}, seed=4)
    day = (pl.col("ts") - pl.col("ts").min()).dt.total_days()
    flipped = ((pl.col("candidate_id") == "cand0001") & (day >= 120)) | (
        (pl.col("candidate_id") == "cand0002") & day.is_between(*flip_days)
    )
    return streams.with_columns(
        pl.when(flipped).then(-pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in ("ret_after_cost", "forward_return")
    )


def test_stage_a_is_a_walk_forward_decision_with_planted_regimes():
    """Planted truth: a stable effect passes; an effect that reverses after the first half fails (selected on
    every training window, but negative on two of three test folds); an effect that is reversed in the first
    chunk fails too — the old screen, which never looked at the training windows, passed it on its three good
    test folds. The training decision is recomputed here from the definition."""
    config = StageAConfig.from_spec()
    streams = _regime_streams((0, 59))
    result = stage_a_screen(streams, config)
    decisions = {r["candidate_id"]: r for r in result.decisions.iter_rows(named=True)}
    assert decisions["cand0000"]["passed"] and decisions["cand0000"]["n_passed_folds"] == 3
    assert not decisions["cand0001"]["passed"]
    assert "walk_forward_passes_below_min" in decisions["cand0001"]["failure_reasons"]
    assert decisions["cand0001"]["n_selected_folds"] == 3 and decisions["cand0001"]["n_passed_folds"] == 1
    assert not decisions["cand0002"]["passed"]
    assert decisions["cand0002"]["n_positive_sharpe_folds"] == 3  # good out of sample on every test fold ...
    assert decisions["cand0002"]["n_passed_folds"] < config.min_passed_folds  # ... but not chosen in training
    fold0 = result.fold_metrics.filter(pl.col("candidate_id") == "cand0002", pl.col("fold") == 0).row(
        0, named=True
    )
    assert not fold0["selected_in_train"] and fold0["fold_failure_reason"] == "train_expectancy_below_min"

    # Independent recomputation of the training decision: every day before the test fold minus the embargo
    # (the first chunk included), trades = steps where sign(signal) turns non-zero or flips.
    days = streams["ts"].dt.date().unique().sort().to_list()
    chunks = np.array_split(np.arange(len(days)), config.n_folds + 1)[1:]
    threshold = 2.0  # spec/gates.yaml bridge_v1.min_after_cost_expectancy_bps, checked against the loader:
    assert config.min_train_expectancy_bps == threshold
    for candidate in ("cand0001", "cand0002"):
        mine = streams.filter(pl.col("candidate_id") == candidate).sort("ts")
        direction = np.sign(mine["signal"].to_numpy())
        entry = (direction != 0) & (direction != np.concatenate(([0.0], direction[:-1])))
        day_index = np.searchsorted(np.array(days), mine["ts"].dt.date().to_numpy())
        for fold, chunk in enumerate(chunks):
            in_train = day_index < chunk[0] - config.embargo_days
            expectancy = 1e4 * mine["ret_after_cost"].to_numpy()[in_train].sum() / entry[in_train].sum()
            row = result.fold_metrics.filter(pl.col("candidate_id") == candidate, pl.col("fold") == fold)
            assert row["n_train_trades"].item() == entry[in_train].sum()
            assert row["train_expectancy_bps"].item() == pytest.approx(expectancy, rel=1e-9)
            assert row["selected_in_train"].item() == (expectancy >= threshold)


def _stressed(
    streams: pl.DataFrame, config: StageBConfig, extra_cost: float = 0.0
) -> dict[str, pl.DataFrame]:
    return {
        s.name: streams.with_columns(pl.col("ret_after_cost") - extra_cost * (s.cost_multiplier - 1))
        for s in config.scenarios
    }


def test_stage_b_planted_strong_survives_every_gate():
    config = StageBConfig.from_spec()
    streams = make_streams(6, 365, 6, skill={0: 0.2}, seed=3)
    trials = make_streams(40, 365, 4, seed=4, prefix="trial")
    result = stage_b_evaluate(streams, 40, trial_streams=trials, stressed_streams=_stressed(streams, config))
    strong = result.candidates.filter(pl.col("candidate_id") == "cand0000").row(0, named=True)
    assert strong["passed"], strong["failure_reasons"]
    assert all(strong[f"{g}_passed"] for g in GATE_NAMES)
    assert strong["cpcv_share_negative"] == 0.0 and strong["cpcv_sharpe_min"] > 0
    noise = result.candidates.filter(pl.col("candidate_id") != "cand0000")
    assert not noise["passed"].any()
    # PSR/DSR columns equal an independent recomputation from the daily returns.
    daily = (
        streams.filter(pl.col("candidate_id") == "cand0000")
        .group_by(pl.col("ts").dt.date())
        .agg(pl.col("ret_after_cost").sum())["ret_after_cost"]
        .to_numpy()
    )
    sr = daily.mean() / daily.std(ddof=1)
    skew, kurt = stats.skew(daily), stats.kurtosis(daily, fisher=False)
    assert strong["psr"] == pytest.approx(
        probabilistic_sharpe_ratio(sr, 0.0, daily.size, skew, kurt, units=SharpeUnits.PER_PERIOD), rel=1e-9
    )
    assert strong["sharpe_ann"] == pytest.approx(sr * math.sqrt(365), rel=1e-9)
    # Funnel: cumulative counts never grow and end at the strict survivor count.
    funnel = result.funnel
    assert funnel["gate"].to_list() == ["input", *GATE_NAMES]
    assert (np.diff(funnel["n_remaining"].to_numpy()) <= 0).all()
    assert funnel["n_remaining"][-1] == result.survivors.height == 1
    # Every CPCV path is kept (phi(N, k) per candidate), and the summaries are order statistics of them.
    n_paths = CombinatorialPurgedKFold(config.cpcv_n_groups, config.cpcv_n_test_groups).n_paths
    assert result.cpcv_paths.height == result.candidates.height * n_paths
    for row in result.candidates.iter_rows(named=True):
        paths = result.cpcv_paths.filter(pl.col("candidate_id") == row["candidate_id"])
        sharpes = paths.sort("path")["sharpe_ann"].fill_null(float("nan")).to_numpy()
        assert paths["path"].to_list() == list(range(n_paths))
        # A path on which the procedure never traded (null) earned nothing: 0 in the order statistics,
        # failed in the share.
        earned = np.nan_to_num(sharpes, nan=0.0)
        assert row["cpcv_sharpe_min"] == pytest.approx(earned.min(), rel=1e-12)
        assert row["cpcv_sharpe_p10"] == pytest.approx(np.quantile(earned, 0.10), rel=1e-12)
        assert row["cpcv_share_negative"] == pytest.approx(
            ((sharpes < 0) | np.isnan(sharpes)).mean(), rel=1e-12
        )


def test_noise_selected_as_best_of_many_fails_dsr_but_passes_psr():
    """The best of 200 pure-noise trials has a large in-sample Sharpe (PSR passes) but the DSR, which knows
    200 trials were run, rejects it."""
    config = StageBConfig.from_spec()
    trials = make_streams(200, 365, 2, seed=6, prefix="trial")
    daily = trials.group_by("candidate_id", pl.col("ts").dt.date()).agg(pl.col("ret_after_cost").sum())
    sharpes = daily.group_by("candidate_id").agg(
        (pl.col("ret_after_cost").mean() / pl.col("ret_after_cost").std()).alias("sr")
    )
    best = sharpes.sort("sr", descending=True)["candidate_id"][0]
    chosen = trials.filter(pl.col("candidate_id") == best)
    result = stage_b_evaluate(chosen, 200, trial_streams=trials, stressed_streams=_stressed(chosen, config))
    row = result.candidates.row(0, named=True)
    assert row["sharpe_ann"] > 2.0
    assert row["psr_passed"]
    assert not row["dsr_passed"] and "dsr_below_min" in row["failure_reasons"]
    assert row["dsr_n_trials_used"] == pytest.approx(200.0)  # independent trials stay 200
    assert not row["passed"]
    expected = deflated_sharpe_ratio(
        row["sharpe_ann"] / math.sqrt(365),
        row["n_days"],
        row["skew"],
        row["kurtosis"],
        200,
        float(np.var(sharpes["sr"].to_numpy(), ddof=1)),
        units=SharpeUnits.PER_PERIOD,
    )
    assert row["dsr"] == pytest.approx(expected, rel=1e-9)


def test_near_duplicate_trials_deflate_less_than_independent_ones():
    config = StageBConfig.from_spec()
    streams = make_streams(1, 365, 4, skill={0: 0.1}, seed=7)
    stressed = _stressed(streams, config)
    base = make_streams(1, 365, 4, seed=8, prefix="copy")
    copies = pl.concat(
        [
            base.with_columns(
                pl.lit(f"copy{i:04d}").alias("candidate_id"), pl.col("ret_after_cost") * (1 + 0.01 * i)
            )
            for i in range(30)
        ]
    )
    independent = make_streams(10, 365, 4, seed=9, prefix="trial")
    dup = stage_b_evaluate(
        streams, 40, trial_streams=pl.concat([copies, independent]), stressed_streams=stressed
    )
    ind = stage_b_evaluate(
        streams, 40, trial_streams=make_streams(40, 365, 4, seed=9), stressed_streams=stressed
    )
    assert dup.candidates["dsr_n_trials_used"].item() == pytest.approx(11.0)  # 30 copies count once
    assert ind.candidates["dsr_n_trials_used"].item() == pytest.approx(40.0)
    assert dup.candidates["dsr"].item() > ind.candidates["dsr"].item()
    assert dup.candidates["dsr_trial_count_method"].item() == "effective_clustering"
    # Trial streams covering half of everything tested: the effective count is scaled to the total.
    half = stage_b_evaluate(
        streams, 80, trial_streams=pl.concat([copies, independent]), stressed_streams=stressed
    )
    assert half.candidates["dsr_n_trials_used"].item() == pytest.approx(22.0)
    assert half.candidates["dsr_trial_count_method"].item() == "effective_clustering_scaled"


def test_stress_gate_needs_results_and_names_the_failing_scenario():
    config = StageBConfig.from_spec()
    streams = make_streams(1, 365, 6, skill={0: 0.12}, seed=3)
    missing = stage_b_evaluate(streams, 10, trial_sharpes_ann=np.linspace(-1, 1, 10), config=config)
    row = missing.candidates.row(0, named=True)
    assert not row["stress_passed"] and row["stress_reason"].startswith("stress_not_evaluated:")
    assert not row["passed"]
    stressed = _stressed(streams, config)
    # The cost ×2 run loses money: only that scenario fails.
    stressed["cost_x2"] = streams.with_columns(pl.col("ret_after_cost") - 0.01)
    failing = stage_b_evaluate(
        streams, 10, trial_sharpes_ann=np.linspace(-1, 1, 10), stressed_streams=stressed
    )
    row = failing.candidates.row(0, named=True)
    assert row["stress_reason"] == "stress_sharpe_below_min:cost_x2"
    lenient = dataclasses.replace(config, require_stress_results=False)
    assert (
        stage_b_evaluate(streams, 10, trial_sharpes_ann=np.linspace(-1, 1, 10), config=lenient)
        .candidates["stress_passed"]
        .item()
    )


def test_stage_b_short_history_and_bad_inputs():
    config = StageBConfig.from_spec()
    short = make_streams(1, 30, 4, skill={0: 0.3}, seed=10)
    row = stage_b_evaluate(short, 5, trial_sharpes_ann=np.linspace(-1, 1, 5)).candidates.row(0, named=True)
    assert not row["observation_passed"] and row["observation_reason"] == "insufficient_observation"
    assert not row["fold_policy_passed"] and "train_days_below_min" in row["fold_policy_reason"]
    assert not row["passed"]
    with pytest.raises(ValueError, match="trial_streams or trial_sharpes_ann"):
        stage_b_evaluate(short, 5, config=config)
    with pytest.raises(ValueError, match="n_trials_total"):
        stage_b_evaluate(make_streams(3, 30, 4), 2, trial_sharpes_ann=np.ones(3))
    with pytest.raises(ValueError, match="CandidateStreams"):
        stage_b_evaluate(short.drop("signal"), 5, trial_sharpes_ann=np.linspace(-1, 1, 5))


def test_stage_a_ic_with_tied_signals_matches_scipy():
    """Discrete signals (-1/0/+1) tie heavily; the rank correlation must use average ranks like spearmanr."""
    streams = make_streams(1, 80, 12, skill={0: 0.3}, seed=11).with_columns(pl.col("signal").sign())
    result = stage_a_screen(streams, StageAConfig.from_spec())
    days = streams["ts"].dt.date().unique().sort().to_list()
    chunk = np.array_split(np.arange(len(days)), 4)[1]
    part = streams.filter(pl.col("ts").dt.date().is_in([days[i] for i in chunk]))
    rho = stats.spearmanr(part["signal"].to_numpy(), part["forward_return"].to_numpy()).statistic
    assert result.fold_metrics.filter(pl.col("fold") == 0)["ic"].item() == pytest.approx(rho, abs=1e-12)


def test_stream_schema_rejects_duplicates_and_null_returns():
    streams = make_streams(1, 30, 4, seed=12)
    with pytest.raises(ValueError, match="CandidateStreams"):
        stage_a_screen(pl.concat([streams, streams.head(1)]), StageAConfig.from_spec())
    with pytest.raises(ValueError, match="CandidateStreams"):
        stage_a_screen(
            streams.with_columns(
                pl.when(pl.int_range(pl.len()) == 3)
                .then(None)
                .otherwise(pl.col("ret_after_cost"))
                .alias("ret_after_cost")
            ),
            StageAConfig.from_spec(),
        )


def _daily_stream(candidate_id: str, daily: np.ndarray) -> pl.DataFrame:
    """One step per UTC day (noon) carrying the given daily return."""
    start = int(datetime(2024, 1, 1, 12, tzinfo=UTC).timestamp() * 1000)
    return pl.DataFrame(
        {
            "candidate_id": candidate_id,
            "ts": pl.Series(start + np.arange(daily.size, dtype=np.int64) * 86_400_000).cast(TS_DTYPE),
            "ret_after_cost": daily,
            "signal": np.sign(daily),
            "forward_return": daily,
        }
    )


def _assert_dsr_gate_fails_with(result, reason: str) -> None:
    """Every candidate fails the dsr gate with ``reason`` (no DSR, no benchmark), the other gates still ran,
    and the funnel counts nobody past the dsr gate."""
    candidates = result.candidates
    assert candidates.height > 0
    assert not candidates["dsr_passed"].any() and not candidates["passed"].any()
    assert candidates["dsr"].is_null().all() and candidates["dsr_expected_max_sharpe_ann"].is_null().all()
    for row in candidates.iter_rows(named=True):
        assert reason in row["dsr_reason"].split(";") and reason in row["failure_reasons"].split(";")
        assert row["psr"] is not None  # only the DSR lacks its benchmark
    funnel = dict(zip(result.funnel["gate"], result.funnel["n_passed"], strict=True))
    assert funnel["dsr"] == 0 and result.funnel["n_remaining"][-1] == 0


def test_dsr_fails_with_a_reason_when_trial_variance_is_unestimable():
    """One replayed trial (or one trial with a defined Sharpe) leaves V[SR] unestimable: the dsr gate fails
    with ``dsr_trial_variance_unestimable`` instead of raising, and never passes."""
    config = StageBConfig.from_spec()
    streams = make_streams(2, 365, 4, skill={0: 0.15}, seed=13)
    stressed = _stressed(streams, config)
    only_one = streams.filter(pl.col("candidate_id") == "cand0000")
    replayed_one = stage_b_evaluate(
        only_one, 50, trial_streams=only_one, stressed_streams=_stressed(only_one, config)
    )
    _assert_dsr_gate_fails_with(replayed_one, "dsr_trial_variance_unestimable")
    assert replayed_one.candidates["dsr_n_trials_used"].item() == 50.0  # the count itself is still known
    # Two trials, but one never moved (flat: no Sharpe), so only one defined Sharpe remains.
    flat = make_streams(1, 365, 4, prefix="flat").with_columns(pl.lit(0.0).alias("ret_after_cost"))
    with_flat = stage_b_evaluate(
        streams, 50, trial_streams=pl.concat([only_one, flat]), stressed_streams=stressed
    )
    _assert_dsr_gate_fails_with(with_flat, "dsr_trial_variance_unestimable")
    from_sharpes = stage_b_evaluate(
        streams, 50, trial_sharpes_ann=np.array([1.2, np.nan]), stressed_streams=stressed
    )
    _assert_dsr_gate_fails_with(from_sharpes, "dsr_trial_variance_unestimable")


def test_dsr_fails_with_a_reason_when_expected_max_sharpe_is_out_of_range():
    """Two very different trials (per-day Sharpes about +0.6 and -0.6) deflated over N = 50: E[max SR] is
    above 1 per day, which sharpe.py's per-period units guard refuses; Stage B fails the dsr gate with
    ``dsr_expected_max_sharpe_out_of_range`` instead of crashing (the guard itself stays for direct callers)."""
    config = StageBConfig.from_spec()
    streams = make_streams(2, 365, 4, skill={0: 0.15}, seed=14)
    stressed = _stressed(streams, config)
    rng = np.random.default_rng(15)
    strong = rng.normal(0.006, 0.01, 365)
    trials = pl.concat([_daily_stream("trial_up", strong), _daily_stream("trial_down", -strong)])
    result = stage_b_evaluate(streams, 50, trial_streams=trials, stressed_streams=stressed)
    _assert_dsr_gate_fails_with(result, "dsr_expected_max_sharpe_out_of_range")
    # Independent truth: the two trials are two clusters scaled to N = 50, and their per-day Sharpes' spread
    # puts the expected maximum above 1, so the direct formula refuses the benchmark.
    assert result.candidates["dsr_n_trials_used"][0] == pytest.approx(50.0)
    sharpes = np.array([strong.mean() / strong.std(ddof=1), -strong.mean() / strong.std(ddof=1)])
    variance = float(np.var(sharpes, ddof=1))
    assert variance <= 1.0 < expected_max_sharpe(variance, 50.0, units=SharpeUnits.PER_PERIOD)
    sr = float(result.candidates["sharpe_ann"][0]) / math.sqrt(365)
    with pytest.raises(ValueError, match="per-period Sharpe"):
        deflated_sharpe_ratio(sr, 365, 0.0, 3.0, 50.0, variance, units=SharpeUnits.PER_PERIOD)
    # A V[SR] above 1 per day (annualized ±20) and an infinite trial Sharpe are out of range as well.
    for trial_sharpes in (np.array([-20.0, 20.0]), np.array([0.5, np.inf, 1.0])):
        wide = stage_b_evaluate(streams, 50, trial_sharpes_ann=trial_sharpes, stressed_streams=stressed)
        _assert_dsr_gate_fails_with(wide, "dsr_expected_max_sharpe_out_of_range")
    with pytest.raises(ValueError, match="per-period variance"):
        expected_max_sharpe(
            float(np.var(np.array([-20.0, 20.0]) / math.sqrt(365), ddof=1)),
            50.0,
            units=SharpeUnits.PER_PERIOD,
        )


def test_dsr_from_every_tested_trial_is_more_conservative_than_from_the_selected_ones():
    """Planted truth: 400 null hypotheses (true Sharpe 0, 150 trades each over a year) and one genuine
    candidate. Those passing a t > 2 screen are a selected set whose Sharpe spread is biased low: their
    E[max SR] falls far below the realized maximum of the null Sharpes, while V[SR] from every tested
    hypothesis puts E[max SR] near it; so the DSR from all trials is the lower (more conservative) one."""
    rng = np.random.default_rng(31)
    n_hypotheses, n_trades, n_days = 400, 150, 365
    trades = rng.normal(0.0, 0.01, (n_hypotheses, n_trades))
    t = trades.mean(axis=1) / (trades.std(axis=1, ddof=1) / math.sqrt(n_trades))
    every = per_period_sharpe_from_trades(t / math.sqrt(n_trades), np.full(n_hypotheses, n_trades), n_days)
    selected = every[t > 2.0]
    assert selected.size >= 2
    null_max_ann = every.max() * math.sqrt(n_days)

    config = StageBConfig.from_spec()
    streams = make_streams(1, n_days, 4, skill={0: 0.1}, seed=32)
    stressed = _stressed(streams, config)
    n_total = n_hypotheses + 1
    from_all, from_selected = (
        stage_b_evaluate(
            streams,
            n_total,
            trial_sharpes_ann=s * math.sqrt(n_days),
            stressed_streams=stressed,
            config=config,
        ).candidates.row(0, named=True)
        for s in (every, selected)
    )
    assert 0.7 * null_max_ann < from_all["dsr_expected_max_sharpe_ann"] < 1.4 * null_max_ann
    assert from_selected["dsr_expected_max_sharpe_ann"] < 0.5 * null_max_ann
    assert from_all["psr"] == from_selected["psr"]  # same candidate, only the deflation differs
    assert from_all["dsr"] < from_selected["dsr"] - 0.3


def test_a_single_trial_has_nothing_to_deflate_by():
    """N = 1 is no selection: the DSR is the PSR against a zero benchmark, with no V[SR] needed."""
    config = StageBConfig.from_spec()
    streams = make_streams(1, 365, 4, skill={0: 0.1}, seed=33)
    row = stage_b_evaluate(
        streams, 1, trial_sharpes_ann=np.array([]), stressed_streams=_stressed(streams, config), config=config
    ).candidates.row(0, named=True)
    sr = row["sharpe_ann"] / math.sqrt(365)
    expected = probabilistic_sharpe_ratio(
        sr, 0.0, row["n_days"], row["skew"], row["kurtosis"], units=SharpeUnits.PER_PERIOD
    )
    assert row["dsr"] == pytest.approx(expected, rel=1e-12) and row["dsr_expected_max_sharpe_ann"] == 0.0
