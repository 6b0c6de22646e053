"""The synthetic market: contract, determinism / partition independence, continuity, realism, defects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from quant_platform.core.timeutil import day_range
from quant_platform.market import quarantine as q
from quant_platform.market.schemas import RawBars, RawFunding, RawLiquidations, RawOpenInterest
from quant_platform.market.sources.base import RAW_TABLES, MarketDataSource
from quant_platform.market.sources.synthetic import MISSING_BAR, SyntheticConfig, SyntheticMarket

REPO = Path(__file__).resolve().parents[2]
CLEAN_WORLD = SyntheticConfig(seed=11, gap_rate=0.0, invalid_rate=0.0, aux_defect_rate=0.0)
DAYS = day_range("2024-01-01", "2024-01-08")


@pytest.fixture(scope="module")
def clean_world() -> dict[str, pl.DataFrame]:
    market = SyntheticMarket(CLEAN_WORLD)
    return {t: pl.concat([market.fetch(t, d) for d in DAYS]) for t in RAW_TABLES}


def _minute_returns(perp: pl.DataFrame) -> np.ndarray:
    """(symbols, minutes) log close-to-close returns of a defect-free world."""
    wide = perp.sort("ts").pivot(on="symbol", index="ts", values="close").drop("ts")
    return np.diff(np.log(wide.to_numpy()), axis=0).T


def _autocorr(x: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(x[:-lag], x[lag:])[0, 1])


def test_implements_protocol_and_raw_schemas() -> None:
    market = SyntheticMarket()
    assert isinstance(market, MarketDataSource)
    assert market.name == "synthetic" and market.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
    schemas = {"perp_bars": RawBars, "spot_bars": RawBars, "funding": RawFunding}
    schemas |= {"open_interest": RawOpenInterest, "liquidations": RawLiquidations}
    for table, schema in schemas.items():
        schema.validate(market.fetch(table, "2024-01-03"))
    with pytest.raises(ValueError, match="unknown table"):
        market.fetch("klines", "2024-01-03")


def test_days_before_origin_are_refused() -> None:
    with pytest.raises(ValueError, match="before the synthetic market's origin_date"):
        SyntheticMarket().fetch("perp_bars", "2023-12-31")
    with pytest.raises(ValueError, match="not a YYYY-MM-DD day"):
        SyntheticMarket().fetch("perp_bars", "yesterday")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "non-negative"),
        ({"symbols": ("BTCUSDT", "BTCUSDT")}, "distinct"),
        ({"gap_rate": 0.7}, "gap_rate"),
        ({"garch_alpha": 0.5, "garch_beta": 0.6}, "alpha \\+ beta"),
        ({"start_prices": (("BTCUSDT", -5.0),)}, "positive prices"),
    ],
)
def test_bad_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**kwargs)


def test_start_price_override_and_unknown_symbols() -> None:
    config = SyntheticConfig(
        symbols=("BTCUSDT", "PEPEUSDT"), start_prices=(("BTCUSDT", 1000.0),), gap_rate=0.0, invalid_rate=0.0
    )
    perp = SyntheticMarket(config).fetch("perp_bars", "2024-01-01").sort("symbol", "ts")
    first = perp.group_by("symbol", maintain_order=True).first()
    assert first.filter(pl.col("symbol") == "BTCUSDT")["open"][0] == pytest.approx(1000.0)
    assert first.filter(pl.col("symbol") == "PEPEUSDT")["open"][0] > 0


def test_fetch_is_independent_of_request_history() -> None:
    """Day 5 is byte-identical whether generated cold, after other days, or after later days."""
    cold = SyntheticMarket()
    warm = SyntheticMarket()
    for day in ("2024-01-09", "2024-01-02", "2024-01-07"):
        for table in RAW_TABLES:
            warm.fetch(table, day)
    for table in RAW_TABLES:
        a, b = cold.fetch(table, "2024-01-05"), warm.fetch(table, "2024-01-05")
        assert a.equals(b), table
    assert SyntheticMarket(SyntheticConfig(seed=8)).fetch("perp_bars", "2024-01-05")[
        "close"
    ].sum() != pytest.approx(cold.fetch("perp_bars", "2024-01-05")["close"].sum())


def test_fetch_is_identical_in_another_process() -> None:
    code = (
        "import hashlib,io\n"
        "from quant_platform.market.sources.synthetic import SyntheticMarket\n"
        "buf=io.BytesIO(); SyntheticMarket().fetch('perp_bars','2024-01-04').write_ipc(buf)\n"
        "print(hashlib.sha256(buf.getvalue()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    import hashlib
    import io

    buf = io.BytesIO()
    SyntheticMarket().fetch("perp_bars", "2024-01-04").write_ipc(buf)
    assert out.stdout.strip() == hashlib.sha256(buf.getvalue()).hexdigest()


def test_prices_open_interest_and_basis_are_continuous_across_days(
    clean_world: dict[str, pl.DataFrame],
) -> None:
    perp = clean_world["perp_bars"].sort("symbol", "ts")
    # Every 1m open equals the previous close, including at midnight.
    prev_close = perp.select(pl.col("close").shift(1).over("symbol"), "open", "ts").drop_nulls()
    assert np.allclose(prev_close["open"], prev_close["close"], rtol=1e-12)
    midnight = prev_close.filter(pl.col("ts").dt.hour().eq(0) & pl.col("ts").dt.minute().eq(0))
    assert midnight.height == len(CLEAN_WORLD.symbols) * (len(DAYS) - 1)
    # OI and the basis step across midnight like any other step (no reset).
    oi = clean_world["open_interest"].sort("symbol", "ts")
    steps = oi.select((pl.col("open_interest").log().diff().over("symbol")).alias("d"), "ts").drop_nulls()
    at_midnight = steps.filter(pl.col("ts").dt.hour().eq(0) & pl.col("ts").dt.minute().eq(0))["d"].abs()
    assert at_midnight.max() < 6 * steps["d"].std()
    spot = clean_world["spot_bars"].sort("symbol", "ts")
    basis = (perp["close"].to_numpy() / spot["close"].to_numpy() - 1.0).reshape(len(CLEAN_WORLD.symbols), -1)
    jumps = np.abs(np.diff(basis, axis=1))
    assert jumps[:, 1439::1440].max() < 6 * jumps.std()


def test_stylised_facts_of_returns(clean_world: dict[str, pl.DataFrame]) -> None:
    r1 = _minute_returns(clean_world["perp_bars"])
    r5 = np.add.reduceat(r1, np.arange(0, r1.shape[1], 5), axis=1)[:, :-1]
    for x1, x5 in zip(r1, r5, strict=True):
        assert stats.kurtosis(x1, fisher=False) > 6  # fat tails: Gaussian would be 3
        assert stats.kurtosis(x5, fisher=False) > 5
        abs_ac = [_autocorr(np.abs(x1), lag) for lag in range(1, 11)]
        assert min(abs_ac) > 0.1  # volatility clustering
        # Returns themselves are ~unpredictable (the sampling sd of an autocorrelation here is ~0.015).
        assert max(abs(_autocorr(x1, lag)) for lag in range(1, 11)) < 0.06
    corr = np.corrcoef(r1)
    assert corr[np.triu_indices_from(corr, 1)].min() > 0.4  # market factor


def test_intraday_seasonality_and_volume_tied_to_volatility(clean_world: dict[str, pl.DataFrame]) -> None:
    perp = clean_world["perp_bars"].filter(pl.col("symbol") == "BTCUSDT").sort("ts")
    frame = perp.with_columns(
        (pl.col("close") / pl.col("open")).log().abs().alias("absret"), pl.col("ts").dt.hour().alias("hour")
    )
    by_hour = frame.group_by("hour").agg(pl.col("absret").mean(), pl.col("volume").mean()).sort("hour")
    assert (
        by_hour.filter(pl.col("hour") == 15)["absret"][0]
        > 1.4 * by_hour.filter(pl.col("hour") == 3)["absret"][0]
    )
    assert (
        by_hour.filter(pl.col("hour") == 15)["volume"][0]
        > 1.4 * by_hour.filter(pl.col("hour") == 3)["volume"][0]
    )
    assert stats.spearmanr(frame["absret"], frame["volume"]).statistic > 0.3
    taker_share = frame["taker_buy_volume"] / frame["volume"]
    signed = np.sign((frame["close"] - frame["open"]).to_numpy())
    assert stats.spearmanr(signed, taker_share).statistic > 0.3


def test_basis_mean_reverts_and_funding_follows_it(clean_world: dict[str, pl.DataFrame]) -> None:
    perp, spot = clean_world["perp_bars"].sort("symbol", "ts"), clean_world["spot_bars"].sort("symbol", "ts")
    basis = (perp["close"] / spot["close"] - 1.0).to_numpy().reshape(len(CLEAN_WORLD.symbols), -1)
    for b in basis:
        slope = stats.linregress(b[:-1], b[1:]).slope
        assert 0.9 < slope < 0.9995  # persistent at 1m but mean-reverting
        assert abs(b.mean() * 1e4 - CLEAN_WORLD.basis_mean_bps) < 3 * CLEAN_WORLD.basis_sd_bps
    # Each funding print against the mean basis of the 8h before it (within the day: the 08:00 and 16:00 prints).
    bars = perp.with_columns((1e4 * (perp["close"] / spot["close"] - 1.0)).alias("basis_bps"))
    window = (
        bars.with_columns((pl.col("ts").dt.truncate("8h") + pl.duration(hours=8)).alias("print_ts"))
        .group_by("symbol", "print_ts")
        .agg(pl.col("basis_bps").mean())
    )
    funding = clean_world["funding"].join(window, left_on=["symbol", "ts"], right_on=["symbol", "print_ts"])
    assert funding.height >= 2 * len(DAYS) * len(CLEAN_WORLD.symbols)
    assert stats.pearsonr(funding["basis_bps"], funding["funding_rate"]).statistic > 0.8
    assert set(clean_world["funding"]["ts"].dt.hour().unique().to_list()) == {0, 8, 16}


def test_open_interest_grid_and_liquidation_sides(clean_world: dict[str, pl.DataFrame]) -> None:
    oi = clean_world["open_interest"]
    assert oi.height == len(DAYS) * len(CLEAN_WORLD.symbols) * 288
    assert set(oi["ts"].dt.minute().unique().to_list()) <= set(range(0, 60, 5))
    liq = clean_world["liquidations"]
    assert liq.height > 0
    minute = liq.with_columns(pl.col("ts").dt.truncate("1m").alias("minute"))
    moves = clean_world["perp_bars"].select(
        "symbol", pl.col("ts").alias("minute"), (pl.col("close") - pl.col("open")).alias("move")
    )
    joined = minute.join(moves, on=["symbol", "minute"])
    assert joined.height == liq.height
    # Longs are liquidated (SELL) on down moves, shorts (BUY) on up moves.
    assert (joined.filter(pl.col("side") == "SELL")["move"] < 0).all()
    assert (joined.filter(pl.col("side") == "BUY")["move"] > 0).all()
    assert np.allclose(liq["notional"], liq["price"] * liq["qty"])


def test_injected_defects_match_the_raw_tables() -> None:
    config = SyntheticConfig(seed=3, gap_rate=0.01, invalid_rate=0.005, aux_defect_rate=0.05)
    market = SyntheticMarket(config)
    day = "2024-01-02"
    truth = market.injected_defects(day)
    perp = market.fetch("perp_bars", day)
    n = len(config.symbols) * 1440
    perp_truth = truth.filter(pl.col("table") == "perp_bars")
    missing = perp_truth.filter(pl.col("kind") == MISSING_BAR).height
    copies = perp_truth.filter(pl.col("kind").is_in([q.DUPLICATE_TS, q.TS_OUTSIDE_DAY])).height
    assert perp.height == n - missing + copies
    assert 0.5 * 0.01 * n < missing < 2 * 0.01 * n
    present = perp.select("symbol", "ts").unique()
    gone = perp_truth.filter(pl.col("kind") == MISSING_BAR).join(present, on=["symbol", "ts"], how="semi")
    assert gone.height == 0
    high_below_low = perp_truth.filter(pl.col("kind") == q.HIGH_BELOW_LOW).join(perp, on=["symbol", "ts"])
    assert (high_below_low["high"] < high_below_low["low"]).all()
    assert set(truth["table"].unique().to_list()) <= set(RAW_TABLES)
