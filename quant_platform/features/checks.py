"""Library side of the features asset checks (the Dagster layer only turns these into check results)."""

from __future__ import annotations

import polars as pl

from quant_platform.features.spec import FeatureSpec, load_feature_spec

# Families whose features are defined on every bar with complete price history (no optional inputs such as
# funding or liquidations that may legitimately be null), so a null outside warm-up means a wrong flag.
PRICE_ONLY_FAMILIES = ("returns", "volatility", "momentum")


def warmup_violations(features: pl.DataFrame, spec: FeatureSpec | None = None) -> dict[str, int]:
    """Rows marked complete (``warmup`` False) where a price-only feature is still null, per feature, plus
    gap rows not marked ``warmup``. Empty when the warm-up marking is right."""
    spec = spec or load_feature_spec()
    names = [
        f.name
        for f in spec.table_features("features_v1")
        if f.family in PRICE_ONLY_FAMILIES and f.name in features.columns
    ]
    ready = features.filter(~pl.col("warmup"))
    counts = ready.select(pl.col(names).null_count()).row(0, named=True) if names else {}
    out = {name: int(n) for name, n in counts.items() if n}
    unmarked_gaps = features.filter(pl.col("gap") & ~pl.col("warmup")).height
    if unmarked_gaps:
        out["<gap rows not marked warmup>"] = unmarked_gaps
    return out


def warmup_progress(features: pl.DataFrame, spec: FeatureSpec | None = None) -> dict[str, object]:
    """Whether ``features`` (the rows of a run's days) ever leave warm-up, and why not when they do not.

    ``leaves_warmup``: some non-gap row is out of warm-up. ``days_entirely_warmup``: the days with no row out of
    warm-up. ``warmup_bars_needed``: the longest symbol-scope warm-up of the spec: a run that never leaves
    warm-up either has less history than that (the data or the windows are wrong for each other) or restarts
    its warm-up faster than it completes (e.g. at every session halt)."""
    spec = spec or load_feature_spec()
    day = pl.col("ts").dt.date()
    per_day = features.group_by(day.alias("day")).agg((~pl.col("warmup")).any().alias("out")).sort("day")
    entirely = [d.isoformat() for d in per_day.filter(~pl.col("out"))["day"]]
    needed = max(
        (f.warmup_bars for f in spec.table_features("features_v1") if f.scope == "symbol"), default=0
    )
    return {
        "leaves_warmup": bool(features.height) and bool(per_day["out"].any()),
        "days_entirely_warmup": entirely,
        "warmup_bars_needed": needed,
    }
