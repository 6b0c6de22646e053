"""The real research chain on the synthetic market, and labelling of its discoveries against the planted truth.

:func:`synthetic_chain` runs raw synthetic tables -> ``clean_day`` per day -> ``compute_features`` ->
``compute_context`` -> ``detect_events`` (the same path as production, no shortcut through a toy world) and
returns what discovery and the bridge consume plus the ground truth ``SyntheticMarket.planted_events``.

:func:`label_discoveries` marks each candidate ``is_true_effect``. A planted effect is a drift of known sign
after each planted trigger (``SyntheticMarket.planted_events``: symbol, event bar, horizon, drift sign). The
detector never sees "the planted trigger"; several detected event types fire on or shortly after it (a
vol_shock is also an idiosyncratic return shock, a volume surge, a liquidation cascade, a forced-flow
exhaustion a few bars later, ...) and each legitimately carries the drift, with its own notion of direction.
So the truth is decided empirically per (event_type, symbol), not by name: a candidate is true when (a) its
events fall inside planted drift windows of its symbol in at least ``min_coincident_share`` of occurrences,
and (b) on those coincident events its template's trade sign (template multiplier x event direction) agrees
with the planted drift sign more often than not. Fixed-sign templates (drift_long / drift_short) are false:
the trigger's sign is random, so a fixed-sign trade has zero expected planted return. Every candidate on a
symbol without planted effects is false.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_platform.core.timeutil import day_range
from quant_platform.discovery.config import DiscoverySpec
from quant_platform.events import detect_events
from quant_platform.features.compute import compute_features
from quant_platform.features.context import compute_context
from quant_platform.market.cleaning import clean_day
from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket

RAW_TABLES = ("perp_bars", "spot_bars", "funding", "open_interest", "liquidations")


@dataclass(frozen=True)
class ChainWorld:
    """Inputs of discovery and the bridge, produced by the real chain, plus the planted ground truth."""

    bars: pl.DataFrame  # cleaned 5m bars (Bars5m)
    events: pl.DataFrame  # detect_events output
    states: pl.DataFrame  # symbol, ts, conditioning columns
    planted: pl.DataFrame  # SyntheticMarket.planted_events over all days
    config: SyntheticConfig


def synthetic_chain(config: SyntheticConfig, start: str, end: str, spec: DiscoverySpec) -> ChainWorld:
    """Run the synthetic market for days ``start``..``end`` (inclusive) through cleaning, features,
    context and event detection."""
    source = SyntheticMarket(config)
    days = list(day_range(start, end))
    if not days:
        raise ValueError(f"empty day range {start}..{end}")
    bars, planted = [], []
    for day in days:  # one clean_day call per day, as the daily-partitioned asset does
        raw = {table: source.fetch(table, day) for table in RAW_TABLES}
        bars.append(clean_day(day, *(raw[t] for t in RAW_TABLES)).bars)
        planted.append(source.planted_events(day))
    bars_frame = pl.concat(bars)
    features = compute_features(bars_frame)
    events, _ = detect_events(features, compute_context(features))
    states = features.select("symbol", "ts", *spec.conditioning_columns)
    return ChainWorld(bars_frame, events, states, pl.concat(planted), config)


def event_truth(
    events: pl.DataFrame, planted: pl.DataFrame, bar_minutes: int, tolerance_bars: int = 2
) -> pl.DataFrame:
    """Per (event_type, symbol): how the detected events relate to the planted triggers. An event is
    coincident when it lies inside a planted drift window on its symbol, from ``tolerance_bars`` bars before
    the planted event bar to the end of its drift (events detected a little early or later in the drift
    carry it too). Columns: event_type, symbol, n_events, n_coincident, n_same (coincident events whose
    direction equals the planted drift's sign), n_opposite (coincident, opposite sign)."""
    bar = pl.duration(minutes=bar_minutes)
    truth = planted.select(
        "symbol",
        planted_ts=pl.col("ts"),
        planted_end=pl.col("ts") + bar * pl.col("horizon_bars"),
        planted_direction=pl.col("direction").cast(pl.Int8),
    ).sort("planted_ts")
    longest = int(planted["horizon_bars"].max() or 0) + 2 * tolerance_bars
    matched = (
        events.select("symbol", "ts", "event_type", pl.col("direction").cast(pl.Int8))
        .with_columns(probe=pl.col("ts") + bar * tolerance_bars)
        .sort("probe")
        .join_asof(  # the latest planted event starting at most tolerance_bars after this event
            truth,
            left_on="probe",
            right_on="planted_ts",
            by="symbol",
            strategy="backward",
            tolerance=f"{longest * bar_minutes}m",
            check_sortedness=False,  # both sorted above; asof-by groups cannot be checked
        )
    )
    coincident = (pl.col("ts") <= pl.col("planted_end")).fill_null(False)
    same = pl.col("direction") == pl.col("planted_direction")
    opposite = pl.col("direction") == -pl.col("planted_direction")
    return matched.group_by("event_type", "symbol").agg(
        n_events=pl.len(),
        n_coincident=coincident.sum(),
        n_same=(coincident & same).sum(),
        n_opposite=(coincident & opposite).sum(),
    )


def label_discoveries(
    candidates: pl.DataFrame,
    events: pl.DataFrame,
    planted: pl.DataFrame,
    spec: DiscoverySpec,
    tolerance_bars: int = 2,
    min_coincident_share: float = 0.1,
) -> pl.DataFrame:
    """``candidates`` with ``coincident_share`` (share of the candidate's (event_type, symbol) events within
    ``tolerance_bars`` of a planted trigger) and ``is_true_effect``: the events coincide with planted triggers
    in at least ``min_coincident_share`` of occurrences, and on the coincident ones the template trades in
    the planted drift's sign more often than against it (only direction-following templates can: a
    fixed-sign template is false under a drift of random sign)."""
    plan = spec.plan().select("template", "from_direction", "sign_multiplier").unique()
    truth = event_truth(events, planted, spec.bar_minutes, tolerance_bars)
    labelled = candidates.join(plan, on="template", how="left").join(
        truth, on=["event_type", "symbol"], how="left"
    )
    mult = pl.col("sign_multiplier").cast(pl.Int64)
    agree = pl.when(mult > 0).then(pl.col("n_same")).otherwise(pl.col("n_opposite"))
    disagree = pl.when(mult > 0).then(pl.col("n_opposite")).otherwise(pl.col("n_same"))
    share = (pl.col("n_coincident") / pl.col("n_events")).fill_null(0.0)
    true = (pl.col("from_direction") & (share >= min_coincident_share) & (agree > disagree)).fill_null(False)
    return labelled.with_columns(coincident_share=share, is_true_effect=true).drop(
        "from_direction", "sign_multiplier", "n_events", "n_coincident", "n_same", "n_opposite"
    )
