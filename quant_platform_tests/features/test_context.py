"""context_features against independent truth: brute-force NumPy correlations to the leave-one-out market
and the pairwise correlation matrix, a planted independent market, and the correlation events firing on
the embedded synthetic market."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quant_platform.events import detect_events
from quant_platform.features import compute_context, compute_features
from quant_platform.features.spec import load_feature_spec
from quant_platform_tests.features.bars_fixture import make_bars

SPEC = load_feature_spec()
WINDOW = {f.name: f.params.get("window") for f in SPEC.table_features("context_features")}


@pytest.fixture(scope="module")
def independent() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Four independent random walks (each from its own seed, so no shared market factor): every true
    correlation is zero."""
    bars = pl.concat(
        make_bars(n_symbols=1, n_bars=700, seed=seed, gap_prob=0.0).with_columns(
            symbol=pl.lit(f"IND{seed}USDT")
        )
        for seed in (21, 22, 23, 24)
    )
    features = compute_features(bars)
    return features, compute_context(features)


def _returns(features: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    wide = features.pivot(on="symbol", index="ts", values="ret_1").sort("ts")
    symbols = sorted(c for c in wide.columns if c != "ts")
    return symbols, wide.select(symbols).to_numpy()


def test_correlation_to_market_leaves_the_symbol_out(independent) -> None:
    features, context = independent
    symbols, returns = _returns(features)
    window = WINDOW["corr_mkt_288"]
    last = returns[-window:]
    row = context.filter(pl.col("ts") == context["ts"].max()).sort("symbol")
    for i, symbol in enumerate(symbols):
        others = np.delete(last, i, axis=1).mean(axis=1)
        expected = np.corrcoef(last[:, i], others)[0, 1]
        assert row["corr_mkt_288"][i] == pytest.approx(expected, abs=1e-9), symbol
        beta = np.cov(last[:, i], others, bias=True)[0, 1] / others.var()
        assert row["beta_mkt_288"][i] == pytest.approx(beta, rel=1e-9), symbol
    # An inclusive proxy would put each symbol at ~1/sqrt(4) = 0.5 correlation with a market it is 25% of.
    ready = context.filter(pl.col("corr_mkt_288").is_not_null() & pl.col("avg_pair_corr_288").is_not_null())
    assert ready.height > 1000 and ready["avg_corr_288"].abs().max() < 0.2
    assert ready["avg_pair_corr_288"].abs().max() < 0.2


def test_pairwise_correlations_match_the_brute_force_matrix(independent) -> None:
    features, context = independent
    symbols, returns = _returns(features)
    window = WINDOW["avg_pair_corr_288"]
    for end in (len(returns) - 1, len(returns) - 97):
        block = returns[end - window + 1 : end + 1]
        corr, vol = np.corrcoef(block.T), block.std(axis=0)
        off = ~np.eye(len(symbols), dtype=bool)
        weights = np.outer(vol, vol) * off
        row = context.filter(pl.col("ts") == context["ts"].unique().sort()[end]).sort("symbol")
        assert row["avg_pair_corr_288"][0] == pytest.approx((weights * corr).sum() / weights.sum(), abs=1e-9)
        for i, symbol in enumerate(symbols):
            w = np.delete(vol, i)
            expected = (w * np.delete(corr[i], i)).sum() / w.sum()
            assert row["corr_others_288"][i] == pytest.approx(expected, abs=1e-9), symbol


def test_synthetic_market_gives_a_regime_mix_and_fires_the_correlation_events() -> None:
    """~20 days of the embedded 4-symbol synthetic market (one common factor): the leave-one-out
    correlations are well below 1, every correlation regime occurs, and both correlation events fire."""
    from quant_platform.features.market_window import bars_for_days
    from quant_platform.market.sources.synthetic import SyntheticMarket

    bars = bars_for_days(SyntheticMarket(), "2024-01-01", "2024-01-20")
    features = compute_features(bars)
    context = compute_context(features)
    ready = context.filter(~pl.col("warmup"))
    assert ready["symbol"].n_unique() == 4 and ready.height > 10_000
    assert 0.3 < ready["avg_pair_corr_288"].median() < 0.8
    regimes = ready["correlation_regime"].value_counts()
    assert set(regimes["correlation_regime"]) == {"dispersed", "normal", "herding"}
    assert regimes["count"].min() > 0.02 * ready.height  # a mix, not one label on every row
    events, _ = detect_events(features, context)
    fired = set(events["event_type"])
    assert {"CORRELATION_BREAKDOWN_EVENT", "CORRELATION_SPIKE_EVENT"} <= fired


def test_sorted_in_memory_input_shares_its_keys_and_gives_the_same_context(independent) -> None:
    """Truth: the same input passed lazily and shuffled (sorted first). An in-memory input already in
    (symbol, ts) order hands the context its own ``symbol, ts`` columns: the context's ts buffer is the
    input's (memory shared, not a copy)."""
    features = independent[0].rechunk()
    context = compute_context(features)
    assert context.equals(compute_context(features.lazy()))
    assert context.equals(compute_context(features.sample(fraction=1.0, shuffle=True, seed=3)))
    assert context.columns[:2] == ["symbol", "ts"]
    own_ts = features["ts"].to_numpy(allow_copy=False)
    assert np.shares_memory(context["ts"].rechunk().to_numpy(allow_copy=False), own_ts)
