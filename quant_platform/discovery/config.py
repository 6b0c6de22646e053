"""The discovery spec, read from ``spec/`` once and frozen: templates, families, horizons, costs, gates.

Nothing here restates a parameter: every value comes from ``spec/global_defaults.yaml``,
``spec/multiplicity/``, ``spec/hypotheses/`` and ``spec/gates.yaml``. The spec carries the ontology hash of
the ``spec/`` tree it was read from, so every output can be traced to (and checked against) it.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from quant_platform.core.sessions import BarCalendar
from quant_platform.events.registry import EventDef, EventRegistry, load_event_registry
from quant_platform.features.spec import load_feature_spec
from quant_platform.specs import compute_ontology_hash, load_dir, load_yaml, ontology_hash
from quant_platform.specs.profiles import Profile, load_profile

UNCONDITIONAL = "all"  # state_column / state_value of the unconditional candidate
OVERRIDABLE_THRESHOLDS = (
    "min_after_cost_expectancy_bps",
    "conservative_cost_multiplier",
    "min_observations_per_half",
    "min_information_weight_state",
)


@dataclass(frozen=True)
class TemplateSpec:
    """A rule-template verb: how an event's direction maps to a trade sign."""

    name: str
    sign_rule: str  # "from_direction" | "fixed"
    direction_multiplier: int = 0
    fixed_sign: int = 0

    def __post_init__(self) -> None:
        if self.sign_rule == "from_direction" and self.direction_multiplier not in (1, -1):
            raise ValueError(f"template {self.name}: direction_multiplier must be +1 or -1")
        if self.sign_rule == "fixed" and self.fixed_sign not in (1, -1):
            raise ValueError(f"template {self.name}: fixed_sign must be +1 or -1")
        if self.sign_rule not in ("from_direction", "fixed"):
            raise ValueError(f"template {self.name}: unknown sign_rule {self.sign_rule!r}")


@dataclass(frozen=True)
class CostModel:
    """Per-side fee and slippage in bps; a round trip pays both twice."""

    fee_bps_per_side: float
    slippage_bps_per_side: float

    @property
    def round_trip_bps(self) -> float:
        return 2.0 * (self.fee_bps_per_side + self.slippage_bps_per_side)


@dataclass(frozen=True)
class PhaseTwoGates:
    """``gate_v1_phase2`` of ``spec/gates.yaml``."""

    max_q_value: float
    min_after_cost_expectancy_bps: float
    conservative_cost_multiplier: float
    min_observations_per_half: int
    min_information_weight_state: float
    soft_gates: tuple[str, ...]
    per_event_overrides: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]

    def threshold(self, name: str, event_type: str) -> float:
        for event, overrides in self.per_event_overrides:
            if event == event_type:
                for key, value in overrides:
                    if key == name:
                        return value
        return float(getattr(self, name))


@dataclass(frozen=True)
class BridgeGates:
    """``bridge_v1`` of ``spec/gates.yaml``."""

    cost_multipliers: tuple[float, ...]
    extra_latency_bars: int
    min_trades: int
    min_after_cost_expectancy_bps: float
    min_daily_sharpe: float
    stressed_must_stay_positive: tuple[str, ...]
    # realistic (x1) engine slippage on top of the discovery cost model: volatility and square-root impact
    slippage_vol_coef: float
    slippage_impact_bps: float


@dataclass(frozen=True)
class DiscoverySpec:
    """Everything phase-2 discovery reads from ``spec/``, frozen."""

    bar_minutes: int
    entry_lag_bars: int
    conditioning_columns: tuple[str, ...]
    cost: CostModel
    min_observations: int
    overlap_policy: str
    templates: tuple[TemplateSpec, ...]
    # (event_type, family, template, horizon_bars): every hypothesis shape the spec allows.
    plan_rows: tuple[tuple[str, str, str, int], ...]
    fdr_group_by: tuple[str, ...]
    shrinkage_strata: tuple[str, ...]
    shrinkage_levels: tuple[tuple[str, tuple[str, ...]], ...]
    min_children_for_own_tau2: int
    gates: PhaseTwoGates
    bridge: BridgeGates
    ontology_hash: str
    # A RunSet's template filter (glob patterns, empty = all): plan() keeps only matching templates.
    template_filter: tuple[str, ...] = ()
    # The profile (spec/profiles.yaml) the bar length, sessions, horizons and events came from.
    sessions: str = "continuous"
    profile: str = ""

    def __post_init__(self) -> None:
        if self.entry_lag_bars < 1:
            raise ValueError(
                f"entry_lag_bars must be >= 1 (signals act on the next bar), got {self.entry_lag_bars}"
            )
        if self.overlap_policy != "non_overlapping":
            raise ValueError(f"unsupported overlap_policy {self.overlap_policy!r} (only non_overlapping)")
        if self.min_observations < 2:
            raise ValueError("min_observations must be >= 2 (a t statistic needs a variance)")

    @property
    def bar_ms(self) -> int:
        return self.bar_minutes * 60_000

    def calendar(self, ts: pl.Series) -> BarCalendar:
        """The bar calendar of data with these bar opens: research counts bars by position in it."""
        return BarCalendar.of(ts, self.bar_minutes, self.sessions)

    def template(self, name: str) -> TemplateSpec:
        for t in self.templates:
            if t.name == name:
                return t
        raise KeyError(name)

    def planned_templates(self) -> tuple[str, ...]:
        """The rule templates the hypothesis plan uses, sorted."""
        return tuple(sorted({t for _, _, t, _ in self.plan_rows}))

    def matching_templates(self, patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The planned templates matching any of the glob ``patterns`` (fnmatch; empty = all of them).

        A pattern that matches no planned template is an error (a typo would otherwise silently test nothing
        of what was asked for)."""
        planned = self.planned_templates()
        if not patterns:
            return planned
        unmatched = [p for p in patterns if not fnmatch.filter(planned, p)]
        if unmatched:
            raise ValueError(
                f"template filter {unmatched} matches no rule template of the spec {list(planned)}"
            )
        return tuple(t for t in planned if any(fnmatch.fnmatchcase(t, p) for p in patterns))

    def restricted_to_templates(self, patterns: tuple[str, ...] | list[str]) -> DiscoverySpec:
        """This spec with the hypothesis plan cut to the templates matching ``patterns`` (empty = all):
        only those hypotheses are tested, so only they count as trials. The ontology hash is the spec's own
        (the spec did not change; the RunSet chose a subset of it)."""
        self.matching_templates(patterns)  # refuse a pattern that matches nothing, now
        return replace(self, template_filter=tuple(sorted(set(patterns))))

    def event_families(self) -> pl.DataFrame:
        """``event_type, family`` of every event the spec plans hypotheses for (whatever the template filter)."""
        rows = sorted({(e, f) for e, f, _, _ in self.plan_rows})
        return pl.DataFrame(rows, schema={"event_type": pl.String, "family": pl.String}, orient="row")

    def plan(self) -> pl.DataFrame:
        """The hypothesis plan: one row per (event_type, family, template, horizon) with the sign rule."""
        by_name = {t.name: t for t in self.templates}
        selected = set(self.matching_templates(self.template_filter))
        rows = [
            {
                "event_type": e,
                "family": f,
                "template": t,
                "horizon_bars": h,
                "from_direction": by_name[t].sign_rule == "from_direction",
                "sign_multiplier": by_name[t].direction_multiplier
                if by_name[t].sign_rule == "from_direction"
                else by_name[t].fixed_sign,
            }
            for e, f, t, h in self.plan_rows
            if t in selected
        ]
        schema = {
            "event_type": pl.String,
            "family": pl.String,
            "template": pl.String,
            "horizon_bars": pl.Int32,
            "from_direction": pl.Boolean,
            "sign_multiplier": pl.Int8,
        }
        return pl.DataFrame(rows, schema=schema)


def is_directional(event: EventDef) -> bool:
    """An event has a direction when its spec derives one (a feature sign, a non-zero value or branches)."""
    d = event.direction
    return d.feature is not None or bool(d.value) or any(b.direction for b in event.branches)


def _plan_rows(
    families: dict[str, Any],
    overrides: dict[str, Any],
    known: set[str],
    defaults: dict[str, Any],
    registry: EventRegistry,
    horizons_override: tuple[int, ...] | None = None,
) -> list:
    missing = set(registry.families) - set(families)
    if missing:
        raise ValueError(f"multiplicity/families.yaml lacks canonical families {sorted(missing)}")
    extra = set(families) - set(registry.families)
    if extra:
        raise ValueError(
            f"multiplicity/families.yaml names families not in the event registry: {sorted(extra)}"
        )
    unknown = set(overrides) - set(registry.names)
    if unknown:
        raise ValueError(f"event_overrides name events not in the canonical registry: {sorted(unknown)}")
    rows = []
    for event in registry.events:
        if event.status == "not_applicable":  # absent for the profile: no hypothesis, no trial
            continue
        body = {**(families[event.family] or {}), **(overrides.get(event.name) or {})}
        key = "directional_templates" if is_directional(event) else "nondirectional_templates"
        templates = body.get(key, defaults[key])
        # A profile's horizons are in its own bars and replace the families' (written in the spec's 5m bars).
        horizons = horizons_override or body.get("horizons_bars", defaults["horizons_bars"])
        for t in templates:
            if t not in known:
                raise ValueError(f"family {event.family} / event {event.name}: unknown template {t!r}")
            for h in horizons:
                if int(h) < 1:
                    raise ValueError(f"family {event.family}: horizon must be >= 1 bar, got {h}")
                rows.append((event.name, event.family, t, int(h)))
    return rows


def load_discovery_spec(root: Path | None = None, profile: str | None = None) -> DiscoverySpec:
    """Read the discovery spec from ``root`` (default: the active ``spec/``, read once per process like
    :func:`quant_platform.specs.ontology_hash`: the spec does not change under a running process) for
    ``profile`` (spec/profiles.yaml; None: its default): the profile's bar length, sessions, horizons,
    conditioning columns and the events that apply to its asset class."""
    return _default_spec(profile) if root is None else _read_spec(root, profile)


@lru_cache(maxsize=8)
def _default_spec(profile: str | None) -> DiscoverySpec:
    return _read_spec(None, profile)


def _read_spec(root: Path | None, profile_name: str | None = None) -> DiscoverySpec:
    profile: Profile = load_profile(profile_name, root)
    defaults = load_yaml("global_defaults.yaml", root)
    if int(defaults["entry_lag_bars"]) < 1:  # checked again by DiscoverySpec; early to fail fast
        raise ValueError(
            f"entry_lag_bars must be >= 1 (signals act on the next bar), got {defaults['entry_lag_bars']}"
        )
    families = load_yaml("multiplicity/families.yaml", root)
    taxonomy = load_yaml("multiplicity/taxonomy.yaml", root)
    hypotheses = load_dir("hypotheses", root)
    gates = load_yaml("gates.yaml", root)

    templates = tuple(
        TemplateSpec(
            name=name,
            sign_rule=body["sign_rule"],
            direction_multiplier=int(body.get("direction_multiplier", 0)),
            fixed_sign=int(body.get("fixed_sign", 0)),
        )
        for name, body in hypotheses["templates"]["templates"].items()
    )
    conditioning = profile.conditioning_columns or tuple(defaults["conditioning_columns"])
    declared = set(hypotheses["state_conditioned"]["conditioning"])
    if not set(conditioning) <= declared:
        raise ValueError(
            f"conditioning columns not declared in hypotheses/state_conditioned.yaml: {set(conditioning) - declared}"
        )
    p2 = gates["gate_v1_phase2"]
    overrides = tuple(
        (event, tuple(sorted((k, float(v)) for k, v in body.items())))
        for event, body in sorted((p2.get("per_event_overrides") or {}).items())
    )
    registry = load_event_registry(root).for_profile(profile, load_feature_spec(root).bar_minutes)
    registry_events = {e.name for e in registry.events}
    for event, body in overrides:
        if event not in registry_events:  # a typo would otherwise be silently ignored
            near = difflib.get_close_matches(event, sorted(registry_events), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ValueError(
                f"gates.yaml per_event_overrides.{event}: not an event of the canonical event registry{hint}"
            )
        # max_q_value is one level for the whole two-level BH procedure; it cannot differ per event
        bad = {k for k, _ in body} - set(OVERRIDABLE_THRESHOLDS)
        if bad:
            raise ValueError(f"gates.yaml per_event_overrides.{event}: cannot override {sorted(bad)}")
    br = gates["bridge_v1"]
    shrink = taxonomy["shrinkage"]
    return DiscoverySpec(
        bar_minutes=profile.bar_minutes,
        entry_lag_bars=int(defaults["entry_lag_bars"]),
        conditioning_columns=conditioning,
        cost=CostModel(**{k: float(v) for k, v in defaults["cost_model"].items()}),
        min_observations=int(defaults["min_observations"]),
        overlap_policy=str(defaults["overlap_policy"]),
        templates=templates,
        plan_rows=tuple(
            _plan_rows(
                families["families"],
                families.get("event_overrides") or {},
                {t.name for t in templates},
                defaults,
                registry,
                profile.horizons_bars,
            )
        ),
        fdr_group_by=tuple(taxonomy["fdr_group_by"]),
        shrinkage_strata=tuple(shrink["strata"]),
        shrinkage_levels=tuple((lv["name"], tuple(lv["keys"])) for lv in shrink["levels"]),
        min_children_for_own_tau2=int(shrink["min_children_for_own_tau2"]),
        gates=PhaseTwoGates(
            max_q_value=float(p2["max_q_value"]),
            min_after_cost_expectancy_bps=float(p2["min_after_cost_expectancy_bps"]),
            conservative_cost_multiplier=float(p2["conservative_cost_multiplier"]),
            min_observations_per_half=int(p2["sign_stability"]["min_observations_per_half"]),
            min_information_weight_state=float(p2["min_information_weight_state"]),
            soft_gates=tuple(p2["soft_gates"]),
            per_event_overrides=overrides,
        ),
        bridge=BridgeGates(
            cost_multipliers=tuple(float(x) for x in br["cost_multipliers"]),
            extra_latency_bars=int(br["extra_latency_bars"]),
            min_trades=int(br["min_trades"]),
            min_after_cost_expectancy_bps=float(br["min_after_cost_expectancy_bps"]),
            min_daily_sharpe=float(br["min_daily_sharpe"]),
            stressed_must_stay_positive=tuple(br["stressed_must_stay_positive"]),
            slippage_vol_coef=float(br["realistic_slippage"]["vol_coef"]),
            slippage_impact_bps=float(br["realistic_slippage"]["impact_bps"]),
        ),
        ontology_hash=ontology_hash() if root is None else compute_ontology_hash(root),
        sessions=profile.sessions,
        profile=profile.name,
    )
