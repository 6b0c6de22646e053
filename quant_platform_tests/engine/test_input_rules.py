"""Bad input is refused with an error naming the problem (or, for NaN targets, counted): the findings of an
independent peer comparison, each reproduced as it was met."""

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quant_platform.engine import EngineConfig, crossovers, long_short_targets, run_backtest, run_sweep
from quant_platform.engine.schemas import EngineSweepSummary
from quant_platform_tests.engine.helpers import NO_COSTS, make_bars

CLOSE = [100.0, 101.0, 103.0, 102.0, 105.0, 104.0, 108.0, 110.0]
TARGET = np.array([0.0, 1.0, 1.0, 0.0, -1.0, -1.0, 0.5, 0.5])


def cfg(**kw: object) -> EngineConfig:
    return EngineConfig(**{"initial_capital": 1000.0, **NO_COSTS, **kw})  # type: ignore[arg-type]


def test_a_pandas_series_of_targets_is_aligned_by_its_index_not_its_order() -> None:
    bars = make_bars(CLOSE)
    stamps = pd.DatetimeIndex(bars["ts"].to_list())
    plain = run_backtest(bars, TARGET, cfg())
    by_time = pd.Series(TARGET, index=stamps)
    by_position = pd.Series(TARGET, index=pd.RangeIndex(len(TARGET)))
    for series in (
        by_time,
        by_time.iloc[::-1],
        by_position.iloc[::-1],
        by_time.sample(frac=1.0, random_state=3),
    ):
        got = run_backtest(bars, series, cfg())
        assert got.content_hash() == plain.content_hash()
    # a label that is not a bar, repeated labels, or an index that says nothing about bars: refused
    with pytest.raises(ValueError, match="not bars"):
        run_backtest(bars, pd.Series(TARGET, index=stamps + pd.Timedelta(minutes=1)), cfg())
    with pytest.raises(ValueError, match=r"outside 0\.\.7"):
        run_backtest(bars, pd.Series(TARGET, index=np.arange(1, 9)), cfg())
    with pytest.raises(ValueError, match="repeated"):
        run_backtest(bars, pd.Series(TARGET, index=[0, 0, 1, 2, 3, 4, 5, 6]), cfg())
    with pytest.raises(ValueError, match="aligned by index"):
        run_backtest(bars, pd.Series(TARGET, index=list("abcdefgh")), cfg())


def test_a_pandas_dataframe_of_targets_is_matched_to_symbols_by_column_name() -> None:
    bars = pl.concat([make_bars(CLOSE, symbol="A"), make_bars(CLOSE[::-1], symbol="B")])
    both = np.c_[TARGET * 0.5, -TARGET * 0.25]
    plain = run_backtest(bars, both, cfg())
    frame = pd.DataFrame({"B": both[:, 1], "A": both[:, 0]})  # columns in another order
    assert run_backtest(bars, frame, cfg()).content_hash() == plain.content_hash()
    with pytest.raises(ValueError, match="unknown"):
        run_backtest(bars, frame.rename(columns={"B": "C"}), cfg())


def test_run_sweep_refuses_pandas_inputs_whose_order_is_not_their_index() -> None:
    close, conf = pd.Series(CLOSE), cfg(fill_price="next_close")
    ok = run_sweep(close, pd.Series(TARGET), conf)
    assert ok.summary["n_fills"].item() == 4
    with pytest.raises(ValueError, match="not strictly increasing"):
        run_sweep(close, pd.Series(TARGET).iloc[::-1], conf)
    with pytest.raises(ValueError, match="different indexes"):
        run_sweep(close, pd.Series(TARGET, index=np.arange(10, 18)), conf)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("close", 0.0, "close <= 0"),
        ("open", -5.0, "open <= 0"),
        ("low", -1.0, "low <= 0"),
        ("volume", -1.0, "volume < 0"),
        ("high", 50.0, "high < low"),
    ],
)
def test_impossible_bars_are_refused(column: str, value: float, message: str) -> None:
    bars = make_bars(CLOSE)
    broken = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(value).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(ValueError, match=message):
        run_backtest(broken, TARGET, cfg())
    arrays = {c: broken[c].to_numpy() for c in ("open", "high", "low", "volume")}
    with pytest.raises(ValueError, match=message.split()[0]):
        run_sweep(broken["close"].to_numpy(), TARGET, cfg(), **arrays)


def test_missing_prices_are_gaps_not_errors() -> None:
    bars = make_bars(CLOSE, gap_at=(3,))
    assert run_backtest(bars, TARGET, cfg()).trades.height > 0


def test_nan_targets_hold_and_are_counted() -> None:
    bars = make_bars(CLOSE)
    target = np.array([np.nan, 1.0, np.nan, np.nan, 0.0, np.nan, np.nan, np.nan])
    res = run_backtest(bars, target, cfg())
    assert (res.metrics["n_target_nan"], res.metrics["n_target_nan_after_first"]) == (6, 5)
    held = run_backtest(bars, np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]), cfg())
    assert res.trades.equals(held.trades)  # NaN is "hold": the same fills as the spelled-out targets
    frame = pl.DataFrame({"symbol": "X", "ts": bars["ts"], "target_weight": target})
    by_frame = run_backtest(bars, frame, cfg())
    assert (by_frame.metrics["n_target_nan"], by_frame.metrics["n_target_nan_after_first"]) == (6, 5)
    sweep = EngineSweepSummary.validate(
        run_sweep(np.asarray(CLOSE), np.c_[target, np.zeros(8)], cfg(fill_price="next_close")).summary
    )
    assert sweep["n_target_nan"].to_list() == [6, 0]
    assert sweep["n_target_nan_after_first"].to_list() == [5, 0]


@pytest.mark.parametrize("name", ["taker_fee_bps", "maker_fee_bps", "slippage_base_bps"])
def test_a_fraction_typed_where_basis_points_are_expected_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name}=0.002 .* fraction is 20 bps"):
        EngineConfig(**{name: 0.002})  # type: ignore[arg-type]
    assert getattr(EngineConfig(**{name: 0.0}), name) == 0.0  # no cost  # type: ignore[arg-type]
    assert getattr(EngineConfig(**{name: 0.1}), name) == 0.1  # the smallest accepted non-zero rate


def test_crossovers_follow_backtesting_py_and_long_short_targets_hold_between_crosses() -> None:
    fast = np.array([np.nan, 1.0, 3.0, 2.0, 2.0, 1.0, 0.5, 2.0, 3.0])
    slow = np.array([np.nan, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    up, down = crossovers(fast, slow)
    # 1→3 over 2: up at bar 2; 3→2 touches (no cross); 2→1 from a touch (no cross: needs fast[t-1] > slow[t-1]);
    # 0.5 < 1 then 2 > 1: up at bar 7
    assert np.flatnonzero(up).tolist() == [2, 7]
    assert np.flatnonzero(down).tolist() == []
    fast2 = np.array([1.0, 3.0, 1.0, 3.0, 3.0, 1.0])
    assert long_short_targets(fast2, 2.0, size=0.5).tolist() == [0.0, 0.5, -0.5, 0.5, 0.5, -0.5]
    both = long_short_targets(np.c_[fast2, fast2[::-1]], 2.0)
    assert both[:, 1].tolist() == long_short_targets(fast2[::-1], 2.0).tolist()
    # np.sign(fast - slow) would be in the market from bar 0 and flat on a tie; the helper waits for a cross
    assert long_short_targets(np.array([3.0, 2.0, 1.0]), 2.0).tolist() == [0.0, 0.0, 0.0]
