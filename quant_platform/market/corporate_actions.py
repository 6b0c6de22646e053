"""Splits and cash dividends as dated facts, and the two price series an equity panel needs from them.

- ``split_adjusted`` prices (the seed's TRI_signal) for signals: every price is expressed in shares of the
  symbol's *first* day, multiplying by the product of the split ratios whose ex-date is on or before the bar.
  This is forward adjustment: it uses only splits already known at the bar, so appending data (a later split)
  never changes a past adjusted price. Yahoo/Quandl's ``Adj Close`` adjusts backwards from the file's last
  day, which rewrites the whole history at every new split or dividend (a look-ahead in price levels);
  returns are the same either way.
- ``tri`` (the seed's TRI_accounting): a total-return index, 1.0 on the symbol's first bar, compounding
  ``split_ratio_t x (close_t + dividend_t) / close_{t-1}`` with the dividend per share of the ex-date's share
  count (CRSP's holding-period return: one share held yesterday is ``split_ratio_t`` shares today).

Deriving the facts from an ``Adj Close`` column (:func:`actions_from_adj_close`): with ``A_t = adj_close_t /
close_t``, the factor ``f_t = A_t / A_{t-1}`` is 1 on ordinary days, the split ratio on a split's ex-date, and
``1 / (1 - D / close_{t-1})`` on a dividend's ex-date (the CRSP/Yahoo multiplicative convention, so
``D = close_{t-1} (1 - 1 / f_t)``). A factor close to a ratio of small integers (2:1, 3:2, 7:1, 1:10 ...) is a
split; what is left after the nearest such ratio, above the file's round-off, is a cash dividend.
"""

from __future__ import annotations

from fractions import Fraction

import pandera.polars as pa
import polars as pl

ACTIONS = ("split", "dividend")
# Relative distance from a ratio of small integers within which a factor is read as a split. Real
# split factors in Quandl's data land within 1e-6 of 2.0; 0.5 % leaves room for a dividend on the same day.
SPLIT_TOLERANCE = 0.005
# Factors further than this from a split ratio or from 1 are events. Adj Close is rounded to ~1e-8 of the price
# in the Quandl file, so ordinary days have |f - 1| < 1e-6; the smallest real dividend in it moves f by 4e-4.
EVENT_THRESHOLD = 2e-5
# Splits are factors outside [1 - m, 1 + m]: a 14 % dividend is not a 8:7 split.
MIN_SPLIT_MOVE = 0.2
_MAX_TERMS = 20


class CorporateActions(pa.DataFrameModel):
    """One row per corporate action: ``ratio`` is new shares per old share for a split (null for a dividend),
    ``cash`` the dividend per share on the ex-date's share count (null for a split); ``source`` says where
    the fact came from (``adj_close`` when derived, ``synthetic``, or a vendor name)."""

    symbol: str
    ex_date: pl.Date
    action: str = pa.Field(isin=list(ACTIONS))
    ratio: pl.Float64 = pa.Field(nullable=True, gt=0)
    cash: pl.Float64 = pa.Field(nullable=True, gt=0)
    source: str

    class Config:
        strict = True


ACTION_SCHEMA = pl.Schema(
    {
        "symbol": pl.String,
        "ex_date": pl.Date,
        "action": pl.String,
        "ratio": pl.Float64,
        "cash": pl.Float64,
        "source": pl.String,
    }
)


def empty_actions() -> pl.DataFrame:
    return pl.DataFrame(schema=ACTION_SCHEMA)


def nearest_split_ratio(factor: float) -> float | None:
    """The ratio of small integers (terms up to 20) nearest to ``factor`` when within :data:`SPLIT_TOLERANCE`
    and at least :data:`MIN_SPLIT_MOVE` from 1 (e.g. 2.0 for 1.99999, 1.5 for 3:2, 0.1 for a 1:10 reverse
    split); None otherwise."""
    if not factor > 0 or abs(factor - 1.0) < MIN_SPLIT_MOVE:
        return None
    ratio = Fraction(factor).limit_denominator(_MAX_TERMS)
    if ratio.numerator > _MAX_TERMS * _MAX_TERMS or ratio == 1:
        return None
    value = float(ratio)
    return value if abs(factor / value - 1.0) <= SPLIT_TOLERANCE else None


def actions_from_adj_close(bars: pl.DataFrame) -> pl.DataFrame:
    """Splits and dividends implied by ``adj_close`` (rows: ``symbol, ts, close, adj_close``; unadjusted
    ``close``). Rows with a null or non-positive close or adj close are skipped (the factor is undefined
    there); the next defined row is compared with the last defined one."""
    defined = (
        bars.select("symbol", "ts", "close", "adj_close")
        .filter((pl.col("close") > 0) & (pl.col("adj_close") > 0))
        .sort("symbol", "ts")
        .with_columns((pl.col("adj_close") / pl.col("close")).alias("_a"))
        .with_columns(
            (pl.col("_a") / pl.col("_a").shift(1).over("symbol")).alias("_f"),
            pl.col("close").shift(1).over("symbol").alias("_prev_close"),
        )
        .filter((pl.col("_f") - 1.0).abs() > EVENT_THRESHOLD)
    )
    rows: list[dict] = []
    for symbol, ts, factor, prev_close in defined.select("symbol", "ts", "_f", "_prev_close").iter_rows():
        ex_date = ts.date()
        split = nearest_split_ratio(factor)
        residual = factor / split if split is not None else factor
        if split is not None:
            rows.append(
                {"symbol": symbol, "ex_date": ex_date, "action": "split", "ratio": split, "cash": None}
            )
        if abs(residual - 1.0) > EVENT_THRESHOLD and residual > 1.0:
            # cash per share held on the ex-date (after that day's split)
            cash = prev_close / (split or 1.0) * (1.0 - 1.0 / residual)
            rows.append(
                {"symbol": symbol, "ex_date": ex_date, "action": "dividend", "ratio": None, "cash": cash}
            )
        elif abs(residual - 1.0) > EVENT_THRESHOLD:
            raise ValueError(
                f"{symbol} {ex_date}: Adj Close / Close falls by a factor {factor:.6f} that is neither a split "
                "ratio nor a dividend (a dividend raises the earlier adjustment): the adjusted column is "
                "inconsistent with the prices"
            )
    if not rows:
        return empty_actions()
    fields = {name: dtype for name, dtype in ACTION_SCHEMA.items() if name != "source"}
    return pl.DataFrame(rows, schema=fields).with_columns(pl.lit("adj_close").alias("source"))


def apply_actions(bars: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """``bars`` (``symbol, ts, open, high, low, close`` unadjusted, one row per symbol and session, gap rows
    with null prices allowed) with ``split_factor``, split-adjusted ``open/high/low/close`` as
    ``*_split_adj`` (for signals) and ``tri`` (total-return index, for accounting) added.

    ``split_factor`` is the product of the split ratios with ex-date on or before the bar (forward, point in
    time). ``tri`` starts at 1.0 on the symbol's first priced bar; a gap row carries the last value forward
    and the next priced bar compounds from the last priced close. An action on a day without a bar of its
    symbol is an error (it could not be applied on its ex-date): nothing is dropped silently."""
    CorporateActions.validate(actions)
    days = bars.filter(pl.col("close").is_not_null()).select(
        "symbol", pl.col("ts").dt.date().alias("ex_date")
    )
    orphans = actions.join(days, on=["symbol", "ex_date"], how="anti")
    if orphans.height:
        raise ValueError(
            "corporate actions on days without a priced bar of their symbol: "
            f"{orphans.select('symbol', 'ex_date').rows()}"
        )
    per_day = actions.group_by("symbol", "ex_date").agg(
        pl.col("ratio").filter(pl.col("action") == "split").product().alias("_split"),
        pl.col("cash").filter(pl.col("action") == "dividend").sum().alias("_cash"),
    )
    frame = (
        bars.with_columns(pl.col("ts").dt.date().alias("ex_date"))
        .join(per_day, on=["symbol", "ex_date"], how="left", maintain_order="left")
        .with_columns(pl.col("_split").fill_null(1.0), pl.col("_cash").fill_null(0.0))
        .sort("symbol", "ts")
    )
    priced = pl.col("close").is_not_null()
    prev_close = pl.col("close").forward_fill().shift(1).over("symbol")
    growth = pl.when(priced & prev_close.is_not_null()).then(
        pl.col("_split") * (pl.col("close") + pl.col("_cash")) / prev_close
    )
    frame = frame.with_columns(
        pl.col("_split").cum_prod().over("symbol").alias("split_factor"),
        growth.fill_null(1.0).cum_prod().over("symbol").alias("tri"),
    )
    before_first_price = priced.cast(pl.Int64).cum_sum().over("symbol") == 0
    return frame.with_columns(
        *(
            (pl.col(c) * pl.col("split_factor")).alias(f"{c}_split_adj")
            for c in ("open", "high", "low", "close")
            if c in bars.columns
        ),
        pl.when(before_first_price).then(None).otherwise(pl.col("tri")).alias("tri"),
    ).drop("ex_date", "_split", "_cash")
