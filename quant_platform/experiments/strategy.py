"""Strategy specs (``spec/strategies/*.yaml``): what an experiment trades, as a frozen value with a content id.

A strategy is a *policy* plus *sizing* plus *costs*:

- ``policy.kind: rule`` — the rule shape the bridge and Stage B replay (:mod:`quant_platform.bridge.rules`):
  on every event of ``event_type`` on a symbol (optionally only where ``state_filter.column`` equals
  ``state_filter.value`` at the event bar), take the ``template``'s trade sign at the event bar's close and go
  flat ``horizon_bars`` later; the engine fills ``entry_lag_bars`` later. Events that arrive while the rule
  holds a position are ignored.
- ``policy.kind: model`` — a trained model (``name`` + ``version``). The model layer has not landed, so an
  experiment with a model policy is refused at execution with a clear message (the spec still validates and
  has its hash, so an experiment can be declared now).
- ``sizing`` — the engine's sizing modes (``fixed_capital`` or ``current_equity``), the initial capital and
  the weight each symbol's position takes (a fraction of capital; the engine's caps still apply).
- ``costs`` — overrides of the engine configuration's cost and execution fields; everything not named comes
  from the spec's realistic cost model (``bridge.default_engine_config``), as the bridge uses.

Specs are frozen pydantic models with ``extra="forbid"`` (an unknown field is an error, never ignored);
``strategy_hash = sha256(canonical_json(spec))`` over the full spec, defaults included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml

from quant_platform.core.hashing import canonical_hash
from quant_platform.registry.names import validate_name, validate_symbol
from quant_platform.specs import spec_root

STRATEGIES_DIR = "strategies"


class _Frozen(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class StateFilter(_Frozen):
    column: str
    value: str


class RulePolicy(_Frozen):
    kind: Literal["rule"] = "rule"
    event_type: str
    template: str
    horizon_bars: int = pydantic.Field(ge=1)
    entry_lag_bars: int = pydantic.Field(default=1, ge=1)
    state_filter: StateFilter | None = None


class ModelPolicy(_Frozen):
    kind: Literal["model"] = "model"
    name: str
    version: str


Policy = Annotated[RulePolicy | ModelPolicy, pydantic.Field(discriminator="kind")]


class Sizing(_Frozen):
    mode: Literal["fixed_capital", "current_equity"] = "fixed_capital"
    initial_capital: float = pydantic.Field(default=1_000_000.0, gt=0)
    weight_per_symbol: float = pydantic.Field(default=1.0, gt=0)


class Costs(_Frozen):
    """Engine configuration overrides (``EngineConfig`` field names and units); unset fields keep the
    spec's realistic cost model."""

    fill_price: Literal["next_open", "next_close", "vwap_hlc3", "vwap_ohlc4"] | None = None
    liquidity: Literal["taker", "maker"] | None = None
    latency_bars: int | None = pydantic.Field(default=None, ge=0)
    taker_fee_bps: float | None = pydantic.Field(default=None, ge=0)
    maker_fee_bps: float | None = pydantic.Field(default=None, ge=0)
    slippage_base_bps: float | None = pydantic.Field(default=None, ge=0)
    slippage_vol_coef: float | None = pydantic.Field(default=None, ge=0)
    slippage_impact_bps: float | None = pydantic.Field(default=None, ge=0)
    slippage_noise_bps: float | None = pydantic.Field(default=None, ge=0)
    max_slippage_bps: float | None = pydantic.Field(default=None, ge=0)
    settle_funding: bool | None = None

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class StrategySpec(_Frozen):
    name: str
    description: str = ""
    policy: Policy
    # a subset of the RunSet's symbols; empty: every symbol of the RunSet
    symbols: tuple[str, ...] = ()
    sizing: Sizing = Sizing()
    costs: Costs = Costs()
    seed: int = pydantic.Field(default=0, ge=0)

    @pydantic.field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_name(value, "strategy name")

    @pydantic.field_validator("symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for symbol in value:
            validate_symbol(symbol)
        if len(set(value)) != len(value):
            raise ValueError(f"symbols are listed twice: {list(value)}")
        return tuple(sorted(value))

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def strategy_hash(self) -> str:
        """``sha256(canonical_json(spec))``: the same strategy always has the same hash."""
        return canonical_hash(self.canonical())


def strategies_dir(root: Path | None = None) -> Path:
    return (root or spec_root()) / STRATEGIES_DIR


def strategy_path(ref: str, root: Path | None = None) -> Path:
    """``ref`` is a path to a YAML file, or the name of one in ``spec/strategies/`` (with or without .yaml)."""
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    stem = ref.removesuffix(".yaml").removesuffix(".yml")
    validate_name(stem, "strategy file name")
    path = strategies_dir(root) / f"{stem}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in strategies_dir(root).glob("*.yaml"))
        raise LookupError(f"unknown strategy {ref!r}: no {path}; known strategies: {known}")
    return path


def parse_strategy(payload: Any, where: str = "strategy") -> StrategySpec:
    if not isinstance(payload, dict):
        raise ValueError(f"{where}: a strategy spec is a mapping, got {type(payload).__name__}")
    try:
        return StrategySpec.model_validate(payload)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where}: invalid strategy spec: {problems}") from None


def load_strategy(ref: str, root: Path | None = None) -> StrategySpec:
    """The strategy spec named ``ref`` (see :func:`strategy_path`), validated."""
    path = strategy_path(ref, root)
    return parse_strategy(yaml.safe_load(path.read_text()), str(path))


def list_strategies(root: Path | None = None) -> list[StrategySpec]:
    return [load_strategy(str(p)) for p in sorted(strategies_dir(root).glob("*.yaml"))]
