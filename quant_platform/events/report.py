"""Per-event report: status (active / skipped / unavailable with its reason) and prevalence per symbol-day
against the registry's bounds. Skipped events are surfaced here (and as asset metadata), never dropped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

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
    "compared": pl.String,
    "within_bounds": pl.Boolean,
}


def _bars_per_day(flags: pl.DataFrame) -> int:
    """Bars in a UTC day, from the grid step of the flags (explicit gap rows keep the grid complete)."""
    step = flags.sort("symbol", "ts").select(pl.col("ts").diff().over("symbol")).to_series()
    step = step.filter(step > timedelta(0)).min()
    return max(1, round(timedelta(days=1) / step)) if step is not None else 1


def _prevalence(daily: pl.DataFrame, event: EventDef, bars_per_day: int, tail: float) -> dict[str, object]:
    """Counts and the verdict of one evaluated event (see :func:`event_report`)."""
    per_day = (
        daily.filter(pl.col(event.name).is_not_null())
        .group_by("symbol", "_day", maintain_order=True)
        .agg(pl.col(event.name).sum().alias("n"), pl.len().alias("bars"))
    )
    lo_bound, hi_bound = event.min_per_symbol_day, event.max_per_symbol_day
    counts = {"n_events": int(per_day["n"].sum()), "symbol_days": per_day.height}
    exposure = per_day["bars"].sum() / bars_per_day  # evaluable symbol-days, partial days pro rata
    counts["per_symbol_day_mean"] = counts["n_events"] / exposure
    if event.prevalence_compare == "not_applicable":
        # The spec's bounds were measured at another bar length (the profile's registry says so): counted and
        # reported, not judged against rates that do not transfer.
        return {**counts, "compared": "not applicable: the spec's bounds are for another bar length or session calendar",
                "within_bounds": None}  # fmt: skip
    if event.prevalence_compare == "each_symbol_day":
        # Calendar events: exact counts, on the symbol-days evaluable on every bar.
        complete = per_day.filter(pl.col("bars") == bars_per_day)["n"]
        if complete.is_empty():
            return {**counts, "compared": "each_symbol_day (no complete day)", "within_bounds": None}
        lo, hi = float(complete.min()), float(complete.max())
        return {**counts, "compared": f"each of {complete.len()} complete symbol-days",
                "per_symbol_day_min": lo, "per_symbol_day_max": hi,
                "within_bounds": bool(lo >= lo_bound and hi <= hi_bound)}  # fmt: skip
    # Rates: each symbol's count over its evaluable days must be a plausible Poisson draw for some rate in
    # [min, max]; a single quiet or busy day is not a verdict, a sustained deviation is.
    per_symbol = per_day.group_by("symbol", maintain_order=True).agg(
        pl.col("n").sum(), (pl.col("bars").sum() / bars_per_day).alias("days")
    )
    n, days = per_symbol["n"].cast(pl.Int64).to_numpy(), per_symbol["days"].to_numpy()
    # imported here: scipy.stats costs ~60 MiB and ~0.5 s at import, which detection itself never needs
    from scipy.stats import poisson

    too_few = poisson.cdf(n, lo_bound * days) < tail
    too_many = poisson.sf(n - 1, hi_bound * days) < tail
    rates = n / days
    return {**counts, "compared": f"Poisson rate per symbol (tail {tail})",
            "per_symbol_day_min": float(rates.min()), "per_symbol_day_max": float(rates.max()),
            "within_bounds": not bool(too_few.any() or too_many.any())}  # fmt: skip


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
    others. ``within_bounds`` compares as the spec's ``prevalence_bounds.compare`` says: ``each_symbol_day``
    (calendar events) checks every symbol-day evaluable on all its bars against [min, max] exactly; ``rate``
    asks whether each symbol's count over its evaluable days (partial days pro rata) is a plausible Poisson
    draw (two-sided tail ``prevalence_tail_probability`` of the registry) for a rate inside [min, max], so a
    single quiet day does not warn and a sustained deviation does. An event evaluable nowhere is ``unavailable`` (or ``skipped`` by the spec) with its reason, and
    its ``within_bounds`` is null: not evaluated, so never a pass. ``input_columns`` (the features + context
    columns detection saw) names inputs that are absent; ``empty_inputs`` (see :func:`inputs_without_data`)
    names inputs that are present but hold no data (e.g. funding/OI of an OHLCV-only source)."""
    registry = registry or load_event_registry()
    columns = set(event_flags.columns)
    rows = []
    daily = event_flags.with_columns(pl.col("ts").dt.date().alias("_day"))
    all_symbol_days = daily.select(pl.struct("symbol", "_day").n_unique()).item() if daily.height else 0
    bars_per_day = _bars_per_day(event_flags)
    for event in registry.events:
        known = set(input_columns) if input_columns is not None else set(event.required_inputs)
        reason = unavailable_reason(event, known)
        evaluable = event.name in columns and event_flags[event.name].null_count() < event_flags.height
        base = {"event_type": event.name, "family": event.family, "proxy": event.proxy,
                "bound_min": event.min_per_symbol_day, "bound_max": event.max_per_symbol_day}  # fmt: skip
        if event.status == "not_applicable":  # absent for the profile: nothing to judge, nothing missing
            rows.append({**base, "status": "not_applicable", "reason": event.skip_reason, "n_events": 0,
                         "symbol_days": 0, "unavailable_symbol_days": 0, "compared": "not applicable",
                         "within_bounds": None})  # fmt: skip
            continue
        if reason is not None or not evaluable:
            rows.append({**base, "status": "skipped" if event.status == "skipped" else "unavailable",
                         "reason": reason or _unavailable(event, empty_inputs), "n_events": 0,
                         "symbol_days": 0, "unavailable_symbol_days": all_symbol_days,
                         "within_bounds": None})  # fmt: skip
            continue
        rows.append({**base, "status": "active", "reason": None,
                     **_prevalence(daily, event, bars_per_day, registry.prevalence_tail_probability)})  # fmt: skip
        rows[-1]["unavailable_symbol_days"] = all_symbol_days - rows[-1]["symbol_days"]
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)
