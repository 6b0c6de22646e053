"""Point-in-time design matrix and forward after-cost labels per (symbol, bar).

Timing (the discovery convention, ``quant_platform.discovery.samples``): a row stamped ``ts`` is the bar
opening at ``ts``; its features are known at that bar's close. The label of horizon ``h`` enters at the OPEN
of bar ``t + entry_lag_bars`` and exits at the OPEN of bar ``t + entry_lag_bars + h`` (never at the signal
bar), and is the simple return between those opens minus the spec's round-trip cost. Each label keeps its
interval ``[entry_ts, exit_ts]`` so that cross-validation can purge by it. A label is available only once its
exit bar has opened: computed on bars up to any cut, a label is either identical or absent (null), never
different (the point-in-time audit checks exactly this, :mod:`quant_platform.models.lookahead`).

Rows never enter silently: every row of ``features_v1`` is in the design matrix or counted in
``exclusions`` with its reason (``warmup``, ``gap_bar``); a design row without the target label is counted as
``label_window_beyond_data`` (the exit bar is not in the bars yet) or ``label_gap`` (the entry or exit bar is a
gap or has no open).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from quant_platform.core.hashing import canonical_hash
from quant_platform.models.spec import EVENT_DIRECTION_SUM, ModelSpec

KEYS = ["symbol", "ts"]
ENTRY_TS, EXIT_TS = "entry_ts", "exit_ts"


def label_column(horizon: int) -> str:
    return f"label_h{horizon}"


@dataclass(frozen=True)
class TrainingSet:
    """Rows with a target label, ordered by (entry time, symbol): the order the fold splitters need."""

    frame: pl.DataFrame
    feature_names: tuple[str, ...]
    label: str
    exclusions: pl.DataFrame  # reason, n_rows

    @property
    def n_rows(self) -> int:
        return self.frame.height

    def features(self) -> np.ndarray:
        """``(n_rows, n_features)`` float32 (missing = NaN), the array LightGBM and the baseline read."""
        return self.frame.select(pl.col(list(self.feature_names)).cast(pl.Float32)).to_numpy()

    def labels(self) -> np.ndarray:
        return self.frame[self.label].to_numpy().astype(np.float64)

    def label_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """``(entry_ms, exit_ms)`` int64: each label's interval, for purging."""
        return (
            self.frame[ENTRY_TS].dt.epoch("ms").to_numpy(),
            self.frame[EXIT_TS].dt.epoch("ms").to_numpy(),
        )

    def feature_schema(self) -> dict[str, object]:
        """Names, dtypes and their hash (recorded in every model manifest)."""
        dtypes = [str(self.frame.schema[n]) for n in self.feature_names]
        body = {"names": list(self.feature_names), "dtypes": dtypes}
        return {**body, "hash": canonical_hash(body)}

    def data_range(self) -> dict[str, object]:
        return {
            "first_ts": self.frame["ts"].min().isoformat() if self.n_rows else None,
            "last_ts": self.frame["ts"].max().isoformat() if self.n_rows else None,
            "last_exit_ts": self.frame[EXIT_TS].max().isoformat() if self.n_rows else None,
            "symbols": sorted(self.frame["symbol"].unique().to_list()),
            "n_rows": self.n_rows,
        }

    def select(self, mask: pl.Expr) -> TrainingSet:
        return TrainingSet(self.frame.filter(mask), self.feature_names, self.label, self.exclusions)


def _require(frame: pl.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing} that spec/models.yaml asks for")


def _event_flag_columns(flags: pl.DataFrame) -> list[str]:
    return [c for c, t in flags.schema.items() if t == pl.Boolean and c not in ("gap", "warmup")]


def design_matrix(
    features: pl.DataFrame,
    spec: ModelSpec,
    *,
    context: pl.DataFrame | None = None,
    flags: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, tuple[str, ...], pl.DataFrame]:
    """``(design, feature_names, exclusions)``: one row per usable (symbol, bar) of ``features``, with the
    spec's columns of every source joined on the same bar (backward only: nothing after ``ts`` is read)."""
    wanted = spec.features
    f_cols = list(wanted.get("features_v1", []))
    _require(features, "features_v1", [*KEYS, *f_cols])
    base = features.select(
        *KEYS,
        *f_cols,
        pl.col("warmup") if "warmup" in features.columns else pl.lit(False).alias("warmup"),
        pl.col("gap") if "gap" in features.columns else pl.lit(False).alias("gap"),
    )
    exclusions = pl.DataFrame(
        {
            "reason": ["warmup", "gap_bar"],
            "n_rows": [
                int(base["warmup"].fill_null(True).sum()),
                int((~base["warmup"].fill_null(True) & base["gap"].fill_null(True)).sum()),
            ],
        },
        schema={"reason": pl.String, "n_rows": pl.Int64},
    )
    design = base.filter(~pl.col("warmup").fill_null(True) & ~pl.col("gap").fill_null(True)).drop(
        "warmup", "gap"
    )
    names = list(f_cols)
    if "context_features" in wanted:
        if context is None:
            raise ValueError("spec/models.yaml asks for context_features but none were given")
        c_cols = list(wanted["context_features"])
        _require(context, "context_features", [*KEYS, *c_cols])
        design = design.join(context.select(*KEYS, *c_cols), on=KEYS, how="left")
        names += c_cols
    if "event_flags" in wanted:
        if flags is None:
            raise ValueError("spec/models.yaml asks for event_flags but none were given")
        picked = wanted["event_flags"]
        flag_cols = _event_flag_columns(flags) if picked == "all" else list(picked)
        _require(flags, "event_flags", [*KEYS, *flag_cols])
        renamed = {c: f"flag_{c}" for c in flag_cols}
        design = design.join(
            flags.select(*KEYS, *[pl.col(c).cast(pl.Float32).alias(renamed[c]) for c in flag_cols]),
            on=KEYS,
            how="left",
        )
        names += list(renamed.values())
    if "market_events" in wanted:
        if list(wanted["market_events"]) != [EVENT_DIRECTION_SUM]:
            raise ValueError(
                f"market_events supports only [{EVENT_DIRECTION_SUM}], got {wanted['market_events']}"
            )
        if events is None:
            raise ValueError("spec/models.yaml asks for market_events but none were given")
        _require(events, "market_events", [*KEYS, "direction"])
        per_bar = events.group_by(KEYS).agg(
            pl.col("direction").cast(pl.Float32).sum().alias(EVENT_DIRECTION_SUM)
        )
        design = design.join(per_bar, on=KEYS, how="left").with_columns(
            pl.col(EVENT_DIRECTION_SUM).fill_null(0.0)  # no event on the bar: a true zero, not missing
        )
        names.append(EVENT_DIRECTION_SUM)
    if design.select(pl.struct(KEYS).is_duplicated().any()).item():
        raise ValueError("features_v1 has duplicated (symbol, ts) rows")
    return design.sort("ts", "symbol"), tuple(names), exclusions


def forward_labels(bars: pl.DataFrame, spec: ModelSpec) -> pl.DataFrame:
    """Per (symbol, ts) of ``bars``: ``entry_ts``, ``exit_ts`` of the target horizon and one after-cost label
    per horizon of the spec (null where the entry or exit bar is absent, a gap, or has no open)."""
    _require(bars, "bars_5m", [*KEYS, "open"])
    tradable = bars.select(
        *KEYS,
        pl.when(pl.col("gap").fill_null(False) if "gap" in bars.columns else pl.lit(False))
        .then(None)
        .otherwise(pl.col("open"))
        .cast(pl.Float64)
        .alias("open"),
    )
    lag = spec.entry_lag_bars * spec.bar_ms
    out = bars.select(*KEYS).with_columns(
        (pl.col("ts") + pl.duration(milliseconds=lag)).alias(ENTRY_TS),
    )
    entry = tradable.rename({"ts": ENTRY_TS, "open": "entry_open"})
    out = out.join(entry, on=["symbol", ENTRY_TS], how="left")
    cost = spec.round_trip_cost_bps * 1e-4
    for h in spec.horizons_bars:
        exit_col = f"exit_ts_h{h}"
        out = out.with_columns((pl.col(ENTRY_TS) + pl.duration(milliseconds=h * spec.bar_ms)).alias(exit_col))
        exit_open = tradable.rename({"ts": exit_col, "open": f"exit_open_h{h}"})
        out = out.join(exit_open, on=["symbol", exit_col], how="left").with_columns(
            (pl.col(f"exit_open_h{h}") / pl.col("entry_open") - 1.0 - cost).alias(label_column(h))
        )
    target = spec.target_horizon_bars
    out = out.rename({f"exit_ts_h{target}": EXIT_TS})
    keep = [*KEYS, ENTRY_TS, EXIT_TS, *[label_column(h) for h in spec.horizons_bars]]
    return out.select(keep).with_columns(pl.col(label_column(h)).fill_nan(None) for h in spec.horizons_bars)


def build_training_set(
    bars: pl.DataFrame,
    features: pl.DataFrame,
    spec: ModelSpec,
    *,
    context: pl.DataFrame | None = None,
    flags: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
) -> TrainingSet:
    """The design matrix joined to its labels; rows without the target label are counted, not kept."""
    design, names, exclusions = design_matrix(features, spec, context=context, flags=flags, events=events)
    labels = forward_labels(bars, spec)
    target = label_column(spec.target_horizon_bars)
    joined = design.join(labels, on=KEYS, how="left")
    last_bar = bars.group_by("symbol").agg(pl.col("ts").max().alias("_last"))
    joined = joined.join(last_bar, on="symbol", how="left")
    missing = joined.filter(pl.col(target).is_null())
    beyond = int((missing[EXIT_TS].is_null() | (missing[EXIT_TS] > missing["_last"]).fill_null(True)).sum())
    exclusions = pl.concat(
        [
            exclusions,
            pl.DataFrame(
                {
                    "reason": ["label_window_beyond_data", "label_gap"],
                    "n_rows": [beyond, missing.height - beyond],
                },
                schema={"reason": pl.String, "n_rows": pl.Int64},
            ),
        ]
    )
    frame = joined.filter(pl.col(target).is_not_null()).drop("_last").sort(ENTRY_TS, "symbol")
    if frame.height == 0:
        raise ValueError(
            f"no training rows: {features.height} feature rows, none with a {target} label "
            f"(exclusions: {dict(exclusions.iter_rows())})"
        )
    return TrainingSet(frame=frame, feature_names=names, label=target, exclusions=exclusions)
