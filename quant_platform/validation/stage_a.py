"""Stage A screen: anchored temporal folds over UTC days; per candidate × fold Spearman IC and after-cost
daily Sharpe on the test fold; survivors with reasons.

The fold calendar is shared by all candidates: the sorted UTC days present in the input are cut by
:class:`AnchoredTemporalFolds` (``n_folds`` test folds after an initial training chunk, an ``embargo_days``
gap before each test fold). A candidate is judged on the steps that fall in each test fold:
- IC: Spearman rank correlation of ``signal`` and ``forward_return`` over the fold's steps where both are
  present (polars' rank correlation, vectorized over candidate × fold; the tests check it against
  ``scipy.stats.spearmanr``), with spearmanr's two-sided t-approximation p-value.
- Sharpe: the fold's UTC-day returns (sum of per-step after-cost returns), mean / std (ddof=1), annualized
  with ``sqrt(annualization_days)``.
Gates (thresholds from ``spec/validation.yaml`` → ``stage_a``), reasons in this order:
``insufficient_observation`` (a test fold with fewer than ``min_test_days`` days of data, or a first
training window shorter than ``min_train_days``), ``mean_ic_below_min``, ``ic_sign_unstable`` (fewer than
``min_positive_ic_folds`` folds with IC > 0), ``sharpe_below_min``, ``sharpe_sign_unstable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from quant_platform.specs import load_yaml
from quant_platform.validation.daily import validate_streams
from quant_platform.validation.folds import AnchoredTemporalFolds
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
    annualization_days: int

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None = None) -> StageAConfig:
        spec = spec if spec is not None else load_yaml("validation.yaml")
        return cls(annualization_days=int(spec["annualization_days"]), **spec["stage_a"])


@dataclass(frozen=True)
class StageAResult:
    fold_metrics: pl.DataFrame  # StageAFoldMetrics
    decisions: pl.DataFrame  # StageADecisions

    @property
    def survivors(self) -> pl.DataFrame:
        return self.decisions.filter(pl.col("passed"))


def fold_calendar(days: list, n_folds: int, embargo_days: int) -> pl.DataFrame:
    """``fold, day`` for the test days of each anchored fold, plus the per-fold train/test bounds."""
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
            }
        )
    return pl.DataFrame(rows, schema_overrides={"fold": pl.Int64, "n_train_days": pl.Int64})


def _spearman_pvalue(ic: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a Spearman correlation, as ``scipy.stats.spearmanr`` computes it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ic * np.sqrt((n - 2) / ((1.0 - ic) * (1.0 + ic)))
        p = 2.0 * stats.t.sf(np.abs(t), n - 2)
    return np.where(np.isfinite(ic) & (n > 2), np.where(np.abs(ic) >= 1.0, 0.0, p), np.nan)


def stage_a_screen(streams: pl.DataFrame, config: StageAConfig | None = None) -> StageAResult:
    """Screen every candidate of ``streams`` (:class:`CandidateStreams`) on anchored temporal folds."""
    config = config or StageAConfig.from_spec()
    streams = validate_streams(streams)
    if streams.is_empty():
        raise ValueError("stage_a_screen got no rows")
    steps = streams.with_columns(pl.col("ts").dt.date().alias("day"))
    days = steps["day"].unique().sort().to_list()
    if len(days) < config.n_folds + 1:
        raise ValueError(
            f"{len(days)} UTC days cannot hold {config.n_folds} anchored folds plus a training chunk"
        )
    calendar = fold_calendar(days, config.n_folds, config.embargo_days)
    test_day_fold = calendar.select("fold", pl.col("test_days").alias("day")).explode("day")
    in_test = steps.join(test_day_fold, on="day", how="inner")

    ic = (
        in_test.filter(pl.col("signal").is_not_null() & pl.col("forward_return").is_not_null())
        .group_by("candidate_id", "fold", maintain_order=True)
        .agg(
            pl.corr("signal", "forward_return", method="spearman").alias("ic"),
            pl.len().cast(pl.Int64).alias("n_ic_pairs"),
        )
        .with_columns(pl.col("ic").fill_nan(None))
    )
    ic = ic.with_columns(
        pl.Series(
            "ic_pvalue",
            _spearman_pvalue(ic["ic"].to_numpy().astype(float), ic["n_ic_pairs"].to_numpy().astype(float)),
        ).fill_nan(None)
    )
    sqrt_ann = float(np.sqrt(config.annualization_days))
    sharpe = (
        in_test.group_by("candidate_id", "fold", "day", maintain_order=True)
        .agg(pl.col("ret_after_cost").sum().alias("ret"))
        .group_by("candidate_id", "fold", maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("n_test_days"),
            pl.col("ret").mean().alias("mean_daily_return"),
            pl.col("ret").std(ddof=1).alias("std"),
        )
        .with_columns(
            pl.when(pl.col("std") > 0)
            .then(pl.col("mean_daily_return") / pl.col("std") * sqrt_ann)
            .otherwise(None)
            .alias("sharpe_ann")
        )
        .drop("std")
    )
    candidates = steps.select("candidate_id").unique()
    fold_metrics = (
        candidates.join(calendar.drop("test_days"), how="cross")
        .join(sharpe, on=["candidate_id", "fold"], how="left")
        .join(ic, on=["candidate_id", "fold"], how="left")
        .with_columns(pl.col("n_test_days").fill_null(0), pl.col("n_ic_pairs").fill_null(0))
        .select(list(StageAFoldMetrics.to_schema().columns))
        .sort("candidate_id", "fold")
    )
    first_train_days = int(calendar["n_train_days"][0])
    decisions = (
        fold_metrics.group_by("candidate_id", maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("n_folds"),
            pl.col("n_test_days").min().alias("min_test_days"),
            pl.col("ic").mean().alias("mean_ic"),
            (pl.col("ic") > 0).sum().cast(pl.Int64).alias("n_positive_ic_folds"),
            pl.col("sharpe_ann").mean().alias("mean_sharpe_ann"),
            (pl.col("sharpe_ann") > 0).sum().cast(pl.Int64).alias("n_positive_sharpe_folds"),
            pl.col("sharpe_ann").null_count().alias("n_null_sharpe"),
        )
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
