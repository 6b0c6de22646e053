"""Sessions modes of a bar grid, shared by cleaning, features, look-backs and the CLI.

``continuous``: every slot of every day is a session (crypto; a missing bar is an explicit gap row).
``observed``: daily bars only (e.g. equities): a day on which no symbol of the universe has a valid bar is a
closed session with no rows, so windows count trading days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

SESSIONS = ("continuous", "observed")


def check_sessions(sessions: str, bar_minutes: int) -> None:
    """Refuse an unknown sessions mode, and "observed" sessions on anything but daily bars (an hourly
    market's weekend is a run of gap rows, not a closed session of the grid)."""
    if sessions not in SESSIONS:
        raise ValueError(f"sessions={sessions!r}: expected one of {SESSIONS}")
    if sessions == "observed" and bar_minutes != 1440:
        raise ValueError(
            f'sessions="observed" needs daily bars (bar minutes 1440), got {bar_minutes}: '
            "intraday grids keep closed hours as explicit gap rows"
        )


@dataclass(frozen=True)
class BarCalendar:
    """The bars of a grid in order, so research counts bars by position, never by calendar arithmetic.

    ``continuous``: every slot of every day is a bar, so a bar's position is ``epoch // bar length`` (the
    calendar needs no data). Otherwise (``observed`` daily sessions) the calendar is the sorted distinct bar
    opens of the data the caller passes (a cleaned panel has a row for every symbol on every session, gap
    rows included), and ``h`` bars after a Friday close is the Monday ``h - 1`` sessions later.
    """

    bar_minutes: int
    sessions: str
    opens_ms: np.ndarray | None = None  # sorted distinct bar opens; None for continuous sessions

    @classmethod
    def of(cls, ts: pl.Series, bar_minutes: int, sessions: str = "continuous") -> BarCalendar:
        check_sessions(sessions, bar_minutes)
        if sessions == "continuous":
            return cls(bar_minutes, sessions)
        return cls(bar_minutes, sessions, np.unique(ts.dt.epoch("ms").to_numpy()))

    @property
    def bar_ms(self) -> int:
        return self.bar_minutes * 60_000

    def positions(self, ts: pl.Series) -> pl.Series:
        """Each ``ts``'s bar position (Int64); null where ``ts`` is not a bar of the calendar."""
        ms = ts.dt.epoch("ms")
        if self.opens_ms is None:
            return (ms // self.bar_ms).cast(pl.Int64).alias(ts.name)
        values = ms.to_numpy()
        idx = np.searchsorted(self.opens_ms, values)
        inside = idx < self.opens_ms.size
        hit = np.zeros(values.size, dtype=bool)
        hit[inside] = self.opens_ms[idx[inside]] == values[inside]
        return pl.Series(ts.name, idx, dtype=pl.Int64).set(~pl.Series(hit), None)

    def shifted(self, ts: pl.Series, bars: int) -> pl.Series:
        """The open of the bar ``bars`` positions after each ``ts`` (null beyond the calendar's last bar or
        where ``ts`` is not a bar), in ``ts``'s dtype."""
        if self.opens_ms is None:
            out = ts.dt.epoch("ms") + bars * self.bar_ms
        else:
            target = self.positions(ts) + bars
            valid = target.is_not_null() & (target < self.opens_ms.size)
            picked = np.where(valid.to_numpy(), target.fill_null(0).to_numpy(), 0)
            values = self.opens_ms[picked] if self.opens_ms.size else picked
            out = pl.Series(ts.name, values, dtype=pl.Int64).set(~valid, None)
        return out.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").cast(ts.dtype).alias(ts.name)

    def last_position(self, ts: pl.Series) -> int | None:
        """The position of the latest of ``ts`` (None when empty)."""
        latest = ts.max()
        return None if latest is None else self.positions(pl.Series([latest], dtype=ts.dtype))[0]
