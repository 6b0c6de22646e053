"""Typed views of ``spec/features`` and ``spec/states``: the code reads every parameter from here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from quant_platform.core.hashing import canonical_hash
from quant_platform.core.sessions import check_sessions, exchange_name, trading_minutes_per_day
from quant_platform.specs import compute_ontology_hash, load_dir, ontology_hash
from quant_platform.specs.profiles import Profile

Scope = Literal["segment", "symbol", "market"]


@dataclass(frozen=True)
class FeatureDef:
    name: str
    family: str
    table: str
    builder: str
    inputs: tuple[str, ...]
    params: dict[str, Any]
    scope: Scope
    warmup_bars: int


@dataclass(frozen=True)
class StateDef:
    name: str
    table: str
    input: str
    labels: tuple[str, ...]
    uppers: tuple[float | None, ...]


@dataclass(frozen=True)
class FeatureSpec:
    """Every feature of every family (in spec order), the conventions, and the state definitions."""

    features: tuple[FeatureDef, ...]
    states: tuple[StateDef, ...]
    bar_minutes: int
    min_coverage: float
    daily_lookback_margin_days: int
    recursive_burn_in_bars: int
    context_params: dict[str, Any] = field(default_factory=dict)
    # The ontology hash of the spec this was read from: what every output computed with it carries.
    ontology_hash: str = ""

    def table_features(self, table: str, families: tuple[str, ...] | None = None) -> tuple[FeatureDef, ...]:
        chosen = tuple(f for f in self.features if f.table == table)
        if families is None:
            return chosen
        unknown = set(families) - {f.family for f in chosen}
        if unknown:
            raise ValueError(f"unknown feature families for {table}: {sorted(unknown)}")
        return tuple(f for f in chosen if f.family in families)

    def table_states(self, table: str) -> tuple[StateDef, ...]:
        return tuple(s for s in self.states if s.table == table)

    def max_warmup_bars(self) -> int:
        return max(f.warmup_bars for f in self.features)

    def lookback_days(
        self, table: str = "features_v1", bar_minutes: int | None = None, sessions: str = "continuous"
    ) -> int:
        """Days of history before a partition day that make every lookback of ``table`` complete
        (``bar_minutes`` overrides the spec's bar length for coarser sources; ``sessions="observed"``
        counts the warm-up in trading days, see :func:`days_spanned`)."""
        warmup = max(f.warmup_bars for f in self.table_features(table)) + self.recursive_burn_in_bars
        return (
            days_spanned(warmup, bar_minutes or self.bar_minutes, sessions) + self.daily_lookback_margin_days
        )


MINUTES_PER_DAY = 24 * 60


# Observed (trading-day) sessions: calendar days per session day, >= 365/252 with the NYSE's ~9 holidays...
CALENDAR_DAYS_PER_SESSION = 1.5
# ...plus the longest closed stretch at the window's edge, which short windows need: the NYSE's longest since
# 1933 is the 2001-09-11..14 closure beside a weekend (6 days; a holiday beside a weekend is 3 or 4).
MAX_CLOSED_RUN_DAYS = 6


def days_spanned(bars: int, bar_minutes: int, sessions: str = "continuous") -> int:
    """Whole days that ``bars`` bars of ``bar_minutes`` minutes reach back (a warm-up in bars -> days).

    ``sessions="observed"`` (daily bars whose closed days have no rows): ``bars`` trading days, i.e.
    ``ceil(1.5 bars)`` calendar days plus :data:`MAX_CLOSED_RUN_DAYS`. Exchange sessions: the bars' minutes
    over the calendar's average trading minutes per calendar day, plus :data:`MAX_CLOSED_RUN_DAYS`.
    """
    if bar_minutes <= 0 or bars < 0:
        raise ValueError(f"need bar_minutes > 0 and bars >= 0, got bar_minutes={bar_minutes}, bars={bars}")
    check_sessions(sessions, bar_minutes)
    if sessions == "observed":
        return math.ceil(bars * CALENDAR_DAYS_PER_SESSION) + MAX_CLOSED_RUN_DAYS if bars else 0
    if exchange_name(sessions) is not None:  # the calendar's average trading minutes per calendar day
        return (
            math.ceil(bars * bar_minutes / trading_minutes_per_day(sessions)) + MAX_CLOSED_RUN_DAYS
            if bars
            else 0
        )
    return math.ceil(bars * bar_minutes / MINUTES_PER_DAY)


def _feature_defs(doc: dict[str, Any]) -> list[FeatureDef]:
    out = []
    for name, body in doc["features"].items():
        scope = body["scope"]
        if scope not in ("segment", "symbol", "market"):
            raise ValueError(f"feature {name}: unknown scope {scope!r}")
        out.append(
            FeatureDef(
                name=name,
                family=doc["family"],
                table=doc["table"],
                builder=body.get("builder", name),
                inputs=tuple(body["inputs"]),
                params=dict(body.get("params") or {}),
                scope=scope,
                warmup_bars=int(body["warmup_bars"]),
            )
        )
    return out


def _state_def(doc: dict[str, Any]) -> StateDef:
    if doc.get("kind") != "bins":
        raise ValueError(f"state {doc.get('name')}: only kind 'bins' is supported, got {doc.get('kind')!r}")
    bins = doc["bins"]
    uppers = tuple(b["upper"] for b in bins)
    if uppers[-1] is not None or any(u is None for u in uppers[:-1]):
        raise ValueError(f"state {doc['name']}: only the last bin may (and must) have upper: null")
    if list(uppers[:-1]) != sorted(uppers[:-1]):
        raise ValueError(f"state {doc['name']}: bin uppers must increase")
    return StateDef(doc["name"], doc["table"], doc["input"], tuple(b["label"] for b in bins), uppers)


def parse_feature_spec(
    feature_docs: dict[str, Any], state_docs: dict[str, Any], spec_hash: str | None = None
) -> FeatureSpec:
    """``spec_hash``: the ontology hash of the spec root the documents come from; without it, the
    canonical hash of the documents themselves (so a hand-built spec never carries the default root's hash)."""
    conventions = [d for d in feature_docs.values() if d.get("kind") == "conventions"]
    if len(conventions) != 1:
        raise ValueError("spec/features needs exactly one conventions file")
    conv = conventions[0]
    features: list[FeatureDef] = []
    context_params: dict[str, Any] = {}
    for doc in feature_docs.values():
        if doc.get("kind") == "conventions":
            continue
        features.extend(_feature_defs(doc))
        if doc["table"] == "context_features":
            context_params = dict(doc.get("params") or {})
    names = [f.name for f in features]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"feature names defined twice: {sorted(duplicates)}")
    states = tuple(_state_def(d) for d in state_docs.values())
    return FeatureSpec(
        features=tuple(features),
        states=states,
        bar_minutes=int(conv["bar_minutes"]),
        min_coverage=float(conv["min_coverage"]),
        daily_lookback_margin_days=int(conv["daily_lookback_margin_days"]),
        recursive_burn_in_bars=int(conv.get("recursive_burn_in_bars", 0)),
        context_params=context_params,
        ontology_hash=spec_hash or canonical_hash({"features": feature_docs, "states": state_docs}),
    )


def load_feature_spec(root: Path | None = None) -> FeatureSpec:
    """Parse ``spec/features`` and ``spec/states`` (from ``root``, default the active spec root)."""
    if root is None:
        return _cached_default()
    return parse_feature_spec(
        load_dir("features", root), load_dir("states", root), compute_ontology_hash(root)
    )


@lru_cache(maxsize=1)
def _cached_default() -> FeatureSpec:
    return parse_feature_spec(load_dir("features"), load_dir("states"), ontology_hash())


def feature_spec_for(profile: Profile | None, base: FeatureSpec | None = None) -> FeatureSpec:
    """The feature spec as ``profile`` (spec/profiles.yaml) sizes it: its feature overrides (params merged over
    the spec's, warm-up replaced) and its recursive burn-in. A profile without overrides (the default crypto
    profile) gets the spec itself, unchanged. An override naming no spec feature or param is an error."""
    base = base or load_feature_spec()
    if profile is None or (not profile.features and profile.recursive_burn_in_bars is None):
        return base
    names = {f.name for f in base.features}
    unknown = sorted(set(profile.features) - names)
    if unknown:
        raise ValueError(f"profile {profile.name}: features {unknown} are not in spec/features")
    features = []
    for f in base.features:
        override = profile.features.get(f.name)
        if override is None:
            features.append(f)
            continue
        extra = sorted(set(override.params) - set(f.params))
        if extra:
            raise ValueError(f"profile {profile.name}: feature {f.name} has no params {extra}")
        warmup = f.warmup_bars if override.warmup_bars is None else override.warmup_bars
        features.append(replace(f, params={**f.params, **override.params}, warmup_bars=warmup))
    burn_in = profile.recursive_burn_in_bars
    return replace(
        base,
        features=tuple(features),
        recursive_burn_in_bars=base.recursive_burn_in_bars if burn_in is None else burn_in,
    )
