"""One pandera schema per market table. These are the contracts every downstream stage relies on.

Conventions (all tables):
- ``ts`` is the *open* time of a bar (or the event time of a print) as ``Datetime("ms", "UTC")``.
  A bar stamped ``ts`` covers ``[ts, ts + interval)``; its close is known only at ``ts + interval``.
- Prices and quantities are ``Float64``; a missing value is null (never zero).
- ``symbol`` is the exchange symbol, e.g. ``BTCUSDT``.

Raw tables (``Raw*``) are *structural* contracts only: the columns and their dtypes, every column nullable.
A source delivers what it got; value-level defects (a null symbol or ts, a side that is neither BUY nor
SELL, a symbol outside the universe, bad prices) are for cleaning to quarantine with a reason, so the raw
table must be storable with them (raw = clean + quarantined). A wrong dtype or a missing column is a
contract violation of the source and blocks.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.engines.polars_engine import DateTime

UTC_MS = DateTime(time_zone="UTC", time_unit="ms")  # type: ignore[call-arg]


class RawBars(pa.DataFrameModel):
    """1-minute klines as a source delivers them (perp or spot). Not yet validated: may hold bad rows."""

    symbol: str = pa.Field(nullable=True)
    ts: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    open: pl.Float64 = pa.Field(nullable=True)
    high: pl.Float64 = pa.Field(nullable=True)
    low: pl.Float64 = pa.Field(nullable=True)
    close: pl.Float64 = pa.Field(nullable=True)
    volume: pl.Float64 = pa.Field(nullable=True)
    quote_volume: pl.Float64 = pa.Field(nullable=True)
    trades: pl.Int64 = pa.Field(nullable=True)
    taker_buy_volume: pl.Float64 = pa.Field(nullable=True)
    taker_buy_quote_volume: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = False


class RawFunding(pa.DataFrameModel):
    """Perp funding prints: ``funding_rate`` is the rate settled at ``ts`` (a fraction per interval)."""

    symbol: str = pa.Field(nullable=True)
    ts: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    funding_rate: pl.Float64 = pa.Field(nullable=True)
    mark_price: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True


class RawOpenInterest(pa.DataFrameModel):
    """Open interest snapshots (Binance ``metrics``: every 5 minutes)."""

    symbol: str = pa.Field(nullable=True)
    ts: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    open_interest: pl.Float64 = pa.Field(nullable=True)
    open_interest_value: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True


class RawLiquidations(pa.DataFrameModel):
    """Forced orders. ``side`` is the side of the liquidation order: SELL liquidates a long, BUY a short."""

    symbol: str = pa.Field(nullable=True)
    ts: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    side: str = pa.Field(nullable=True)  # BUY or SELL; anything else is quarantined by cleaning
    price: pl.Float64 = pa.Field(nullable=True)
    qty: pl.Float64 = pa.Field(nullable=True)
    notional: pl.Float64 = pa.Field(nullable=True)

    class Config:
        strict = True


class QuarantinedRows(pa.DataFrameModel):
    """Every input row that did not make it into a clean table, with the reason. raw = clean + quarantined."""

    source_table: str
    symbol: str = pa.Field(nullable=True)
    ts: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    reason: str
    payload: str  # the original row as JSON, so nothing is lost

    class Config:
        strict = True


class Bars5m(pa.DataFrameModel):
    """Cleaned 5-minute perp bars on a complete grid, enriched point-in-time with spot, funding, OI, liquidations.

    - One row per (symbol, 5m slot) of the day: a slot with no valid 1m bar is a *gap row* (``gap=True``,
      prices null), never zero-filled or interpolated.
    - ``n_source_bars`` counts the valid 1m bars aggregated (1..5); a partial bar is not a gap.
    - ``spot_close`` / ``basis_bps``: spot close of the same slot and ``1e4 * (perp_close / spot_close - 1)``.
    - ``funding_rate``: the latest funding print with ``print_ts <= bar close`` (backward as-of, never ahead).
    - ``open_interest``: the latest OI snapshot with ``snapshot_ts <= bar close``.
    - ``liq_long_notional`` / ``liq_short_notional``: liquidations inside the bar (longs liquidated = SELL);
      0 when the source knows there were none, null when it does not know (no liquidation data).
    - ``volume_ok``: the volume filter (bar volume above a small fraction of its trailing median).
    """

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    open: pl.Float64 = pa.Field(nullable=True, gt=0)
    high: pl.Float64 = pa.Field(nullable=True, gt=0)
    low: pl.Float64 = pa.Field(nullable=True, gt=0)
    close: pl.Float64 = pa.Field(nullable=True, gt=0)
    volume: pl.Float64 = pa.Field(nullable=True, ge=0)
    quote_volume: pl.Float64 = pa.Field(nullable=True, ge=0)
    trades: pl.Int64 = pa.Field(nullable=True, ge=0)
    taker_buy_volume: pl.Float64 = pa.Field(nullable=True, ge=0)
    n_source_bars: pl.Int32 = pa.Field(ge=0)  # at most interval / source interval (cleaning enforces it)
    gap: pl.Boolean
    spot_close: pl.Float64 = pa.Field(nullable=True, gt=0)
    basis_bps: pl.Float64 = pa.Field(nullable=True)
    funding_rate: pl.Float64 = pa.Field(nullable=True)
    open_interest: pl.Float64 = pa.Field(nullable=True, ge=0)
    liq_long_notional: pl.Float64 = pa.Field(nullable=True, ge=0)  # null: the source does not know
    liq_short_notional: pl.Float64 = pa.Field(nullable=True, ge=0)
    volume_ok: pl.Boolean

    class Config:
        strict = True

    @pa.dataframe_check
    def gap_rows_have_no_prices(cls, data: pa.PolarsData) -> pl.LazyFrame:
        frame = data.lazyframe
        return frame.select(pl.col("gap") == pl.col("close").is_null())

    @pa.dataframe_check
    def ohlc_invariants(cls, data: pa.PolarsData) -> pl.LazyFrame:
        frame = data.lazyframe
        ok = (
            (pl.col("high") >= pl.max_horizontal("open", "close", "low"))
            & (pl.col("low") <= pl.min_horizontal("open", "close", "high"))
        ) | pl.col("gap")
        return frame.select(ok.fill_null(False))


MARKET_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "raw_perp_bars": RawBars,
    "raw_spot_bars": RawBars,
    "raw_funding": RawFunding,
    "raw_open_interest": RawOpenInterest,
    "raw_liquidations": RawLiquidations,
    "quarantined_rows": QuarantinedRows,
    "bars_5m": Bars5m,
}
