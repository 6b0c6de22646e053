"""Row order of (symbol, ts) tables: a one-pass check that lets callers skip a sort they do not need."""

from __future__ import annotations

import polars as pl

from quant_platform.core.collect import IN_MEMORY


def is_sorted_by_symbol_ts(frame: pl.LazyFrame) -> bool:
    """Whether rows are already in (symbol, ts) order with no null key: one pass, far cheaper than a sort.

    Only String symbols are checked (their comparison is the sort's order); anything else counts as unsorted.
    """
    schema = frame.collect_schema()
    if schema.get("symbol") != pl.String or "ts" not in schema:
        return False
    symbol, ts = pl.col("symbol"), pl.col("ts")
    in_order = (symbol > symbol.shift(1)) | ((symbol == symbol.shift(1)) & (ts >= ts.shift(1)))
    first_row = pl.int_range(pl.len()) == 0
    # a null key anywhere counts as out of order, so that the sort places it
    ordered = symbol.is_not_null() & ts.is_not_null() & (first_row | in_order.fill_null(False))
    return bool(frame.select(ordered.all()).collect(engine=IN_MEMORY).item())
