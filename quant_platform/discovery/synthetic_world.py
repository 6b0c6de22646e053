"""The real research chain on the synthetic market, and labelling of its discoveries against the planted truth.

:func:`synthetic_chain` runs raw synthetic tables -> ``clean_day`` per day -> ``compute_features`` ->
``compute_context`` -> ``detect_events`` (the same path as production, no shortcut through a toy world) and
returns what discovery and the bridge consume plus the ground truth ``SyntheticMarket.planted_events``.

:func:`label_discoveries` marks each candidate ``is_true_effect``. A planted effect is a drift of known sign
and size after each planted trigger (``SyntheticMarket.planted_events``). The detector never sees "the
planted trigger"; several detected event types fire on or shortly after it, each with its own notion of
direction, and frequent event types fall inside drift windows by chance. So the truth is decided by what each
candidate's own trades capture: the planted drift between each trade's entry and exit, times the trade's
sign, averaged over its trades, compared with what chance overlap would give and with the cost (see
:func:`label_discoveries`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_platform.core.timeutil import day_range
from quant_platform.discovery.config import DiscoverySpec
from quant_platform.discovery.samples import KEY_COLUMNS, build_samples
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


def trade_capture(samples: pl.DataFrame, planted: pl.DataFrame, spec: DiscoverySpec) -> pl.DataFrame:
    """``samples`` (``build_samples`` trades) with ``planted_bps``: the planted drift between the trade's entry
    and exit, times its trade sign.

    A planted event on bar ``p`` adds ``direction x size_bps / horizon_bars`` to every bar ``p + 1 .. p +
    horizon_bars`` (``SyntheticMarket``: the drift starts at the open of the bar after the event bar). A trade on
    an event at bar ``t`` holds bars ``t + lag .. t + lag + h - 1`` (open of entry to open of exit), so it
    captures the drift of exactly those bars, from every planted event of its symbol that overlaps them."""
    bar_ms = spec.bar_ms
    per_bar = (
        planted.select(
            "symbol",
            first=pl.col("ts").dt.epoch("ms") // bar_ms + 1,
            bars=pl.col("horizon_bars").cast(pl.Int64),
            move=pl.col("direction").cast(pl.Float64) * pl.col("size_bps") / pl.col("horizon_bars"),
        )
        .with_columns(bar=pl.int_ranges("first", pl.col("first") + pl.col("bars")))
        .explode("bar")
        .group_by("symbol", "bar")
        .agg(pl.col("move").sum())
        .sort("symbol", "bar")
        .with_columns(through=pl.col("move").cum_sum().over("symbol"))  # planted drift of bars <= bar
        .select("symbol", "bar", "through")
        .sort("bar")
    )
    entry = pl.col("ts").dt.epoch("ms") // bar_ms + spec.entry_lag_bars
    trades = samples.with_columns(
        _before_entry=entry - 1, _before_exit=entry + pl.col("horizon_bars").cast(pl.Int64) - 1
    )

    def drift_through(frame: pl.DataFrame, probe: str, name: str) -> pl.DataFrame:
        looked_up = frame.sort(probe).join_asof(
            per_bar.rename({"bar": probe, "through": name}),
            on=probe,
            by="symbol",
            strategy="backward",
            check_sortedness=False,  # both sorted by the probe; asof-by groups cannot be checked
        )
        return looked_up.with_columns(pl.col(name).fill_null(0.0))

    trades = drift_through(trades, "_before_entry", "_at_entry")
    trades = drift_through(trades, "_before_exit", "_at_exit")
    return trades.with_columns(
        planted_bps=(pl.col("_at_exit") - pl.col("_at_entry")) * pl.col("trade_sign").cast(pl.Float64)
    ).drop("_before_entry", "_before_exit", "_at_entry", "_at_exit")


def label_discoveries(
    candidates: pl.DataFrame,
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None,
    planted: pl.DataFrame,
    spec: DiscoverySpec,
    min_chance_z: float = 2.5,
) -> pl.DataFrame:
    """``candidates`` with the planted drift its own trades capture and ``is_true_effect``.

    The candidate's trades are rebuilt exactly as discovery counted them (``build_samples`` on the same
    inputs: same entry lag, gap and non-overlap rules, same state cells). Columns added:

    - ``planted_capture_bps``: the mean over its trades of :func:`trade_capture`'s ``planted_bps``, i.e. the
      expected gross return of the candidate given where its trades sit (the rest of the synthetic market has
      no predictable drift);
    - ``chance_capture_sd_bps``: ``sqrt(sum planted_bps^2) / n``, the sd of that mean under chance overlap:
      the trades overlap the drift windows as they do, but their signs are independent of the drift's (the
      sign-flip null; its mean is 0). Events that merely fall inside drift windows often (a frequent event
      on a symbol whose bars lie in drift windows 25-40% of the time) capture about nothing on average.

    ``is_true_effect``: ``planted_capture_bps >= min_chance_z x chance_capture_sd_bps`` (default 2.5: a
    one-sided sign-flip p of about 0.006, so chance overlap is labelled true about once in 160 candidates;
    with ``m`` trades each carrying the full drift the statistic is ``sqrt(m)``, so 2.5 asks for at least
    7 carrying trades: a 48-bar twin of a true 12-bar carrier has few non-overlapping trades and 3 would
    call it false although its trades capture the planted drift)
    AND ``planted_capture_bps > `` the spec's round-trip cost, because discovery tests H0 "mean net return
    <= 0": a candidate whose trades capture less drift than they pay in costs is a null of that test.
    Wrong-sign and fixed-sign templates capture a negative or zero mean and are false; so is every
    candidate on a symbol without planted effects (it captures exactly 0)."""
    samples = build_samples(bars, events, states, spec).samples
    captured = (
        trade_capture(samples, planted, spec)
        .group_by(KEY_COLUMNS)
        .agg(
            planted_capture_bps=pl.col("planted_bps").mean(),
            chance_capture_sd_bps=(pl.col("planted_bps") ** 2).sum().sqrt() / pl.len(),
        )
    )
    capture = pl.col("planted_capture_bps")
    true = (
        (capture > spec.cost.round_trip_bps) & (capture >= min_chance_z * pl.col("chance_capture_sd_bps"))
    ).fill_null(False)
    return candidates.join(captured, on=KEY_COLUMNS, how="left", nulls_equal=True).with_columns(
        is_true_effect=true
    )
