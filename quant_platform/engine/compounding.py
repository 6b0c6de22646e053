"""Sizing off current equity (``EngineConfig.sizing = "current_equity"``): the units of every fill.

A fill at bar ``e`` with target weight ``w`` holds ``units = w * E / fill_price`` where ``E`` is the equity at
the close of bar ``e - 1`` — capital, plus every fill's cash flow (execution price and fee) and funding
settled up to that bar, plus the units held marked at the last known close (``E`` is floored at 0: an account
that has lost everything sizes every order to 0 units, i.e. it can only close). For a portfolio (run_backtest)
``E`` is the equity of all its symbols together; each column of a sweep is its own portfolio.

Unlike fixed-capital sizing this is a recursion (a fill's size depends on every earlier fill's costs), so it
runs as a loop over the distinct fill bars, vectorised across the fills of one bar. Its cost grows with the
number of fill bars, not with the number of bars. The cash flows use the same slippage and fee formulas as
the replay (:class:`quant_platform.engine.costs.SlippageInputs` with the same noise draws).
"""

from __future__ import annotations

import numpy as np

from quant_platform.engine.config import EngineConfig
from quant_platform.engine.costs import SlippageInputs
from quant_platform.engine.targets import TargetChanges


def compounding_units(
    held: TargetChanges,
    fill_price: np.ndarray,
    reference: SlippageInputs,
    mark: np.ndarray,
    funding_rate: np.ndarray | None,
    config: EngineConfig,
    *,
    portfolio: bool,
) -> np.ndarray:
    """Units after each fill of ``held`` (k-major, as the replay lists them) under current-equity sizing."""
    n_cols = held.n_columns
    column, bar, weight = held.column, held.bar, held.weight
    units_after = np.zeros(bar.shape[0])
    if bar.size == 0:
        return units_after
    group = np.zeros(n_cols, dtype=np.int64) if portfolio else np.arange(n_cols)
    n_groups = int(group.max()) + 1
    mark_row = np.zeros(n_cols, dtype=np.int64) if mark.shape[0] == 1 else np.arange(n_cols)
    units = np.zeros(n_cols)
    cash = np.full(n_groups, config.initial_capital)
    fee_rate = config.fee_bps * 1e-4

    settle = config.settle_funding and funding_rate is not None
    if settle:
        rate = np.nan_to_num(funding_rate, nan=0.0)
        rate_row = np.zeros(n_cols, dtype=np.int64) if rate.shape[0] == 1 else np.arange(n_cols)
        funding_bars = np.flatnonzero((rate != 0.0).any(axis=0))
        funding_bars = funding_bars[funding_bars >= 1]
    settled_to = 0  # funding settled for every bar <= settled_to

    def settle_until(last: int) -> None:
        """Funding of bars (settled_to, last], on the units carried into each (no fill in between)."""
        nonlocal settled_to
        if settle and last > settled_to:
            lo, hi = np.searchsorted(funding_bars, [settled_to + 1, last + 1])
            for j in funding_bars[lo:hi].tolist():
                flows = -units * mark[mark_row, j - 1] * rate[rate_row, j]
                cash[:] += np.bincount(group, weights=flows, minlength=n_groups)
        settled_to = max(settled_to, last)

    order = np.argsort(bar, kind="stable")
    starts = np.flatnonzero(np.r_[True, bar[order][1:] != bar[order][:-1]])
    for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), order.size], strict=True):
        idx = order[lo:hi]
        e = int(bar[idx[0]])
        settle_until(e - 1)
        equity = cash + np.bincount(group, weights=units * mark[mark_row, e - 1], minlength=n_groups)
        cols = column[idx]
        # an account at or below zero opens nothing: w * E with E < 0 would turn a long into a short
        after = weight[idx] * np.maximum(equity[group[cols]], 0.0) / fill_price[idx]
        qty = after - units[cols]
        slip = reference.pick(idx).slippage(config, qty)
        exec_price = fill_price[idx] * (1.0 + np.sign(qty) * slip * 1e-4)
        settle_until(e)  # this bar's settlement comes before its fills, on the units carried in
        flows = -(qty * exec_price + np.abs(qty) * exec_price * fee_rate)
        cash[:] += np.bincount(group[cols], weights=flows, minlength=n_groups)
        units[cols] = after
        units_after[idx] = after
    return units_after
