"""The reconciliation of one cleaned day: accounting, uniqueness, OHLC invariants, grid coverage per symbol.

Pure data in, a JSON-able report out; the Dagster layer turns it into a blocking asset check.
"""

from __future__ import annotations

from typing import Any, Protocol

import polars as pl

from quant_platform.core.sessions import exchange_name, session_bar_opens
from quant_platform.core.timeutil import MS_PER_DAY, MS_PER_MINUTE


class _Cleaned(Protocol):
    bars: pl.DataFrame
    quarantined: pl.DataFrame
    accounting: dict[str, dict[str, int]]


def reconciliation_report(
    result: _Cleaned,
    universe: tuple[str, ...],
    interval_minutes: int = 5,
    sessions: str = "continuous",
    day: str | None = None,
    *,
    known_empty: bool = False,
) -> dict[str, Any]:
    """Check a cleaning result of one day; ``passed`` is True only if every invariant holds.

    With ``sessions="observed"`` (daily bars) a day without rows is a closed session: it is reported as
    ``market_closed`` and expects no rows; a session day expects one row per universe symbol. With exchange
    sessions each symbol expects the calendar's bars of ``day`` (none on a closed day: ``market_closed``).

    A day that yields no clean bar is a failure, never a green empty run (``symbols_without_clean_bars``):
    with continuous sessions, any universe symbol whose rows are all gaps fails the day; with observed or
    exchange sessions (a symbol may legitimately not trade on a session day: not yet listed, halted) the day
    fails when no symbol has a clean bar. ``known_empty``: the user declared the day known-empty (e.g. an FX
    Saturday), so all-gap symbols are expected.
    """
    bars = result.bars
    unbalanced = {t: a for t, a in result.accounting.items() if a["raw"] != a["clean"] + a["quarantined"]}
    duplicates = bars.height - bars.select("symbol", "ts").unique().height
    priced = bars.filter(~pl.col("gap"))
    ohlc_violations = priced.filter(
        (pl.col("high") < pl.max_horizontal("open", "close", "low"))
        | (pl.col("low") > pl.min_horizontal("open", "close", "high"))
        | (pl.col("low") <= 0)
    ).height
    slots_per_day = MS_PER_DAY // (interval_minutes * MS_PER_MINUTE)
    per_symbol = (
        bars.group_by("symbol", maintain_order=True)
        .agg(pl.len().alias("rows"), (~pl.col("gap")).mean().alias("non_gap_share"))
        .sort("symbol")
    )
    coverage = {
        r["symbol"]: {"rows": r["rows"], "non_gap_share": round(float(r["non_gap_share"]), 6)}
        for r in per_symbol.iter_rows(named=True)
    }
    exchange = exchange_name(sessions) is not None
    if exchange:  # the calendar's bars of the day (none on a closed day)
        if day is None:
            raise ValueError(f"sessions={sessions!r}: the reconciliation needs the day to know its bars")
        slots_per_day = len(session_bar_opens(sessions, day, interval_minutes))
    closed = (sessions == "observed" or exchange) and (bars.height == 0 or slots_per_day == 0)
    expected_rows = 0 if closed else slots_per_day
    incomplete = sorted(s for s in universe if coverage.get(s, {}).get("rows", 0) != expected_rows)
    session = {"market_closed": closed} if sessions != "continuous" else {}
    no_clean = [] if closed else [s for s in sorted(universe) if not coverage.get(s, {}).get("non_gap_share")]
    if known_empty:
        empty_failure = []
    elif sessions != "continuous":
        empty_failure = no_clean if len(no_clean) == len(set(universe)) else []
    else:
        empty_failure = no_clean
    return {
        **session,
        "passed": not unbalanced
        and duplicates == 0
        and ohlc_violations == 0
        and not incomplete
        and not empty_failure,
        "known_empty": known_empty,
        "symbols_without_clean_bars": no_clean,
        "accounting": result.accounting,
        "unbalanced_tables": sorted(unbalanced),
        "duplicate_symbol_ts": duplicates,
        "ohlc_violations": ohlc_violations,
        "symbols_with_incomplete_grid": incomplete,
        "coverage": coverage,
    }
