"""Fill prices, fillability and slippage.

Fill price models (prices of the fill bar ``e``): ``next_open`` = open[e], ``next_close`` = close[e],
``vwap_hlc3`` = (high + low + close) / 3 (typical price), ``vwap_ohlc4`` = (open + high + low + close) / 4.

A bar can fill only if it is not a gap bar and its fill price and close are finite and positive; an order
whose fill bar cannot fill waits for the next fillable bar (the latest target in force at that bar fills).

Slippage in bps (adverse: buys pay more, sells receive less), priced from what is known when the order
goes out: the *reference bar* ``r`` of a fill at bar ``e`` is the last bar before ``e`` that could have
filled (``r = e - 1`` unless bars before ``e`` are gaps)::

    range_bps     = 1e4 * (high[r] - low[r]) / close[r]           # volatility of the last completed bar
    participation = min(|qty| / volume[r], max_participation)     # order size relative to that bar's volume
    slip_bps = clip(slippage_base_bps + slippage_vol_coef * range_bps
                    + slippage_impact_bps * sqrt(participation) + slippage_noise_bps * z,
                    0, max_slippage_bps)

The fill bar's own high, low and volume are known only at its close, after a ``next_open`` fill; one rule for
every fill model keeps costs point-in-time (a close or VWAP-proxy fill could know its own bar's range, but it
is priced like an order placed before that bar opens, so changing the fill model never changes which bars
the costs read). A fill with no earlier fillable bar has no known range (the range term is 0) and its
participation counts as ``max_participation``.

``z ~ N(0, 1)`` is drawn from the run's seeded generator (only when ``slippage_noise_bps > 0``); a bar with
zero/unknown volume counts as ``max_participation``. The square root follows the square-root market-impact
law; the volatility term makes a wide bar cost more to cross.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_platform.engine.config import EngineConfig


def fill_prices(
    model: str,
    open_: np.ndarray | None,
    high: np.ndarray | None,
    low: np.ndarray | None,
    close: np.ndarray,
) -> np.ndarray:
    """The fill-price array ``(P, T)`` of a fill model."""
    needs = {
        "next_open": ("open",),
        "next_close": (),
        "vwap_hlc3": ("high", "low"),
        "vwap_ohlc4": ("open", "high", "low"),
    }[model]
    given = {"open": open_, "high": high, "low": low}
    missing = [n for n in needs if given[n] is None]
    if missing:
        raise ValueError(f"fill_price={model!r} needs {missing} prices")
    if model == "next_open":
        return open_  # type: ignore[return-value]
    if model == "next_close":
        return close
    if model == "vwap_hlc3":
        return (high + low + close) / 3.0  # type: ignore[operator]
    return (open_ + high + low + close) / 4.0  # type: ignore[operator]


def valid_prices(prices: np.ndarray) -> np.ndarray:
    """Finite positive prices (False for NaN, inf, 0 and below)."""
    with np.errstate(invalid="ignore"):
        ok = prices > 0  # False for NaN
    if np.isinf(prices.max(initial=0.0)):
        ok &= np.isfinite(prices)
    return ok


def fillable_bars(
    fill_price: np.ndarray,
    close: np.ndarray,
    gap: np.ndarray | None,
    *,
    valid_close: np.ndarray | None = None,
) -> np.ndarray:
    """Bars where an order can execute: not a gap, finite positive fill price and close.

    ``valid_close`` (``valid_prices(close)``) may be passed in when the caller has it already.
    """
    if valid_close is None:
        valid_close = valid_prices(close)
    if fill_price is close:  # next_close: one validity mask serves both
        ok = valid_close.copy()
    else:
        ok = valid_prices(fill_price)
        ok &= valid_close
    if gap is not None:
        ok &= ~gap
    return ok


def slippage_bps(
    config: EngineConfig,
    qty: np.ndarray,
    high: np.ndarray | None,
    low: np.ndarray | None,
    close: np.ndarray | None,
    volume: np.ndarray | None,
    rng: np.random.Generator | None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """Slippage of each fill, per the module formula; ``high``, ``low``, ``close`` and ``volume`` are already
    gathered at each fill's reference bar (NaN where it has none), never at the fill bar itself. ``noise``:
    the fills' ``z`` drawn beforehand (else drawn from ``rng`` here)."""
    slip = np.full(qty.shape, config.slippage_base_bps, dtype=np.float64)
    if config.slippage_vol_coef > 0:
        if high is None or low is None:
            raise ValueError("slippage_vol_coef > 0 needs high and low prices")
        if close is None:
            raise ValueError("slippage_vol_coef > 0 needs close prices")
        range_bps = 1e4 * (high - low) / close
        slip += config.slippage_vol_coef * np.nan_to_num(range_bps, nan=0.0)
    if config.slippage_impact_bps > 0:
        if volume is None:
            raise ValueError("slippage_impact_bps > 0 needs bar volume")
        with np.errstate(divide="ignore", invalid="ignore"):
            participation = np.abs(qty) / volume
        participation = np.where(
            np.isfinite(participation) & (volume > 0), participation, config.max_participation
        )
        slip += config.slippage_impact_bps * np.sqrt(np.minimum(participation, config.max_participation))
    if config.slippage_noise_bps > 0:
        if noise is None:
            if rng is None:
                raise ValueError("slippage_noise_bps > 0 needs a random generator or drawn noise")
            noise = rng.standard_normal(qty.shape[0])
        slip += config.slippage_noise_bps * noise
    return np.clip(slip, 0.0, config.max_slippage_bps)


@dataclass(frozen=True)
class SlippageInputs:
    """What the slippage of a list of fills reads, gathered at their reference bars, with their noise drawn:
    the slippage of any subset of the fills (``pick``) is then the same as in one call over all of them."""

    high: np.ndarray | None
    low: np.ndarray | None
    close: np.ndarray | None
    volume: np.ndarray | None
    noise: np.ndarray | None

    def pick(self, idx: np.ndarray) -> SlippageInputs:
        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return SlippageInputs(
            cut(self.high), cut(self.low), cut(self.close), cut(self.volume), cut(self.noise)
        )

    def slippage(self, config: EngineConfig, qty: np.ndarray) -> np.ndarray:
        return slippage_bps(config, qty, self.high, self.low, self.close, self.volume, None, self.noise)
