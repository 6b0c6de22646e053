"""Features against independent truth: a published worked example (Wilder RSI, StockCharts' QQQQ table)
and straightforward loop implementations written from the papers' formulas."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from quant_platform.features import compute_features
from quant_platform.features.spec import load_feature_spec
from quant_platform_tests.features.helpers import bars_from_close, random_walk

# StockCharts "Relative Strength Index" ChartSchool worked example (cs-rsi.xls): QQQQ closes and 14-day RSI.
# The sheet computes from unrounded prices; its "Change" column (rounded to cents) is what the RSI columns
# are consistent with (e.g. 45.42 - 45.10 shows as 0.33), so the closes are rebuilt from the published changes.
QQQQ_FIRST_CLOSE = 44.34
QQQQ_CHANGE = [-0.25, 0.06, -0.54, 0.72, 0.50, 0.27, 0.33, 0.42, 0.24, -0.19, 0.14, -0.42, 0.67, 0.00, -0.28,
               0.03, 0.38, -0.19, -0.58, 0.57, 0.04, -0.54, 0.74, -0.67, -0.43, -1.33, 0.15, 0.04, 0.35, -1.15,
               -0.76, 0.47]  # fmt: skip
QQQQ_CLOSE = list(QQQQ_FIRST_CLOSE + np.concatenate([[0.0], np.cumsum(QQQQ_CHANGE)]))
QQQQ_RSI = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
            41.87, 45.46, 37.30, 33.08, 37.77]  # fmt: skip


def _params(name: str) -> dict:
    return next(f.params for f in load_feature_spec().features if f.name == name)


def _column(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(allow_copy=True).astype(float)


def test_wilder_rsi_matches_stockcharts_worked_example() -> None:
    got = _column(compute_features(bars_from_close(QQQQ_CLOSE), families=("momentum",)), "rsi_14")
    assert np.isnan(got[:14]).all(), "RSI needs 14 changes: the first 14 closes are warm-up"
    # Cent-rounded changes and a 2-decimal RSI column leave < 0.01 RSI point of disagreement.
    np.testing.assert_allclose(got[14:], QQQQ_RSI, atol=0.01)


def reference_wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    out = np.full(close.size, np.nan)
    gains, losses = [], []
    avg_gain = avg_loss = None
    for i in range(1, close.size):
        change = close[i] - close[i - 1]
        gains.append(max(change, 0.0))
        losses.append(max(-change, 0.0))
        if len(gains) == period:
            avg_gain, avg_loss = sum(gains) / period, sum(losses) / period
        elif len(gains) > period:
            avg_gain = (avg_gain * (period - 1) + gains[-1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[-1]) / period
        if avg_gain is not None:
            out[i] = 100.0 if avg_loss == 0 else 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def test_wilder_rsi_matches_loop_on_random_walk() -> None:
    close = random_walk(600, seed=3)
    got = _column(compute_features(bars_from_close(close), families=("momentum",)), "rsi_14")
    np.testing.assert_allclose(got, reference_wilder_rsi(close, _params("rsi_14")["period"]), rtol=1e-10)


def test_ewma_vol_matches_plain_loop() -> None:
    close = random_walk(500, seed=5)
    frame = compute_features(bars_from_close(close), families=("returns", "volatility"))
    span = _params("ewma_vol")["span"]
    alpha = 2.0 / (span + 1.0)
    returns = np.log(close[1:] / close[:-1])
    variance, expected = None, np.full(close.size, np.nan)
    for i, r in enumerate(returns, start=1):
        variance = r * r if variance is None else (1 - alpha) * variance + alpha * r * r
        expected[i] = math.sqrt(variance)
    warmup = next(f.warmup_bars for f in load_feature_spec().features if f.name == "ewma_vol")
    expected[:warmup] = np.nan  # null until the spec's warm-up is complete
    np.testing.assert_allclose(_column(frame, "ewma_vol"), expected, rtol=1e-12)


def _ohlc(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = random_walk(n, seed=seed)
    high = close * np.exp(np.abs(rng.normal(0, 0.002, n)))
    low = close * np.exp(-np.abs(rng.normal(0, 0.002, n)))
    return close, high, low


def test_corwin_schultz_matches_paper_formula() -> None:
    close, high, low = _ohlc(300, seed=11)
    frame = compute_features(
        bars_from_close(close, high=high, low=low), families=("returns", "microstructure")
    )
    high = np.maximum.reduce([high, close, np.concatenate([[close[0]], close[:-1]])])
    low = np.minimum.reduce([low, close, np.concatenate([[close[0]], close[:-1]])])
    window = _params("cs_spread")["window"]
    k = 3 - 2 * math.sqrt(2)
    pair = np.full(close.size, np.nan)
    for t in range(1, close.size):
        beta = math.log(high[t - 1] / low[t - 1]) ** 2 + math.log(high[t] / low[t]) ** 2
        gamma = math.log(max(high[t - 1], high[t]) / min(low[t - 1], low[t])) ** 2
        alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
        pair[t] = max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0)
    expected = np.full(close.size, np.nan)
    for t in range(window, close.size):
        expected[t] = pair[t - window + 1 : t + 1].mean()
    np.testing.assert_allclose(_column(frame, "cs_spread"), expected, rtol=1e-10)
    assert (np.nan_to_num(_column(frame, "cs_spread")) >= 0).all()


def test_abdi_ranaldo_matches_paper_formula() -> None:
    close, high, low = _ohlc(300, seed=12)
    frame = compute_features(
        bars_from_close(close, high=high, low=low), families=("returns", "microstructure")
    )
    high = np.maximum.reduce([high, close, np.concatenate([[close[0]], close[:-1]])])
    low = np.minimum.reduce([low, close, np.concatenate([[close[0]], close[:-1]])])
    window = _params("ar_spread")["window"]
    eta = (np.log(high) + np.log(low)) / 2
    c = np.log(close)
    expected = np.full(close.size, np.nan)
    for t in range(window, close.size):
        s2 = [4 * (c[u - 1] - eta[u - 1]) * (c[u - 1] - eta[u]) for u in range(t - window + 1, t + 1)]
        expected[t] = math.sqrt(max(sum(s2) / window, 0.0))
    np.testing.assert_allclose(_column(frame, "ar_spread"), expected, rtol=1e-10, atol=1e-15)


def test_corwin_schultz_recovers_a_known_spread_roughly() -> None:
    """Planted effect: closes bounce between bid and ask around a random walk; the estimators see it."""
    rng = np.random.default_rng(1)
    n, spread = 4000, 0.004
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    side = rng.choice([-1.0, 1.0], n)
    close = mid * (1 + side * spread / 2)
    high = np.maximum(close, mid * (1 + spread / 2))
    low = np.minimum(close, mid * (1 - spread / 2))
    frame = compute_features(
        bars_from_close(close, high=high, low=low), families=("returns", "microstructure")
    )
    assert 0.3 * spread < frame["cs_spread"].mean() < 3 * spread
    assert 0.3 * spread < frame["ar_spread"].mean() < 3 * spread


def test_atr_and_vwap_and_efficiency_match_loops() -> None:
    close, high, low = _ohlc(200, seed=13)
    volume = np.random.default_rng(13).lognormal(3, 0.5, close.size)
    frame = compute_features(
        bars_from_close(close, high=high, low=low, volume=volume), families=("returns", "price_structure")
    )
    open_ = np.concatenate([[close[0]], close[:-1]])
    high, low = np.maximum.reduce([high, open_, close]), np.minimum.reduce([low, open_, close])
    period = _params("atr_14")["period"]
    tr = [
        max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        for t in range(1, close.size)
    ]
    atr = np.full(close.size, np.nan)
    atr[period] = sum(tr[:period]) / period
    for t in range(period + 1, close.size):
        atr[t] = (atr[t - 1] * (period - 1) + tr[t - 1]) / period
    np.testing.assert_allclose(_column(frame, "atr_14"), atr, rtol=1e-10)

    window = _params("vwap_dist_20")["window"]
    typical = (high + low + close) / 3
    vwap_dist = np.full(close.size, np.nan)
    for t in range(window - 1, close.size):
        sl = slice(t - window + 1, t + 1)
        vwap_dist[t] = 1e4 * (close[t] / ((typical[sl] * volume[sl]).sum() / volume[sl].sum()) - 1)
    np.testing.assert_allclose(_column(frame, "vwap_dist_20"), vwap_dist, rtol=1e-9)

    er_window = _params("efficiency_ratio_48")["window"]
    er = np.full(close.size, np.nan)
    for t in range(er_window, close.size):
        path = sum(abs(math.log(close[u] / close[u - 1])) for u in range(t - er_window + 1, t + 1))
        er[t] = abs(math.log(close[t] / close[t - er_window])) / path
    np.testing.assert_allclose(_column(frame, "efficiency_ratio_48"), er, rtol=1e-9)


def test_taker_imbalance_and_funding_persistence_match_loops() -> None:
    n = 2000
    rng = np.random.default_rng(21)
    volume = rng.lognormal(3, 0.5, n)
    taker = volume * rng.beta(2, 2, n)
    prints = rng.choice([-1e-4, 2e-4, 1e-4], size=n // 96 + 1, p=[0.3, 0.3, 0.4])
    funding = prints[np.arange(n) // 96]
    frame = compute_features(
        bars_from_close(random_walk(n, 2), volume=volume, taker_buy_volume=taker, funding_rate=funding),
        families=("microstructure", "returns", "carry"),
    )
    window = _params("taker_imbalance_12")["window"]
    expected = np.full(n, np.nan)
    for t in range(window - 1, n):
        sl = slice(t - window + 1, t + 1)
        expected[t] = (2 * taker[sl] - volume[sl]).sum() / volume[sl].sum()
    np.testing.assert_allclose(_column(frame, "taker_imbalance_12"), expected, rtol=1e-10)

    params = _params("funding_persistence")
    warmup = next(f.warmup_bars for f in load_feature_spec().features if f.name == "funding_persistence")
    run, persistence = 0, np.full(n, np.nan)
    for t in range(n):
        run = run + 1 if t and np.sign(funding[t]) == np.sign(funding[t - 1]) else 1
        if t >= warmup:
            persistence[t] = min(run, params["cap_bars"]) / (params["funding_interval_minutes"] / 5)
    np.testing.assert_allclose(_column(frame, "funding_persistence"), persistence, rtol=1e-12)


@pytest.mark.parametrize("name", ["volume_z", "basis_z"])
def test_zscores_use_previous_window_only(name: str) -> None:
    n = 700
    rng = np.random.default_rng(8)
    volume = rng.lognormal(3, 0.4, n)
    basis = rng.normal(3, 2, n)
    frame = compute_features(
        bars_from_close(random_walk(n, 9), volume=volume, basis_bps=basis),
        families=("microstructure", "carry", "returns"),
    )
    series = np.log1p(volume) if name == "volume_z" else basis
    window = 288
    expected = np.full(n, np.nan)
    for t in range(window, n):
        previous = series[t - window : t]
        expected[t] = (series[t] - previous.mean()) / previous.std(ddof=1)
    np.testing.assert_allclose(_column(frame, name), expected, rtol=1e-8)


def test_disjoint_vol_ratio_matches_numpy_and_is_unbounded() -> None:
    """vol_ratio_12_prior48 = sample std of the last 12 returns / sample std of the 48 returns before them.
    Unlike vol_ratio_12_48 (nested windows, at most sqrt(47/11) ~ 2.07) it can exceed any level: a calm
    4 hours followed by a wild hour gives ~10."""
    rng = np.random.default_rng(21)
    returns = np.concatenate([rng.normal(0, 0.001, 150), rng.normal(0, 0.01, 12)])
    close = 100 * np.exp(np.cumsum(returns))
    frame = compute_features(bars_from_close(close), families=("returns", "volatility"))
    short, long_, lag = 12, 48, _params("vol_ratio_12_prior48")["lag"]
    ret = np.log(close[1:] / close[:-1])  # ret_1 of bar t is ret[t - 1]
    expected = np.full(close.size, np.nan)
    for t in range(long_ + lag, close.size):
        recent = ret[t - short : t]
        before = ret[t - lag - long_ : t - lag]
        expected[t] = recent.std(ddof=1) / before.std(ddof=1)
    np.testing.assert_allclose(_column(frame, "vol_ratio_12_prior48"), expected, rtol=1e-9)
    assert expected[-1] > 5 > math.sqrt(47 / 11) >= np.nanmax(_column(frame, "vol_ratio_12_48"))
