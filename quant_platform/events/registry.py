"""Typed view of ``spec/events``: the registry (name -> family) and one rule per event."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from quant_platform.core.hashing import canonical_hash
from quant_platform.specs import compute_ontology_hash, load_dir, load_yaml, ontology_hash
from quant_platform.specs.profiles import Profile

EXPECTED_EVENT_COUNT = 60  # 57 detected from features + 3 external-information events
OPS = ("gt", "ge", "lt", "le", "abs_gt", "abs_lt", "eq", "isin", "sign_change", "changed", "same_sign")


@dataclass(frozen=True)
class Condition:
    feature: str
    op: str
    value: Any = None
    values: tuple[Any, ...] = ()
    ref: str | None = None
    lag: int = 0
    ref_lag: int = 0


@dataclass(frozen=True)
class Branch:
    conditions: tuple[Condition, ...]
    direction: int | None


@dataclass(frozen=True)
class SignalRef:
    """``sign_of`` a feature (optionally lagged and negated) or a fixed ``value`` (direction or severity).
    A severity ``abs_of`` a feature is ``|x - center|``: the distance from the feature's neutral level (RSI 50,
    a percentile's median 0.5), so that a more extreme reading always scores higher."""

    feature: str | None
    value: float | None
    lag: int = 0
    negate: bool = False
    absolute: bool = False
    center: float = 0.0


@dataclass(frozen=True)
class EventDef:
    name: str
    family: str
    status: Literal["active", "skipped", "not_applicable"]
    skip_reason: str | None
    proxy: str | None
    trigger: Literal["onset", "level"]
    branches: tuple[Branch, ...]
    required_inputs: tuple[str, ...]
    direction: SignalRef
    severity: SignalRef
    min_per_symbol_day: float
    max_per_symbol_day: float
    # "rate": each symbol's events per evaluable symbol-day must be statistically compatible (Poisson) with
    # [min, max]; "each_symbol_day": every complete symbol-day's count must lie in [min, max] (calendar events).
    prevalence_compare: Literal["rate", "each_symbol_day", "not_applicable"] = "rate"
    # Asset classes the event means something for (spec ``asset_classes``; empty: every class).
    asset_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventRegistry:
    families: tuple[str, ...]
    events: tuple[EventDef, ...]
    # Prevalence check: a symbol's count warns when this improbable under every rate inside the bounds.
    prevalence_tail_probability: float = 0.001
    ontology_hash: str | None = None  # of the spec root it was read from (None: the default root)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.events)

    def family_of(self, name: str) -> str:
        return next(e.family for e in self.events if e.name == name)

    def for_profile(self, profile: Profile, spec_bar_minutes: int) -> EventRegistry:
        """This registry as it applies to ``profile``: an event whose asset classes exclude the profile's, or
        that reads an input the profile's asset class does not have, becomes ``not_applicable`` (absent: not
        detected, not tested, its prevalence not judged); the spec's prevalence bounds were measured on a
        continuous grid of ``spec_bar_minutes`` bars and do not transfer to another bar length or session
        calendar, so there they are not applicable either, unless the profile lists bounds measured on its
        own data (``prevalence.bounds``).
        The registry keeps every event, so the event tables keep their columns."""
        unknown = sorted(set(profile.prevalence) - set(self.names))
        if unknown:
            raise ValueError(
                f"profile {profile.name}: prevalence bounds for events not in the registry: {unknown}"
            )
        events = []
        for event in self.events:
            reason = not_applicable_reason(event, profile)
            if reason is not None and event.status == "active":
                event = replace(event, status="not_applicable", skip_reason=reason)
            elif event.name in profile.prevalence:  # bounds measured on this profile's own data
                low, high = profile.prevalence[event.name]
                event = replace(
                    event, min_per_symbol_day=low, max_per_symbol_day=high, prevalence_compare="rate"
                )
            elif profile.grid != (spec_bar_minutes, "continuous"):
                event = replace(event, prevalence_compare="not_applicable")
            events.append(event)
        return replace(self, events=tuple(events))


def not_applicable_reason(event: EventDef, profile: Profile) -> str | None:
    """Why ``event`` does not apply to ``profile`` (None when it does)."""
    if event.asset_classes and profile.asset_class not in event.asset_classes:
        return f"not applicable to {profile.asset_class} (profile {profile.name}): the event is for {list(event.asset_classes)}"
    absent = sorted(set(event.required_inputs) & profile.absent_inputs)
    if absent:
        return f"not applicable to {profile.asset_class} (profile {profile.name}): it has no {absent}"
    return None


def _condition(raw: dict[str, Any], event: str) -> Condition:
    op = raw["op"]
    if op not in OPS:
        raise ValueError(f"event {event}: unknown op {op!r} (known: {', '.join(OPS)})")
    if op in ("gt", "ge", "lt", "le") and ("value" in raw) == ("ref" in raw):
        raise ValueError(f"event {event}: op {op} needs exactly one of value / ref")
    if op == "same_sign" and "ref" not in raw:
        raise ValueError(f"event {event}: op same_sign needs a ref feature")
    return Condition(
        feature=raw["feature"],
        op=op,
        value=raw.get("value"),
        values=tuple(raw.get("values") or ()),
        ref=raw.get("ref"),
        lag=int(raw.get("lag", 0)),
        ref_lag=int(raw.get("ref_lag", 0)),
    )


def _signal(raw: dict[str, Any], absolute: bool) -> SignalRef:
    feature = raw.get("sign_of") or raw.get("abs_of")
    value = raw.get("value")
    if (feature is None) == (value is None):
        raise ValueError(f"direction/severity needs exactly one of sign_of/abs_of or value: {raw}")
    if "center" in raw and not absolute:
        raise ValueError(f"only a severity (abs_of) takes a center: {raw}")
    return SignalRef(feature, None if value is None else float(value), int(raw.get("lag", 0)),
                     bool(raw.get("negate", False)), absolute, float(raw.get("center", 0.0)))  # fmt: skip


def _event(doc: dict[str, Any]) -> EventDef:
    name = doc["name"]
    detection = doc["detection"]
    branches = tuple(
        Branch(tuple(_condition(c, name) for c in b["all"]), b.get("direction"))
        for b in detection["branches"]
    )
    if doc["status"] == "active" and not branches:
        raise ValueError(f"event {name}: an active event needs at least one detection branch")
    if doc["status"] == "skipped" and not doc.get("skip_reason"):
        raise ValueError(f"event {name}: a skipped event needs its skip_reason")
    bounds = doc["prevalence_bounds"]
    compare = bounds.get("compare", "rate")
    if compare not in ("rate", "each_symbol_day"):
        raise ValueError(
            f"event {name}: prevalence_bounds.compare must be rate or each_symbol_day, got {compare!r}"
        )
    if not 0 <= float(bounds["min_per_symbol_day"]) <= float(bounds["max_per_symbol_day"]):
        raise ValueError(f"event {name}: prevalence bounds need 0 <= min <= max")
    return EventDef(
        name=name,
        family=doc["family"],
        status=doc["status"],
        skip_reason=doc.get("skip_reason"),
        proxy=doc.get("proxy"),
        trigger=detection["trigger"],
        branches=branches,
        required_inputs=tuple(doc["required_inputs"]),
        direction=_signal(doc["direction"], absolute=False),
        severity=_signal(doc["severity"], absolute=True),
        min_per_symbol_day=float(bounds["min_per_symbol_day"]),
        max_per_symbol_day=float(bounds["max_per_symbol_day"]),
        prevalence_compare=compare,
        asset_classes=tuple(doc.get("asset_classes") or ()),
    )


def parse_event_registry(registry_doc: dict[str, Any], event_docs: dict[str, Any]) -> EventRegistry:
    families = tuple(registry_doc["families"])
    listed = registry_doc["events"]
    names = [e["name"] for e in listed]
    if len(names) != EXPECTED_EVENT_COUNT or len(set(names)) != len(names):
        raise ValueError(
            f"the registry must list {EXPECTED_EVENT_COUNT} distinct events, got {len(set(names))}"
        )
    events = []
    for entry in listed:
        doc = event_docs.get(entry["name"])
        if doc is None:
            raise ValueError(f"registry event {entry['name']} has no spec/events/{entry['name']}.yaml")
        event = _event(doc)
        if event.family != entry["family"] or event.family not in families:
            raise ValueError(f"event {event.name}: family {event.family!r} disagrees with the registry")
        used = {c.feature for b in event.branches for c in b.conditions} | {
            c.ref for b in event.branches for c in b.conditions if c.ref
        }
        used |= {s.feature for s in (event.direction, event.severity) if s.feature}
        if event.status == "active" and not used <= set(event.required_inputs):
            raise ValueError(f"event {event.name}: rule reads {sorted(used - set(event.required_inputs))} "
                             "not listed in required_inputs")  # fmt: skip
        events.append(event)
    orphans = set(event_docs) - set(names) - {"canonical_event_registry"}
    if orphans:
        raise ValueError(f"event files not in the registry: {sorted(orphans)}")
    tail = float(registry_doc["prevalence_check"]["tail_probability"])
    if not 0 < tail < 0.5:
        raise ValueError(f"prevalence_check.tail_probability must be in (0, 0.5), got {tail}")
    # Without a spec root (documents built by hand) the registry carries the hash of its own documents.
    return EventRegistry(
        families,
        tuple(events),
        prevalence_tail_probability=tail,
        ontology_hash=canonical_hash({"registry": registry_doc, "events": event_docs}),
    )


def load_event_registry(root: Path | None = None) -> EventRegistry:
    if root is None:
        return _cached_default()
    registry = parse_event_registry(
        load_yaml("events/canonical_event_registry.yaml", root), load_dir("events", root)
    )
    return replace(registry, ontology_hash=compute_ontology_hash(root))


@lru_cache(maxsize=1)
def _cached_default() -> EventRegistry:
    registry = parse_event_registry(load_yaml("events/canonical_event_registry.yaml"), load_dir("events"))
    return replace(registry, ontology_hash=ontology_hash())
