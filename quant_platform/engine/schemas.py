"""One pandera schema per table the engine emits."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from quant_platform.market.schemas import UTC_MS


class EngineSteps(pa.DataFrameModel):
    """Per (symbol, bar): target in force, position, and the bar's PnL split (currency units)."""

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    target_weight: pl.Float64
    position_units: pl.Float64
    mark_price: pl.Float64 = pa.Field(nullable=True)
    position_value: pl.Float64
    pnl_gross: pl.Float64
    fees: pl.Float64 = pa.Field(ge=0)
    slippage_cost: pl.Float64 = pa.Field(ge=0)
    funding_pnl: pl.Float64
    pnl_net: pl.Float64

    class Config:
        strict = True


class EngineEquity(pa.DataFrameModel):
    """Portfolio per bar: summed PnL split, equity and exposures (currency units)."""

    ts: UTC_MS  # type: ignore[valid-type]
    pnl_gross: pl.Float64
    fees: pl.Float64 = pa.Field(ge=0)
    slippage_cost: pl.Float64 = pa.Field(ge=0)
    funding_pnl: pl.Float64
    pnl_net: pl.Float64
    equity: pl.Float64
    gross_exposure: pl.Float64 = pa.Field(ge=0)
    net_exposure: pl.Float64

    class Config:
        strict = True


class EngineTrades(pa.DataFrameModel):
    """One row per fill."""

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    side: str = pa.Field(isin=["buy", "sell"])
    qty: pl.Float64
    units_after: pl.Float64
    target_weight: pl.Float64
    fill_price: pl.Float64 = pa.Field(gt=0)
    exec_price: pl.Float64 = pa.Field(gt=0)
    slippage_bps: pl.Float64 = pa.Field(ge=0)
    notional: pl.Float64 = pa.Field(ge=0)
    fee: pl.Float64
    slippage_cost: pl.Float64 = pa.Field(ge=0)

    class Config:
        strict = True


class EngineRoundTrips(pa.DataFrameModel):
    """One row per round trip (position episode); convention in :mod:`quant_platform.engine.round_trips`."""

    symbol: str
    side: str = pa.Field(isin=["long", "short"])
    size: pl.Float64 = pa.Field(gt=0)
    entry_ts: UTC_MS  # type: ignore[valid-type]
    entry_price: pl.Float64 = pa.Field(gt=0)
    exit_ts: UTC_MS = pa.Field(nullable=True)  # type: ignore[valid-type]
    exit_price: pl.Float64 = pa.Field(gt=0, nullable=True)
    closed: pl.Boolean
    bars_held: pl.Int64 = pa.Field(ge=0)
    n_fills: pl.Int64 = pa.Field(ge=1)
    entry_fees: pl.Float64 = pa.Field(ge=0)
    exit_fees: pl.Float64 = pa.Field(ge=0)
    slippage_cost: pl.Float64 = pa.Field(ge=0)
    funding_pnl: pl.Float64
    pnl_gross: pl.Float64
    pnl_net: pl.Float64
    return_gross: pl.Float64
    return_net: pl.Float64

    class Config:
        strict = True

    @pa.dataframe_check
    def open_trips_have_no_exit(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("closed") == pl.col("exit_ts").is_not_null())


class EngineRejectedOrders(pa.DataFrameModel):
    """Orders refused by a hard risk constraint, with the reason."""

    symbol: str
    ts: UTC_MS  # type: ignore[valid-type]
    requested_weight: pl.Float64
    reason: str = pa.Field(isin=["abs_weight_above_hard_max", "short_not_allowed"])

    class Config:
        strict = True


class EngineSweepSummary(pa.DataFrameModel):
    """One row per strategy column of a parameter sweep."""

    column: pl.Int64 = pa.Field(ge=0)
    n_fills: pl.Int64 = pa.Field(ge=0)
    n_round_trips: pl.Int64 = pa.Field(ge=0)
    n_orders_submitted: pl.Int64 = pa.Field(ge=0)
    n_orders_rejected: pl.Int64 = pa.Field(ge=0)
    n_orders_clipped: pl.Int64 = pa.Field(ge=0)
    n_orders_unfilled_at_end: pl.Int64 = pa.Field(ge=0)
    n_orders_superseded: pl.Int64 = pa.Field(ge=0)
    n_target_nan: pl.Int64 = pa.Field(ge=0)
    n_target_nan_after_first: pl.Int64 = pa.Field(ge=0)
    final_equity: pl.Float64
    pnl_net: pl.Float64
    status: str = pa.Field(isin=["ok", "insufficient_observation"])

    class Config:
        strict = False
