"""Quarantine reasons and the quarantine-row builder shared by cleaning and the synthetic defect injector.

A quarantined row keeps the original row as JSON (``payload``) so nothing is lost (NaN and infinities,
which JSON cannot hold, are written as null; the reason says what was wrong); ``reason`` is one of the
constants below. Each rejected row gets exactly one reason: the first that applies in the order the
validators check them (see :mod:`quant_platform.market.cleaning`).
"""

from __future__ import annotations

import json

import polars as pl

from quant_platform.core.timeutil import TS_DTYPE

# Row stamps.
TS_OUTSIDE_DAY = "ts_outside_day"  # ts not inside the partition's [day start, day end)
TS_MISALIGNED = "ts_misaligned"  # bar ts not on the source interval grid (e.g. 12:00:30 for 1m klines)
TS_IN_FUTURE = "ts_in_future"  # bar not closed (or print not made) by the caller's ``now``
UNKNOWN_SYMBOL = "unknown_symbol"  # symbol outside the universe
OUTSIDE_SESSION = "outside_session"  # exchange sessions: stamped in no trading minute of the calendar
DUPLICATE_TS = "duplicate_ts"  # a later row with the same (symbol, ts) as an earlier valid row
DUPLICATE_ROW = "duplicate_row"  # liquidations: an exact copy of an earlier row
# Bar values.
MISSING_PRICE = "missing_price"  # an OHLC value null or NaN
NONPOSITIVE_PRICE = "nonpositive_price"  # an OHLC value (or a mark price) <= 0
HIGH_BELOW_LOW = "high_below_low"
OHLC_INCONSISTENT = "ohlc_inconsistent"  # open or close outside [low, high]
NONFINITE_VOLUME = "nonfinite_volume"  # a volume column is +/-inf (NaN counts as missing, which is allowed)
NEGATIVE_VOLUME = "negative_volume"  # volume, quote volume, taker volumes or trades < 0
# Funding / open interest / liquidation values.
MISSING_VALUE = "missing_value"  # the table's main value null or NaN
NEGATIVE_VALUE = "negative_value"  # open interest < 0
NONPOSITIVE_VALUE = "nonpositive_value"  # liquidation price, qty or notional <= 0
UNKNOWN_SIDE = "unknown_side"  # liquidations: side null or neither BUY nor SELL
# Source lines that could not be parsed at all (a source in quarantine mode; payload: file, line, why, text).
UNPARSEABLE_LINE = "unparseable_line"

BAR_REASONS = (
    TS_OUTSIDE_DAY,
    TS_MISALIGNED,
    TS_IN_FUTURE,
    UNKNOWN_SYMBOL,
    MISSING_PRICE,
    NONPOSITIVE_PRICE,
    HIGH_BELOW_LOW,
    OHLC_INCONSISTENT,
    NONFINITE_VOLUME,
    NEGATIVE_VOLUME,
    DUPLICATE_TS,
)

QUARANTINE_COLUMNS = {
    "source_table": pl.String,
    "symbol": pl.String,
    "ts": TS_DTYPE,
    "reason": pl.String,
    "payload": pl.String,
}


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_COLUMNS)


def quarantine_rows(
    rejected: pl.DataFrame | pl.LazyFrame, source_table: str, reason_column: str = "reason"
) -> pl.DataFrame | pl.LazyFrame:
    """Turn rejected raw rows (original columns plus ``reason_column``) into QuarantinedRows rows.

    Lazy in, lazy out: cleaning builds every table's split as one query plan.
    """
    original = [c for c in rejected.collect_schema().names() if c != reason_column]
    return rejected.select(
        pl.lit(source_table, dtype=pl.String).alias("source_table"),
        pl.col("symbol").cast(pl.String),
        pl.col("ts").cast(TS_DTYPE),
        pl.col(reason_column).cast(pl.String).alias("reason"),
        pl.struct(original).struct.json_encode().alias("payload"),
    )


def unparseable_rows(lines: list, source_table: str | None = None) -> pl.DataFrame:
    """QuarantinedRows rows for unparseable source lines (objects with ``table``, ``symbol``, ``file``,
    ``line``, ``reason``, ``text``): ``ts`` null (the line's time could not be read or trusted), the payload
    names the file and line."""
    rows = [
        {
            "source_table": source_table or line.table,
            "symbol": line.symbol,
            "ts": None,
            "reason": UNPARSEABLE_LINE,
            "payload": json.dumps(
                {"file": line.file, "line": line.line, "why": line.reason, "text": line.text}, sort_keys=True
            ),
        }
        for line in lines
    ]
    return pl.DataFrame(rows, schema=QUARANTINE_COLUMNS) if rows else empty_quarantine()
