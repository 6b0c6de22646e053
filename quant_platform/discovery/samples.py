"""Trade samples: one row per counted event x horizon x rule template x state cell, with its forward return.

Timing (point in time): an event stamped ``ts`` was detected on the bar opening at ``ts`` (bar index t),
known at that bar's close. The trade enters at the OPEN of bar ``t + entry_lag_bars`` (lag >= 1, from the
spec) and exits at the OPEN of bar ``t + lag + h``, so it holds exactly h bars. The gross return is the
simple return between those opens times the template's trade sign; the net return subtracts the spec's
round-trip cost.

Exclusions are counted, never silent (the ``exclusions`` frame, one row per key and reason):
- ``event_type_not_in_multiplicity_spec``: the event type is in no family of spec/multiplicity;
- ``no_selected_template``: the RunSet's template filter leaves no rule template for the event type;
- ``window_beyond_data``: the entry or exit bar is not in ``bars``;
Bars are counted by position in the session calendar of ``bars`` (``spec.calendar``: every slot for continuous
sessions, the observed sessions otherwise), so h bars after a Friday's daily bar end on a later session.
- ``gap_in_window``: a bar from entry to exit (inclusive) is a gap row, has no open, or is missing;
- ``overlapping_window``: within h bars after the previous counted event of the same (symbol, event, h);
- ``non_directional_event``: direction 0 under a template whose sign comes from the direction;
- ``state_missing``: the state column is null at the event bar (the unconditional candidate still counts it).
The overlap rule is applied after the gap rule, so an excluded event never blocks the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from quant_platform.core.sessions import BarCalendar
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.discovery.config import UNCONDITIONAL, DiscoverySpec
from quant_platform.discovery.overlap import non_overlapping_mask

EXCLUSION_SCHEMA = {
    "symbol": pl.String,
    "event_type": pl.String,
    "horizon_bars": pl.Int32,
    "template": pl.String,
    "state_column": pl.String,
    "reason": pl.String,
    "n_observations": pl.UInt32,
}
KEY_COLUMNS = ["family", "event_type", "symbol", "horizon_bars", "template", "state_column", "state_value"]


@dataclass(frozen=True)
class SampleSet:
    """Trade samples (one per counted observation and candidate) and the exclusion counts."""

    samples: pl.DataFrame
    exclusions: pl.DataFrame
    window_midpoint: datetime | None  # splits the data window into the two stability halves


def _require(frame: pl.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing required columns {missing}")
    if frame.schema["ts"] != TS_DTYPE:
        raise ValueError(f"{name}.ts must be {TS_DTYPE}, got {frame.schema['ts']}")


def _prepare_bars(bars: pl.DataFrame, spec: DiscoverySpec, calendar: BarCalendar) -> pl.DataFrame:
    _require(bars, "bars", ["symbol", "ts", "open", "gap"])
    bar_ms = spec.bar_ms
    misaligned = bars.filter(pl.col("ts").dt.epoch("ms") % bar_ms != 0).height
    if misaligned:
        raise ValueError(f"bars: {misaligned} rows have ts not aligned to the {spec.bar_minutes}m grid")
    frame = (
        bars.select("symbol", "ts", "open", "gap")
        .with_columns(bar_index=calendar.positions(bars["ts"]))
        .sort("symbol", "bar_index")
    )
    if frame.select(pl.struct("symbol", "bar_index").is_duplicated().any()).item():
        raise ValueError("bars: duplicate (symbol, ts) rows")
    valid = (~pl.col("gap").fill_null(True)) & pl.col("open").is_not_null() & (pl.col("open") > 0)
    return frame.with_columns(valid=valid).with_columns(
        valid_cum=pl.col("valid").cast(pl.Int64).cum_sum().over("symbol")
    )


def _prepare_events(
    events: pl.DataFrame, spec: DiscoverySpec, plan: pl.DataFrame, calendar: BarCalendar
) -> tuple[pl.DataFrame, pl.DataFrame]:
    _require(events, "events", ["event_id", "symbol", "ts", "event_type", "direction"])
    if events.select(pl.col("direction").is_null().any()).item():
        raise ValueError("events: direction is null on some rows (must be +1, -1 or 0)")
    bad = events.filter(~pl.col("direction").is_in([-1, 0, 1])).height
    if bad:
        raise ValueError(f"events: {bad} rows have direction outside {{-1, 0, +1}}")
    misaligned = events.filter(pl.col("ts").dt.epoch("ms") % spec.bar_ms != 0).height
    if misaligned:
        raise ValueError(f"events: {misaligned} rows have ts not aligned to the {spec.bar_minutes}m bar grid")
    families = spec.event_families()
    if "family" in events.columns:
        clash = (
            events.select("event_type", pl.col("family").alias("given_family"))
            .unique()
            .join(families, on="event_type", how="inner")
            .filter(pl.col("given_family") != pl.col("family"))
        )
        if clash.height:
            raise ValueError(
                "events carry a family that disagrees with spec/multiplicity/families.yaml: "
                f"{clash.rows()[:5]}"
            )
    frame = events.select(
        "event_id", "symbol", "ts", "event_type", pl.col("direction").cast(pl.Int8)
    ).with_columns(bar_index=calendar.positions(events["ts"]))
    unknown = (
        frame.join(families, on="event_type", how="anti")
        .group_by("symbol", "event_type", maintain_order=True)
        .agg(n_observations=pl.len().cast(pl.UInt32))
        .with_columns(reason=pl.lit("event_type_not_in_multiplicity_spec"))
    )
    known = frame.join(families, on="event_type", how="inner")
    planned = plan.select("event_type").unique()
    filtered_out = (
        known.join(planned, on="event_type", how="anti")
        .group_by("symbol", "event_type", maintain_order=True)
        .agg(n_observations=pl.len().cast(pl.UInt32))
        .with_columns(reason=pl.lit("no_selected_template"))
    )
    return known.join(planned, on="event_type", how="semi"), pl.concat([unknown, filtered_out])


def build_samples(
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None,
    spec: DiscoverySpec,
) -> SampleSet:
    """Counted trade samples for every hypothesis the spec allows (see module docstring)."""
    plan = spec.plan()
    lag = spec.entry_lag_bars
    _require(bars, "bars", ["symbol", "ts", "open", "gap"])
    calendar = spec.calendar(bars["ts"])
    bar_frame = _prepare_bars(bars, spec, calendar)
    ev, unknown = _prepare_events(events, spec, plan, calendar)
    exclusions = [unknown]

    horizons = plan.select("event_type", "horizon_bars").unique()
    windows = (
        ev.join(horizons, on="event_type", how="inner")
        .with_columns(
            entry_index=pl.col("bar_index") + lag,
        )
        .with_columns(exit_index=pl.col("entry_index") + pl.col("horizon_bars").cast(pl.Int64))
    )
    endpoint = bar_frame.select("symbol", "bar_index", "open", "valid", "valid_cum")
    windows = windows.join(
        endpoint.rename(
            {
                "bar_index": "entry_index",
                "open": "entry_open",
                "valid": "entry_valid",
                "valid_cum": "entry_cum",
            }
        ),
        on=["symbol", "entry_index"],
        how="left",
    ).join(
        endpoint.rename(
            {"bar_index": "exit_index", "open": "exit_open", "valid": "exit_valid", "valid_cum": "exit_cum"}
        ),
        on=["symbol", "exit_index"],
        how="left",
    )
    valid_in_window = pl.col("exit_cum") - pl.col("entry_cum") + pl.col("entry_valid").cast(pl.Int64)
    windows = windows.with_columns(
        reason=pl.when(pl.col("entry_cum").is_null() | pl.col("exit_cum").is_null())
        .then(pl.lit("window_beyond_data"))
        .when(valid_in_window != pl.col("horizon_bars").cast(pl.Int64) + 1)
        .then(pl.lit("gap_in_window"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    kept = windows.filter(pl.col("reason").is_null()).sort(
        "symbol", "event_type", "horizon_bars", "bar_index", "event_id"
    )
    group_ids = kept.select(pl.struct("symbol", "event_type", "horizon_bars").rle_id()).to_series().to_numpy()
    mask = non_overlapping_mask(group_ids, kept["bar_index"].to_numpy(), kept["horizon_bars"].to_numpy())
    kept = kept.with_columns(
        reason=pl.when(pl.Series(mask)).then(None).otherwise(pl.lit("overlapping_window"))
    )
    dropped = pl.concat(
        [windows.filter(pl.col("reason").is_not_null()), kept.filter(pl.col("reason").is_not_null())]
    )
    exclusions.append(
        dropped.group_by("symbol", "event_type", "horizon_bars", "reason", maintain_order=True).agg(
            n_observations=pl.len().cast(pl.UInt32)
        )
    )
    counted = kept.filter(pl.col("reason").is_null()).with_columns(
        gross_bps=(pl.col("exit_open") / pl.col("entry_open") - 1.0) * 1e4
    )

    # Rule templates: the trade sign from the event's direction (or fixed).
    with_templates = counted.join(plan.drop("family"), on=["event_type", "horizon_bars"], how="inner")
    nondirectional = pl.col("from_direction") & (pl.col("direction") == 0)
    exclusions.append(
        with_templates.filter(nondirectional)
        .group_by("symbol", "event_type", "horizon_bars", "template", maintain_order=True)
        .agg(n_observations=pl.len().cast(pl.UInt32))
        .with_columns(reason=pl.lit("non_directional_event"))
    )
    trade_sign = (
        pl.when(pl.col("from_direction"))
        .then(pl.col("sign_multiplier") * pl.col("direction"))
        .otherwise(pl.col("sign_multiplier"))
    )
    cost = spec.cost.round_trip_bps
    ts_min, ts_max = bar_frame["ts"].min(), bar_frame["ts"].max()
    midpoint = ts_min + (ts_max - ts_min) / 2 if ts_min is not None else None
    trades = (
        with_templates.filter(~nondirectional)
        .with_columns(trade_sign=trade_sign.cast(pl.Int8))
        .with_columns(
            gross_signed_bps=pl.col("gross_bps") * pl.col("trade_sign"),
            first_half=pl.col("ts") < midpoint,
        )
        .with_columns(net_bps=pl.col("gross_signed_bps") - cost)
        .select(
            "family",
            "event_type",
            "symbol",
            "horizon_bars",
            "template",
            "event_id",
            "ts",
            "trade_sign",
            "gross_signed_bps",
            "net_bps",
            "first_half",
        )
    )

    # States: the unconditional cell plus one cell per value of each conditioning column.
    cells = [trades.with_columns(state_column=pl.lit(UNCONDITIONAL), state_value=pl.lit(UNCONDITIONAL))]
    if states is not None and spec.conditioning_columns:
        _require(states, "states", ["symbol", "ts", *spec.conditioning_columns])
        cols = list(spec.conditioning_columns)
        state_frame = states.select("symbol", "ts", *[pl.col(c).cast(pl.String) for c in cols])
        if state_frame.select(pl.struct("symbol", "ts").is_duplicated().any()).item():
            raise ValueError("states: duplicate (symbol, ts) rows")
        long = trades.join(state_frame, on=["symbol", "ts"], how="left").unpivot(
            index=trades.columns, on=cols, variable_name="state_column", value_name="state_value"
        )
        exclusions.append(
            long.filter(pl.col("state_value").is_null())
            .group_by("symbol", "event_type", "horizon_bars", "template", "state_column", maintain_order=True)
            .agg(n_observations=pl.len().cast(pl.UInt32))
            .with_columns(reason=pl.lit("state_missing"))
        )
        cells.append(long.filter(pl.col("state_value").is_not_null()))
    samples = pl.concat(cells, how="vertical_relaxed")
    exclusion_frame = pl.concat(
        [
            e.select(
                [
                    pl.col(c).cast(t) if c in e.columns else pl.lit(None, dtype=t).alias(c)
                    for c, t in EXCLUSION_SCHEMA.items()
                ]
            )
            for e in exclusions
        ]
    ).sort(pl.all(), nulls_last=True)
    return SampleSet(samples=samples, exclusions=exclusion_frame, window_midpoint=midpoint)
