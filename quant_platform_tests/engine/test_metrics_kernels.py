"""The metrics kernels' shortcuts give the same bits as the plain full-length computations they replace."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.engine.arrays import prefix_sums_at
from quant_platform.engine.metrics import max_drawdown


def reference_drawdown(equity: np.ndarray, capital: float) -> tuple[np.ndarray, np.ndarray]:
    """Textbook drawdown: one running maximum over every bar, floored at capital."""
    peak = np.maximum(np.maximum.accumulate(equity, axis=1), capital)
    drop = peak - equity
    return drop.max(axis=1), (drop / peak).max(axis=1)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_cols=st.integers(1, 5),
    n_bars=st.integers(1, 700),
    block_bars=st.integers(1, 80),
    drift=st.sampled_from([-0.01, 0.0, 0.01]),
    with_nan=st.booleans(),
)
def test_max_drawdown_is_bitwise_the_full_running_maximum(
    seed: int, n_cols: int, n_bars: int, block_bars: int, drift: float, with_nan: bool
) -> None:
    # random walks that set new highs in some blocks and not in others, so both paths are taken
    rng = np.random.default_rng(seed)
    equity = 1000.0 * np.exp(np.cumsum(rng.normal(drift, 0.02, (n_cols, n_bars)), axis=1))
    if with_nan:
        equity[rng.integers(n_cols), rng.integers(n_bars)] = np.nan
    got = max_drawdown(equity, 1000.0, block_bars=block_bars, block_elements=3 * block_bars)
    want = reference_drawdown(equity, 1000.0)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_bars=st.integers(0, 500),
    block=st.integers(1, 60),
    n_queries=st.integers(0, 40),
)
def test_prefix_sums_at_are_bitwise_the_full_cumsum(
    seed: int, n_bars: int, block: int, n_queries: int
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(
        0.0, 2.0, n_bars
    )  # wide magnitudes: any change of summation order shows in the bits
    at = np.sort(rng.integers(0, n_bars + 1, n_queries))
    want = np.r_[0.0, np.cumsum(values)][at]
    assert prefix_sums_at(values, at, block=block).tobytes() == want.tobytes()
