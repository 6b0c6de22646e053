"""A day's validated rows → one row per (symbol, slot) of the complete bar grid, by dense NumPy reductions.

The output grid is complete by construction (every symbol × every slot of the day), and after validation
every row has a known symbol, a stamp inside the day and, for bars, a unique stamp on the source interval
grid. So each row has a fixed position on a dense ``(symbol, source step)`` array and the slot aggregates
are plain reductions over a ``(symbols × slots, source steps per slot)`` reshape: no hashing, no joins and
no sorts: the group-by + grid join + as-of join plan this replaces took ~15 ms of a ~36 ms clean of
20 symbols × 1440 1m bars, these reductions take ~4 ms. Null semantics follow
:mod:`quant_platform.market.cleaning`: a slot with no bar has null prices; a volume sum is null if any
contributing value is null or NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from quant_platform.core.timeutil import MS_PER_DAY, TS_DTYPE

SUMMED = ("volume", "quote_volume", "trades", "taker_buy_volume")
# Optional integer column: the row's position in DayGrid.symbols, when validation has already looked it up.
SYMBOL_INDEX = "symbol_index"


@dataclass(frozen=True)
class DayGrid:
    """The (symbol, slot) grid of one UTC day: symbols in output order, slot length and day start."""

    symbols: tuple[str, ...]
    start_ms: int
    interval_ms: int

    @property
    def n_slots(self) -> int:
        return MS_PER_DAY // self.interval_ms

    @property
    def size(self) -> int:
        return len(self.symbols) * self.n_slots

    def symbol_index(self, frame: pl.DataFrame) -> np.ndarray:
        """Position of each (validated, hence known) symbol in :attr:`symbols` (the frame's
        :data:`SYMBOL_INDEX` column when it has one)."""
        if SYMBOL_INDEX in frame.columns:
            return frame[SYMBOL_INDEX].to_numpy().astype(np.int64, copy=False)
        return frame["symbol"].cast(pl.Enum(self.symbols)).to_physical().to_numpy().astype(np.int64)

    def offsets(self, ts: pl.Series) -> np.ndarray:
        return ts.dt.epoch("ms").to_numpy() - self.start_ms

    def slot_position(self, frame: pl.DataFrame) -> np.ndarray:
        """Row → ``symbol index × slots + slot index`` (the slot holding the row's stamp)."""
        return self.symbol_index(frame) * self.n_slots + self.offsets(frame["ts"]) // self.interval_ms

    def frame(self) -> pl.DataFrame:
        """The grid's ``symbol`` and ``ts`` (slot open) columns, sorted by symbol then time."""
        slots = self.start_ms + np.arange(self.n_slots, dtype=np.int64) * self.interval_ms
        return pl.DataFrame(
            {
                "symbol": pl.Series(self.symbols, dtype=pl.String).gather(
                    np.repeat(np.arange(len(self.symbols)), self.n_slots)
                ),
                "ts": pl.Series(np.tile(slots, len(self.symbols))).cast(TS_DTYPE),
            }
        )


def _column(values: np.ndarray, null: np.ndarray | None = None) -> pl.Series:
    return pl.Series(pl.from_arrow(pa.array(values, mask=null)))


def _finite_or_null(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values with NaN/null zeroed, and where they were null or NaN (a sum over them is unknown)."""
    if series.has_nulls():
        missing = series.is_null().to_numpy()
        values = series.fill_null(0).to_numpy()
    else:  # the usual case: a zero-copy view, no null mask to build
        values = series.to_numpy()
        missing = np.zeros(values.size, dtype=bool)
    if series.dtype.is_float():
        missing |= np.isnan(values)
        values = np.where(missing, 0.0, values)
    return values, missing


def _by_step(values: np.ndarray) -> np.ndarray:
    """A ``(slots, steps)`` array as contiguous ``(steps, slots)``: NumPy reduces a short inner axis (5 steps
    of a 5m slot) ~10x slower than it combines long rows, so max/min/any/count reduce over axis 0 of this.
    Sums keep the ``(slots, steps)`` reduction: the order of float additions stays that of the slot's own."""
    return np.ascontiguousarray(values.T)


def _source_layout(bars: pl.DataFrame, grid: DayGrid, source_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Each bar's position on the dense (symbol, source step) array, and the (slots, steps) presence mask."""
    per_slot = grid.interval_ms // source_ms
    steps_per_day = MS_PER_DAY // source_ms
    position = grid.symbol_index(bars) * steps_per_day + grid.offsets(bars["ts"]) // source_ms
    present = np.zeros(grid.size * per_slot, dtype=bool)
    present[position] = True
    return position, present.reshape(grid.size, per_slot)


def last_close(bars: pl.DataFrame, grid: DayGrid, source_ms: int) -> tuple[pl.Series, np.ndarray]:
    """Close of the last bar in each slot (null without one), and the number of bars per slot."""
    position, present = _source_layout(bars, grid, source_ms)
    per_slot = present.shape[1]
    close = np.full(present.size, np.nan)
    close[position] = bars["close"].to_numpy()
    last = per_slot - 1 - present[:, ::-1].argmax(axis=1)
    count = _by_step(present).sum(axis=0)
    return _column(close.reshape(present.shape)[np.arange(grid.size), last], count == 0), count


def aggregate_bars(bars: pl.DataFrame, grid: DayGrid, source_ms: int) -> dict[str, pl.Series]:
    """OHLC, summed volumes and ``n_source_bars`` per grid slot from validated, de-duplicated klines.

    OHLC = first open, max high, min low, last close by stamp; sums are null when any contributing value is
    null or NaN (a partial sum would understate); slots without a bar have null prices and volumes.
    """
    position, present = _source_layout(bars, grid, source_ms)
    shape = present.shape
    per_slot = shape[1]
    count = _by_step(present).sum(axis=0)
    empty = count == 0
    rows = np.arange(grid.size)
    first = present.argmax(axis=1)
    last = per_slot - 1 - present[:, ::-1].argmax(axis=1)

    def dense(name: str, fill: float) -> np.ndarray:
        out = np.full(grid.size * per_slot, fill)
        out[position] = bars[name].to_numpy()
        return out.reshape(shape)

    out = {
        "open": _column(dense("open", np.nan)[rows, first], empty),
        "high": _column(_by_step(dense("high", -np.inf)).max(axis=0), empty),
        "low": _column(_by_step(dense("low", np.inf)).min(axis=0), empty),
        "close": _column(dense("close", np.nan)[rows, last], empty),
    }
    for name in SUMMED:
        values, missing = _finite_or_null(bars[name])
        total = np.zeros(grid.size * per_slot, dtype=values.dtype)
        total[position] = values
        unknown = np.zeros(grid.size * per_slot, dtype=bool)
        unknown[position] = missing
        out[name] = _column(
            total.reshape(shape).sum(axis=1), empty | _by_step(unknown.reshape(shape)).any(axis=0)
        )
    out["n_source_bars"] = pl.Series(count.astype(np.int32))
    return out


def liquidation_sums(liquidations: pl.DataFrame, grid: DayGrid) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """Summed SELL (long liquidated) and BUY (short liquidated) notionals per slot (0 when none), and the
    number of liquidation rows per slot."""
    slot = grid.slot_position(liquidations)
    notional = liquidations["notional"].to_numpy()
    sell = (liquidations["side"] == "SELL").to_numpy()
    # bincount adds in row order: the same sums as a sequential group-by
    long = np.bincount(slot[sell], weights=notional[sell], minlength=grid.size)
    short = np.bincount(slot[~sell], weights=notional[~sell], minlength=grid.size)
    rows = np.bincount(slot, minlength=grid.size)
    return pl.Series(long.astype(np.float64)), pl.Series(short.astype(np.float64)), rows


def as_of_close(prints: pl.DataFrame, value: str, grid: DayGrid) -> pl.Series:
    """The last print at or before each slot's close (``print ts <= slot + interval``), null before any.

    ``prints`` (symbol, ts, value) may include stamps before the day (the previous day's last print): those
    apply from the first slot. A print is first seen by the slot whose close is the first at or after it.
    """
    n_slots = grid.n_slots
    if prints.height == 0:
        return _column(np.full(grid.size, np.nan), np.ones(grid.size, dtype=bool))
    offset = grid.offsets(prints["ts"])
    # ceil((offset - interval) / interval), clamped to the day's first slot for earlier prints
    first_slot = np.maximum(-((grid.interval_ms - offset) // grid.interval_ms), 0)
    position = grid.symbol_index(prints) * n_slots + first_slot
    order = np.lexsort((offset, position))  # by position, then time: the last of each run is the latest
    position, values = position[order], prints[value].to_numpy()[order]
    last_of_run = np.r_[position[1:] != position[:-1], True]
    has = np.zeros(grid.size, dtype=bool)
    filled = np.full(grid.size, np.nan)
    has[position[last_of_run]] = True
    filled[position[last_of_run]] = values[last_of_run]
    # forward fill along each symbol's slots: index of the latest slot holding a print
    index = np.where(has, np.arange(grid.size), -1).reshape(-1, n_slots)
    index = np.maximum.accumulate(index, axis=1).ravel()  # per symbol row: never another symbol's print
    return _column(filled[np.maximum(index, 0)], index < 0)
