"""BH adjustment against the published worked example, a plain reference, scipy per group, and two-level BH."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from quant_platform.discovery import bh_adjust, grouped_bh, two_level_fdr

# Benjamini & Hochberg (1995), section 4: 15 p-values; at q = 0.05 BH rejects exactly the four smallest.
BH1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


def reference_bh(p: list[float]) -> list[float]:
    """Textbook step-up: q_(i) = min_{j >= i} p_(j) * m / j, capped at 1 (plain Python, no scipy)."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


def test_bh_worked_example_rejects_four():
    q = bh_adjust(BH1995)
    assert np.flatnonzero(q <= 0.05).tolist() == [0, 1, 2, 3]
    # hand-worked: q_(4) = 0.0095 * 15 / 4 = 0.035625; q_(5) = min(0.0201*15/5, 0.0278*15/6, 0.0298*15/7,
    # 0.0344*15/8, 0.0459*15/9, ...) = 0.0603 > 0.05, so the fifth is not rejected.
    assert q[3] == pytest.approx(0.035625)
    assert q[4] == pytest.approx(0.0603)
    np.testing.assert_allclose(q, reference_bh(BH1995))


def test_bh_is_nan_safe_and_counts_only_finite():
    p = np.array([0.01, np.nan, 0.04, 0.03, np.nan])
    q = bh_adjust(p)
    assert np.isnan(q[1]) and np.isnan(q[4])
    np.testing.assert_allclose(q[[0, 2, 3]], reference_bh([0.01, 0.04, 0.03]))
    assert np.isnan(bh_adjust([np.nan, np.nan])).all()
    assert bh_adjust(pl.Series([0.5, None])).tolist()[0] == pytest.approx(0.5)


def test_bh_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bh_adjust([0.2, 1.5])
    with pytest.raises(ValueError, match="1-d"):
        bh_adjust(np.zeros((2, 2)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.one_of(st.floats(0, 1), st.just(float("nan")))),
        min_size=1,
        max_size=60,
    )
)
def test_grouped_bh_matches_scipy_per_group(rows):
    groups = np.array([g for g, _ in rows])
    p = np.array([v for _, v in rows])
    q = grouped_bh(p, groups)
    for g in np.unique(groups):
        sel = (groups == g) & np.isfinite(p)
        if sel.any():
            np.testing.assert_allclose(q[sel], stats.false_discovery_control(p[sel], method="bh"), atol=1e-12)
    assert np.isnan(q[~np.isfinite(p)]).all()


def test_two_level_fdr_hand_case():
    # Group A holds the BH1995 p-values, group B is pure noise at p=0.6..0.9, group C has one tiny p-value.
    p = [*BH1995, 0.6, 0.7, 0.8, 0.9, 0.001]
    group = ["A"] * 15 + ["B"] * 4 + ["C"]
    frame = pl.DataFrame({"g": group, "p_value": p})
    out = two_level_fdr(frame, ["g"], alpha=0.05)
    groups = out.group_by("g").agg(pl.col("group_p_value").first(), pl.col("group_q_value").first()).sort("g")
    # Simes p of a group = its smallest BH q: A: 0.0001*15/1 = 0.0015; B: 0.9; C: 0.001.
    np.testing.assert_allclose(groups["group_p_value"], [0.0015, 0.9, 0.001])
    np.testing.assert_allclose(groups["group_q_value"], reference_bh([0.0015, 0.9, 0.001]))
    # Two of three groups selected: inside them BH at 0.05 * 2 / 3 = 0.0333 -> A keeps 3 (q_(4)=0.0356 > level).
    assert out["fdr_level_within"][0] == pytest.approx(0.05 * 2 / 3)
    passed = out.filter(pl.col("passes_fdr"))
    assert passed["g"].to_list() == ["A", "A", "A", "C"]


def test_two_level_fdr_applies_the_monotone_step_where_raw_adjusted_values_are_not_monotone():
    """The step-up's reverse cumulative minimum decides rejections here. Group A's raw adjusted values
    p_(i) * m / i are 0.02*4/1 = 0.08 and 0.021*4/2 = 0.042: not monotone, so BH lifts rank 1 down to 0.042.
    Group B: 0.001*2/1 = 0.002, 0.2*2/2 = 0.2. Group C: 0.7*2/1 = 1.4 (capped at 1), 0.8*2/2 = 0.8 -> 0.8, 0.8.
    Simes group p-values A 0.042, B 0.002, C 0.8; BH over the 3 groups: B 0.002*3/1 = 0.006, A 0.042*3/2 = 0.063,
    C 0.8. At alpha 0.1 A and B are selected, so inside them the level is 0.1 * 2 / 3 = 0.0667: both of A's
    first two hypotheses pass on q = 0.042, although the smaller p-value's raw 0.08 alone would fail."""
    p = [0.02, 0.021, 0.5, 0.9, 0.001, 0.2, 0.7, 0.8]
    group = ["A"] * 4 + ["B"] * 2 + ["C"] * 2
    out = two_level_fdr(pl.DataFrame({"g": group, "p_value": p}), ["g"], alpha=0.1)
    hand = [0.042, 0.042, 2 / 3, 0.9, 0.002, 0.2, 0.8, 0.8]
    np.testing.assert_allclose(out["q_value"], hand, rtol=1e-12)
    for g, rows in (("A", slice(0, 4)), ("B", slice(4, 6)), ("C", slice(6, 8))):
        scipy_q = stats.false_discovery_control(p[rows], method="bh")
        np.testing.assert_allclose(out["q_value"][rows], scipy_q, rtol=1e-12, err_msg=g)
    np.testing.assert_allclose(out["group_p_value"], [0.042] * 4 + [0.002] * 2 + [0.8] * 2, rtol=1e-12)
    np.testing.assert_allclose(out["group_q_value"], [0.063] * 4 + [0.006] * 2 + [0.8] * 2, rtol=1e-12)
    assert out["fdr_level_within"][0] == pytest.approx(0.1 * 2 / 3)
    assert out["passes_fdr"].to_list() == [True, True, False, False, True, False, False, False]
