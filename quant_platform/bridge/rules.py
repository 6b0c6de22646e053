"""Turn a phase-2 candidate into a simple rule strategy: target weights for the backtest engine.

The rule, stated without any outcome: on every event of the candidate's type on its symbol (and, for a
state-conditioned candidate, with the state column equal to its value at the event bar), take the template's
trade sign (direction x multiplier, or the fixed sign) at the event bar's close and go flat ``h`` bars later.
Events that arrive while the rule holds a position are ignored (the same greedy non-overlapping rule as
discovery). The engine fills each instruction at ``entry_lag_bars (+ latency)`` later at the next open, so the
position is held for exactly ``h`` bars when nothing is delayed by a gap.
"""

from __future__ import annotations

import polars as pl

from quant_platform.core.sessions import BarCalendar
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery.config import UNCONDITIONAL, DiscoverySpec
from quant_platform.discovery.overlap import non_overlapping_mask
from quant_platform.engine import EngineConfig


def rule_entries(
    candidate: dict,
    events: pl.DataFrame,
    states: pl.DataFrame | None,
    spec: DiscoverySpec,
    calendar: BarCalendar | None = None,
) -> pl.DataFrame:
    """The counted rule entries of one candidate: (ts, trade_sign), non-overlapping, in time order.
    ``calendar``: the bars' session calendar (needed for sessions other than continuous)."""
    template = spec.template(candidate["template"])
    horizon = int(candidate["horizon_bars"])
    chosen = events.filter(
        (pl.col("symbol") == candidate["symbol"]) & (pl.col("event_type") == candidate["event_type"])
    ).select("ts", "direction")
    if candidate["state_column"] != UNCONDITIONAL:
        if states is None or candidate["state_column"] not in states.columns:
            raise ValueError(f"candidate is conditioned on {candidate['state_column']!r} but states lack it")
        cond = states.filter(pl.col("symbol") == candidate["symbol"]).select(
            "ts", pl.col(candidate["state_column"]).cast(pl.String).alias("_state")
        )
        chosen = chosen.join(cond, on="ts", how="left").filter(pl.col("_state") == candidate["state_value"])
    if template.sign_rule == "from_direction":
        chosen = chosen.filter(pl.col("direction") != 0).with_columns(
            trade_sign=(pl.col("direction") * template.direction_multiplier).cast(pl.Int8)
        )
    else:
        chosen = chosen.with_columns(trade_sign=pl.lit(template.fixed_sign, dtype=pl.Int8))
    chosen = chosen.sort("ts").unique("ts", keep="first", maintain_order=True)
    if calendar is None:
        if spec.sessions != "continuous":  # the events' own stamps are not the bars' session calendar
            raise ValueError(f"rule_entries on {spec.sessions} sessions needs the bars' calendar")
        calendar = spec.calendar(chosen["ts"])
    bar_index = calendar.positions(chosen["ts"]).to_numpy()
    mask = non_overlapping_mask(bar_index * 0, bar_index, horizon)
    return chosen.filter(pl.Series(mask)).select("ts", "trade_sign")


def rule_targets(
    entries: pl.DataFrame, symbol: str, horizon_bars: int, calendar: BarCalendar | int
) -> pl.DataFrame:
    """Engine targets (symbol, ts, target_weight): the sign at each entry bar, 0 ``horizon`` bars later in the
    session calendar (an exit that falls on the next entry's bar is replaced by that entry). A bare number
    of minutes is the continuous calendar of that bar length."""
    if isinstance(calendar, int):
        calendar = BarCalendar(calendar, "continuous")
    enter = entries.select(
        pl.lit(symbol).alias("symbol"),
        pl.col("ts").cast(TS_DTYPE),
        pl.col("trade_sign").cast(pl.Float64).alias("target_weight"),
    )
    exits = calendar.shifted(entries["ts"].cast(TS_DTYPE), horizon_bars)
    if exits.null_count():
        raise ValueError(f"{exits.null_count()} rule exits of {symbol} fall beyond the bar calendar")
    leave = pl.DataFrame(
        {"symbol": pl.Series([symbol] * entries.height, dtype=pl.String), "ts": exits,
         "target_weight": pl.Series([0.0] * entries.height, dtype=pl.Float64)}
    ).join(enter.select("ts"), on="ts", how="anti")  # fmt: skip
    return pl.concat([enter, leave]).sort("ts")


def complete_rule_entries(
    candidate: dict,
    sym_bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None,
    spec: DiscoverySpec,
    config: EngineConfig,
    max_extra_latency: int,
    calendar: BarCalendar | None = None,
) -> tuple[pl.DataFrame, int]:
    """The rule's entries whose exit fill lies inside the tape in every scenario, and how many were left out.

    The exit fill bar is the exit instruction (``horizon`` bars after entry) + entry lag + latency + the
    largest extra latency of any scenario; an entry whose exit fill falls after the last bar of the symbol
    would be an open position at the end of the data, not a complete trade, so it is left out of every
    scenario alike (the same trades everywhere) and counted."""
    room = int(candidate["horizon_bars"]) + config.entry_lag_bars + config.latency_bars + max_extra_latency
    calendar = calendar or spec.calendar(sym_bars["ts"])
    last = calendar.last_position(sym_bars["ts"])
    entries = rule_entries(candidate, events, states, spec, calendar)
    position = calendar.positions(entries["ts"])
    complete = (
        entries.filter((position + room <= last).fill_null(False)) if last is not None else entries.head(0)
    )
    return complete, entries.height - complete.height
