"""Planted effects: the average forward return after a planted trigger ≈ size_bps; ≈ 0 in the null world."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quant_platform.core.timeutil import day_range
from quant_platform.market.sources.synthetic import PlantedEffect, SyntheticConfig, SyntheticMarket

DAYS = day_range("2024-02-01", "2024-02-20")
SHOCK = PlantedEffect("vol_shock", "BTCUSDT", horizon_bars=12, size_bps=80.0, rate_per_day=6.0)
FUNDING = PlantedEffect("funding_extreme", "ETHUSDT", 6, 120.0, 1.5, direction="reversal")
OI = PlantedEffect("oi_spike", "SOLUSDT", 6, 100.0, 4.0)
BASE = {"seed": 5, "gap_rate": 0.0, "invalid_rate": 0.0, "aux_defect_rate": 0.0}


def _closes(market: SyntheticMarket) -> pl.DataFrame:
    """Close at every minute boundary: the close of the 1m bar ending there (column ``at`` = boundary)."""
    perp = pl.concat([market.fetch("perp_bars", d) for d in DAYS])
    return perp.select(
        "symbol", (pl.col("ts") + pl.duration(minutes=1)).alias("at"), pl.col("close").log().alias("logc")
    )


def _forward_returns(closes: pl.DataFrame, events: pl.DataFrame) -> np.ndarray:
    """Log return (bps) from the event bar's close (ts + 5m) to ``horizon_bars`` 5m bars later, signed by
    the planted direction."""
    frame = events.with_columns(
        (pl.col("ts") + pl.duration(minutes=5)).alias("entry"),
        (pl.col("ts") + pl.duration(minutes=5) * (pl.col("horizon_bars") + 1)).alias("exit"),
    )
    frame = frame.join(closes.rename({"at": "entry", "logc": "c0"}), on=["symbol", "entry"])
    frame = frame.join(closes.rename({"at": "exit", "logc": "c1"}), on=["symbol", "exit"])
    assert frame.height == events.height
    return (1e4 * (frame["c1"] - frame["c0"]) * frame["direction"]).to_numpy()


@pytest.fixture(scope="module")
def worlds() -> tuple[SyntheticMarket, SyntheticMarket]:
    planted = SyntheticMarket(SyntheticConfig(**BASE, planted_effects=(SHOCK, FUNDING, OI)))
    null = SyntheticMarket(SyntheticConfig(**BASE))
    return planted, null


def test_planted_drift_is_recovered(worlds: tuple[SyntheticMarket, SyntheticMarket]) -> None:
    planted, _ = worlds
    events = pl.concat([planted.planted_events(d) for d in DAYS])
    closes = _closes(planted)
    for effect in (SHOCK, FUNDING, OI):
        mine = events.filter(pl.col("trigger") == effect.trigger)
        assert mine.height >= 10, effect.trigger
        assert (mine["symbol"] == effect.symbol).all() and (mine["size_bps"] == effect.size_bps).all()
        fwd = _forward_returns(closes, mine)
        se = fwd.std(ddof=1) / np.sqrt(fwd.size)
        assert abs(fwd.mean() - effect.size_bps) < 4 * se, (effect.trigger, fwd.mean(), se)
        assert fwd.mean() > 3 * se  # clearly detectable


def test_trigger_patterns_are_where_the_ground_truth_says(
    worlds: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    planted, _ = worlds
    events = pl.concat([planted.planted_events(d) for d in DAYS])
    perp = pl.concat([planted.fetch("perp_bars", d) for d in DAYS]).sort("symbol", "ts")
    # vol_shock: the trigger bar's move has the trigger's sign and is among the largest of the day, with a burst.
    bars = perp.with_columns(
        (pl.col("close") / pl.col("open")).log().alias("ret"),
        pl.col("volume").median().over("symbol").alias("median_volume"),
        (pl.col("close") / pl.col("open")).log().abs().quantile(0.99).over("symbol").alias("q99"),
    )
    shocks = events.filter(pl.col("trigger") == "vol_shock").join(
        bars, left_on=["symbol", "trigger_ts"], right_on=["symbol", "ts"]
    )
    assert (np.sign(shocks["ret"]) == shocks["trigger_sign"]).mean() > 0.95
    assert (shocks["ret"].abs() > shocks["q99"]).mean() > 0.9
    assert (shocks["volume"] > 3 * shocks["median_volume"]).mean() > 0.9
    # funding_extreme: the print at trigger_ts carries ± funding_extreme.
    funding = pl.concat([planted.fetch("funding", d) for d in DAYS])
    prints = events.filter(pl.col("trigger") == "funding_extreme").join(
        funding, left_on=["symbol", "trigger_ts"], right_on=["symbol", "ts"]
    )
    assert np.allclose(prints["funding_rate"], prints["trigger_sign"] * FUNDING.funding_extreme)
    assert (prints["direction"] == -prints["trigger_sign"]).all()  # reversal
    # oi_spike: OI jumps by ~oi_spike_fraction at the snapshot.
    oi = pl.concat([planted.fetch("open_interest", d) for d in DAYS]).sort("symbol", "ts")
    oi = oi.with_columns(
        (pl.col("open_interest") / pl.col("open_interest").shift(1).over("symbol") - 1).alias("jump")
    )
    spikes = events.filter(pl.col("trigger") == "oi_spike").join(
        oi, left_on=["symbol", "trigger_ts"], right_on=["symbol", "ts"]
    )
    assert ((spikes["jump"] - OI.oi_spike_fraction).abs() < 0.03).mean() > 0.9


def test_null_world_has_no_drift_after_large_moves(worlds: tuple[SyntheticMarket, SyntheticMarket]) -> None:
    """The same 'large 1m move' detector: no drift after it in the null world, a clear one in the planted world."""
    planted, null = worlds
    assert pl.concat([null.planted_events(d) for d in DAYS]).height == 0

    def detected(market: SyntheticMarket) -> pl.DataFrame:
        perp = pl.concat([market.fetch("perp_bars", d) for d in DAYS]).filter(pl.col("symbol") == "BTCUSDT")
        ret = (pl.col("close") / pl.col("open")).log()
        big = perp.filter(ret.abs() > ret.abs().quantile(0.995)).filter(
            pl.col("ts").dt.hour() * 60 + pl.col("ts").dt.minute() < 1440 - 5 * 14
        )
        return big.select(
            "symbol",
            (pl.col("ts").dt.truncate("5m")).alias("ts"),
            pl.lit(12).alias("horizon_bars"),
            ret.sign().cast(pl.Int64).alias("direction"),
        ).unique(["symbol", "ts"])

    null_fwd = _forward_returns(_closes(null), detected(null))
    se = null_fwd.std(ddof=1) / np.sqrt(null_fwd.size)
    assert null_fwd.size > 30
    assert abs(null_fwd.mean()) < 3.5 * se, (null_fwd.mean(), se)
    planted_fwd = _forward_returns(_closes(planted), detected(planted))
    assert planted_fwd.mean() > 3 * planted_fwd.std(ddof=1) / np.sqrt(planted_fwd.size)


def test_planted_effect_validation() -> None:
    with pytest.raises(ValueError, match="unknown planted trigger"):
        PlantedEffect("moon", "BTCUSDT", 12, 10.0, 1.0)
    with pytest.raises(ValueError, match="too long"):
        PlantedEffect("funding_extreme", "BTCUSDT", 200, 10.0, 1.0)
    with pytest.raises(ValueError, match="outside the universe"):
        SyntheticConfig(planted_effects=(PlantedEffect("vol_shock", "DOGEUSDT", 12, 10.0, 1.0),))


def test_planted_moves_keep_prices_and_open_interest_continuous(
    worlds: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    planted, _ = worlds
    perp = pl.concat([planted.fetch("perp_bars", d) for d in DAYS]).sort("symbol", "ts")
    steps = perp.select(
        (pl.col("open") / pl.col("close").shift(1).over("symbol") - 1).abs().alias("d")
    ).drop_nulls()
    assert steps["d"].max() < 1e-12  # every open is the previous close, midnight included
    oi = pl.concat([planted.fetch("open_interest", d) for d in DAYS]).sort("symbol", "ts")
    oi_steps = oi.with_columns(
        pl.col("open_interest").log().diff().over("symbol").abs().alias("d")
    ).drop_nulls("d")
    midnight = oi_steps.filter(pl.col("ts").dt.hour().eq(0) & pl.col("ts").dt.minute().eq(0))["d"]
    assert midnight.max() < 6 * oi_steps["d"].std()
