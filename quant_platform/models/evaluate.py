"""Out-of-sample scoring of predictions: Spearman IC, hit rate, and the model's signal replayed through the
backtest engine (after-cost PnL, max drawdown, reject rate, turnover, daily Sharpe) with the scalarized
objective the search maximizes.

The signal (:func:`signal_targets`): long or short ``1 / n_symbols`` when that side's predicted after-cost
return clears ``signal_threshold_bps``, else hold; the engine fills it at the next bar's open at the
earliest (``entry_lag_bars``), with the spec's cost model (``bridge.default_engine_config``). PnL and drawdown
are fractions of the engine's capital base. The fold replays use the spec's ``signal.min_observation_days``
(fold windows are short); a fold with too few complete days has no Sharpe (None), never a made-up one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from quant_platform.bridge import default_engine_config
from quant_platform.discovery import load_discovery_spec
from quant_platform.engine import EngineConfig, run_backtest
from quant_platform.models.spec import ModelSpec, ObjectiveWeights

PREDICTION = "prediction"


def model_engine_config(spec: ModelSpec, base: EngineConfig | None = None) -> EngineConfig:
    config = base if base is not None else default_engine_config(load_discovery_spec())
    if config.entry_lag_bars != spec.entry_lag_bars:
        raise ValueError(
            f"engine entry_lag_bars={config.entry_lag_bars} differs from the spec's {spec.entry_lag_bars}"
        )
    return config.replace(min_observation_days=spec.signal_min_observation_days)


def information_coefficient(prediction: np.ndarray, label: np.ndarray) -> float:
    """Spearman rank correlation (scipy); NaN when either side is constant or there are < 3 rows."""
    if prediction.size < 3 or np.all(prediction == prediction[0]) or np.all(label == label[0]):
        return float("nan")
    return float(spearmanr(prediction, label).statistic)


def hit_rate(prediction: np.ndarray, label: np.ndarray) -> float:
    """Share of rows with a non-zero prediction whose sign matches the label's."""
    called = prediction != 0
    if not called.any():
        return float("nan")
    return float(np.mean(np.sign(prediction[called]) == np.sign(label[called])))


def signal_targets(predictions: pl.DataFrame, spec: ModelSpec) -> pl.DataFrame:
    """Target weights from predicted after-cost *long* returns (the label's definition): go long when the
    long side is expected to pay its round trip (``pred > threshold``), short when the short side is
    (``-(pred + 2·cost) > threshold``, the short's after-cost return being ``-gross - cost``), and otherwise
    hold whatever is held (a null target: no new instruction), so a prediction wobbling around zero does not
    churn the book."""
    n_symbols = predictions["symbol"].n_unique()
    threshold = spec.signal_threshold_bps * 1e-4
    cost = spec.round_trip_cost_bps * 1e-4
    pred = pl.col(PREDICTION)
    weight = (
        pl.when(pred > threshold)
        .then(1.0 / n_symbols)
        .when(-(pred + 2.0 * cost) > threshold)
        .then(-1.0 / n_symbols)
        .otherwise(None)
    )
    return predictions.select("symbol", "ts", weight.cast(pl.Float64).alias("target_weight"))


def replay_signal(
    predictions: pl.DataFrame, bars: pl.DataFrame, spec: ModelSpec, config: EngineConfig
) -> tuple[dict[str, Any], pl.DataFrame]:
    """Replay the signal of ``predictions`` (symbol, ts, prediction) on the bars of its window and symbols;
    returns the engine's metrics and its equity curve (ts, equity)."""
    if predictions.height == 0:
        raise ValueError("no predictions to replay")
    first, last = predictions["ts"].min(), predictions["ts"].max()
    symbols = predictions["symbol"].unique().to_list()
    window = bars.filter(pl.col("symbol").is_in(symbols) & pl.col("ts").is_between(first, last))
    result = run_backtest(window, signal_targets(predictions, spec), config)
    return result.metrics, result.equity.select("ts", "equity")


def objective_value(metrics: dict[str, Any], weights: ObjectiveWeights) -> float:
    """``return_after_cost − λ_dd·max_drawdown − λ_rej·reject_rate − λ_to·turnover`` (all from the engine)."""
    return float(
        metrics["total_return_net"]
        - weights.dd_weight * metrics["max_drawdown"]
        - weights.reject_weight * metrics["reject_rate"]
        - weights.turnover_weight * metrics["turnover"]
    )


def score_predictions(
    predictions: pl.DataFrame,
    labels: np.ndarray,
    bars: pl.DataFrame,
    spec: ModelSpec,
    config: EngineConfig,
    *,
    replay: bool = True,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """One fold's (or a stitched out-of-sample run's) metrics and the equity curve of its replay
    (``replay=False``: IC and hit rate only, the engine's metrics null)."""
    pred = predictions[PREDICTION].to_numpy()
    if not replay:
        ranking = {
            "n_rows": int(pred.size),
            "ic": information_coefficient(pred, labels),
            "hit_rate": hit_rate(pred, labels),
        }
        nulls = dict.fromkeys(
            (
                "pnl_after_cost",
                "max_drawdown",
                "turnover",
                "reject_rate",
                "sharpe_daily",
                "engine_status",
                "objective",
            )
        )
        return {**ranking, **nulls}, pl.DataFrame()
    metrics, equity = replay_signal(predictions, bars, spec, config)
    row = {
        "n_rows": int(pred.size),
        "ic": information_coefficient(pred, labels),
        "hit_rate": hit_rate(pred, labels),
        "pnl_after_cost": float(metrics["total_return_net"]),
        "max_drawdown": float(metrics["max_drawdown"]),
        "turnover": float(metrics["turnover"]),
        "reject_rate": float(metrics["reject_rate"]),
        "sharpe_daily": metrics["sharpe_daily"],
        "engine_status": metrics["status"],
        "objective": objective_value(metrics, spec.hpo.objective_weights),
    }
    return row, equity
