"""Order-fixed grouped reductions against straightforward per-group references (math.fsum, scipy.stats)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from quant_platform.validation.grouped import sorted_runs


def _frame(groups: list[int], values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"g": groups, "t": list(range(len(values)))[::-1], "x": values},
        schema={"g": pl.Int64, "t": pl.Int64, "x": pl.Float64},
    )


def _reference_groups(frame: pl.DataFrame) -> dict[int, np.ndarray]:
    """Each group's values in ``t`` order, by a plain Python loop."""
    out: dict[int, list[tuple[int, float]]] = {}
    for g, t, x in frame.iter_rows():
        out.setdefault(g, []).append((t, x))
    return {g: np.array([x for _, x in sorted(rows)]) for g, rows in sorted(out.items())}


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), finite), min_size=1, max_size=60))
def test_sums_and_moments_match_fsum_and_scipy(rows):
    frame = _frame([g for g, _ in rows], [x for _, x in rows])
    ordered, runs = sorted_runs(frame, ["g"], ["t"])
    reference = _reference_groups(frame)
    assert runs.keys["g"].to_list() == list(reference)
    values = ordered["x"].to_numpy()
    # Rows of each group are contiguous and in t order.
    for start, size, expected in zip(runs.starts, runs.sizes, reference.values(), strict=True):
        assert np.array_equal(values[start : start + size], expected)
    sums = runs.sum(values)
    moments = runs.moments(values)
    for i, x in enumerate(reference.values()):
        assert sums[i] == pytest.approx(math.fsum(x), rel=1e-12, abs=1e-9)
        assert moments.n[i] == x.size
        assert moments.mean[i] == pytest.approx(math.fsum(x) / x.size, rel=1e-12, abs=1e-9)
        if x.size == 1:
            assert math.isnan(moments.std[i])
        else:
            assert moments.std[i] == pytest.approx(np.std(x, ddof=1), rel=1e-9, abs=1e-9)
        if np.ptp(x) > 1e-3:  # well-conditioned: scipy's biased skew / non-excess kurtosis
            assert moments.skew[i] == pytest.approx(stats.skew(x), rel=1e-7, abs=1e-9)
            assert moments.kurtosis[i] == pytest.approx(stats.kurtosis(x, fisher=False), rel=1e-7)


def test_constant_group_has_exactly_zero_spread():
    """0.1 repeated does not sum to a multiple of 0.1; the spread must still be exactly zero, so a flat
    stream's Sharpe is undefined (x/0) rather than a huge finite number from round-off."""
    frame = _frame([0] * 7 + [1] * 2, [0.1] * 7 + [1.0, 2.0])
    ordered, runs = sorted_runs(frame, ["g"], ["t"])
    moments = runs.moments(ordered["x"].to_numpy())
    assert moments.std[0] == 0.0 and math.isnan(moments.skew[0]) and math.isnan(moments.kurtosis[0])
    assert moments.std[1] == pytest.approx(math.sqrt(0.5)) and moments.skew[1] == 0.0
    assert moments.kurtosis[1] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 3), st.integers(-5, 5)), min_size=1, max_size=50)
)
def test_pearson_of_ranks_is_spearman(rows):
    """Heavily tied integer data: the per-group Pearson correlation of average ranks equals scipy's
    spearmanr (NaN where a side is constant)."""
    frame = pl.DataFrame(
        {
            "g": [g for g, _, _ in rows],
            "t": list(range(len(rows))),
            "a": [float(a) for _, a, _ in rows],
            "b": [float(b) for _, _, b in rows],
        }
    )
    ordered, runs = sorted_runs(frame, ["g"], ["t"])
    ranks = ordered.select(pl.col("a", "b").rank("average").over("g").cast(pl.Float64))
    rho = runs.pearson(ranks["a"].to_numpy(), ranks["b"].to_numpy())
    for i, g in enumerate(runs.keys["g"]):
        part = frame.filter(pl.col("g") == g)
        a, b = part["a"].to_numpy(), part["b"].to_numpy()
        if part.height < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
            assert math.isnan(rho[i])
        else:
            assert rho[i] == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_mean_skipping_missing_and_multi_key_runs():
    frame = pl.DataFrame(
        {
            "a": ["x", "x", "x", "y", "y"],
            "b": [1, 1, 2, 1, 1],
            "t": [0, 1, 2, 0, 1],
            "v": [1.0, None, 5.0, None, None],
        }
    )
    ordered, runs = sorted_runs(frame, ["a", "b"], ["t"])
    assert runs.keys.rows() == [("x", 1), ("x", 2), ("y", 1)]
    assert runs.sizes.tolist() == [2, 1, 2]
    v = ordered["v"]
    mean = runs.mean_skipping_missing(v.fill_null(0.0).to_numpy(), v.is_not_null().to_numpy())
    assert mean[:2].tolist() == [1.0, 5.0] and math.isnan(mean[2])


def test_empty_frame_has_no_runs():
    ordered, runs = sorted_runs(_frame([], []), ["g"], ["t"])
    assert ordered.height == 0 and runs.n_groups == 0
    assert runs.sum(np.empty(0)).size == 0 and runs.moments(np.empty(0)).mean.size == 0


@pytest.mark.parametrize("spread", [1, 2**40])
def test_order_matches_a_polars_sort_with_packed_and_lexsort_keys(spread):
    """Small code ranges pack into one int64 key; huge ones (2**40 apart: the product overflows) fall back to
    np.lexsort. Either way the rows come out in the order of a plain polars sort on the same columns."""
    rng = np.random.default_rng(3)
    n = 500
    frame = pl.DataFrame(
        {
            "name": rng.choice(["b", "a", "c", "aa"], n),
            "k": rng.integers(0, 4, n) * spread,
            "t": rng.permutation(n).astype(np.int64) * spread,
            "x": rng.normal(size=n),
        }
    )
    ordered, runs = sorted_runs(frame, ["name", "k"], ["t"])
    assert ordered.equals(frame.sort("name", "k", "t"))
    assert runs.keys.equals(frame.select("name", "k").unique().sort("name", "k"))
    assert runs.sizes.sum() == n


def test_null_keys_are_refused():
    frame = pl.DataFrame({"g": [1, None], "t": [0, 1], "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="non-null"):
        sorted_runs(frame, ["g"], ["t"])
