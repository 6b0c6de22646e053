"""Pandera schemas of features_v1 and context_features.

The fixed key columns are declared as fields; the feature and state columns come from ``spec/features`` and
``spec/states`` and are checked by a dataframe check that reads the spec (so the schema never restates it).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.features.spec import load_feature_spec
from quant_platform.market.schemas import UTC_MS


def _spec_columns_present(frame: pl.LazyFrame, table: str) -> pl.LazyFrame:
    """True per row when every spec feature is a Float64 column and every state a String column."""
    spec = load_feature_spec()
    schema = frame.collect_schema()
    features = spec.table_features(table)
    present_features = {f.name for f in features if f.name in schema}
    ok = all(schema[n] == pl.Float64 for n in present_features) and bool(present_features)
    for family in {f.family for f in features}:
        members = {f.name for f in features if f.family == family}
        ok = ok and (members <= present_features or not (members & present_features))  # whole families only
    ok = ok and all(schema[s.name] == pl.String for s in spec.table_states(table) if s.name in schema)
    return frame.select(pl.lit(ok).alias("spec_columns"))


class FeaturesV1(pa.DataFrameModel):
    """One row per (symbol, 5m bar) of bars_5m: spec features (Float64, null on gaps and in warm-up), state
    labels (String), ``warmup`` (lookback incomplete for some feature) and the spec's ``ontology_hash``.
    A family may be left out on purpose (``compute_features(families=...)``), never a single feature."""

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    gap: pl.Boolean
    warmup: pl.Boolean
    ontology_hash: str = pa.Field(str_length={"min_value": 64, "max_value": 64})

    class Config:
        strict = False
        unique = ["symbol", "ts"]  # noqa: RUF012

    @pa.dataframe_check
    def spec_feature_columns(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _spec_columns_present(data.lazyframe, "features_v1")

    @pa.dataframe_check
    def gap_rows_are_warmup(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.col("gap") | pl.col("warmup"))


class ContextFeatures(pa.DataFrameModel):
    """One row per (symbol, bar): the symbol against the equal-weight market proxy, market-wide context and
    context states; ``warmup`` as in features_v1 plus the context windows."""

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    warmup: pl.Boolean
    ontology_hash: str = pa.Field(str_length={"min_value": 64, "max_value": 64})
    corr_mkt_48: pl.Float64 = pa.Field(nullable=True, ge=-1.0, le=1.0)
    corr_mkt_288: pl.Float64 = pa.Field(nullable=True, ge=-1.0, le=1.0)

    class Config:
        strict = False
        unique = ["symbol", "ts"]  # noqa: RUF012

    @pa.dataframe_check
    def spec_context_columns(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _spec_columns_present(data.lazyframe, "context_features")
