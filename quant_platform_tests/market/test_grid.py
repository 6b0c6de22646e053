"""Dense grid reductions against brute force: every slot worked out from the rows by plain Python."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.market.grid import DayGrid, aggregate_bars, as_of_close, last_close, liquidation_sums

START = datetime(2024, 3, 1, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
SYMBOLS = ("AAA", "BBB", "CCC")


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


prints = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.integers(-7200_000, 86_400_000 - 1),  # ms from day start; negative = the previous day's print
        st.floats(-1, 1, allow_nan=False),
    ),
    max_size=40,
    unique_by=lambda p: (p[0], p[1]),
)


@settings(max_examples=60, deadline=None)
@given(prints=prints, interval_minutes=st.sampled_from([5, 60, 1440]))
def test_as_of_close_is_the_last_print_at_or_before_each_close(prints, interval_minutes: int) -> None:
    grid = DayGrid(SYMBOLS, START_MS, interval_minutes * 60_000)
    frame = _frame(
        [{"symbol": s, "ts": START + timedelta(milliseconds=t), "v": v} for s, t, v in prints],
        {"symbol": pl.String, "ts": TS_DTYPE, "v": pl.Float64},
    )
    got = as_of_close(frame, "v", grid).to_list()
    for i, symbol in enumerate(SYMBOLS):
        for k in range(grid.n_slots):
            close = (k + 1) * grid.interval_ms
            seen = sorted((t, v) for s, t, v in prints if s == symbol and t <= close)
            expected = seen[-1][1] if seen else None
            assert got[i * grid.n_slots + k] == expected


bars = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.integers(0, 287),  # 5-minute source bars
        st.floats(1, 2, allow_nan=False),
        st.one_of(st.none(), st.just(math.nan), st.floats(0, 10, allow_nan=False)),
    ),
    max_size=60,
    unique_by=lambda b: (b[0], b[1]),
)


@settings(max_examples=60, deadline=None)
@given(rows=bars, interval_minutes=st.sampled_from([5, 15, 60]))
def test_bar_aggregates_match_brute_force(rows, interval_minutes: int) -> None:
    grid = DayGrid(SYMBOLS, START_MS, interval_minutes * 60_000)
    frame = _frame(
        [
            {
                "symbol": s,
                "ts": START + timedelta(minutes=5 * k),
                "open": p,
                "high": p + 0.5,
                "low": p - 0.5,
                "close": p + 0.1,
                "volume": vol,
                "quote_volume": 1.0,
                "trades": 3,
                "taker_buy_volume": 0.5,
            }
            for s, k, p, vol in reversed(rows)  # unsorted input: first/last are by stamp, not by row
        ],
        {
            "symbol": pl.String,
            "ts": TS_DTYPE,
            **dict.fromkeys(("open", "high", "low", "close", "volume", "quote_volume"), pl.Float64),
            "trades": pl.Int64,
            "taker_buy_volume": pl.Float64,
        },
    )
    got = {name: series.to_list() for name, series in aggregate_bars(frame, grid, 300_000).items()}
    spot_close, spot_count = last_close(frame, grid, 300_000)
    per_slot = interval_minutes // 5
    for i, symbol in enumerate(SYMBOLS):
        for slot in range(grid.n_slots):
            inside = sorted((k, p, vol) for s, k, p, vol in rows if s == symbol and k // per_slot == slot)
            at = i * grid.n_slots + slot
            assert got["n_source_bars"][at] == len(inside) == spot_count[at]
            if not inside:
                assert got["open"][at] is None and got["volume"][at] is None and spot_close[at] is None
                continue
            assert got["open"][at] == inside[0][1]
            assert got["close"][at] == inside[-1][1] + 0.1 == spot_close[at]
            assert got["high"][at] == max(p for _, p, _ in inside) + 0.5
            assert got["low"][at] == min(p for _, p, _ in inside) - 0.5
            volumes = [vol for _, _, vol in inside]
            if any(v is None or math.isnan(v) for v in volumes):
                assert got["volume"][at] is None  # a partial sum would understate
            else:
                assert math.isclose(got["volume"][at], sum(volumes), rel_tol=1e-12, abs_tol=1e-12)
            assert got["trades"][at] == 3 * len(inside)


def test_liquidations_sum_by_side_and_slot() -> None:
    grid = DayGrid(SYMBOLS, START_MS, 300_000)
    frame = _frame(
        [
            {"symbol": "BBB", "ts": START + timedelta(minutes=1), "side": "SELL", "notional": 10.0},
            {
                "symbol": "BBB",
                "ts": START + timedelta(minutes=4, seconds=59),
                "side": "SELL",
                "notional": 5.0,
            },
            {"symbol": "BBB", "ts": START + timedelta(minutes=5), "side": "BUY", "notional": 7.0},
            {"symbol": "AAA", "ts": START + timedelta(hours=23, minutes=59), "side": "BUY", "notional": 2.0},
        ],
        {"symbol": pl.String, "ts": TS_DTYPE, "side": pl.String, "notional": pl.Float64},
    )
    long, short, rows = liquidation_sums(frame, grid)
    bbb = grid.n_slots
    assert long[bbb] == 15.0 and short[bbb] == 0.0 and rows[bbb] == 2
    assert short[bbb + 1] == 7.0 and long[bbb + 1] == 0.0
    assert short[grid.n_slots - 1] == 2.0  # AAA's last slot
    assert long.sum() == 15.0 and short.sum() == 9.0 and rows.sum() == 4
