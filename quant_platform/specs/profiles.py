"""Typed view of ``spec/profiles.yaml``: what kind of bars a dataset has, as one value.

A profile names the bar length, the session calendar and the asset class, plus what follows from them (the
feature windows that keep their meaning at that scale, the inputs the asset class lacks, research horizons).
It is chosen where the data enters (``market_data.profile``) and recorded with the dataset in the registry;
every layer reads it from there instead of from a global default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from quant_platform.core.sessions import check_sessions
from quant_platform.specs import load_yaml

PROFILES_FILE = "profiles.yaml"


@dataclass(frozen=True)
class FeatureOverride:
    """A profile's replacement for one spec feature's params (merged over the spec's) and warm-up."""

    params: MappingProxyType
    warmup_bars: int | None


@dataclass(frozen=True)
class Profile:
    name: str
    asset_class: str
    bar_minutes: int
    sessions: str
    absent_inputs: frozenset[str] = frozenset()
    features: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    recursive_burn_in_bars: int | None = None
    horizons_bars: tuple[int, ...] | None = None
    conditioning_columns: tuple[str, ...] | None = None
    description: str = ""
    # Event prevalence bounds measured on this profile's data: event -> (min, max) per symbol-day (rate).
    prevalence: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not 0 < self.bar_minutes <= 1440 or 1440 % self.bar_minutes:
            raise ValueError(f"profile {self.name}: bar_minutes must divide a day, got {self.bar_minutes}")
        check_sessions(self.sessions, self.bar_minutes)
        if self.horizons_bars is not None and (not self.horizons_bars or min(self.horizons_bars) < 1):
            raise ValueError(f"profile {self.name}: research.horizons_bars must be >= 1 bar")

    @property
    def grid(self) -> tuple[int, str]:
        """(bar_minutes, sessions): what the market layer's grid and the features' look-backs depend on."""
        return self.bar_minutes, self.sessions


def _profile(name: str, body: dict[str, Any]) -> Profile:
    known = {"description", "asset_class", "bar_minutes", "sessions", "absent_inputs", "features",
             "recursive_burn_in_bars", "research", "prevalence"}  # fmt: skip
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"profile {name}: unknown keys {sorted(unknown)}")
    research = body.get("research") or {}
    unknown_research = set(research) - {"horizons_bars", "conditioning_columns"}
    if unknown_research:
        raise ValueError(f"profile {name}: unknown research keys {sorted(unknown_research)}")
    overrides = {}
    for feature, raw in (body.get("features") or {}).items():
        if set(raw) - {"params", "warmup_bars"}:
            raise ValueError(f"profile {name}: feature {feature} may override only params and warmup_bars")
        warmup = raw.get("warmup_bars")
        overrides[feature] = FeatureOverride(
            MappingProxyType(dict(raw.get("params") or {})), None if warmup is None else int(warmup)
        )
    burn_in = body.get("recursive_burn_in_bars")
    prevalence = {}
    for event, bounds in ((body.get("prevalence") or {}).get("bounds") or {}).items():
        low, high = (float(x) for x in bounds)
        if not 0 <= low <= high:
            raise ValueError(f"profile {name}: prevalence bounds of {event} need 0 <= min <= max")
        prevalence[event] = (low, high)
    return Profile(
        name=name,
        asset_class=str(body["asset_class"]),
        bar_minutes=int(body["bar_minutes"]),
        sessions=str(body["sessions"]),
        absent_inputs=frozenset(body.get("absent_inputs") or ()),
        features=MappingProxyType(overrides),
        recursive_burn_in_bars=None if burn_in is None else int(burn_in),
        horizons_bars=tuple(int(h) for h in research["horizons_bars"])
        if "horizons_bars" in research
        else None,
        conditioning_columns=tuple(research["conditioning_columns"])
        if "conditioning_columns" in research
        else None,
        description=str(body.get("description") or "").strip(),
        prevalence=MappingProxyType(prevalence),
    )


@dataclass(frozen=True)
class Profiles:
    default: str
    by_name: MappingProxyType

    def get(self, name: str | None = None) -> Profile:
        """The named profile (``None``: the default one); an unknown name is an error naming the known ones."""
        chosen = self.default if name is None else name
        if chosen not in self.by_name:
            raise ValueError(
                f"unknown profile {chosen!r}: spec/{PROFILES_FILE} defines {sorted(self.by_name)}"
            )
        return self.by_name[chosen]

    def for_grid(self, bar_minutes: int, sessions: str) -> Profile | None:
        """The profile with this bar length and sessions, None when the spec has none (such a grid runs on
        the spec's own windows and every event, as before profiles); two profiles on one grid must be named."""
        matches = [p for p in self.by_name.values() if p.grid == (bar_minutes, sessions)]
        if len(matches) > 1:
            raise ValueError(
                f"several profiles of spec/{PROFILES_FILE} have bar_minutes={bar_minutes}, sessions="
                f"{sessions!r} ({sorted(p.name for p in matches)}): name the profile"
            )
        return matches[0] if matches else None

    def resolve(self, name: str | None, bar_minutes: int | None, sessions: str | None) -> Profile | None:
        """The profile named, or matching the grid given. Naming a profile and a grid that disagrees with it
        is an error (one value says what the bars are; the others may only repeat it)."""
        if name:
            profile = self.get(name)
            given = (bar_minutes or profile.bar_minutes, sessions or profile.sessions)
            if given != profile.grid:
                raise ValueError(
                    f"profile {name} has bar_minutes={profile.bar_minutes}, sessions={profile.sessions!r}, but "
                    f"bar_minutes={given[0]}, sessions={given[1]!r} were given: set the profile alone"
                )
            return profile
        return self.for_grid(bar_minutes or self.get().bar_minutes, sessions or "continuous")


def parse_profiles(doc: dict[str, Any]) -> Profiles:
    profiles = {name: _profile(name, body or {}) for name, body in (doc.get("profiles") or {}).items()}
    default = doc.get("default")
    if default not in profiles:
        raise ValueError(f"spec/{PROFILES_FILE}: default {default!r} is not one of {sorted(profiles)}")
    return Profiles(default=default, by_name=MappingProxyType(profiles))


def load_profiles(root: Path | None = None) -> Profiles:
    return _cached_default() if root is None else parse_profiles(load_yaml(PROFILES_FILE, root))


@lru_cache(maxsize=1)
def _cached_default() -> Profiles:
    return parse_profiles(load_yaml(PROFILES_FILE))


def load_profile(name: str | None = None, root: Path | None = None) -> Profile:
    """The named profile of ``spec/profiles.yaml`` (``None``: its default)."""
    return load_profiles(root).get(name)
