"""The governance policy read from ``spec/governance.yaml``: gate filters and thresholds, the promotion
ladder, the rollback triggers. Frozen pydantic models that refuse unknown fields, so a typo in the spec is
an error rather than a silently ignored threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quant_platform.core.hashing import canonical_hash
from quant_platform.specs import load_yaml

SHADOW, CANARY, LIVE, RETIRED = "shadow", "canary", "live", "retired"
STATES: tuple[str, ...] = (SHADOW, CANARY, LIVE, RETIRED)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProvenanceSpec(_Frozen):
    run_sources: tuple[str, ...]
    score_sources: tuple[str, ...]
    data_regimes: tuple[str, ...]


class GateFilters(_Frozen):
    run_source: tuple[str, ...]
    score_source: tuple[str, ...]
    data_regime: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.model_dump().items()}


class GateSpec(_Frozen):
    filters: GateFilters
    metric: str
    annualization_days: int = Field(gt=0)
    min_completed_runs: int = Field(ge=1)
    min_observation_days: int = Field(ge=2)
    min_sharpe_daily: float
    challenger_margin: float = Field(ge=0.0)

    @model_validator(mode="after")
    def _daily_only(self) -> GateSpec:
        if self.metric != "sharpe_daily":
            raise ValueError(f"the gate judges sharpe_daily only (never step Sharpe), got {self.metric!r}")
        return self


class LadderStep(_Frozen):
    state: str
    allocation: float = Field(ge=0.0, le=1.0)


class RollbackSpec(_Frozen):
    monitor_window_days: int = Field(ge=1)
    max_consecutive_gate_failures: int = Field(ge=1)
    max_psi: float = Field(gt=0.0)
    psi_bins: int = Field(ge=2)
    max_reject_rate: float = Field(ge=0.0, le=1.0)
    max_slippage_bps: float = Field(ge=0.0)


class GovernanceSpec(_Frozen):
    provenance: ProvenanceSpec
    gate: GateSpec
    ladder: tuple[LadderStep, ...]
    rollback: RollbackSpec
    feature_payload_schema_version: str

    @model_validator(mode="after")
    def _ladder_shape(self) -> GovernanceSpec:
        states = [step.state for step in self.ladder]
        if not states or states[0] != SHADOW or states[-1] != LIVE:
            raise ValueError(f"the ladder must start at shadow and end at live, got {states}")
        if any(s not in (SHADOW, CANARY) for s in states[1:-1]) or states.count(LIVE) != 1:
            raise ValueError(f"between shadow and live the ladder may hold canary steps only, got {states}")
        allocations = [step.allocation for step in self.ladder]
        if allocations != sorted(allocations) or len(set(allocations)) != len(allocations):
            raise ValueError(f"ladder allocations must strictly increase, got {allocations}")
        if self.ladder[-1].allocation != 1.0:
            raise ValueError("the live step's allocation must be 1.0")
        filters = self.gate.filters
        for name, allowed in (
            ("run_source", self.provenance.run_sources),
            ("score_source", self.provenance.score_sources),
            ("data_regime", self.provenance.data_regimes),
        ):
            unknown = set(getattr(filters, name)) - set(allowed)
            if unknown:
                raise ValueError(f"gate filter {name} names unknown values {sorted(unknown)}")
        return self

    @classmethod
    def from_spec(cls, root: Path | None = None) -> GovernanceSpec:
        return cls.model_validate(load_yaml("governance.yaml", root))

    @property
    def spec_hash(self) -> str:
        return canonical_hash(self.model_dump(mode="json"))

    def step_index(self, state: str, allocation: float) -> int:
        """Position of ``(state, allocation)`` on the ladder (ValueError if it is not a ladder step)."""
        for index, step in enumerate(self.ladder):
            if step.state == state and abs(step.allocation - allocation) < 1e-12:
                return index
        raise ValueError(f"({state}, {allocation}) is not a step of the ladder")

    def with_overrides(self, **changes: Any) -> GovernanceSpec:
        """A copy with top-level sections replaced (tests and replay studies); validated like the spec."""
        return type(self).model_validate({**self.model_dump(), **changes})
