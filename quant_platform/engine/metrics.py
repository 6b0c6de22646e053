"""Run metrics: path statistics of the equity curve, trade statistics of the fills, dual Sharpe.

Units are explicit in every name:
- ``*_step`` are per bar, never annualized; ``sharpe_step_raw`` is a diagnostic only.
- ``daily_return_*`` are per UTC day; ``sharpe_daily`` is the annualized daily Sharpe,
  ``mean(daily) / max(std(daily), daily_vol_floor) * sqrt(365)`` with per-step PnL summed into UTC day
  buckets (``sharpe_method = "daily_agg_v1"``). Returns are PnL over the fixed capital base, under either
  sizing mode (with ``sizing="current_equity"`` the positions compound, the return unit stays
  ``initial_capital`` so runs of both modes compare on one scale).
- ``total_return_*``, ``max_drawdown`` and ``turnover`` are fractions of capital over the whole run.
Observation days are *complete* UTC days: a run that starts after midnight or stops before the next one
observes its first/last day only in part. Such a partial day would count as a full day of evidence while
holding a few hours of PnL (a smaller, differently scaled return), so it is left out of both
``observation_days`` and the daily Sharpe and reported as ``partial_days`` (0, 1 or 2); its PnL still counts
in every whole-run statistic. The first day is complete when the run's first bar opens at 00:00 UTC, the last
when its last bar closes (opens + the bar length, the smallest timestamp step over the last day's bars and
the bar before them) at or after the next 00:00.
Days between them are complete (a day without any bar is not an observation day at all).
A run observed on fewer than ``min_observation_days`` complete UTC days (or fewer than 2), or with fewer
than ``min_completed_runs`` completed runs, gets ``status = "insufficient_observation"`` and a NaN
``sharpe_daily``.
"""

from __future__ import annotations

import math

import numpy as np

from quant_platform.core.timeutil import MS_PER_DAY
from quant_platform.engine.arrays import prefix_sums_at, row_mean, row_std
from quant_platform.engine.config import EngineConfig
from quant_platform.engine.replay import Fills, Funding

SHARPE_METHOD = "daily_agg_v1"
DAYS_PER_YEAR = 365
STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_observation"


def day_end_bars(ts_ms: np.ndarray) -> np.ndarray:
    """Index of the last bar of every UTC day present in ``ts_ms`` (strictly increasing)."""
    if ts_ms.size == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = int(ts_ms[0]) // MS_PER_DAY, int(ts_ms[-1]) // MS_PER_DAY
    next_day_starts = np.arange(first + 1, last + 2, dtype=np.int64) * MS_PER_DAY
    ends = np.searchsorted(ts_ms, next_day_starts, side="left") - 1
    return np.unique(ends)  # a day without bars repeats the previous end: it is not an observation day


def complete_days(ts_ms: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The complete UTC days of a run with bar open times ``ts_ms`` (see the module docstring).

    Returns ``(ends, base_bar, partial_days)``: the last bar of every complete day, the bar whose close
    starts the first complete day (-1: the run's initial capital), and the number of partial days.
    """
    ends = day_end_bars(ts_ms)
    if ends.size == 0:
        return ends, -1, 0
    # bar length: the smallest step among the last day's bars and the bar before them (one bar: unknown)
    tail = ts_ms[int(ends[-2]) if ends.size > 1 else 0 :]
    step = int(np.min(np.diff(tail))) if tail.size > 1 else 0
    first_partial = int(ts_ms[0]) % MS_PER_DAY != 0
    last_partial = int(ts_ms[-1]) + step < (int(ts_ms[-1]) // MS_PER_DAY + 1) * MS_PER_DAY
    keep = np.ones(ends.size, dtype=bool)
    keep[0] &= not first_partial
    keep[-1] &= not last_partial
    first = int(np.argmax(keep)) if keep.any() else ends.size  # only the first/last day can be partial
    base_bar = int(ends[first - 1]) if first > 0 else -1
    return ends[keep], base_bar, int((~keep).sum())


def max_drawdown(
    equity: np.ndarray, capital: float, block_bars: int = 1024, block_elements: int = 1 << 16
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``equity (K, T)``: the largest drop below the running peak (floored at ``capital``), absolute
    and relative to that peak.

    A running maximum is a sequential scan (~20x slower than a reduction), so it only runs where it matters.
    Bars are cut into blocks of ``block_bars``; the peak carried into each block is the maximum of the block
    maxima before it (maxima are exact, so these are the per-bar running peak's bits). A block in which no row
    sets a new high keeps that carried peak throughout, so its largest drop is ``carry - min(block)``
    (``carry - x`` and ``/ carry`` are monotone under rounding: the same bits as the per-bar maximum). Only
    runs of blocks with a new high (or a NaN) get the per-bar scan, in cache-sized slices.
    """
    n_cols, n_bars = equity.shape
    width = max(1, min(block_bars, n_bars))
    n_blocks = n_bars // width
    body = equity[:, : n_blocks * width].reshape(n_cols, n_blocks, width)
    block_max = body.max(axis=2)
    carry = np.empty((n_cols, n_blocks + 1))  # the running peak before each block (and before the tail)
    carry[:, 0] = capital
    np.maximum.accumulate(block_max, axis=1, out=carry[:, 1:])
    np.maximum(carry[:, 1:], capital, out=carry[:, 1:])
    loud = ~(block_max <= carry[:, :-1]).all(axis=0)  # a block where some row sets a new high, or holds a NaN
    quiet = np.flatnonzero(~loud)
    before = carry[:, quiet]
    # the minima of the quiet blocks: over every block when most are quiet (no gather), else over a gathered copy
    many_quiet = 2 * quiet.size > n_blocks
    block_min = body.min(axis=2)[:, quiet] if many_quiet else body[:, quiet].min(axis=2, initial=np.inf)
    quiet_drop = before - block_min
    dd_abs = quiet_drop.max(axis=1, initial=-np.inf)
    quiet_drop /= before
    dd_rel = quiet_drop.max(axis=1, initial=-np.inf)

    if n_blocks * width < n_bars:  # the tail after the last whole block is scanned
        loud = np.r_[loud, True]
    edges = np.diff(np.r_[False, loud, False].astype(np.int8))
    per_scan = max(1, block_elements // max(n_cols * width, 1))
    run_starts, run_stops = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    for first, stop in zip(run_starts, run_stops, strict=True):
        for blk in range(first, stop, per_scan):  # slices start at block boundaries: the carry there is exact
            values = equity[:, blk * width : min(blk + per_scan, stop) * width]
            peak = np.maximum.accumulate(values, axis=1)
            np.maximum(peak, carry[:, blk : blk + 1], out=peak)
            drop = peak - values
            np.maximum(dd_abs, drop.max(axis=1), out=dd_abs)
            drop /= peak
            np.maximum(dd_rel, drop.max(axis=1), out=dd_rel)
    return dd_abs, dd_rel


def path_metrics(
    equity: np.ndarray,
    ts_ms: np.ndarray | None,
    config: EngineConfig,
    *,
    completed_runs: int = 1,
    scratch: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-column path statistics of an equity curve ``(K, T)`` that starts from ``initial_capital``.

    ``scratch``: an optional float64 buffer of the same shape that may be overwritten (saves an allocation).
    """
    capital = config.initial_capital
    n_cols, n_bars = equity.shape
    final = equity[:, -1] if n_bars else np.full(n_cols, capital)
    # step PnL (currency); its stats are divided by capital after
    usable = scratch is not None and scratch.shape == equity.shape and scratch.dtype == np.float64
    step_ret = scratch if usable else np.empty_like(equity)
    step_ret[:, :1] = equity[:, :1] - capital
    np.subtract(equity[:, 1:], equity[:, :-1], out=step_ret[:, 1:])
    step_pnl_mean = (final - capital) / max(n_bars, 1)  # the steps telescope to final - capital
    step_mean = step_pnl_mean / capital
    if n_bars > 1:
        step_ret *= step_ret  # sample variance from the sum of squares: one pass instead of three
        sum_sq = np.array([row.sum() for row in step_ret])
        var = np.maximum(sum_sq - n_bars * step_pnl_mean**2, 0.0) / (n_bars - 1)
        step_std = np.sqrt(var) / capital
    else:
        step_std = np.full(n_cols, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe_step = np.where(step_std > 0, step_mean / step_std, np.where(step_mean == 0, 0.0, np.nan))

    dd_abs, dd_rel = max_drawdown(equity, capital)

    if ts_ms is None:
        days = partial_days = 0
        daily_mean = daily_std = sharpe_daily = np.full(n_cols, np.nan)
        floor_applied = np.zeros(n_cols, dtype=bool)
    else:
        ends, base_bar, partial_days = complete_days(ts_ms)
        days = len(ends)
        start = equity[:, base_bar : base_bar + 1] if base_bar >= 0 else capital
        daily = np.diff(equity[:, ends], axis=1, prepend=start) / capital
        daily_mean = row_mean(daily)
        daily_std = row_std(daily)
        floor_applied = ~(daily_std >= config.daily_vol_floor)
        sharpe_daily = daily_mean / np.maximum(np.nan_to_num(daily_std, nan=0.0), config.daily_vol_floor)
        sharpe_daily = sharpe_daily * math.sqrt(DAYS_PER_YEAR)
    adequate = days >= max(config.min_observation_days, 2) and completed_runs >= config.min_completed_runs
    if not adequate:
        sharpe_daily = np.full(n_cols, np.nan)
    status = np.full(n_cols, STATUS_OK if adequate else STATUS_INSUFFICIENT, dtype=object)
    return {
        "final_equity": final,
        "pnl_net": final - capital,
        "total_return_net": (final - capital) / capital,
        "max_drawdown": dd_rel,
        "max_drawdown_abs": dd_abs,
        "return_mean_step": step_mean,
        "return_std_step": step_std,
        "sharpe_step_raw": sharpe_step,
        "daily_return_mean": daily_mean,
        "daily_return_std": daily_std,
        "sharpe_daily": sharpe_daily,
        "sharpe_method": np.full(n_cols, SHARPE_METHOD, dtype=object),
        "observation_days": np.full(n_cols, days, dtype=np.int64),
        "partial_days": np.full(n_cols, partial_days, dtype=np.int64),
        "vol_floor_applied": floor_applied,
        "status": status,
    }


def episode_pnl(fills: Fills, funding: Funding, n_bars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Net PnL of every position episode (a run of same-sign non-zero position), and whether it closed.

    A fill that flips the sign closes one episode and opens another: its fee is split in proportion to the
    closing and opening quantities. Funding is charged to the episode holding the position.
    Returns (episode_column, episode_pnl, episode_closed).
    """
    ub, ua = fills.units_before, fills.units_after
    opens = (ua != 0) & (np.sign(ua) != np.sign(ub))
    closes = (ub != 0) & (np.sign(ua) != np.sign(ub))
    n_open = np.cumsum(opens)
    current = n_open - 1  # episode after this fill (valid where ua != 0)
    previous = n_open - opens - 1  # episode before this fill (valid where ub != 0)
    total = np.abs(ub) + np.abs(ua)
    close_share = np.where(closes, np.where(opens, np.abs(ub) / np.where(total > 0, total, 1), 1.0), 0.0)
    close_cf = np.where(closes, ub * fills.exec_price - fills.fee * close_share, 0.0)
    rest_cf = fills.cash_flow - close_cf

    n_episodes = int(n_open[-1]) if n_open.size else 0
    has_close = closes & (previous >= 0)
    has_rest = (ua != 0) & (current >= 0)
    # every closing flow, then every other fill flow, then funding, added in that order per episode
    # (np.bincount adds sequentially in input order, so the sums are those of a loop over the three lists)
    episode = [previous[has_close], current[has_rest]]
    flow = [close_cf[has_close], rest_cf[has_rest]]
    if funding.pnl.size:
        keys = fills.column.astype(np.int64) * n_bars + fills.bar
        idx = (
            np.searchsorted(keys, funding.column.astype(np.int64) * n_bars + funding.bar - 1, side="right")
            - 1
        )
        episode.append(current[idx])
        flow.append(funding.pnl)
    pnl = np.bincount(np.concatenate(episode), weights=np.concatenate(flow), minlength=n_episodes)
    episode_column = np.zeros(n_episodes, dtype=np.int64)
    episode_column[current[opens]] = fills.column[opens]
    closed = np.zeros(n_episodes, dtype=bool)
    closed[previous[has_close]] = True
    return episode_column, pnl, closed


def _sequential_group_sum(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group sums accumulated in input order (``np.bincount`` adds sequentially), so a column's total
    does not depend on the other columns of its block."""
    return np.bincount(group, weights=values, minlength=n_groups).astype(np.float64)


def exposure_metrics(
    fills: Fills, mark: np.ndarray, n_columns: int, config: EngineConfig
) -> dict[str, np.ndarray]:
    """Average gross exposure (fraction of capital) and time in market per column, from the fills alone:
    each fill's units are held until the column's next fill, so exposure is |units| × Σ mark over that span."""
    n_bars = mark.shape[1]
    col, start = fills.column, fills.bar
    end = np.empty_like(start)
    if start.size:
        end[:-1] = start[1:]
        end[np.r_[col[1:] != col[:-1], True]] = n_bars
    if n_columns == 1:  # one column: its fill bars, then the end, are sorted; no full-length prefix sum
        cum_at = prefix_sums_at(mark[0], np.r_[start, n_bars])
        held_mark = cum_at[1:] - cum_at[:-1]
    else:
        cum_mark = np.zeros((mark.shape[0], n_bars + 1))
        np.cumsum(mark, axis=1, out=cum_mark[:, 1:])
        if mark.shape[0] == 1:  # shared prices: 1-D gathers
            held_mark = cum_mark[0][end] - cum_mark[0][start]
        else:
            held_mark = cum_mark[col, end] - cum_mark[col, start]
    gross = np.bincount(col, weights=np.abs(fills.units_after) * held_mark, minlength=n_columns)
    in_market = np.bincount(
        col, weights=(fills.units_after != 0) * (end - start).astype(float), minlength=n_columns
    )
    return {
        "avg_gross_exposure": gross / n_bars / config.initial_capital,
        "time_in_market": in_market / n_bars,
    }


def trade_metrics(
    fills: Fills,
    funding: Funding,
    n_bars: int,
    group: np.ndarray,
    n_groups: int,
    config: EngineConfig,
) -> dict[str, np.ndarray]:
    """Per-group trade statistics; ``group[k]`` maps column ``k`` to its group (symbol → one portfolio)."""
    capital = config.initial_capital
    g = group[fills.column]
    traded = np.abs(fills.qty) * fills.fill_price

    def per_group(values: np.ndarray, where: np.ndarray = g) -> np.ndarray:
        return np.bincount(where, weights=values, minlength=n_groups).astype(np.float64)

    ep_col, ep_pnl, ep_closed = episode_pnl(fills, funding, n_bars)
    ep_group = group[ep_col][ep_closed]
    n_round_trips = np.bincount(ep_group, minlength=n_groups)
    wins = np.bincount(ep_group, weights=(ep_pnl[ep_closed] > 0).astype(float), minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        hit_rate = np.where(n_round_trips > 0, wins / n_round_trips, np.nan)
    return {
        "n_fills": np.bincount(g, minlength=n_groups).astype(np.int64),
        "n_round_trips": n_round_trips.astype(np.int64),
        "hit_rate": hit_rate,
        "turnover": per_group(traded) / capital,
        "fees": per_group(fills.fee),
        "slippage_cost": per_group(fills.slippage_cost),
        "funding_pnl": _sequential_group_sum(group[funding.column], funding.pnl, n_groups),
    }
