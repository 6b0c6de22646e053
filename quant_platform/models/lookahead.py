"""The point-in-time audit of the model layer: labels, design matrix and predictions.

Appending future bars must never change anything already known at a cut ``c``:

- **labels**: a forward label legitimately needs future bars, so what is audited is its availability-
  respecting value: computed on bars up to ``c``, a label is either absent (its exit bar has not opened yet)
  or equal to the full computation, and a present label's recorded exit is at or before ``c``. A label that
  reads one bar past its recorded exit shows up as absent at the cut equal to its exit while the full run,
  masked to what is known at ``c``, has it.
- **design matrix**: the row at ``t <= c`` computed from bars up to ``c`` equals the row computed from all bars
  (the whole chain bars -> features_v1 -> context -> events -> design matrix by default).
- **predictions**: the model as of ``c`` is trained only on rows whose label exit is at or before ``c``; trained
  from the truncated or the full data it is the same file, byte for byte, and its predictions on rows
  ``t <= c`` are the same.

Each report has the shape of :func:`quant_platform.features.lookahead.lookahead_report` (empty = clean).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import polars as pl

from quant_platform.features.lookahead import REPORT_SCHEMA, compare_prefix, lookahead_report
from quant_platform.models.dataset import ENTRY_TS, EXIT_TS, build_training_set, design_matrix, forward_labels
from quant_platform.models.learners import fit_lgbm
from quant_platform.models.spec import ModelSpec

KEYS = ("symbol", "ts")
LabelFn = Callable[[pl.DataFrame, ModelSpec], pl.DataFrame]
FeaturesFn = Callable[[pl.DataFrame], dict[str, pl.DataFrame]]


def _merge(found: dict[str, dict], hits: list[dict], cut: datetime) -> None:
    for hit in hits:
        previous = found.get(hit["column"])
        if previous is None:
            found[hit["column"]] = {**hit, "first_offending_cut": cut}
        else:
            previous["n_changed"] += hit["n_changed"]
            previous["first_offending_ts"] = min(previous["first_offending_ts"], hit["first_offending_ts"])


def _report(asset: str, found: dict[str, dict], n_cuts: int) -> pl.DataFrame:
    rows = [{"asset": asset, **hit, "n_cuts": n_cuts} for hit in found.values()]
    return pl.DataFrame(rows, schema=REPORT_SCHEMA).sort("first_offending_ts")


def label_lookahead_report(
    bars: pl.DataFrame, spec: ModelSpec, cut_points: Sequence[datetime], *, labels: LabelFn = forward_labels
) -> pl.DataFrame:
    """Labels known at each cut vs the full labels masked to what is known at that cut (module doc)."""
    if not cut_points:
        raise ValueError("the label audit needs at least one cut point")
    full = labels(bars, spec)
    label_cols = [c for c in full.columns if c.startswith("label_h")]
    found: dict[str, dict] = {}
    for cut in sorted(cut_points):
        truncated = labels(bars.filter(pl.col("ts") <= cut), spec)
        # per horizon, a label is known at the cut only when its own exit bar has opened by then
        known = full.with_columns(
            pl.when(
                pl.col(ENTRY_TS) + pl.duration(milliseconds=int(c.removeprefix("label_h")) * spec.bar_ms)
                <= cut
            )
            .then(pl.col(c))
            .otherwise(None)
            .alias(c)
            for c in label_cols
        )
        hits = compare_prefix(known, truncated, KEYS, cut)
        late = truncated.filter(pl.col(spec_label(spec)).is_not_null() & (pl.col(EXIT_TS) > cut))
        if late.height:
            hits.append(
                {
                    "column": "<exit after cut>",
                    "n_changed": late.height,
                    "first_offending_ts": late["ts"].min(),
                }
            )
        _merge(found, hits, cut)
    return _report("labels", found, len(cut_points))


def spec_label(spec: ModelSpec) -> str:
    return f"label_h{spec.target_horizon_bars}"


def design_lookahead_report(
    bars: pl.DataFrame, spec: ModelSpec, cut_points: Sequence[datetime], *, inputs: FeaturesFn
) -> pl.DataFrame:
    """The design matrix recomputed from bars truncated at each cut (``inputs(bars)`` gives the keyword inputs
    of :func:`design_matrix`: features, context, flags, events) against the full computation."""

    def pipeline(frame: pl.DataFrame) -> pl.DataFrame:
        parts = inputs(frame)
        design, _, _ = design_matrix(parts.pop("features"), spec, **parts)
        return design

    return lookahead_report(bars, cut_points, asset="design_matrix", pipeline=pipeline, keys=list(KEYS))


def label_known_at(cut: datetime) -> pl.Expr:
    """A training row is usable at ``cut`` only once its label's exit bar has opened."""
    return pl.col(EXIT_TS) <= cut


def model_as_of(
    bars: pl.DataFrame,
    spec: ModelSpec,
    cut: datetime,
    *,
    inputs: FeaturesFn,
    known_at: Callable[[datetime], pl.Expr] = label_known_at,
) -> tuple[str, pl.DataFrame]:
    """The model known at ``cut`` (trained on rows whose label exit is at or before it) and its predictions on
    every design-matrix row at or before ``cut`` (labelled or not): ``(model text, frame(symbol, ts, prediction))``."""
    parts = inputs(bars)
    design, names, _ = design_matrix(
        parts["features"], spec, **{k: v for k, v in parts.items() if k != "features"}
    )
    training = build_training_set(bars, parts.pop("features"), spec, **parts)
    known = training.select(known_at(cut))
    if known.n_rows == 0:
        raise ValueError(f"no label is known at {cut}: nothing to train on")
    model = fit_lgbm(known.features(), known.labels(), known.feature_names, spec.lightgbm)
    past = design.filter(pl.col("ts") <= cut)
    x = past.select(pl.col(list(names)).cast(pl.Float32)).to_numpy()
    predictions = past.select(*KEYS).with_columns(pl.Series("prediction", model.predict(x)))
    return model.to_text(), predictions


def prediction_lookahead_report(
    bars: pl.DataFrame,
    spec: ModelSpec,
    cut_points: Sequence[datetime],
    *,
    inputs: FeaturesFn,
    known_at: Callable[[datetime], pl.Expr] = label_known_at,
) -> pl.DataFrame:
    """Model file and predictions as of each cut, from truncated vs full bars (module doc)."""
    if not cut_points:
        raise ValueError("the prediction audit needs at least one cut point")
    found: dict[str, dict] = {}
    for cut in sorted(cut_points):
        text_full, pred_full = model_as_of(bars, spec, cut, inputs=inputs, known_at=known_at)
        text_cut, pred_cut = model_as_of(
            bars.filter(pl.col("ts") <= cut), spec, cut, inputs=inputs, known_at=known_at
        )
        hits = compare_prefix(pred_full, pred_cut, KEYS, cut)
        if text_full != text_cut:
            hits.append({"column": "<model file>", "n_changed": 1, "first_offending_ts": cut})
        _merge(found, hits, cut)
    return _report("predictions", found, len(cut_points))


__all__ = [
    "design_lookahead_report",
    "label_known_at",
    "label_lookahead_report",
    "model_as_of",
    "prediction_lookahead_report",
]
