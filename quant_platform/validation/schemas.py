"""One pandera schema per validation table (inputs and outputs of Stage A / Stage B).

Input — :class:`CandidateStreams`, a long frame with one row per candidate × step:
- ``candidate_id``: the candidate (or trial) id.
- ``ts``: the step's bar-open time, ``Datetime("ms", "UTC")``; the step's return accrues over that bar.
- ``ret_after_cost``: the candidate's per-step strategy return after costs (additive: log return or P&L per
  unit of capital); a flat step is ``0.0``, never null.
- ``signal``: the signal value the candidate acted on at that step (nullable where undefined).
- ``forward_return``: the asset's forward return the signal is meant to predict (nullable at the end).
Steps are aggregated into UTC days by summing ``ret_after_cost``; a day with no rows for a candidate is not
part of its track record (never zero-filled).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.engines.polars_engine import DateTime

UTC_MS = DateTime(time_zone="UTC", time_unit="ms")  # type: ignore[call-arg]


class CandidateStreams(pa.DataFrameModel):
    """Per-candidate per-step streams (see module docstring)."""

    candidate_id: str = pa.Field(nullable=False)
    ts: UTC_MS = pa.Field(nullable=False)  # type: ignore[valid-type]
    ret_after_cost: pl.Float64 = pa.Field(nullable=False)
    signal: pl.Float64 = pa.Field(nullable=True)
    forward_return: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = ["candidate_id", "ts"]  # noqa: RUF012 - pandera reads this class attribute


class StageAFoldMetrics(pa.DataFrameModel):
    """One row per candidate × anchored fold: the test fold's Spearman IC and annualized daily Sharpe."""

    candidate_id: str
    fold: pl.Int64 = pa.Field(ge=0)
    train_first_day: pl.Date = pa.Field(nullable=True)
    train_last_day: pl.Date = pa.Field(nullable=True)
    test_first_day: pl.Date
    test_last_day: pl.Date
    n_train_days: pl.Int64 = pa.Field(ge=0)  # calendar days in the (embargoed) training window
    n_test_days: pl.Int64 = pa.Field(ge=0)  # days with data for this candidate in the test fold
    n_ic_pairs: pl.Int64 = pa.Field(ge=0)
    ic: pl.Float64 = pa.Field(nullable=True, ge=-1.0, le=1.0)
    ic_pvalue: pl.Float64 = pa.Field(nullable=True, ge=0.0, le=1.0)
    mean_daily_return: pl.Float64 = pa.Field(nullable=True)
    sharpe_ann: pl.Float64 = pa.Field(nullable=True)
    n_train_trades: pl.Int64 = pa.Field(ge=0)  # trades opened in the training window
    train_expectancy_bps: pl.Float64 = pa.Field(nullable=True)  # after-cost per trade; null without trades
    selected_in_train: bool  # the training-window decision: would the candidate be taken?
    fold_passed: bool  # selected in training and a positive after-cost Sharpe on the test fold
    fold_failure_reason: str  # "" when fold_passed

    class Config:
        strict = True
        unique = ["candidate_id", "fold"]  # noqa: RUF012


class StageADecisions(pa.DataFrameModel):
    """One row per candidate: fold aggregates, pass/fail and the semicolon-joined failure reasons."""

    candidate_id: str = pa.Field(unique=True)
    n_folds: pl.Int64
    min_test_days: pl.Int64
    mean_ic: pl.Float64 = pa.Field(nullable=True)
    n_positive_ic_folds: pl.Int64
    mean_sharpe_ann: pl.Float64 = pa.Field(nullable=True)
    n_positive_sharpe_folds: pl.Int64
    n_selected_folds: pl.Int64  # folds whose training window selected the candidate
    n_passed_folds: pl.Int64  # folds selected in training and positive out of sample
    passed: bool
    failure_reasons: str  # "" when passed

    class Config:
        strict = True


GATE_NAMES: tuple[str, ...] = ("observation", "fold_policy", "psr", "dsr", "cpcv", "bootstrap", "stress")


class StageBCandidates(pa.DataFrameModel):
    """One row per candidate: every Stage B statistic, each gate's result and reason, the overall decision."""

    candidate_id: str = pa.Field(unique=True)
    n_days: pl.Int64 = pa.Field(ge=0)
    sharpe_ann: pl.Float64 = pa.Field(nullable=True)
    skew: pl.Float64 = pa.Field(nullable=True)
    kurtosis: pl.Float64 = pa.Field(nullable=True)  # non-excess
    psr: pl.Float64 = pa.Field(nullable=True, ge=0.0, le=1.0)
    min_trl_days: pl.Float64 = pa.Field(nullable=True)
    dsr: pl.Float64 = pa.Field(nullable=True, ge=0.0, le=1.0)
    dsr_n_trials_total: pl.Int64
    dsr_n_trials_used: pl.Float64
    dsr_trial_count_method: str
    dsr_expected_max_sharpe_ann: pl.Float64 = pa.Field(nullable=True)  # null when no DSR benchmark exists
    cpcv_n_paths: pl.Int64
    cpcv_sharpe_min: pl.Float64 = pa.Field(nullable=True)
    cpcv_sharpe_p10: pl.Float64 = pa.Field(nullable=True)
    cpcv_sharpe_p25: pl.Float64 = pa.Field(nullable=True)
    cpcv_sharpe_median: pl.Float64 = pa.Field(nullable=True)
    cpcv_share_negative: pl.Float64 = pa.Field(nullable=True)
    bootstrap_sharpe_mean: pl.Float64 = pa.Field(nullable=True)
    bootstrap_sharpe_std: pl.Float64 = pa.Field(nullable=True)
    bootstrap_sharpe_p05: pl.Float64 = pa.Field(nullable=True)
    bootstrap_share_negative_sharpe: pl.Float64 = pa.Field(nullable=True)
    bootstrap_max_drawdown_median: pl.Float64 = pa.Field(nullable=True)
    bootstrap_max_drawdown_p95: pl.Float64 = pa.Field(nullable=True)
    stress_min_sharpe: pl.Float64 = pa.Field(nullable=True)
    stress_n_evaluated: pl.Int64
    fold_n_groups: pl.Int64
    fold_n_test_groups: pl.Int64
    fold_embargo_days: pl.Int64
    fold_min_test_days: pl.Int64
    fold_min_train_days: pl.Int64
    observation_passed: bool
    observation_reason: str = pa.Field(nullable=True)
    fold_policy_passed: bool
    fold_policy_reason: str = pa.Field(nullable=True)
    psr_passed: bool
    psr_reason: str = pa.Field(nullable=True)
    dsr_passed: bool
    dsr_reason: str = pa.Field(nullable=True)
    cpcv_passed: bool
    cpcv_reason: str = pa.Field(nullable=True)
    bootstrap_passed: bool
    bootstrap_reason: str = pa.Field(nullable=True)
    stress_passed: bool
    stress_reason: str = pa.Field(nullable=True)
    passed: bool
    failure_reasons: str  # "" when passed

    class Config:
        strict = True


class StageBCpcvPaths(pa.DataFrameModel):
    """One row per candidate × CPCV backtest path: the path's annualized Sharpe (null when the path has no
    defined Sharpe). Every path evaluated goes to the trial ledger."""

    candidate_id: str
    path: pl.Int64 = pa.Field(ge=0)
    sharpe_ann: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = ["candidate_id", "path"]  # noqa: RUF012


class StageBStress(pa.DataFrameModel):
    """One row per candidate × stress scenario: the engine-stressed stream's annualized daily Sharpe."""

    candidate_id: str
    scenario: str
    evaluated: bool
    n_days: pl.Int64 = pa.Field(ge=0)
    sharpe_ann: pl.Float64 = pa.Field(nullable=True)
    passed: bool

    class Config:
        strict = True
        unique = ["candidate_id", "scenario"]  # noqa: RUF012


class GateFunnel(pa.DataFrameModel):
    """Counts at each gate, in gate order: ``n_passed`` passes of the gate on its own, ``n_remaining`` the
    candidates that passed it and every earlier gate."""

    order: pl.Int64 = pa.Field(ge=0, unique=True)
    gate: str = pa.Field(unique=True)
    n_passed: pl.Int64 = pa.Field(ge=0)
    n_remaining: pl.Int64 = pa.Field(ge=0)

    class Config:
        strict = True
