"""Stage A screen: a walk-forward decision on anchored temporal folds over UTC days; per candidate × fold the
training-window decision, and the Spearman IC and after-cost daily Sharpe on the test fold; survivors with
reasons.

The fold calendar is shared by all candidates: the sorted UTC days present in the input are cut by
:class:`AnchoredTemporalFolds` (``n_folds`` test folds after an initial chunk; each fold's training window is
every day before its test fold minus an ``embargo_days`` gap, so the first chunk is always training data).
Per candidate and fold:
- Training decision (nothing of the test fold is used): the candidate's after-cost expectancy per trade over
  the training window, ``1e4 · Σ ret_after_cost / trades`` in bps (trades from ``daily.entry_flags``), must
  reach ``min_train_expectancy_bps`` — the bridge's economic gate, read from ``spec/gates.yaml``
  (``bridge_v1.min_after_cost_expectancy_bps``; the bridge measures the same engine-replayed after-cost
  expectancy per trade). ``selected_in_train`` records the decision.
- IC: Spearman rank correlation of ``signal`` and ``forward_return`` over the fold's test steps where both are
  present (average ranks per candidate × fold, then their Pearson correlation; the tests check it against
  ``scipy.stats.spearmanr``), with spearmanr's two-sided t-approximation p-value.
- Sharpe: the test fold's UTC-day returns (sum of per-step after-cost returns), mean / std (ddof=1),
  annualized with ``sqrt(annualization_days)``.
- ``fold_passed``: selected in training and a positive test-fold Sharpe; otherwise ``fold_failure_reason`` is
  ``no_trades_in_train``, ``train_expectancy_below_min`` or ``oos_sharpe_not_positive``.
Every float reduction runs in a fixed row order (``grouped.py``): the same streams give the same bytes.
Gates (thresholds from ``spec/validation.yaml`` → ``stage_a``), reasons in this order:
``insufficient_observation`` (a test fold with fewer than ``min_test_days`` days of data, or a first
training window shorter than ``min_train_days``), ``mean_ic_below_min``, ``ic_sign_unstable`` (fewer than
``min_positive_ic_folds`` folds with IC > 0), ``sharpe_below_min``, ``sharpe_sign_unstable``,
``walk_forward_passes_below_min`` (fewer than ``min_passed_folds`` folds that pass as above).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from quant_platform.specs import load_yaml
from quant_platform.validation.daily import entry_flags, validate_streams
from quant_platform.validation.folds import AnchoredTemporalFolds
from quant_platform.validation.grouped import sorted_runs
from quant_platform.validation.schemas import StageADecisions, StageAFoldMetrics


@dataclass(frozen=True)
class StageAConfig:
    n_folds: int
    embargo_days: int
    min_test_days: int
    min_train_days: int
    min_mean_ic: float
    min_positive_ic_folds: int
    min_mean_sharpe: float
    min_positive_sharpe_folds: int
    min_passed_folds: int
    min_train_expectancy_bps: float
    annualization_days: int

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any] | None = None, gates: dict[str, Any] | None = None
    ) -> StageAConfig:
        spec = spec if spec is not None else load_yaml("validation.yaml")
        gates = gates if gates is not None else load_yaml("gates.yaml")
        return cls(
            annualization_days=int(spec["annualization_days"]),
            min_train_expectancy_bps=float(gates["bridge_v1"]["min_after_cost_expectancy_bps"]),
            **spec["stage_a"],
        )


@dataclass(frozen=True)
class StageAResult:
    fold_metrics: pl.DataFrame  # StageAFoldMetrics
    decisions: pl.DataFrame  # StageADecisions

    @property
    def survivors(self) -> pl.DataFrame:
        return self.decisions.filter(pl.col("passed"))


def fold_calendar(days: list, n_folds: int, embargo_days: int) -> pl.DataFrame:
    """Per anchored fold: its test days and training days (lists) and the train/test bounds."""
    positions = np.arange(len(days))
    rows = []
    for fold, (train, test) in enumerate(AnchoredTemporalFolds(n_folds, embargo_days).split(positions)):
        rows.append(
            {
                "fold": fold,
                "train_first_day": days[train[0]] if train.size else None,
                "train_last_day": days[train[-1]] if train.size else None,
                "n_train_days": int(train.size),
                "test_first_day": days[test[0]],
                "test_last_day": days[test[-1]],
                "test_days": [days[i] for i in test],
                "train_days": [days[i] for i in train],
            }
        )
    return pl.DataFrame(rows, schema_overrides={"fold": pl.Int64, "n_train_days": pl.Int64})


def _spearman_pvalue(ic: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a Spearman correlation, as ``scipy.stats.spearmanr`` computes it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ic * np.sqrt((n - 2) / ((1.0 - ic) * (1.0 + ic)))
        p = 2.0 * stats.t.sf(np.abs(t), n - 2)
    return np.where(np.isfinite(ic) & (n > 2), np.where(np.abs(ic) >= 1.0, 0.0, p), np.nan)


def _fold_rank_correlations(in_test: pl.DataFrame) -> pl.DataFrame:
    """``candidate_id, fold, ic, n_ic_pairs, ic_pvalue``: Spearman IC per candidate × test fold over the steps
    where signal and forward return are both present. Average ranks (ties as in ``spearmanr``; NaN ranks
    highest, as polars' rank correlation) are exact, and their Pearson correlation is reduced in a fixed order
    (``grouped.py``), so the IC is the same bytes on every run."""
    pairs = in_test.filter(pl.col("signal").is_not_null() & pl.col("forward_return").is_not_null())
    ordered, runs = sorted_runs(pairs, ["candidate_id", "fold"], ["ts"])
    ranks = ordered.select(
        pl.col("signal").rank("average").over("candidate_id", "fold").cast(pl.Float64),
        pl.col("forward_return").rank("average").over("candidate_id", "fold").cast(pl.Float64),
    )
    ic = runs.pearson(ranks["signal"].to_numpy(), ranks["forward_return"].to_numpy())
    n_pairs = runs.sizes
    return runs.keys.with_columns(
        pl.Series("ic", ic, dtype=pl.Float64).fill_nan(None),
        pl.Series("n_ic_pairs", n_pairs, dtype=pl.Int64),
        pl.Series("ic_pvalue", _spearman_pvalue(ic, n_pairs.astype(float)), dtype=pl.Float64).fill_nan(None),
    )


def _fold_daily_sharpes(in_test: pl.DataFrame, annualization_days: int) -> pl.DataFrame:
    """``candidate_id, fold, n_test_days, mean_daily_return, sharpe_ann`` from the test fold's UTC-day
    returns (steps summed in time order, then mean and std with ddof=1 over the days in day order)."""
    ordered, day_runs = sorted_runs(in_test, ["candidate_id", "fold", "day"], ["ts"])
    daily = day_runs.keys.with_columns(
        pl.Series("ret", day_runs.sum(ordered["ret_after_cost"].to_numpy()), dtype=pl.Float64)
    )
    _, fold_runs = sorted_runs(daily, ["candidate_id", "fold"], ["day"])  # already in this order
    moments = fold_runs.moments(daily["ret"].to_numpy())
    sqrt_ann = float(np.sqrt(annualization_days))
    return fold_runs.keys.with_columns(
        pl.Series("n_test_days", moments.n, dtype=pl.Int64),
        pl.Series("mean_daily_return", moments.mean, dtype=pl.Float64),
        pl.Series("std", moments.std, dtype=pl.Float64).fill_nan(None),
    ).select(
        "candidate_id",
        "fold",
        "n_test_days",
        "mean_daily_return",
        pl.when(pl.col("std") > 0)
        .then(pl.col("mean_daily_return") / pl.col("std") * sqrt_ann)
        .otherwise(None)
        .alias("sharpe_ann"),
    )


def _fold_training_decisions(in_train: pl.DataFrame, min_expectancy_bps: float) -> pl.DataFrame:
    """``candidate_id, fold, n_train_trades, train_expectancy_bps, selected_in_train`` from the training
    window's steps only (sums in a fixed row order)."""
    ordered, runs = sorted_runs(in_train, ["candidate_id", "fold"], ["ts"])
    total = runs.sum(ordered["ret_after_cost"].to_numpy())
    trades = runs.sum(ordered["entry"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        expectancy = np.where(trades > 0, 1e4 * total / np.where(trades > 0, trades, 1.0), np.nan)
    return runs.keys.with_columns(
        pl.Series("n_train_trades", trades.astype(np.int64), dtype=pl.Int64),
        pl.Series("train_expectancy_bps", expectancy, dtype=pl.Float64).fill_nan(None),
        pl.Series("selected_in_train", (trades > 0) & (expectancy >= min_expectancy_bps), dtype=pl.Boolean),
    )


def _fold_means(fold_metrics: pl.DataFrame) -> pl.DataFrame:
    """``candidate_id, mean_ic, mean_sharpe_ann``: means over the folds with a value (null when none)."""
    ordered, runs = sorted_runs(fold_metrics, ["candidate_id"], ["fold"])
    out = runs.keys
    for column, name in (("ic", "mean_ic"), ("sharpe_ann", "mean_sharpe_ann")):
        values = ordered[column]
        mean = runs.mean_skipping_missing(values.fill_null(0.0).to_numpy(), values.is_not_null().to_numpy())
        out = out.with_columns(pl.Series(name, mean, dtype=pl.Float64).fill_nan(None))
    return out


def stage_a_screen(streams: pl.DataFrame, config: StageAConfig | None = None) -> StageAResult:
    """Screen every candidate of ``streams`` (:class:`CandidateStreams`): a walk-forward decision on each
    anchored fold's training window, judged on its test fold (module docstring)."""
    config = config or StageAConfig.from_spec()
    streams = validate_streams(streams)
    if streams.is_empty():
        raise ValueError("stage_a_screen got no rows")
    steps = streams.with_columns(pl.col("ts").dt.date().alias("day"), entry_flags(streams))
    days = steps["day"].unique().sort().to_list()
    if len(days) < config.n_folds + 1:
        raise ValueError(
            f"{len(days)} UTC days cannot hold {config.n_folds} anchored folds plus a training chunk"
        )
    calendar = fold_calendar(days, config.n_folds, config.embargo_days)
    test_day_fold = calendar.select("fold", pl.col("test_days").alias("day")).explode("day")
    in_test = steps.join(test_day_fold, on="day", how="inner")
    train_day_fold = calendar.select("fold", pl.col("train_days").alias("day")).explode("day")
    in_train = steps.join(train_day_fold.drop_nulls("day"), on="day", how="inner")
    training = _fold_training_decisions(in_train, config.min_train_expectancy_bps)

    ic = _fold_rank_correlations(in_test)
    sharpe = _fold_daily_sharpes(in_test, config.annualization_days)
    candidates = steps.select("candidate_id").unique()
    fold_metrics = (
        candidates.join(calendar.drop("test_days", "train_days"), how="cross")
        .join(sharpe, on=["candidate_id", "fold"], how="left")
        .join(ic, on=["candidate_id", "fold"], how="left")
        .join(training, on=["candidate_id", "fold"], how="left")
        .with_columns(
            pl.col("n_test_days").fill_null(0),
            pl.col("n_ic_pairs").fill_null(0),
            pl.col("n_train_trades").fill_null(0),
            pl.col("selected_in_train").fill_null(False),
        )
        .with_columns(
            pl.when(pl.col("n_train_trades") == 0)
            .then(pl.lit("no_trades_in_train"))
            .when(~pl.col("selected_in_train"))
            .then(pl.lit("train_expectancy_below_min"))
            .when(pl.col("sharpe_ann").is_null() | (pl.col("sharpe_ann") <= 0))
            .then(pl.lit("oos_sharpe_not_positive"))
            .otherwise(pl.lit(""))
            .alias("fold_failure_reason")
        )
        .with_columns((pl.col("fold_failure_reason") == "").alias("fold_passed"))
        .select(list(StageAFoldMetrics.to_schema().columns))
        .sort("candidate_id", "fold")
    )
    first_train_days = int(calendar["n_train_days"][0])
    decisions = (
        fold_metrics.group_by("candidate_id", maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("n_folds"),
            pl.col("n_test_days").min().alias("min_test_days"),
            (pl.col("ic") > 0).sum().cast(pl.Int64).alias("n_positive_ic_folds"),
            (pl.col("sharpe_ann") > 0).sum().cast(pl.Int64).alias("n_positive_sharpe_folds"),
            pl.col("sharpe_ann").null_count().alias("n_null_sharpe"),
            pl.col("selected_in_train").sum().cast(pl.Int64).alias("n_selected_folds"),
            pl.col("fold_passed").sum().cast(pl.Int64).alias("n_passed_folds"),
        )
        .join(_fold_means(fold_metrics), on="candidate_id", how="left")
        .with_columns(
            pl.concat_str(
                [
                    pl.when(
                        (pl.col("min_test_days") < config.min_test_days)
                        | pl.lit(first_train_days < config.min_train_days)
                    ).then(pl.lit("insufficient_observation")),
                    pl.when(pl.col("mean_ic").is_null() | (pl.col("mean_ic") < config.min_mean_ic)).then(
                        pl.lit("mean_ic_below_min")
                    ),
                    pl.when(pl.col("n_positive_ic_folds") < config.min_positive_ic_folds).then(
                        pl.lit("ic_sign_unstable")
                    ),
                    pl.when(
                        pl.col("mean_sharpe_ann").is_null()
                        | (pl.col("n_null_sharpe") > 0)
                        | (pl.col("mean_sharpe_ann") < config.min_mean_sharpe)
                    ).then(pl.lit("sharpe_below_min")),
                    pl.when(pl.col("n_positive_sharpe_folds") < config.min_positive_sharpe_folds).then(
                        pl.lit("sharpe_sign_unstable")
                    ),
                    pl.when(pl.col("n_passed_folds") < config.min_passed_folds).then(
                        pl.lit("walk_forward_passes_below_min")
                    ),
                ],
                separator=";",
                ignore_nulls=True,
            )
            .fill_null("")
            .alias("failure_reasons")
        )
        .with_columns((pl.col("failure_reasons") == "").alias("passed"))
        .select(list(StageADecisions.to_schema().columns))
        .sort("candidate_id")
    )
    return StageAResult(
        fold_metrics=StageAFoldMetrics.validate(fold_metrics), decisions=StageADecisions.validate(decisions)
    )
