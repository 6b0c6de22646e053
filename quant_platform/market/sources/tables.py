"""Polars layouts of the raw market tables, derived from the pandera models so they cannot drift.

Every source returns frames built through :func:`conform`, which puts columns in schema order with the
schema's dtypes, and :func:`empty_table` for "no rows" answers (a missing file, an unsupported table).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.market.schemas import RawBars, RawFunding, RawLiquidations, RawOpenInterest
from quant_platform.market.sources.base import RAW_TABLES

RAW_TABLE_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "perp_bars": RawBars,
    "spot_bars": RawBars,
    "funding": RawFunding,
    "open_interest": RawOpenInterest,
    "liquidations": RawLiquidations,
}


def _polars_schema(model: type[pa.DataFrameModel]) -> pl.Schema:
    return pl.Schema({name: column.dtype.type for name, column in model.to_schema().columns.items()})


RAW_TABLE_SCHEMAS: dict[str, pl.Schema] = {table: _polars_schema(m) for table, m in RAW_TABLE_MODELS.items()}


def check_table(table: str) -> str:
    """Return ``table`` if it is one of :data:`RAW_TABLES`, else raise a ValueError naming the choices."""
    if table not in RAW_TABLES:
        raise ValueError(f"unknown raw table {table!r}; expected one of {RAW_TABLES}")
    return table


def empty_table(table: str) -> pl.DataFrame:
    """A zero-row frame with exactly the columns and dtypes of ``table``."""
    return pl.DataFrame(schema=RAW_TABLE_SCHEMAS[check_table(table)])


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Select ``table``'s columns in schema order, casting each to its schema dtype.

    Casts here are lossless re-labelings (e.g. Int64 epoch milliseconds already converted to
    ``Datetime("ms", "UTC")`` upstream, or an all-null column typed as Null); a missing column is an error.
    """
    schema = RAW_TABLE_SCHEMAS[check_table(table)]
    missing = [name for name in schema.names() if name not in frame.columns]
    if missing:
        raise ValueError(f"frame for {table!r} lacks columns {missing}")
    return frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items())
