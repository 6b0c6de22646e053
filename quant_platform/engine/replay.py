"""The replay kernel: target change points → fills → positions, cash, funding and equity, closed-form in NumPy.

Because sizing is a fixed fraction of the capital base, a column's units after a fill depend only on its
target and that bar's fill price (``units = w * capital / fill_price``); no bar-by-bar recursion is needed:

1. risk limits turn requested changes into capped accepted changes (``risk.py``);
2. a change decided at signal bar ``t`` is due at bar ``d = t + delay``; it fills at the first fillable bar
   ``>= d`` (orders wait over gaps); when several changes of a column fall due by the same fill bar, the
   latest wins, and a fill that would not change the position is dropped;
3. costs are computed only at the fills (sparse), from each fill's reference bar: the last fillable bar
   before the fill bar, whose range and volume are known when the order goes out (``costs.py``);
4. dense units are each fill's units held until the next fill; cash moves only at fills and funding
   settlements; equity = capital + cumulative cash flows + units × mark (last known close).

Funding: a print at ``τ`` settles on the bar ``j`` whose interval contains ``τ``, against the position
carried into that bar (``units[j-1]``; a fill inside bar ``j`` comes after the settlement) at the last known
close ``mark[j-1]``: ``cash += -units · mark · rate``, so longs pay positive funding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from quant_platform.engine.arrays import expand_segments, forward_fill, last_true_index
from quant_platform.engine.compounding import compounding_units
from quant_platform.engine.config import EngineConfig
from quant_platform.engine.costs import SlippageInputs, fill_prices, fillable_bars, valid_prices
from quant_platform.engine.risk import RiskOutcome, apply_risk_limits
from quant_platform.engine.targets import TargetChanges, drop_repeats


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

        def cut(a: np.ndarray | None) -> np.ndarray | None:  # a shared (1, T) row stays shared
            return a if a is None or a.shape[0] == 1 else a[columns]

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
class Funding:
    """Non-zero funding settlements, k-major: cash flow ``pnl`` of ``column`` at ``bar``."""

    column: np.ndarray
    bar: np.ndarray
    pnl: np.ndarray


@dataclass(frozen=True)
class Replay:
    risk: RiskOutcome
    unexecuted: Unexecuted
    fills: Fills
    funding: Funding
    mark: np.ndarray  # (P, T) last known close (0 before the first one)
    equity: np.ndarray  # (K, T) capital + cash flows + units × mark, per column
    # a dead (K, T) float64 buffer the caller may overwrite (a sweep's step returns), saving an allocation
    spare: np.ndarray | None = None

    @cached_property
    def units(self) -> np.ndarray:
        """(K, T) units held at each bar's close; built on demand (a sweep's summary never needs it)."""
        k, t = self.equity.shape
        return expand_segments(self.fills.column, self.fills.bar, self.fills.units_after, k, t)

    def held_weight(self) -> np.ndarray:
        """(K, T) target weight in force after each bar's fills."""
        k, t = self.equity.shape
        return expand_segments(self.fills.column, self.fills.bar, self.fills.target_weight, k, t)


def _rows(array: np.ndarray, column: np.ndarray) -> np.ndarray:
    return np.zeros_like(column) if array.shape[0] == 1 else column


def next_true_index(mask: np.ndarray) -> np.ndarray:
    """For each ``(p, t)``, the smallest ``s >= t`` with ``mask[p, s]``, or ``T`` if there is none."""
    n_bars = mask.shape[1]
    idx = np.where(mask, np.arange(n_bars, dtype=np.int64), n_bars)
    return np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]


@dataclass(frozen=True)
class Unexecuted:
    """(K,) accepted orders per column that never filled: due after the last bar (or waiting over gaps until
    the end of the data), and superseded by a later order of the column that fell due by the same fill bar."""

    unfilled_at_end: np.ndarray
    superseded: np.ndarray


def schedule_fills(accepted: TargetChanges, fillable: np.ndarray, delay: int) -> TargetChanges:
    """Accepted changes → the changes of the held target, stamped with their fill bar."""
    return schedule_fills_counted(accepted, fillable, delay)[0]


def schedule_fills_counted(
    accepted: TargetChanges, fillable: np.ndarray, delay: int
) -> tuple[TargetChanges, Unexecuted]:
    """:func:`schedule_fills`, and how many accepted orders per column never fill (:class:`Unexecuted`)."""
    n_cols = accepted.n_columns
    n_bars = accepted.n_bars
    due = accepted.bar + delay
    on_time = due < n_bars
    changes = accepted.select(on_time)
    if changes is not accepted:
        due = due[on_time]
    if fillable.all():
        fill_bar = due
    else:
        nxt = next_true_index(fillable)
        fill_bar = nxt[_rows(nxt, changes.column), due]
    inside = fill_bar < n_bars
    col, weight = changes.column, changes.weight
    if not inside.all():
        col, fill_bar, weight = col[inside], fill_bar[inside], weight[inside]
    last_of_bar = (
        np.r_[(col[1:] != col[:-1]) | (fill_bar[1:] != fill_bar[:-1]), True] if col.size else col.astype(bool)
    )
    held = TargetChanges(col, fill_bar, weight, accepted.n_columns, n_bars).select(last_of_bar)
    never_filled = np.bincount(accepted.column, minlength=n_cols) - np.bincount(col, minlength=n_cols)
    outcome = Unexecuted(
        unfilled_at_end=never_filled.astype(np.int64),
        superseded=np.bincount(col[~last_of_bar], minlength=n_cols).astype(np.int64),
    )
    return drop_repeats(held), outcome


def reference_bars(fillable: np.ndarray, column: np.ndarray, fill_bar: np.ndarray) -> np.ndarray:
    """For each fill, the last fillable bar strictly before its fill bar (-1 if none): the latest completed
    bar whose range and volume the slippage model may use."""
    if fillable.all():
        return fill_bar - 1  # fill bars are >= 1 (entry_lag_bars >= 1)
    last = last_true_index(fillable)
    return last[_rows(last, column), fill_bar - 1]


def _segment_cumsum(column: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each column (k-major input), one 1-D cumsum per column so the bits never
    depend on which other columns share the block."""
    out = np.empty_like(values)
    bounds = np.flatnonzero(np.r_[True, column[1:] != column[:-1], True]) if column.size else np.zeros(1, int)
    for lo, hi in itertools.pairwise(bounds):
        np.cumsum(values[lo:hi], out=out[lo:hi])
    return out


def replay(
    market: MarketArrays,
    requests: TargetChanges,
    config: EngineConfig,
    *,
    portfolio: bool,
    rng: np.random.Generator,
) -> Replay:
    """Replay requested target changes on ``market`` under ``config``."""
    n_cols, n_bars = requests.n_columns, requests.n_bars
    capital = config.initial_capital
    risk = apply_risk_limits(requests, config, portfolio=portfolio)

    price = fill_prices(config.fill_price, market.open, market.high, market.low, market.close)
    valid_close = valid_prices(market.close)
    fillable = fillable_bars(price, market.close, market.gap, valid_close=valid_close)
    held, unexecuted = schedule_fills_counted(risk.accepted, fillable, config.execution_delay_bars)
    column, bar, weight = held.column, held.bar, held.weight
    fill_price = price[0][bar] if price.shape[0] == 1 else price[column, bar]

    ref_bar = reference_bars(fillable, column, bar)
    known = ref_bar >= 0
    ref_at = np.maximum(ref_bar, 0)

    def at_ref(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        got = a[0][ref_at] if a.shape[0] == 1 else a[column, ref_at]
        return got if known.all() else np.where(known, got, np.nan)

    uses_range, uses_volume = (
        config.slippage_vol_coef > 0,
        config.slippage_impact_bps > 0,
    )  # gather only these
    reference = SlippageInputs(
        high=at_ref(market.high) if uses_range else None,
        low=at_ref(market.low) if uses_range else None,
        close=at_ref(market.close) if uses_range else None,
        volume=at_ref(market.volume) if uses_volume else None,
        noise=rng.standard_normal(bar.shape[0]) if config.slippage_noise_bps > 0 else None,
    )
    mark = forward_fill(market.close, valid_close, initial=0.0)
    if config.sizing == "current_equity":
        units_after = compounding_units(
            held, fill_price, reference, mark, market.funding_rate, config, portfolio=portfolio
        )
    else:
        units_after = weight * capital / fill_price
    units_before = np.empty_like(units_after)
    if units_after.size:
        units_before[1:] = units_after[:-1]
        units_before[np.r_[True, column[1:] != column[:-1]]] = 0.0
    qty = units_after - units_before
    slip = reference.slippage(config, qty)
    exec_price = fill_price * (1.0 + np.sign(qty) * slip * 1e-4)
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
        fee=np.abs(qty) * exec_price * (config.fee_bps * 1e-4),
    )

    # one dense buffer: units held, then units × mark, then equity (units are rebuilt on demand, Replay.units)
    position = expand_segments(column, bar, units_after, n_cols, n_bars)

    funding = Funding(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if config.settle_funding and market.funding_rate is not None:
        rate = np.nan_to_num(market.funding_rate, nan=0.0)
        fbar = np.nonzero((rate != 0.0).any(axis=0))[0]
        fbar = fbar[fbar >= 1]
        mark_before = mark[:, fbar - 1]
        flows = -position[:, fbar - 1] * mark_before * rate[:, fbar]
        fk, fi = np.nonzero(flows)
        funding = Funding(fk, fbar[fi], flows[fk, fi])

    # cash: per column, cumulative cash flows of fills and settlements (merged in bar order)
    ev_col, ev_bar, ev_cash = column, bar, fills.cash_flow  # fills alone are already k-major
    if funding.pnl.size:
        ev_col = np.concatenate([column, funding.column])
        ev_bar = np.concatenate([bar, funding.bar])
        ev_cash = np.concatenate([ev_cash, funding.pnl])
        order = np.argsort(ev_col.astype(np.int64) * n_bars + ev_bar, kind="stable")
        ev_col, ev_bar, ev_cash = ev_col[order], ev_bar[order], ev_cash[order]
    cash = expand_segments(
        ev_col, ev_bar, _segment_cumsum(ev_col, ev_cash) + capital, n_cols, n_bars, initial=capital
    )
    equity = np.multiply(position, mark, out=position)
    equity += cash
    spare = None if portfolio else cash  # a portfolio run keeps no spare: its caller holds the replay longer
    return Replay(
        risk=risk, unexecuted=unexecuted, fills=fills, funding=funding, mark=mark, equity=equity, spare=spare
    )
