"""Sessions modes of a bar grid, shared by cleaning, features, look-backs and the CLI.

``continuous``: every slot of every day is a session (crypto; a missing bar is an explicit gap row).
``observed``: daily bars only (e.g. equities): a day on which no symbol of the universe has a valid bar is a
closed session with no rows, so windows count trading days.
``exchange:<NAME>``: the trading minutes of an exchange calendar of the ``exchange_calendars`` package (e.g.
``exchange:CMES``, CME Globex: a daily maintenance halt and a Sunday-evening open) at any bar length: bars
exist only inside its sessions, so windows run across a halt or a weekend instead of restarting at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

SESSIONS = ("continuous", "observed")
EXCHANGE_PREFIX = "exchange:"


def exchange_name(sessions: str) -> str | None:
    """The exchange calendar a sessions mode names (None for continuous / observed)."""
    return sessions[len(EXCHANGE_PREFIX) :] if sessions.startswith(EXCHANGE_PREFIX) else None


def check_sessions(sessions: str, bar_minutes: int) -> None:
    """Refuse an unknown sessions mode, "observed" sessions on anything but daily bars (an hourly market's
    weekend is a run of gap rows, not a closed session of the grid), and an unknown exchange calendar."""
    name = exchange_name(sessions)
    if name is not None:
        exchange_calendar(name)  # raises for an unknown calendar
        return
    if sessions not in SESSIONS:
        raise ValueError(f"sessions={sessions!r}: expected one of {SESSIONS} or {EXCHANGE_PREFIX}<calendar>")
    if sessions == "observed" and bar_minutes != 1440:
        raise ValueError(
            f'sessions="observed" needs daily bars (bar minutes 1440), got {bar_minutes}: '
            "intraday grids keep closed hours as explicit gap rows (or name an exchange calendar)"
        )


CALENDAR_START = "2000-01-03"


@lru_cache(maxsize=8)
def exchange_calendar(name: str) -> Any:
    """The ``exchange_calendars`` calendar ``name`` (from :data:`CALENDAR_START` to its default end), read
    once per process."""
    import exchange_calendars  # imported here: only exchange sessions need it (pandas, ~0.5 s)

    try:  # from 2000 (the default, 20 years back, takes several seconds to build at minute resolution)
        return exchange_calendars.get_calendar(name, start=CALENDAR_START)
    except exchange_calendars.errors.InvalidCalendarName:
        raise ValueError(f"sessions={EXCHANGE_PREFIX}{name}: no exchange calendar named {name!r}") from None


@lru_cache(maxsize=4096)
def session_bar_opens(sessions: str, day: str, bar_minutes: int) -> np.ndarray:
    """Epoch-ms opens of the ``bar_minutes`` bars of UTC ``day`` that hold at least one trading minute of the
    exchange calendar (sorted; empty on a closed day)."""
    import pandas as pd

    calendar = exchange_calendar(exchange_name(sessions))
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    first, last = pd.Timestamp(start), pd.Timestamp(start + timedelta(days=1) - timedelta(minutes=1))
    if last < calendar.first_minute or first > calendar.last_minute:
        raise ValueError(f"{day} is outside the {sessions} calendar's range")
    minutes = calendar.minutes_in_range(max(first, calendar.first_minute), min(last, calendar.last_minute))
    ms = minutes.asi8 // 1_000_000
    bar_ms = bar_minutes * 60_000
    return np.unique(ms - ms % bar_ms)


def trading_minutes_per_day(sessions: str) -> float:
    """The fewest trading minutes an average calendar day of the exchange calendar holds over a year (for
    converting a warm-up in bars into look-back days)."""
    import pandas as pd

    calendar = exchange_calendar(exchange_name(sessions))
    end = calendar.last_session
    start = max(calendar.first_session, end - pd.Timedelta(days=365))
    minutes = len(calendar.minutes_in_range(calendar.session_open(start), calendar.session_last_minute(end)))
    return minutes / max(1, (end - start).days + 1)


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
