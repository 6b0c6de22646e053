"""Features layer assets: features_v1 and context_features from bars_5m, then market_events and event_flags.

Daily UTC partitions with look-back windows through ``lookback(k)``; k is the spec's longest warm-up in bars
times the bar length the layer is built for, in days (``build_features_layer(bar_minutes)``: 5-minute bars
by default, 60 or 1440 for hourly or daily CSV sources). Each day is computed on its own window so a day's
bytes never depend on how a backfill was batched. Checks: blocking pandera schema checks, the warm-up
marking check, and one WARN prevalence check per event.
"""

from dataclasses import dataclass
from datetime import date

import dagster as dg
import polars as pl

from quant_platform.core.collect import IN_MEMORY
from quant_platform.core.day_blocks import partitions_read
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import ALLOW_MISSING_KEY, parquet_output
from quant_platform.defs.partitions import daily_partitions, lookback
from quant_platform.defs.resources import MarketDataResource
from quant_platform.events import event_report, load_event_registry
from quant_platform.events.detect import (
    detect_events_for_days,
    events_lookback_bars,
    project_inputs,
    rule_inputs,
)
from quant_platform.events.registry import EventRegistry
from quant_platform.events.report import inputs_without_data
from quant_platform.events.schemas import EventFlags, MarketEvents
from quant_platform.features.checks import warmup_progress, warmup_violations
from quant_platform.features.compute import compute_features_for_days, lookback_days
from quant_platform.features.context import compute_context_for_days, context_lookback_days
from quant_platform.features.schemas import ContextFeatures, FeaturesV1
from quant_platform.features.spec import FeatureSpec, days_spanned, feature_spec_for, load_feature_spec
from quant_platform.specs import ontology_hash
from quant_platform.specs.profiles import load_profile, load_profiles

GROUP = "features"
SINGLE_RUN = dg.BackfillPolicy.single_run()
TAGS = {"quant_platform/layer": "features"}
KINDS = {"polars", "parquet"}
WARMUP_CHECK = "warmup_marked"
LEAVES_WARMUP_CHECK = "leaves_warmup"
REGISTRY = load_event_registry()


@dataclass(frozen=True)
class LayerLookbacks:
    """Days of upstream partitions each asset of the layer reads before its own day, for one bar length."""

    bar_minutes: int
    features: int
    context: int
    events: int
    sessions: str = "continuous"
    profile: str | None = None  # spec/profiles.yaml; None: a grid without a profile (the spec's own windows)

    @classmethod
    def for_bar_minutes(
        cls, bar_minutes: int | None = None, sessions: str = "continuous", profile: str | None = None
    ) -> "LayerLookbacks":
        chosen = load_profiles().resolve(profile, bar_minutes, sessions)
        if chosen is not None:
            bar_minutes, sessions = chosen.grid
        bar_minutes = bar_minutes or load_feature_spec().bar_minutes
        spec = feature_spec_for(chosen)
        return cls(
            bar_minutes=bar_minutes,
            features=lookback_days(spec, bar_minutes=bar_minutes, sessions=sessions),
            context=context_lookback_days(spec, bar_minutes=bar_minutes, sessions=sessions),
            # an event rule reads a few bars back (lags, onsets): at least the previous day at any bar length
            events=days_spanned(events_lookback_bars(), bar_minutes, sessions),
            sessions=sessions,
            profile=chosen.name if chosen else None,
        )

    def feature_spec(self) -> FeatureSpec:
        """The feature spec as the layer's profile sizes its windows."""
        return feature_spec_for(load_profile(self.profile) if self.profile else None)

    def event_registry(self) -> EventRegistry:
        """The event registry as it applies to the layer's profile (inapplicable events not_applicable)."""
        if not self.profile:
            return REGISTRY
        return REGISTRY.for_profile(load_profile(self.profile), load_feature_spec().bar_minutes)


def _require_bar_minutes(market_data: MarketDataResource, lookbacks: LayerLookbacks) -> None:
    # The partition mapping is fixed when the layer is built: a different grid or session calendar would get
    # a wrong warm-up.
    built = (lookbacks.bar_minutes, lookbacks.sessions)
    if market_data.profile and market_data.profile != lookbacks.profile:
        raise ValueError(
            f"the features layer was built for profile {lookbacks.profile} but market_data has profile="
            f"{market_data.profile!r}: load the code location with QP_PROFILE={market_data.profile}"
        )
    if (market_data.bar_minutes, market_data.sessions) != built:
        sessions = "" if market_data.sessions == "continuous" else f", sessions={market_data.sessions!r}"
        raise ValueError(
            f"the features layer was built for {lookbacks.bar_minutes}-minute bars with {lookbacks.sessions} "
            f"sessions but market_data has bar_minutes={market_data.bar_minutes}, sessions={market_data.sessions!r}: "
            f"build it with build_features_layer(bar_minutes={market_data.bar_minutes}{sessions})"
        )


def _window_input(asset: str, days: int) -> dg.AssetIn:
    # A day's window starts at its block's first day minus the look-back (core/day_blocks.py), so the mapping
    # reaches lookback + block - 1 days back. Before the first materialised day the window is shorter: those
    # rows stay flagged as warm-up.
    return dg.AssetIn(
        asset, partition_mapping=lookback(partitions_read(days)), metadata={ALLOW_MISSING_KEY: True}
    )


def build_features_layer(
    bar_minutes: int | None = None, sessions: str = "continuous", profile: str | None = None
) -> dg.Definitions:
    """features_v1, context_features and market_events/event_flags for bars of ``bar_minutes`` minutes
    (default: the spec's bar length) on ``sessions`` ("continuous", or "observed" for daily bars whose closed
    days have no rows). Their partition mappings read the spec's warm-up converted to days at that bar length
    (in trading days for observed sessions); materialising with a ``market_data`` of another bar length or
    sessions mode is refused. ``profile`` (spec/profiles.yaml) names the grid, the feature windows and the
    events that apply; without it the grid's profile is used when the spec has one."""
    lookbacks = LayerLookbacks.for_bar_minutes(bar_minutes, sessions, profile)
    feature_spec, registry = lookbacks.feature_spec(), lookbacks.event_registry()

    @dg.asset(
        group_name=GROUP,
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        ins={"bars": _window_input("bars_5m", lookbacks.features)},
        description=FeaturesV1.__doc__,
        kinds=KINDS,
        tags=TAGS,
        check_specs=[
            schema_check_spec("features_v1", FeaturesV1),
            dg.AssetCheckSpec(
                WARMUP_CHECK,
                asset="features_v1",
                blocking=True,
                description="Rows marked complete have every price-only feature defined; gap rows are marked warm-up.",
            ),
            dg.AssetCheckSpec(
                LEAVES_WARMUP_CHECK,
                asset="features_v1",
                description="The run's days leave warm-up: a run whose every row is still warming up has no "
                "usable feature (windows longer than the data, or restarting at every halt). Not blocking.",
            ),
        ],
    )
    def features_v1(context: dg.AssetExecutionContext, bars: pl.LazyFrame, market_data: MarketDataResource):
        _require_bar_minutes(market_data, lookbacks)
        # The range is read once and computed once per block of days (not once per day), each day the same
        # bytes as a one-day run.
        parts = compute_features_for_days(
            bars.collect(engine=IN_MEMORY),
            list(context.partition_keys),
            feature_spec,
            grid_minutes=market_data.bar_minutes,
            sessions=market_data.sessions,
        )
        whole = pl.concat(list(parts.values()))
        yield parquet_output(
            context,
            parts,
            metadata={
                "ontology_hash": ontology_hash(),
                "profile": lookbacks.profile or "(none: a grid without a profile)",
                "lookback_days": lookbacks.features,
                "warmup_rows": int(whole["warmup"].sum()),
            },
        )
        yield schema_check_result("features_v1", FeaturesV1, whole)
        violations = warmup_violations(whole, feature_spec)
        progress = warmup_progress(whole, feature_spec)
        yield dg.AssetCheckResult(
            asset_key="features_v1",
            check_name=LEAVES_WARMUP_CHECK,
            passed=bool(progress["leaves_warmup"]),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "days_entirely_warmup": dg.MetadataValue.json(progress["days_entirely_warmup"]),
                "warmup_bars_needed": progress["warmup_bars_needed"],
                "lookback_days": lookbacks.features,
                "profile": lookbacks.profile or "(none: a grid without a profile)",
            },
        )
        yield dg.AssetCheckResult(
            asset_key="features_v1",
            check_name=WARMUP_CHECK,
            passed=not violations,
            metadata={
                "violations": dg.MetadataValue.json(violations),
                "warmup_rows": int(whole["warmup"].sum()),
            },
        )

    @dg.asset(
        group_name=GROUP,
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        ins={"features": _window_input("features_v1", lookbacks.context)},
        description=ContextFeatures.__doc__,
        kinds=KINDS,
        tags=TAGS,
        check_specs=[schema_check_spec("context_features", ContextFeatures)],
    )
    def context_features(
        context: dg.AssetExecutionContext, features: pl.LazyFrame, market_data: MarketDataResource
    ):
        _require_bar_minutes(market_data, lookbacks)
        parts = compute_context_for_days(
            features.collect(engine=IN_MEMORY),
            list(context.partition_keys),
            feature_spec,
            bar_minutes=market_data.bar_minutes,
            sessions=market_data.sessions,
        )
        whole = pl.concat(list(parts.values()))
        yield parquet_output(
            context, parts, metadata={"ontology_hash": ontology_hash(), "lookback_days": lookbacks.context}
        )
        yield schema_check_result("context_features", ContextFeatures, whole)

    @dg.multi_asset(
        group_name=GROUP,
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        ins={
            "features": _window_input("features_v1", lookbacks.events),
            "context_window": _window_input("context_features", lookbacks.events),
        },
        outs={
            "market_events": dg.AssetOut(description=MarketEvents.__doc__, kinds=KINDS, tags=TAGS),
            "event_flags": dg.AssetOut(description=EventFlags.__doc__, kinds=KINDS, tags=TAGS),
        },
        check_specs=[
            schema_check_spec("market_events", MarketEvents),
            schema_check_spec("event_flags", EventFlags),
            *[
                dg.AssetCheckSpec(
                    _prevalence_check_name(e.name),
                    asset="market_events",
                    description=(
                        f"{e.name} fires {e.min_per_symbol_day:g} to {e.max_per_symbol_day:g} times on every "
                        "complete symbol-day (WARN when outside)."
                        if e.prevalence_compare == "each_symbol_day"
                        else f"{e.name} fires at a rate of {e.min_per_symbol_day:g} to {e.max_per_symbol_day:g} "
                        "per symbol-day (Poisson test per symbol; WARN when outside, or when not evaluated)."
                    ),
                )
                for e in registry.events
            ],
        ],
    )
    def market_events(
        context: dg.AssetExecutionContext, features: pl.LazyFrame, context_window: pl.LazyFrame
    ):
        columns = set(features.collect_schema().names()) | set(context_window.collect_schema().names())
        # Only (symbol, ts) and the columns the rules read are scanned from the stored Parquet files.
        needed = rule_inputs(registry)
        features, context_window = project_inputs(features, needed), project_inputs(context_window, needed)
        features, context_window = (
            features.collect(engine=IN_MEMORY),
            context_window.collect(engine=IN_MEMORY),
        )
        detected = detect_events_for_days(
            features,
            context_window,
            list(context.partition_keys),
            registry,
            bar_minutes=lookbacks.bar_minutes,
            sessions=lookbacks.sessions,
        )
        events = {day: pair[0] for day, pair in detected.items()}
        flags = {day: pair[1] for day, pair in detected.items()}
        all_events, all_flags = pl.concat(list(events.values())), pl.concat(list(flags.values()))
        days = pl.col("ts").dt.date().is_in([date.fromisoformat(d) for d in context.partition_keys])
        empty = inputs_without_data(features.filter(days)) | inputs_without_data(context_window.filter(days))
        report = event_report(all_flags, registry, input_columns=columns, empty_inputs=empty)
        not_detected = report.filter(
            (pl.col("status") != "active") | (pl.col("unavailable_symbol_days") > 0)
        ).select("event_type", "status", "reason", "unavailable_symbol_days")
        yield parquet_output(
            context,
            events,
            output_name="market_events",
            metadata={
                "ontology_hash": ontology_hash(),
                "events_per_type": dg.MetadataValue.json(
                    dict(
                        all_events.group_by("event_type", maintain_order=True)
                        .len()
                        .sort("event_type")
                        .iter_rows()
                    )
                ),
                "not_detected": dg.MetadataValue.json(not_detected.to_dicts()),
            },
        )
        yield parquet_output(
            context, flags, output_name="event_flags", metadata={"ontology_hash": ontology_hash()}
        )
        yield schema_check_result("market_events", MarketEvents, all_events)
        yield schema_check_result("event_flags", EventFlags, all_flags)
        for item in report.iter_rows(named=True):
            yield dg.AssetCheckResult(
                asset_key="market_events",
                check_name=_prevalence_check_name(item["event_type"]),
                # Skipped or unavailable (not evaluated) is not a pass: it warns with its reason. An event not
                # applicable to the profile, or whose bounds are not for this bar length, passes as such.
                passed=item["within_bounds"] is True or (item["compared"] or "").startswith("not applicable"),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={k: v for k, v in item.items() if v is not None and k != "event_type"},
            )

    return dg.Definitions(assets=[features_v1, context_features, market_events])


def _prevalence_check_name(event: str) -> str:
    return f"prevalence_{event.lower()}"


defs = build_features_layer()
# The default (spec bar length) layer's assets, for callers that materialise a subset.
features_v1, context_features, market_events = (
    defs.get_assets_def(k) for k in ("features_v1", "context_features", "market_events")
)
