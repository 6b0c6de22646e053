"""A small seeded world with planted post-event drifts, to prove discovery recovers what is there and
nothing else. (The full synthetic market with planted effects lives in ``quant_platform.market``; this one
is deliberately minimal and exact: the truth of every hypothesis is known.)

Bars: per symbol, i.i.d. normal log returns per bar (``bar_vol_bps``), a complete 5m grid with a few gap rows
(null prices, ``gap=True``; the path continues underneath) and a constant traded value per bar
(``bar_volume_quote``, as base-asset ``volume``) for the engine's impact slippage. Events: each event type fires per symbol as a
Bernoulli process (``events_per_day``), directional types with a random +1/-1 direction, non-directional
ones with 0. A planted effect (event_type, symbol, horizon, size) adds ``direction * size / horizon`` bps
(``size`` for non-directional types) to each of the ``horizon`` bar returns starting at the entry bar
``t + entry_lag``, so the entry-to-exit return after the event carries exactly ``size`` bps extra in the
event's direction. States: three conditioning columns, persistent per symbol-day, independent of effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery.config import DiscoverySpec

STATE_VALUES = {
    "vol_regime": ["low", "normal", "high"],
    "carry_state": ["negative", "neutral", "positive"],
    "trend_state": ["trend_down", "chop", "trend_up"],
}


@dataclass(frozen=True)
class PlantedDrift:
    """``size_bps`` > 0: continuation of the event's direction (or a long drift for a non-directional type)."""

    event_type: str
    symbol: str
    horizon_bars: int
    size_bps: float


@dataclass(frozen=True)
class WorldConfig:
    n_symbols: int = 4
    n_days: int = 30
    bar_vol_bps: float = 20.0
    # traded value per bar (quote currency): sets the engine's impact slippage (participation of a fill)
    bar_volume_quote: float = 5e7
    events_per_day: float = 2.0
    gap_rate: float = 0.002
    directional_events: tuple[str, ...] = ("VOL_SHOCK", "OI_FLUSH", "RANGE_BREAKOUT", "FUNDING_FLIP")
    nondirectional_events: tuple[str, ...] = ("SESSION_OPEN_EVENT",)
    effects: tuple[PlantedDrift, ...] = field(default_factory=tuple)
    seed: int = 0
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    bars: pl.DataFrame
    events: pl.DataFrame
    states: pl.DataFrame
    effects: pl.DataFrame  # event_type, symbol, horizon_bars, size_bps


def symbols_of(config: WorldConfig) -> list[str]:
    return [f"SYM{i:02d}USDT" for i in range(config.n_symbols)]


def make_world(config: WorldConfig, spec: DiscoverySpec) -> World:
    """Build the world (deterministic in ``config.seed``)."""
    rng = np.random.default_rng(config.seed)
    bars_per_day = 24 * 60 // spec.bar_minutes
    n_bars = config.n_days * bars_per_day
    start_ms = int(config.start.timestamp() * 1000)
    ts_ms = start_ms + np.arange(n_bars, dtype=np.int64) * spec.bar_ms
    families = dict(spec.plan().select("event_type", "family").unique().iter_rows())
    event_types = [*config.directional_events, *config.nondirectional_events]
    unknown = [e for e in event_types if e not in families]
    if len(set(event_types)) != len(event_types):
        raise ValueError("an event type is listed twice in the world config")
    if unknown:
        raise ValueError(f"world event types not in spec/multiplicity: {unknown}")
    p_event = config.events_per_day / bars_per_day
    bar_frames, event_frames, state_frames = [], [], []
    for symbol in symbols_of(config):
        returns = rng.normal(0.0, config.bar_vol_bps * 1e-4, n_bars)
        drift = np.zeros(n_bars + 1)
        for event_type in event_types:
            fired = np.flatnonzero(rng.random(n_bars) < p_event)
            directional = event_type in config.directional_events
            direction = (
                rng.choice(np.array([-1, 1], dtype=np.int8), len(fired))
                if directional
                else np.zeros(len(fired), np.int8)
            )
            for eff in config.effects:
                if eff.event_type == event_type and eff.symbol == symbol:
                    sign = direction.astype(np.float64) if directional else np.ones(len(fired))
                    begin = fired + spec.entry_lag_bars
                    end = np.minimum(begin + eff.horizon_bars, n_bars)
                    per_bar = sign * eff.size_bps * 1e-4 / eff.horizon_bars
                    np.add.at(drift, np.minimum(begin, n_bars), per_bar)
                    np.add.at(drift, end, -per_bar)
            event_frames.append(
                pl.DataFrame(
                    {
                        "event_id": [f"{symbol}:{event_type}:{i}" for i in fired],
                        "symbol": symbol,
                        "ts": ts_ms[fired],
                        "event_type": event_type,
                        "family": families[event_type],
                        "direction": direction,
                        "severity": rng.random(len(fired)),
                    }
                )
            )
        log_price = np.log(100.0) + np.concatenate([[0.0], np.cumsum(returns + np.cumsum(drift)[:n_bars])])
        opens = np.exp(log_price[:-1])
        closes = np.exp(log_price[1:])
        gap = rng.random(n_bars) < config.gap_rate
        bar_frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": ts_ms,
                    "open": np.where(gap, np.nan, opens),
                    "close": np.where(gap, np.nan, closes),
                    # no random draw (the rest of the world stays what it was): a constant traded value
                    "volume": np.where(gap, np.nan, config.bar_volume_quote / closes),
                    "gap": gap,
                }
            )
        )
        day_of_bar = np.arange(n_bars) // bars_per_day
        state_frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": ts_ms,
                    **{
                        col: np.array(values)[rng.integers(0, len(values), config.n_days)][day_of_bar]
                        for col, values in STATE_VALUES.items()
                    },
                }
            )
        )

    def _ts(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").cast(TS_DTYPE)
        )

    bars = _ts(pl.concat(bar_frames)).with_columns(
        pl.col("open").fill_nan(None), pl.col("close").fill_nan(None)
    )
    effects = pl.DataFrame(
        [(e.event_type, e.symbol, e.horizon_bars, e.size_bps) for e in config.effects],
        schema={
            "event_type": pl.String,
            "symbol": pl.String,
            "horizon_bars": pl.Int32,
            "size_bps": pl.Float64,
        },
        orient="row",
    )
    return World(
        bars=bars, events=_ts(pl.concat(event_frames)), states=_ts(pl.concat(state_frames)), effects=effects
    )


def label_truth(candidates: pl.DataFrame, world: World, spec: DiscoverySpec) -> pl.DataFrame:
    """Add ``is_true_effect``: the candidate's (event, symbol) has a planted drift whose sign its template
    trades (continuation-type for positive size, reversal-type for negative; fixed-sign templates only for
    non-directional types). Every other candidate is a true null (its gross expectancy is zero or below)."""
    plan = spec.plan().select("event_type", "template", "from_direction", "sign_multiplier").unique()
    directional = world.events.group_by("event_type", maintain_order=True).agg(
        _directional=(pl.col("direction") != 0).any()
    )
    truth = (
        world.effects.group_by("event_type", "symbol", maintain_order=True)
        .agg(_size=pl.col("size_bps").first())
        .join(plan, on="event_type")
        .join(directional, on="event_type", how="left")
        .filter(
            (pl.col("from_direction") == pl.col("_directional"))
            & (pl.col("sign_multiplier").cast(pl.Float64) * pl.col("_size") > 0)
        )
        .select("event_type", "symbol", "template", is_true_effect=pl.lit(True))
    )
    return candidates.join(truth, on=["event_type", "symbol", "template"], how="left").with_columns(
        pl.col("is_true_effect").fill_null(False)
    )
