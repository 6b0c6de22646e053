"""Hypothesis: random raw days with random defects always clean into a balanced, duplicate-free, valid grid."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.market.cleaning import CleaningConfig, clean_day
from quant_platform.market.schemas import Bars5m, QuarantinedRows
from quant_platform_tests.market.test_cleaning import bars_frame
from quant_platform_tests.market.test_cleaning_reference import reference_clean

DAY = "2024-01-03"
T0 = datetime(2024, 1, 3, tzinfo=UTC)
DEFECTS = ("none", "none", "none", "nan", "inf", "none_price", "zero", "swap", "close_above", "neg_volume")
DEFECTS += ("null_volume", "nan_volume", "inf_volume")


@st.composite
def raw_bar(draw: st.DrawFn) -> dict:
    minute = draw(st.one_of(st.integers(-3, 1443), st.integers(0, 30), st.floats(0, 30, allow_nan=False)))
    price = draw(st.floats(0.5, 1e4))
    up, down = draw(st.floats(0, 0.02)), draw(st.floats(0, 0.02))
    high, low = price * (1 + up), price * (1 - down)
    o = low + (high - low) * draw(st.floats(0, 1))
    c = low + (high - low) * draw(st.floats(0, 1))
    row = {
        "symbol": draw(st.sampled_from(["A", "B", "C"])),
        "ts": T0 + timedelta(minutes=minute),
        "open": o,
        "high": high,
        "low": low,
        "close": c,
        "volume": draw(st.floats(0, 1e3)),
        "quote_volume": draw(st.floats(0, 1e6)),
        "trades": draw(st.integers(0, 100)),
        "taker_buy_volume": 0.0,
        "taker_buy_quote_volume": 0.0,
    }
    defect = draw(st.sampled_from(DEFECTS))
    column = draw(st.sampled_from(["open", "high", "low", "close"]))
    if defect == "nan":
        row[column] = float("nan")
    elif defect == "none_price":
        row[column] = None
    elif defect == "zero":
        row[column] = draw(st.sampled_from([0.0, -1.0]))
    elif defect == "swap" and high > low:
        row["high"], row["low"] = low, high
    elif defect == "close_above":
        row["close"] = high * 1.01 + 1e-9
    elif defect == "neg_volume":
        row["volume"] = -1.0
    elif defect == "null_volume":
        row["volume"] = None
    elif defect == "inf":
        row[column] = draw(st.sampled_from([math.inf, -math.inf]))
    elif defect == "nan_volume":
        row["volume"] = math.nan
    elif defect == "inf_volume":
        row[draw(st.sampled_from(["volume", "quote_volume"]))] = math.inf
    return row


def liquidation_frame(rows: list[tuple[str, float, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "ts": [T0 + timedelta(minutes=r[1]) for r in rows],
            "side": [r[2] for r in rows],
            "price": [r[3] for r in rows],
            "qty": [1.0] * len(rows),
            "notional": [r[3] for r in rows],
        },
        schema_overrides={"ts": TS_DTYPE, "symbol": pl.String, "side": pl.String},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    perp=st.lists(raw_bar(), max_size=60),
    spot=st.lists(raw_bar(), max_size=30),
    liqs=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "Z"]),
            st.floats(-5, 1445),
            st.sampled_from(["BUY", "SELL"]),
            st.floats(-1, 1e3),
        ),
        max_size=10,
    ),
    interval=st.sampled_from([5, 15, 60]),
)
def test_random_days_always_balance(perp: list[dict], spot: list[dict], liqs: list, interval: int) -> None:
    perp_raw, spot_raw = bars_frame(perp), bars_frame(spot)
    result = clean_day(
        DAY,
        perp_raw,
        spot_raw,
        liquidations=liquidation_frame(liqs),
        config=CleaningConfig(interval_minutes=interval, source_interval_minutes=1),
    )
    result.check()
    bars = result.bars
    symbols = {r["symbol"] for r in perp + spot}
    assert bars.height == len(symbols) * (1440 // interval)
    assert bars.select("symbol", "ts").is_unique().all()
    real = bars.filter(~pl.col("gap"))
    ohlc_ok = (pl.col("high") >= pl.max_horizontal("open", "close", "low")) & (
        pl.col("low") <= pl.min_horizontal("open", "close", "high")
    )
    assert real.select(ohlc_ok.all()).item() in (True, None)
    assert (bars.filter("gap")["n_source_bars"] == 0).all() and (real["n_source_bars"] >= 1).all()
    assert (
        result.accounting["perp_bars"]["raw"]
        == len(perp)
        == bars["n_source_bars"].sum() + result.accounting["perp_bars"]["quarantined"]
    )
    if interval == 5:
        Bars5m.validate(bars)
    QuarantinedRows.validate(result.quarantined)
    # The same quarantine decisions as the plain-Python reference.
    if interval == 5:
        empty = {"funding": None, "open_interest": None, "liquidations": pl.DataFrame()}
        reference = reference_clean(
            {"perp_bars": perp_raw, "spot_bars": spot_raw, **{k: _empty(k) for k in empty}}, DAY
        )
        for table in ("perp_bars", "spot_bars"):
            mine = (
                result.quarantined.filter(pl.col("source_table") == table)
                .select("symbol", "ts", "reason")
                .rows()
            )
            assert sorted(mine, key=str) == sorted(reference["rejected"][table], key=str)


def _empty(table: str) -> pl.DataFrame:
    schemas = {
        "funding": {
            "symbol": pl.String,
            "ts": TS_DTYPE,
            "funding_rate": pl.Float64,
            "mark_price": pl.Float64,
        },
        "open_interest": {
            "symbol": pl.String,
            "ts": TS_DTYPE,
            "open_interest": pl.Float64,
            "open_interest_value": pl.Float64,
        },
        "liquidations": {
            "symbol": pl.String,
            "ts": TS_DTYPE,
            "side": pl.String,
            "price": pl.Float64,
            "qty": pl.Float64,
            "notional": pl.Float64,
        },
    }
    return pl.DataFrame(schema=schemas[table])
