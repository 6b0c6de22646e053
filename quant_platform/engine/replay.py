"""The replay kernel: accepted targets → fills → positions, cash, funding and equity, closed-form in NumPy.

Because sizing is a fixed fraction of the capital base, a column's units after a fill depend only on its
target and that bar's fill price (``units = w * capital / fill_price``); no bar-by-bar recursion is needed:

1. risk limits turn requests into capped targets (``risk.py``);
2. the target known at signal bar ``t`` is due at bar ``t + delay``; at each *fillable* bar the held
   target becomes the latest due target, at other bars the previous one is held (orders wait over gaps);
3. fills are the bars where the held target changes (sparse); their cost is computed only there;
4. dense units are the fills' units held until the next fill; cash moves only at fills and funding
   settlements; equity = capital + cumulative cash flows + units × mark (last known close).

Funding: a print at ``τ`` settles on the bar ``j`` whose interval contains ``τ``, against the position
carried into that bar (``units[j-1]``; a fill inside bar ``j`` comes after the settlement) at the last known
close ``mark[j-1]``: ``cash += -units · mark · rate``, so longs pay positive funding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_platform.engine.arrays import expand_segments, forward_fill, last_true_index, shift_bars
from quant_platform.engine.config import EngineConfig
from quant_platform.engine.costs import fill_prices, fillable_bars, slippage_bps
from quant_platform.engine.risk import RiskOutcome, apply_risk_limits


@dataclass(frozen=True)
class MarketArrays:
    """Bar data ``(P, T)`` where ``P`` is 1 (shared by every column) or the number of columns."""

    close: np.ndarray
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None
    gap: np.ndarray | None = None
    funding_rate: np.ndarray | None = None  # rate settled in each bar (0 where none)

    @property
    def n_bars(self) -> int:
        return self.close.shape[1]

    def pick(self, columns: slice) -> MarketArrays:
        """The rows for a block of strategy columns (shared rows stay shared)."""
        if self.close.shape[0] == 1:
            return self

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[columns]

        return MarketArrays(
            close=self.close[columns],
            open=cut(self.open),
            high=cut(self.high),
            low=cut(self.low),
            volume=cut(self.volume),
            gap=cut(self.gap),
            funding_rate=cut(self.funding_rate),
        )


@dataclass(frozen=True)
class Fills:
    """Every fill, k-major (by column, then bar)."""

    column: np.ndarray
    bar: np.ndarray
    target_weight: np.ndarray
    units_before: np.ndarray
    units_after: np.ndarray
    qty: np.ndarray
    fill_price: np.ndarray
    exec_price: np.ndarray
    slippage_bps: np.ndarray
    slippage_cost: np.ndarray
    fee: np.ndarray

    @property
    def cash_flow(self) -> np.ndarray:
        return -(self.qty * self.exec_price + self.fee)


@dataclass(frozen=True)
class Replay:
    risk: RiskOutcome
    held_weight: np.ndarray  # (K, T) target in force after each bar's fills
    units: np.ndarray  # (K, T) units held at each bar's close
    mark: np.ndarray  # (P, T) last known close (0 before the first one)
    position_value: np.ndarray  # (K, T) units × mark
    equity: np.ndarray  # (K, T) capital + cash flows + position value, per column
    fills: Fills
    funding_bar: np.ndarray  # (F,) bars with a settlement
    funding_pnl: np.ndarray  # (K, F) settlement cash flow per column


def _rows(array: np.ndarray, column: np.ndarray) -> np.ndarray:
    return np.zeros_like(column) if array.shape[0] == 1 else column


def replay(
    market: MarketArrays,
    requested: np.ndarray,
    config: EngineConfig,
    *,
    portfolio: bool,
    rng: np.random.Generator,
) -> Replay:
    """Replay requested targets ``(K, T)`` (NaN = hold) on ``market`` under ``config``."""
    n_cols, n_bars = requested.shape
    capital = config.initial_capital
    risk = apply_risk_limits(requested, config, portfolio=portfolio)

    price = fill_prices(config.fill_price, market.open, market.high, market.low, market.close)
    fillable = fillable_bars(price, market.close, market.gap)
    due = shift_bars(risk.target_weight, config.execution_delay_bars)
    if fillable.all():
        held = due
    elif fillable.shape[0] == 1:
        last = last_true_index(fillable[0])
        held = due[:, np.maximum(last, 0)]
        held[:, last < 0] = 0.0
    else:
        held = forward_fill(due, fillable, initial=0.0)

    change = np.empty(held.shape, dtype=bool)
    change[:, 0] = held[:, 0] != 0.0
    np.not_equal(held[:, 1:], held[:, :-1], out=change[:, 1:])
    column, bar = np.nonzero(change)
    prow = _rows(price, column)
    fill_price = price[prow, bar]
    weight = held[column, bar]
    units_after = weight * capital / fill_price
    units_before = np.empty_like(units_after)
    if units_after.size:
        units_before[1:] = units_after[:-1]
        units_before[np.r_[True, column[1:] != column[:-1]]] = 0.0
    qty = units_after - units_before

    def at(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[_rows(a, column), bar]

    slip = slippage_bps(
        config, qty, at(market.high), at(market.low), at(market.close), at(market.volume), rng
    )
    exec_price = fill_price * (1.0 + np.sign(qty) * slip * 1e-4)
    fee = np.abs(qty) * exec_price * (config.fee_bps * 1e-4)
    fills = Fills(
        column=column,
        bar=bar,
        target_weight=weight,
        units_before=units_before,
        units_after=units_after,
        qty=qty,
        fill_price=fill_price,
        exec_price=exec_price,
        slippage_bps=slip,
        slippage_cost=np.abs(qty) * np.abs(exec_price - fill_price),
        fee=fee,
    )

    units = expand_segments(column, bar, units_after, n_cols, n_bars)
    with np.errstate(invalid="ignore"):
        mark = forward_fill(market.close, np.isfinite(market.close) & (market.close > 0), initial=0.0)
    position_value = units * mark

    flows = np.zeros((n_cols, n_bars))
    flows[column, bar] = fills.cash_flow
    funding_bar = np.zeros(0, dtype=np.int64)
    funding_pnl = np.zeros((n_cols, 0))
    if config.settle_funding and market.funding_rate is not None:
        rate = np.nan_to_num(market.funding_rate, nan=0.0)
        funding_bar = np.nonzero((rate != 0.0).any(axis=0))[0]
        funding_bar = funding_bar[funding_bar >= 1]
        funding_pnl = -position_value[:, funding_bar - 1] * rate[:, funding_bar]
        flows[:, funding_bar] += funding_pnl
    equity = np.cumsum(flows, axis=1)
    equity += capital
    equity += position_value
    return Replay(
        risk=risk,
        held_weight=held,
        units=units,
        mark=mark,
        position_value=position_value,
        equity=equity,
        fills=fills,
        funding_bar=funding_bar,
        funding_pnl=funding_pnl,
    )
