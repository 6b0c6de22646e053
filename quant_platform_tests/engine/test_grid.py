"""The bar grid: the sort-based timestamp union is np.unique's output, and row order never changes a run."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from quant_platform.engine import EngineConfig, run_backtest
from quant_platform.engine.backtest import sorted_unique
from quant_platform_tests.engine.helpers import make_bars


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int64, st.integers(0, 60), elements=st.integers(-5, 40)), st.booleans())
def test_sorted_unique_is_np_unique(values: np.ndarray, presort: bool) -> None:
    values = np.sort(values) if presort else values
    got = sorted_unique(values)
    np.testing.assert_array_equal(got, np.unique(values))
    assert got.dtype == np.int64 and got is not values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_row_order_and_missing_rows_of_the_bars_frame_do_not_change_the_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = make_bars(100.0 + np.cumsum(rng.normal(0, 1, 40)), symbol="A")
    b = make_bars(50.0 + np.cumsum(rng.normal(0, 1, 40)), symbol="B")
    bars = pl.concat([a, b])
    target = np.round(rng.normal(0, 0.4, (40, 2)), 1)
    config = EngineConfig(max_gross_weight=2.0)
    ordered = run_backtest(bars, target, config)
    shuffled = run_backtest(bars.sample(fraction=1.0, shuffle=True, seed=seed), target, config)
    assert shuffled.content_hash() == ordered.content_hash()
    # a row missing from one symbol is a gap bar, whatever the order of the rest
    holed = bars.filter(~((pl.col("symbol") == "B") & (pl.int_range(pl.len()).over("symbol") == 7)))
    by_order = run_backtest(holed, target, config)
    by_shuffle = run_backtest(holed.sample(fraction=1.0, shuffle=True, seed=seed), target, config)
    assert by_shuffle.content_hash() == by_order.content_hash()
    assert by_order.steps.filter(pl.col("symbol") == "B")["mark_price"][7] == b["close"][6]


def test_duplicated_rows_are_refused_in_any_order() -> None:
    bars = make_bars([100.0, 101.0, 102.0])
    with pytest.raises(ValueError, match="2 duplicated"):
        run_backtest(pl.concat([bars, bars.tail(1)]), np.zeros(3), EngineConfig())
    with pytest.raises(ValueError, match="2 duplicated"):
        run_backtest(pl.concat([bars.tail(1), bars]), np.zeros(3), EngineConfig())
