"""Constructed Stage-B survivor tables (every gate passed, known statistics) and their bridge rules."""

from __future__ import annotations

import polars as pl

from quant_platform.blueprints import CompiledBlueprints, compile_blueprints
from quant_platform.core.hashing import canonical_hash
from quant_platform.discovery.config import DiscoverySpec
from quant_platform.engine import EngineConfig
from quant_platform.validation.schemas import StageBCandidates

RUNSET_ID = canonical_hash({"runset": "constructed"})
RESOLUTION_HASH = canonical_hash({"resolution": "constructed"})


def rule(symbol: str, *, event_type: str = "VOL_SHOCK", template: str = "continuation", horizon: int = 12,
         state: tuple[str, str] = ("all", "all")) -> dict:  # fmt: skip
    """A bridge rule; its candidate id is the hash of its keys (like discovery's, deterministic)."""
    keys = {"family": "VOLATILITY_TRANSITION", "event_type": event_type, "symbol": symbol,
            "horizon_bars": horizon, "template": template, "state_column": state[0], "state_value": state[1]}  # fmt: skip
    return {"candidate_id": canonical_hash(keys), **keys}


def stage_b_row(candidate_id: str, *, passed: bool = True, sharpe: float = 2.5) -> dict:
    """A Stage-B row: every gate passed (or the observation gate failed), statistics filled in by dtype."""
    row: dict = {}
    for name, column in StageBCandidates.to_schema().columns.items():
        dtype = column.dtype.type
        if dtype == pl.Boolean:
            row[name] = True
        elif dtype == pl.Int64:
            row[name] = 120
        elif dtype == pl.Float64:
            row[name] = 0.97
        else:
            row[name] = ""
    row.update(
        candidate_id=candidate_id, sharpe_ann=sharpe, dsr=0.96, psr=0.999, cpcv_sharpe_p10=float("nan")
    )
    if not passed:
        row.update(passed=False, observation_passed=False, observation_reason="insufficient_observation",
                   failure_reasons="insufficient_observation")  # fmt: skip
    return row


def tables(
    rules: list[dict], spec: DiscoverySpec, *, failed: tuple[str, ...] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    stage_b = pl.DataFrame(
        [stage_b_row(r["candidate_id"], passed=r["candidate_id"] not in failed) for r in rules],
        schema={n: c.dtype.type for n, c in StageBCandidates.to_schema().columns.items()},
    )
    bridge = pl.DataFrame(rules, schema_overrides={"horizon_bars": pl.Int32}).with_columns(
        ontology_hash=pl.lit(spec.ontology_hash)
    )
    return StageBCandidates.validate(stage_b), bridge


def compiled(rules: list[dict], spec: DiscoverySpec, config: EngineConfig, **kwargs) -> CompiledBlueprints:
    stage_b, bridge = tables(rules, spec, failed=kwargs.pop("failed", ()))
    return compile_blueprints(
        stage_b, bridge, runset_id=RUNSET_ID, runset_name="constructed", resolution_hash=RESOLUTION_HASH,
        engine_config=config, spec=spec, **kwargs,
    )  # fmt: skip
