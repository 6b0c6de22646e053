"""Per-event report: status (active / skipped / unavailable with its reason) and prevalence per symbol-day
against the registry's bounds. Skipped events are surfaced here (and as asset metadata), never dropped."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from quant_platform.events.detect import unavailable_reason, values_read
from quant_platform.events.registry import EventDef, EventRegistry, load_event_registry

REPORT_SCHEMA = {
    "event_type": pl.String,
    "family": pl.String,
    "status": pl.String,
    "reason": pl.String,
    "proxy": pl.String,
    "n_events": pl.Int64,
    "symbol_days": pl.Int64,
    "unavailable_symbol_days": pl.Int64,
    "per_symbol_day_min": pl.Float64,
    "per_symbol_day_max": pl.Float64,
    "per_symbol_day_mean": pl.Float64,
    "bound_min": pl.Float64,
    "bound_max": pl.Float64,
    "within_bounds": pl.Boolean,
}


def inputs_without_data(inputs: pl.DataFrame | pl.LazyFrame) -> set[str]:
    """Columns of ``inputs`` (features + context rows of the report's period) that hold no value at all:
    a source without funding, OI, liquidations or spot data gives all-null input columns."""
    lazy = inputs.lazy()
    names = [n for n in lazy.collect_schema().names() if n not in ("symbol", "ts")]
    counts = lazy.select(pl.col(names).is_not_null().sum()).collect().row(0, named=True)
    return {name for name, n in counts.items() if n == 0}


def _unavailable(event: EventDef, empty_inputs: set[str] | None) -> str:
    if empty_inputs is None:
        return "no bar had its inputs (all flags null)"
    empty = sorted({name for name, _ in values_read(event)} & empty_inputs)
    if empty:
        return f"inputs without data in this period: {empty}"
    return "no bar had all of its inputs at once (all flags null)"


def event_report(
    event_flags: pl.DataFrame,
    registry: EventRegistry | None = None,
    *,
    input_columns: Iterable[str] | None = None,
    empty_inputs: set[str] | None = None,
) -> pl.DataFrame:
    """One row per registry event. Prevalence counts events per (symbol, UTC day) over the symbol-days where
    the event was evaluable (a non-null flag on at least one bar); ``unavailable_symbol_days`` counts the
    others. An event evaluable nowhere is ``unavailable`` (or ``skipped`` by the spec) with its reason, and
    its ``within_bounds`` is null: not evaluated, so never a pass. ``input_columns`` (the features + context
    columns detection saw) names inputs that are absent; ``empty_inputs`` (see :func:`inputs_without_data`)
    names inputs that are present but hold no data (e.g. funding/OI of an OHLCV-only source)."""
    registry = registry or load_event_registry()
    columns = set(event_flags.columns)
    rows = []
    daily = event_flags.with_columns(pl.col("ts").dt.date().alias("_day"))
    all_symbol_days = daily.select(pl.struct("symbol", "_day").n_unique()).item() if daily.height else 0
    for event in registry.events:
        known = set(input_columns) if input_columns is not None else set(event.required_inputs)
        reason = unavailable_reason(event, known)
        evaluable = event.name in columns and event_flags[event.name].null_count() < event_flags.height
        base = {"event_type": event.name, "family": event.family, "proxy": event.proxy,
                "bound_min": event.min_per_symbol_day, "bound_max": event.max_per_symbol_day}  # fmt: skip
        if reason is not None or not evaluable:
            rows.append({**base, "status": "skipped" if event.status == "skipped" else "unavailable",
                         "reason": reason or _unavailable(event, empty_inputs), "n_events": 0,
                         "symbol_days": 0, "unavailable_symbol_days": all_symbol_days,
                         "within_bounds": None})  # fmt: skip
            continue
        per_day = (
            daily.filter(pl.col(event.name).is_not_null())
            .group_by("symbol", "_day", maintain_order=True)
            .agg(pl.col(event.name).sum().alias("n"))
        )
        per_symbol = per_day.group_by("symbol", maintain_order=True).agg(pl.col("n").mean().alias("rate"))
        lo, hi = per_symbol["rate"].min(), per_symbol["rate"].max()
        rows.append({**base, "status": "active", "reason": None, "n_events": int(per_day["n"].sum()),
                     "symbol_days": per_day.height, "unavailable_symbol_days": all_symbol_days - per_day.height,
                     "per_symbol_day_min": lo, "per_symbol_day_max": hi,
                     "per_symbol_day_mean": float(per_day["n"].mean()),
                     "within_bounds": bool(lo >= event.min_per_symbol_day and hi <= event.max_per_symbol_day)})  # fmt: skip
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)
