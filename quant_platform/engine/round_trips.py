"""Round trips: the fills of a run regrouped into trades, one row per position episode.

Convention (what a user of backtesting.py's ``stats._trades`` or NautilusTrader's closed positions expects):

- A round trip is one *episode* of a symbol's position: it opens with the fill that takes the position from
  flat (or from the other side) to non-zero, and closes with the fill that takes it back to flat or across
  zero. A **flip** (long 1 → short 1 in one fill of size 2) closes one round trip and opens the next at the
  same bar and price: the fill is split into its closing leg (``|units_before|``) and its opening leg
  (``|units_after|``).
- Fills in between that add to the position are *entry* legs, fills that reduce it are *exit* legs.
  ``size`` is the units entered (for a position opened once and closed once, its size); ``entry_price`` and
  ``exit_price`` are the unit-weighted average execution prices (slippage included) of the entry and exit
  legs.
- Fees are split between legs in proportion to units: a flip's fee goes ``|units_before| / (|units_before|
  + |units_after|)`` to the closing trip's ``exit_fees`` and the rest to the new trip's ``entry_fees`` (the
  same split as the ``n_round_trips`` / ``hit_rate`` metrics). ``slippage_cost`` is split the same way; it
  is already inside the execution prices (informative, not subtracted twice).
- ``funding_pnl`` is every funding settlement charged while the trip held the position.
- ``pnl_gross = side * (exit value - entry value)`` at execution prices, ``pnl_net = pnl_gross - entry_fees
  - exit_fees + funding_pnl``; ``return_gross`` and ``return_net`` divide them by the entry value
  (``size * entry_price``).
- ``bars_held`` = exit fill bar - entry fill bar (bar count on the run's grid, gap bars included).
- A trip still open at the end of the data has ``closed = False``, null ``exit_ts`` and ``exit_price``; its
  PnL marks the remaining units at the last known close (no exit fee) and ``bars_held`` counts to the last bar.

Summed over every trip, ``pnl_net`` is the run's PnL (``final_equity - initial_capital``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from quant_platform.engine.replay import Fills, Funding


def labels(names: list[str], index: np.ndarray) -> pl.Series:
    """``names[index]`` as a polars String column, gathered by polars (a NumPy string array is converted one
    Python string at a time: seconds for a few hundred thousand fills)."""
    return pl.Series(names, dtype=pl.String).gather(np.asarray(index, dtype=np.uint32))


def _as_utc(ts_ms: np.ndarray) -> pl.Series:
    return pl.Series(ts_ms, dtype=pl.Int64).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def round_trip_table(
    fills: Fills,
    funding: Funding,
    mark: np.ndarray,
    ts_ms: np.ndarray,
    symbols: list[str],
) -> pl.DataFrame:
    """The round trips of a replay (see the module convention); ``mark`` ``(P, T)`` is the last known close."""
    n_bars = ts_ms.shape[0]
    ub, ua, qty = fills.units_before, fills.units_after, fills.qty
    flips_or_opens = np.sign(ua) != np.sign(ub)
    opens = (ua != 0) & flips_or_opens
    closes = (ub != 0) & flips_or_opens
    n_open = np.cumsum(opens)
    current = n_open - 1  # trip after this fill (valid where ua != 0)
    previous = n_open - opens - 1  # trip before this fill (valid where ub != 0)
    # units of each fill that reduce/close the trip before it, and that open/increase the trip after it
    same_side = ~flips_or_opens
    exit_units = np.where(
        closes, np.abs(ub), np.where(same_side & (np.abs(ua) < np.abs(ub)), np.abs(qty), 0.0)
    )
    entry_units = np.where(
        opens, np.abs(ua), np.where(same_side & (np.abs(ua) > np.abs(ub)), np.abs(qty), 0.0)
    )
    legs = exit_units + entry_units
    exit_share = np.divide(exit_units, legs, out=np.zeros_like(legs), where=legs > 0)
    n_trips = int(n_open[-1]) if n_open.size else 0
    exit_trip = np.where(closes, previous, current)  # a same-side reduction belongs to the trip it is in
    has_exit, has_entry = exit_units > 0, entry_units > 0

    def per_trip(where: np.ndarray, trip: np.ndarray, values: np.ndarray) -> np.ndarray:
        # float even when empty (np.bincount of no values returns int64)
        return np.bincount(trip[where], weights=values[where], minlength=n_trips).astype(
            np.float64, copy=False
        )

    size = per_trip(has_entry, current, entry_units)
    entry_value = per_trip(has_entry, current, entry_units * fills.exec_price)
    exited = per_trip(has_exit, exit_trip, exit_units)
    exit_value = per_trip(has_exit, exit_trip, exit_units * fills.exec_price)
    entry_fees = per_trip(has_entry, current, fills.fee * (1.0 - exit_share))
    exit_fees = per_trip(has_exit, exit_trip, fills.fee * exit_share)
    slippage = per_trip(has_entry, current, fills.slippage_cost * (1.0 - exit_share)) + per_trip(
        has_exit, exit_trip, fills.slippage_cost * exit_share
    )
    # a fill is an entry leg, an exit leg, or (a flip) one of each in two different trips
    n_fills = np.bincount(current[has_entry], minlength=n_trips) + np.bincount(
        exit_trip[has_exit], minlength=n_trips
    )
    funding_pnl = np.zeros(n_trips)
    if funding.pnl.size and n_trips:
        # a settlement at bar j is charged to the position carried into j: the trip after the last fill before j
        keys = fills.column.astype(np.int64) * n_bars + fills.bar
        at = (
            np.searchsorted(keys, funding.column.astype(np.int64) * n_bars + funding.bar - 1, side="right")
            - 1
        )
        funding_pnl = np.bincount(current[at], weights=funding.pnl, minlength=n_trips).astype(np.float64)

    trip_column = fills.column[opens]
    side = np.sign(ua[opens])
    entry_bar = fills.bar[opens]
    closed = np.zeros(n_trips, dtype=bool)
    closed[previous[closes]] = True
    exit_bar = np.full(n_trips, -1, dtype=np.int64)
    exit_bar[previous[closes]] = fills.bar[closes]
    # open trips: the units still held are marked at the last known close
    remaining = np.where(closed, 0.0, size - exited)
    last_mark = mark[np.where(mark.shape[0] == 1, 0, trip_column), -1] if n_trips else np.zeros(0)
    marked_exit_value = exit_value + remaining * last_mark
    pnl_gross = side * (marked_exit_value - entry_value)
    pnl_net = pnl_gross - entry_fees - exit_fees + funding_pnl
    with np.errstate(divide="ignore", invalid="ignore"):
        entry_price = entry_value / size
        exit_price = np.where(closed, exit_value / np.where(exited > 0, exited, 1.0), np.nan)
    bars_held = np.where(closed, exit_bar, n_bars - 1) - entry_bar
    frame = pl.DataFrame(
        {
            "symbol": labels(symbols, trip_column),
            "side": labels(["short", "long"], (side > 0).astype(np.uint32)),
            "size": size,
            "entry_ts": _as_utc(ts_ms[entry_bar]),
            "entry_price": entry_price,
            "exit_ts": _as_utc(ts_ms[np.maximum(exit_bar, 0)]),
            "exit_price": exit_price,
            "closed": closed,
            "bars_held": bars_held.astype(np.int64),
            "n_fills": n_fills.astype(np.int64),
            "entry_fees": entry_fees,
            "exit_fees": exit_fees,
            "slippage_cost": slippage,
            "funding_pnl": funding_pnl,
            "pnl_gross": pnl_gross,
            "pnl_net": pnl_net,
            "return_gross": pnl_gross / entry_value,
            "return_net": pnl_net / entry_value,
        },
        schema_overrides={"symbol": pl.String, "side": pl.String},
    )
    frame = frame.with_columns(
        exit_ts=pl.when(pl.col("closed")).then(pl.col("exit_ts")),
        exit_price=pl.when(pl.col("closed")).then(pl.col("exit_price")),
    )
    return frame.sort("entry_ts", "symbol", maintain_order=True)
