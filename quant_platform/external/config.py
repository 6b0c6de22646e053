"""``spec/external.yaml`` as frozen, validated values (unknown keys refused)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quant_platform.specs import load_yaml

ALERT, NEWS, MACRO = "alert", "news", "macro"
KINDS: tuple[str, ...] = (ALERT, NEWS, MACRO)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpec(_Frozen):
    kind: str
    tier: int = Field(ge=1)
    primary: bool

    @model_validator(mode="after")
    def _kind(self) -> SourceSpec:
        if self.kind not in KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}; known: {list(KINDS)}")
        return self


class SloSpec(_Frozen):
    primary_p95_publish_to_ingest_s: float = Field(gt=0)
    min_success_rate: float = Field(ge=0, le=1)


class LinkingSpec(_Frozen):
    aliases: dict[str, str]
    broad_terms: tuple[str, ...]


class DedupSpec(_Frozen):
    window_minutes: int = Field(ge=1)
    text_jaccard: float = Field(gt=0, le=1)
    shingle_words: int = Field(ge=1)


class QualitySpec(_Frozen):
    freshness_half_life_s: float = Field(gt=0)


class FeaturesSpec(_Frozen):
    windows_minutes: tuple[int, ...]


class MacroSpec(_Frozen):
    surprise_scale: dict[str, float]
    release_time_utc: dict[str, str]


class ExternalSpec(_Frozen):
    sources: dict[str, SourceSpec]
    tier_weights: dict[int, float]
    max_training_tier: int
    slo: SloSpec
    max_future_skew_s: float = Field(ge=0)
    linking: LinkingSpec
    dedup: DedupSpec
    quality: QualitySpec
    features: FeaturesSpec
    macro: MacroSpec

    @model_validator(mode="after")
    def _tiers_weighted(self) -> ExternalSpec:
        missing = {s.tier for s in self.sources.values()} - set(self.tier_weights)
        if missing:
            raise ValueError(f"tiers {sorted(missing)} have no weight in tier_weights")
        return self

    @classmethod
    def from_spec(cls, root: Path | None = None) -> ExternalSpec:
        return cls.model_validate(load_yaml("external.yaml", root))

    def release_time(self, series_id: str) -> str:
        times = self.macro.release_time_utc
        return times.get(series_id, times.get("default", "00:00"))

    def scale(self, series_id: str) -> float:
        return self.macro.surprise_scale.get(series_id, self.macro.surprise_scale.get("default", 1.0))
