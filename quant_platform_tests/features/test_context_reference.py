"""compute_context (compiled kernels) against a straightforward pandas/NumPy reference written here, on random
returns with a common factor, null returns, dropped rows (gaps), a late-listed and an early-delisted symbol."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quant_platform.features import compute_context
from quant_platform.features.spec import load_feature_spec

SPEC = load_feature_spec()
DEFS = {f.name: f for f in SPEC.table_features("context_features")}
COVER = SPEC.min_coverage
N_BARS = 1000
RTOL = 1e-9


def _min_samples(window: int) -> int:
    return math.ceil(COVER * window)


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    symbols = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    market = rng.normal(0, 0.01, N_BARS)
    frames = []
    for k, symbol in enumerate(symbols):
        ret = 0.6 * market + rng.normal(0, 0.01 * (1 + k / 3), N_BARS)
        ret[rng.random(N_BARS) < 0.02] = np.nan  # null returns inside the symbol's rows
        keep = rng.random(N_BARS) > 0.01  # dropped rows: the bar is missing from the frame
        if symbol == "DDD":
            keep[:150] = False  # listed later
        if symbol == "EEE":
            keep[850:] = False  # delisted early
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": np.arange(N_BARS)[keep] * 300_000,
                    "warmup": False,
                    "ret_1": ret[keep],
                }
            )
        )
    frame = pl.concat(frames).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")), pl.col("ret_1").fill_nan(None)
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=3)  # compute_context sorts what is not sorted


def _reference(features: pl.DataFrame) -> pd.DataFrame:
    """The context columns by pandas group-by/rolling on each symbol's own rows, the market from the wide
    bars x symbols matrix."""
    df = features.sort("symbol", "ts").to_pandas()
    wide = df.pivot(index="ts", columns="symbol", values="ret_1").sort_index()
    n_valid = wide.notna().sum(axis=1)
    enough = n_valid >= SPEC.context_params["min_symbols"]
    market = pd.DataFrame(
        {
            "mkt_ret": wide.mean(axis=1).where(enough),
            "dispersion": wide.std(axis=1, ddof=1).where(enough),
            "_n": n_valid,
            "_sum": wide.sum(axis=1),
        }
    )
    w = DEFS["dispersion_z"].params["window"]
    previous = market["dispersion"].shift(1).rolling(w, min_periods=_min_samples(w))
    market["dispersion_z"] = (market["dispersion"] - previous.mean()) / previous.std()
    market.loc[market.index[: DEFS["dispersion_z"].warmup_bars], "dispersion_z"] = np.nan
    df = df.join(market, on="ts")
    own = df["ret_1"].notna()
    others = df["_n"] - own
    df["loo"] = ((df["_sum"] - df["ret_1"].fillna(0.0)) / others).where(others >= 1)

    def per_symbol(g: pd.DataFrame) -> pd.DataFrame:
        g = g.copy()
        position = np.arange(len(g))
        both = g["ret_1"].notna() & g["loo"].notna()
        x, y = g["ret_1"].where(both), g["loo"].where(both)

        def masked(values: pd.Series, name: str) -> pd.Series:
            return values.where(position >= DEFS[name].warmup_bars)

        for name in ("corr_mkt_48", "corr_mkt_288"):
            w = DEFS[name].params["window"]
            g[name] = masked(x.rolling(w, min_periods=_min_samples(w)).corr(y).clip(-1, 1), name)
        w = DEFS["beta_mkt_288"].params["window"]
        roll_x, roll_y = x.rolling(w, min_periods=_min_samples(w)), y.rolling(w, min_periods=_min_samples(w))
        g["beta_mkt_288"] = masked(roll_x.cov(y) / roll_y.var(), "beta_mkt_288")
        residual = masked(g["ret_1"] - g["beta_mkt_288"].shift(1) * g["loo"], "residual_ret")
        g["residual_ret"] = residual
        w = DEFS["residual_z"].params["window"]
        std = residual.shift(1).rolling(w, min_periods=_min_samples(w)).std()
        g["residual_z"] = masked(residual / std, "residual_z")
        cz = DEFS["residual_cum_12_z"]
        w, horizon = cz.params["window"], cz.params["horizon"]
        std = residual.shift(horizon).rolling(w, min_periods=_min_samples(w)).std()
        cumulative = residual.rolling(horizon, min_periods=horizon).sum()
        g["residual_cum_12_z"] = masked(cumulative / (std * math.sqrt(horizon)), "residual_cum_12_z")
        return g

    df = pd.concat(per_symbol(g) for _, g in df.groupby("symbol", sort=True))
    for name, column in (("avg_corr_48", "corr_mkt_48"), ("avg_corr_288", "corr_mkt_288")):
        df[name] = df.groupby("ts")[column].transform("mean")
    return df.set_index(["symbol", "ts"]).sort_index()


def _pairwise_reference(features: pl.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """avg_pair_corr_288 and corr_others_288 from the full correlation matrix of the complete bars in each
    window (every symbol valid), weighted by the window volatilities."""
    wide = features.pivot(on="symbol", index="ts", values="ret_1").sort("ts")
    symbols = sorted(c for c in wide.columns if c != "ts")
    returns, stamps = wide.select(symbols).to_numpy().astype(float), wide["ts"].to_pandas()
    complete = ~np.isnan(returns).any(axis=1)
    w = DEFS["avg_pair_corr_288"].params["window"]
    pair = pd.Series(np.nan, index=stamps)
    others = pd.DataFrame(np.nan, index=stamps, columns=symbols)
    for t in range(DEFS["avg_pair_corr_288"].warmup_bars, len(stamps), 7):
        block = returns[max(0, t - w + 1) : t + 1][complete[max(0, t - w + 1) : t + 1]]
        if len(block) < _min_samples(w):
            continue
        corr, vol = np.corrcoef(block.T), block.std(axis=0)
        weights = np.outer(vol, vol) * ~np.eye(len(symbols), dtype=bool)
        pair.iloc[t] = (weights * corr).sum() / weights.sum()
        for i in range(len(symbols)):
            others.iloc[t, i] = (np.delete(vol, i) * np.delete(corr[i], i)).sum() / np.delete(vol, i).sum()
    return pair, others


def _assert_close(actual: pd.Series, expected: pd.Series, name: str) -> None:
    assert (actual.isna() == expected.isna()).all(), f"{name}: null pattern differs"
    assert expected.notna().sum() > 100, f"{name}: too few values to compare"
    np.testing.assert_allclose(actual.dropna(), expected.dropna(), rtol=RTOL, atol=0, err_msg=name)


def test_context_matches_the_pandas_reference(features: pl.DataFrame) -> None:
    context = compute_context(features).to_pandas().set_index(["symbol", "ts"]).sort_index()
    expected = _reference(features)
    assert context.index.equals(expected.index)
    for name in (
        "mkt_ret", "dispersion", "dispersion_z", "corr_mkt_48", "corr_mkt_288", "beta_mkt_288",
        "residual_ret", "residual_z", "residual_cum_12_z", "avg_corr_48", "avg_corr_288",
    ):  # fmt: skip
        _assert_close(context[name], expected[name], name)
    pair, others = _pairwise_reference(features)
    sampled = pair.dropna().index
    assert len(sampled) > 50
    by_ts = context.reset_index().set_index("ts")
    actual_pair = by_ts.loc[sampled].groupby(level=0)["avg_pair_corr_288"].first()
    np.testing.assert_allclose(actual_pair, pair.loc[sampled], rtol=RTOL, err_msg="avg_pair_corr_288")
    rows = by_ts.loc[sampled].reset_index()
    expected_others = others.stack().rename("expected").reset_index()
    expected_others.columns = ["ts", "symbol", "expected"]
    position = features.sort("symbol", "ts").select(
        "symbol", "ts", pl.int_range(pl.len()).over("symbol").alias("position")
    )
    merged = rows.merge(expected_others, on=["ts", "symbol"]).merge(position.to_pandas(), on=["ts", "symbol"])
    merged["expected"] = merged["expected"].where(merged["position"] >= DEFS["corr_others_288"].warmup_bars)
    assert (merged["corr_others_288"].isna() == merged["expected"].isna()).all()
    merged = merged.dropna(subset=["expected"])
    assert len(merged) > 100
    np.testing.assert_allclose(
        merged["corr_others_288"], merged["expected"], rtol=RTOL, err_msg="corr_others"
    )
