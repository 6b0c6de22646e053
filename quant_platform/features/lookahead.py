"""Lookahead analysis: recompute an asset on data truncated at sampled cut points and report every column
whose already-known values change when the future is appended (in the spirit of freqtrade's
lookahead-analysis, for the cleaned bars, features, context and events).

The input is either cleaned bars (truncated to ``ts <= cut``) or a :class:`RawWindow` of raw market tables
(truncated to what was known when the cut bar closed, :meth:`RawWindow.known_at`, then cleaned): from raw
tables the cleaning itself is audited, and ``bars_5m`` is an asset of the report like the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import polars as pl

from quant_platform.events.detect import detect_events
from quant_platform.features.compute import compute_features
from quant_platform.features.context import compute_context
from quant_platform.market.raw_window import RawWindow

Pipeline = Callable[[pl.DataFrame], pl.DataFrame]
AuditInput = pl.DataFrame | RawWindow

REPORT_SCHEMA = {
    "asset": pl.String,
    "column": pl.String,
    "n_changed": pl.Int64,
    "first_offending_ts": pl.Datetime("ms", "UTC"),
    "first_offending_cut": pl.Datetime("ms", "UTC"),
    "n_cuts": pl.Int64,
}


def _features(
    bars: pl.DataFrame, bar_minutes: int | None = None, sessions: str = "continuous"
) -> pl.DataFrame:
    return compute_features(bars, grid_minutes=bar_minutes, sessions=sessions)


def _context(
    bars: pl.DataFrame, bar_minutes: int | None = None, sessions: str = "continuous"
) -> pl.DataFrame:
    return compute_context(compute_features(bars, grid_minutes=bar_minutes, sessions=sessions))


def _events(bars: pl.DataFrame, bar_minutes: int | None = None, sessions: str = "continuous") -> pl.DataFrame:
    features = compute_features(bars, grid_minutes=bar_minutes, sessions=sessions)
    events, flags = detect_events(features, compute_context(features))
    # Compare the wide flags (one row per bar) and the long events (keyed by type) in one keyed frame.
    return events.drop("event_id").join(
        flags.drop("ontology_hash"), on=["symbol", "ts"], how="full", coalesce=True
    )


def _bars(bars: pl.DataFrame, bar_minutes: int | None = None, sessions: str = "continuous") -> pl.DataFrame:
    return bars  # the cleaned bars themselves: audited when the input is a RawWindow


# Each built-in pipeline also takes the bar length of the grid (``bar_minutes``; None: the spec's) and the
# sessions mode of the bars (``continuous``, or ``observed`` for daily bars without closed days).
PIPELINES: dict[str, tuple[Callable[..., pl.DataFrame], tuple[str, ...]]] = {
    "bars_5m": (_bars, ("symbol", "ts")),
    "features_v1": (_features, ("symbol", "ts")),
    "context_features": (_context, ("symbol", "ts")),
    "market_events": (_events, ("symbol", "ts", "event_type")),
}


def _changed(full: pl.Expr, cut: pl.Expr, dtype: pl.DataType, rtol: float) -> pl.Expr:
    differs = full.is_null() != cut.is_null()
    if dtype.is_float() and rtol > 0:
        close = (full - cut).abs() <= rtol * full.abs().clip(lower_bound=1.0)
        return differs | (full.is_not_null() & cut.is_not_null() & ~(close | (full.is_nan() & cut.is_nan())))
    return differs | (full.is_not_null() & cut.is_not_null() & (full != cut))


def compare_prefix(
    full: pl.DataFrame, truncated: pl.DataFrame, keys: Sequence[str], cut: datetime, rtol: float = 0.0
) -> list[dict]:
    """Columns whose values on rows with ``ts <= cut`` differ between the full and the truncated run."""
    past = full.filter(pl.col("ts") <= cut)
    joined = past.join(truncated, on=list(keys), how="full", suffix="__cut", nulls_equal=True, coalesce=True)
    present_in_both = [c for c in past.columns if c not in keys and f"{c}__cut" in joined.columns]
    out = []
    rows_only_one_side = past.join(truncated, on=list(keys), how="anti", nulls_equal=True).vstack(
        truncated.join(past, on=list(keys), how="anti", nulls_equal=True)
    )
    if rows_only_one_side.height:
        out.append({"column": "<row presence>", "n_changed": rows_only_one_side.height,
                    "first_offending_ts": rows_only_one_side["ts"].min()})  # fmt: skip
    if not present_in_both:
        return out
    flags = joined.select(
        "ts",
        *[
            _changed(pl.col(c), pl.col(f"{c}__cut"), past.schema[c], rtol).fill_null(False).alias(c)
            for c in present_in_both
        ],
    )
    counts = flags.select(pl.col(present_in_both).sum()).row(0, named=True)
    for column, n in counts.items():
        if n:
            first = flags.filter(pl.col(column))["ts"].min()
            out.append({"column": column, "n_changed": int(n), "first_offending_ts": first})
    return out


def truncate(data: AuditInput, cut: datetime) -> AuditInput:
    """What of ``data`` is known at the close of the bar stamped ``cut``: bars with ``ts <= cut``, or the raw
    rows of :meth:`RawWindow.known_at`."""
    if isinstance(data, RawWindow):
        return data.known_at(cut)
    return data.filter(pl.col("ts") <= cut)


def _from_raw(pipeline: Pipeline) -> Callable[[AuditInput], pl.DataFrame]:
    """``pipeline`` on cleaned bars, fed by the cleaning of a raw window (or by bars as they are)."""

    def run(data: AuditInput) -> pl.DataFrame:
        return pipeline(data.clean() if isinstance(data, RawWindow) else data)

    return run


def lookahead_report(
    bars: AuditInput,
    cut_points: Sequence[datetime],
    *,
    asset: str = "features_v1",
    pipeline: Pipeline | None = None,
    keys: Sequence[str] | None = None,
    rtol: float = 0.0,
    bar_minutes: int | None = None,
    sessions: str = "continuous",
) -> pl.DataFrame:
    """Recompute ``asset`` on ``bars`` truncated at every cut point (rows with ``ts <= cut``; a
    :class:`RawWindow` is truncated to its raw rows known at the cut bar's close and cleaned) and report each
    column whose values at or before the cut differ from the full computation: one row per offending column
    with ``n_changed`` (changed values summed over every cut), the first offending timestamp and the first
    cut that showed it (empty frame = no lookahead).

    ``pipeline``/``keys`` override the asset's computation (e.g. to prove a planted lookahead is caught; with
    a RawWindow the pipeline receives its cleaned bars);
    ``rtol`` tolerates float reassociation in cross-symbol sums (0 = exact); ``bar_minutes`` is the grid of
    ``bars`` for the built-in pipelines (60 or 1440 for hourly or daily sources) and ``sessions`` their
    sessions mode (``observed``: daily bars whose closed days have no rows).
    """
    if pipeline is None:
        if asset not in PIPELINES:
            raise ValueError(f"unknown asset {asset!r}; expected one of {sorted(PIPELINES)}")
        if asset == "bars_5m" and not isinstance(bars, RawWindow):
            raise ValueError("bars_5m is audited from raw tables: pass a RawWindow")
        compute, default_keys = PIPELINES[asset]
        pipeline = partial(compute, bar_minutes=bar_minutes, sessions=sessions)
        keys = keys or default_keys
    if keys is None:
        raise ValueError("keys are required with a custom pipeline")
    if not cut_points:
        raise ValueError("lookahead_report needs at least one cut point")
    run = _from_raw(pipeline)
    full = run(bars)
    found: dict[str, dict] = {}
    for cut in sorted(cut_points):
        truncated = run(truncate(bars, cut))
        for hit in compare_prefix(full, truncated, keys, cut, rtol):
            previous = found.get(hit["column"])
            if previous is None:
                found[hit["column"]] = {**hit, "first_offending_cut": cut}
            else:
                previous["n_changed"] += hit["n_changed"]
                if hit["first_offending_ts"] < previous["first_offending_ts"]:
                    previous["first_offending_ts"] = hit["first_offending_ts"]
    rows = [{"asset": asset, **hit, "n_cuts": len(cut_points)} for hit in found.values()]
    return pl.DataFrame(rows, schema=REPORT_SCHEMA).sort("first_offending_ts")


def sample_cut_points(bars: pl.DataFrame, n_cuts: int, seed: int = 0) -> list[datetime]:
    """``n_cuts`` distinct bar timestamps drawn with a seeded generator (never the very last bar)."""
    stamps = bars.select(pl.col("ts").unique().sort()).to_series()
    if stamps.len() < 2:
        raise ValueError("need at least two distinct bar timestamps to place cut points")
    candidates = stamps.head(stamps.len() - 1)
    return sorted(candidates.sample(min(n_cuts, candidates.len()), seed=seed).to_list())
