"""A point-in-time equity universe: listings and delistings as dated facts, and panel returns that keep the dead.

A symbol is a member of the universe from its listing day through its last trading day (both inclusive):
``listed <= day <= delisted`` (``delisted`` null while it still trades). Survivorship bias is what happens
when a panel is built from the symbols alive *today*: the stocks that went bankrupt or were taken over
vanish from the history, and the history looks better than anything that could have been traded. So a
delisted stock stays in the panel until its last day, and its final return counts: the return of its last
bar plus, when known, the delisting return (CRSP's DLRET: what a holder got for the share after the last
trade, e.g. -100 % in a liquidation or the cash of a takeover). :func:`panel_returns` compounds the two on
the last day, so an equal-weight portfolio over :func:`members_on` loses what a real holder lost.
"""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from quant_platform.core.timeutil import parse_day


class Listings(pa.DataFrameModel):
    """One row per symbol: ``listed`` its first trading day, ``delisted`` its last (null while alive),
    ``delisting_return`` the return from the last close to what a holder finally received (null when not
    delisted or unknown), ``reason`` why it left (null while alive)."""

    symbol: str = pa.Field(unique=True)
    listed: pl.Date
    delisted: pl.Date = pa.Field(nullable=True)
    delisting_return: pl.Float64 = pa.Field(nullable=True, ge=-1.0)
    reason: str = pa.Field(nullable=True)

    class Config:
        strict = True

    @pa.dataframe_check
    def delisted_after_listed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("delisted").is_null() | (pl.col("delisted") >= pl.col("listed")))


LISTING_SCHEMA = pl.Schema(
    {
        "symbol": pl.String,
        "listed": pl.Date,
        "delisted": pl.Date,
        "delisting_return": pl.Float64,
        "reason": pl.String,
    }
)


def listings_from_bars(bars: pl.DataFrame, panel_end: str | date | None = None) -> pl.DataFrame:
    """Listings observed in a panel of bars (``symbol, ts, close``): listed on the first priced bar, delisted
    on the last one when that is before ``panel_end`` (default: the panel's last priced day). Without a
    delisting feed, the delisting return is unknown (null) and the reason is ``last_bar_before_panel_end``."""
    priced = bars.filter(pl.col("close").is_not_null())
    if priced.is_empty():
        raise ValueError("no priced bars: cannot observe any listing")
    end = parse_day(panel_end) if panel_end is not None else priced["ts"].max().date()  # type: ignore[union-attr]
    spans = priced.group_by("symbol").agg(
        pl.col("ts").min().dt.date().alias("listed"), pl.col("ts").max().dt.date().alias("last")
    )
    gone = pl.col("last") < pl.lit(end)
    listings = spans.select(
        "symbol",
        "listed",
        pl.when(gone).then(pl.col("last")).alias("delisted"),
        pl.lit(None, dtype=pl.Float64).alias("delisting_return"),
        pl.when(gone).then(pl.lit("last_bar_before_panel_end")).alias("reason"),
    ).sort("symbol")
    return Listings.validate(listings.cast(dict(LISTING_SCHEMA)))


def dated_listings(source: object) -> pl.DataFrame | None:
    """The listings a market data source dates (``source.listings()``: the synthetic equity panel's planted
    facts, or an OHLCV file's observed ones when configured), validated; None for a source without them
    (crypto sources: every configured symbol is a member every day)."""
    listings = getattr(source, "listings", None)
    frame = listings() if callable(listings) else None
    return None if frame is None else Listings.validate(frame)


def members_on(listings: pl.DataFrame, day: str | date) -> list[str]:
    """Symbols in the universe on ``day``: listed on or before it and not delisted before it."""
    d = parse_day(day)
    alive = (pl.col("listed") <= d) & (pl.col("delisted").is_null() | (pl.col("delisted") >= d))
    return sorted(listings.filter(alive)["symbol"].to_list())


def membership(listings: pl.DataFrame, days: list[str | date]) -> pl.DataFrame:
    """``day, symbol`` rows: the universe on each of ``days`` (point in time)."""
    frame = pl.DataFrame({"day": [parse_day(d) for d in days]}, schema={"day": pl.Date})
    joined = frame.join(listings.select("symbol", "listed", "delisted"), how="cross")
    alive = (pl.col("listed") <= pl.col("day")) & (
        pl.col("delisted").is_null() | (pl.col("delisted") >= pl.col("day"))
    )
    return joined.filter(alive).select("day", "symbol").sort("day", "symbol")


def panel_returns(prices: pl.DataFrame, listings: pl.DataFrame, price: str = "tri") -> pl.DataFrame:
    """Daily returns ``day, symbol, ret`` of every member on every day it was a member, from ``price`` (a
    total-return index for accounting). A delisted symbol's return on its last day compounds the day's price
    return with the delisting return; bars outside the listing are an error (a price after the last trading
    day is a data defect, not something to drop)."""
    Listings.validate(listings)
    frame = prices.select("symbol", pl.col("ts").dt.date().alias("day"), pl.col(price).alias("_p")).join(
        listings, on="symbol", how="left"
    )
    unknown = frame.filter(pl.col("listed").is_null())["symbol"].unique().sort().to_list()
    if unknown:
        raise ValueError(f"prices for symbols without a listing: {unknown}")
    outside = frame.filter(
        (pl.col("day") < pl.col("listed"))
        | (pl.col("delisted").is_not_null() & (pl.col("day") > pl.col("delisted")))
    )
    if outside.height:
        raise ValueError(
            f"{outside.height} prices outside their symbol's listing, e.g. {outside.select('symbol', 'day').row(0)}"
        )
    last_day = pl.col("delisted").is_not_null() & (pl.col("day") == pl.col("delisted"))
    day_ret = pl.col("_p") / pl.col("_p").shift(1).over("symbol") - 1.0
    final = (1.0 + day_ret.fill_null(0.0)) * (1.0 + pl.col("delisting_return").fill_null(0.0)) - 1.0
    return (
        frame.sort("symbol", "day")
        .with_columns(pl.when(last_day).then(final).otherwise(day_ret).alias("ret"))
        .filter(pl.col("ret").is_not_null())
        .select("day", "symbol", "ret")
        .sort("day", "symbol")
    )


def equal_weight_returns(returns: pl.DataFrame) -> pl.DataFrame:
    """``day, ret, members``: the equal-weight portfolio of the symbols with a return that day (rebalanced
    daily), i.e. the mean of the day's member returns."""
    return (
        returns.group_by("day").agg(pl.col("ret").mean().alias("ret"), pl.len().alias("members")).sort("day")
    )
