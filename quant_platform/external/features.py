"""Point-in-time external features per (symbol, bar): tier-weighted sums of external events over trailing
windows ending at the bar's close.

A bar opening at ``ts`` closes at ``ts + bar``; its features use records with ``available_at`` at or before
that close (never the publish stamp, which may be back-dated) and after ``close - window``. Only cluster heads
count (a story from five feeds is one event) and only rows a model may learn from (no synthetic links; with
``drop_low_tier`` no low tiers: :func:`quant_platform.external.pipeline.training_view`).

Columns per window ``W`` minutes: ``ext_alert_net_{W}m`` (Σ tier weight × side of caller alerts),
``ext_news_count_{W}m`` (Σ tier weight of news), ``ext_news_tone_{W}m`` (Σ tier weight × tone) and
``ext_macro_surprise_{W}m`` (Σ surprise of macro releases). No event in the window is a real zero.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from quant_platform.external.config import ALERT, MACRO, NEWS, ExternalSpec
from quant_platform.external.pipeline import training_view


def _weighted(events: pl.DataFrame, spec: ExternalSpec) -> pl.DataFrame:
    weight = pl.col("tier").replace_strict(spec.tier_weights, return_dtype=pl.Float64)
    return events.filter(pl.col("is_cluster_head")).select(
        "symbol",
        "available_at",
        pl.when(pl.col("kind") == ALERT).then(weight * pl.col("side")).otherwise(0.0).alias("alert_net"),
        pl.when(pl.col("kind") == NEWS).then(weight).otherwise(0.0).alias("news_count"),
        pl.when(pl.col("kind") == NEWS)
        .then(weight * pl.col("tone").fill_null(0.0))
        .otherwise(0.0)
        .alias("news_tone"),
        pl.when(pl.col("kind") == MACRO)
        .then(pl.col("surprise").fill_null(0.0))
        .otherwise(0.0)
        .alias("macro_surprise"),
    )


def external_features(
    bars: pl.DataFrame,
    events: pl.DataFrame,
    spec: ExternalSpec,
    bar_minutes: int,
    drop_low_tier: bool = False,
) -> pl.DataFrame:
    """``symbol, ts`` of ``bars`` with the external feature columns (module docstring)."""
    values = _weighted(training_view(events, spec, drop_low_tier), spec)
    names = ("alert_net", "news_count", "news_tone", "macro_surprise")
    out = []
    bar = timedelta(minutes=bar_minutes)
    for (symbol,), group in (
        bars.select("symbol", "ts").sort("symbol", "ts").group_by("symbol", maintain_order=True)
    ):
        close = (group["ts"] + bar).dt.epoch("ms").to_numpy()
        mine = values.filter(pl.col("symbol") == symbol).sort("available_at")
        stamps = mine["available_at"].dt.epoch("ms").to_numpy()
        columns = {"symbol": group["symbol"], "ts": group["ts"]}
        for name in names:
            cumulative = np.concatenate([[0.0], np.cumsum(mine[name].to_numpy())])
            for window in spec.features.windows_minutes:
                upper = np.searchsorted(stamps, close, side="right")
                lower = np.searchsorted(stamps, close - window * 60_000, side="right")
                columns[f"ext_{name}_{window}m"] = pl.Series(cumulative[upper] - cumulative[lower])
        out.append(pl.DataFrame(columns))
    if not out:
        return bars.select("symbol", "ts").clear()
    return pl.concat(out, how="vertical")
