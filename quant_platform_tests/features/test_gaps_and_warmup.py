"""Gap and warm-up contract: gap rows are null, segment features restart after a gap (never bridge it),
symbol-scope statistics summarise observed values only, and ``warmup`` marks incomplete lookbacks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quant_platform.features import compute_features
from quant_platform.features.spec import load_feature_spec
from quant_platform_tests.features.bars_fixture import make_bars
from quant_platform_tests.features.helpers import bars_from_close, random_walk

SPEC = load_feature_spec()
SEGMENT_FEATURES = [f for f in SPEC.table_features("features_v1") if f.scope == "segment"]


@pytest.fixture(scope="module")
def gapped() -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """700 bars with one gap at bar 400; also the features of the post-gap bars computed on their own."""
    n, gap_at = 700, 400
    close = random_walk(n, seed=4)
    gap = np.zeros(n, dtype=bool)
    gap[gap_at] = True
    bars = bars_from_close(close, gap=gap)
    full = compute_features(bars)
    tail = compute_features(bars.slice(gap_at + 1))
    return full, tail, gap_at


def test_gap_rows_are_null_in_every_feature(gapped) -> None:
    full, _, gap_at = gapped
    row = full.row(gap_at, named=True)
    assert row["gap"] and row["warmup"]
    assert all(row[f.name] is None for f in SPEC.table_features("features_v1"))


def test_segment_features_restart_after_a_gap(gapped) -> None:
    """After the gap every segment feature equals the same feature computed on the post-gap bars alone:
    no window, lag or recursion reaches across the gap."""
    full, tail, gap_at = gapped
    after = full.slice(gap_at + 1)
    for f in SEGMENT_FEATURES:
        # Rolling sums are updated incrementally from the frame's first row, so allow float round-off.
        np.testing.assert_allclose(
            after[f.name].to_numpy(allow_copy=True),
            tail[f.name].to_numpy(allow_copy=True),
            rtol=1e-12,
            err_msg=f.name,
        )


def test_segment_features_are_null_through_their_warmup_after_a_gap(gapped) -> None:
    full, _, gap_at = gapped
    for f in SEGMENT_FEATURES:
        if f.family == "calendar" or f.name in ("close", "liq_notional", "basis_bps", "liq_imbalance"):
            continue  # bar-local values (their lookback is the bar itself; liq_imbalance needs a liquidation)
        values = full[f.name]
        post = values.slice(gap_at + 1, f.warmup_bars)
        assert post.is_null().all(), f"{f.name} bridged the gap"
        assert values[gap_at + 1 + f.warmup_bars] is not None, f"{f.name} stayed null after its warm-up"


def test_warmup_flag_covers_segment_restart(gapped) -> None:
    full, _, gap_at = gapped
    longest = max(f.warmup_bars for f in SEGMENT_FEATURES)
    flags = full["warmup"].to_list()
    assert all(flags[gap_at : gap_at + 1 + longest])
    symbol_longest = max(f.warmup_bars for f in SPEC.table_features("features_v1") if f.scope == "symbol")
    assert all(flags[:symbol_longest])


def test_every_feature_is_defined_after_warmup_on_clean_data() -> None:
    n = 1200
    frame = compute_features(make_bars(1, n, gap_prob=0.0, seed=6))
    ready = frame.filter(~pl.col("warmup"))
    assert ready.height == n - max(f.warmup_bars for f in SPEC.table_features("features_v1"))
    always_defined = [f.name for f in SPEC.table_features("features_v1") if f.name != "liq_imbalance"]
    # liq_imbalance is null by definition when no liquidation happened; every other feature must exist.
    nulls = {c: ready[c].null_count() for c in always_defined if ready[c].null_count()}
    assert not nulls, nulls


def test_symbol_scope_zscore_uses_observed_values_only() -> None:
    """A gap inside a z-score window is skipped (coverage rule), not filled: the value equals the statistic
    of the window's observed values."""
    n = 900
    rng = np.random.default_rng(2)
    volume = rng.lognormal(3, 0.4, n)
    gap = np.zeros(n, dtype=bool)
    gap[700] = True
    frame = compute_features(
        bars_from_close(random_walk(n, 1), volume=volume, gap=gap), families=("microstructure", "returns")
    )
    t = 750
    window = next(f.params["window"] for f in SPEC.features if f.name == "volume_z")
    previous = np.log1p(volume[t - window : t])
    previous = np.delete(previous, 700 - (t - window))
    expected = (np.log1p(volume[t]) - previous.mean()) / previous.std(ddof=1)
    assert frame["volume_z"][t] == pytest.approx(expected, rel=1e-9)


def test_bad_input_gets_a_clear_error() -> None:
    bars = bars_from_close(random_walk(50, 1))
    with pytest.raises(ValueError, match="complete 5-minute grid"):
        compute_features(bars.filter(pl.int_range(pl.len()) != 10))
    with pytest.raises(ValueError, match="duplicated"):
        compute_features(pl.concat([bars, bars.head(1)]))
    with pytest.raises(ValueError, match="missing columns"):
        compute_features(bars.drop("taker_buy_volume"))
    with pytest.raises(ValueError, match="unknown feature families"):
        compute_features(bars, families=("astrology",))


def test_symbols_never_see_each_other() -> None:
    """Whole-column ("row"/"exact") evaluation is kept inside each symbol by the warm-up mask: every symbol's
    features computed in a panel equal the same symbol computed alone, bit for bit."""
    panel = make_bars(3, 1100, seed=13, gap_prob=0.003)
    together = compute_features(panel)
    for symbol in panel["symbol"].unique().sort():
        alone = compute_features(panel.filter(pl.col("symbol") == symbol))
        assert together.filter(pl.col("symbol") == symbol).equals(alone), symbol
