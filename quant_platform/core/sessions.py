"""Sessions modes of a bar grid, shared by cleaning, features, look-backs and the CLI.

``continuous``: every slot of every day is a session (crypto; a missing bar is an explicit gap row).
``observed``: daily bars only (e.g. equities): a day on which no symbol of the universe has a valid bar is a
closed session with no rows, so windows count trading days.
"""

from __future__ import annotations

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
