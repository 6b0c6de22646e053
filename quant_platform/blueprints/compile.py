"""Compile Stage-B survivors into strategy blueprints: NautilusTrader ``ImportableStrategyConfig`` lines with
their full lineage.

One line per strict survivor (``passed``) of ``stage_b_survivors``, in candidate-id order::

    {"blueprint_id": sha256(canonical JSON of everything else),
     "strategy_path": "quant_platform.execution.nautilus.strategy:EventRuleStrategy",
     "config_path": "quant_platform.execution.nautilus.config:EventRuleStrategyConfig",
     "config": {...the EventRuleStrategyConfig fields...},
     "lineage": {runset id and name, resolution hash, ontology hash, candidate id, family, event type, symbol, template,
                 state column/value, horizon, entry lag, bar minutes, engine config id and version},
     "gates": {gate: {"passed", "reason", its statistics}} for every Stage-B gate, plus "summary",
     "costs": the full engine configuration the research replays ran under (fees, slippage, fill model,
              latency, capital)}

``strategy_path`` / ``config_path`` / ``config`` are exactly NautilusTrader's ``ImportableStrategyConfig``
fields: ``ImportableStrategyConfig(**{k: line[k] for k in IMPORTABLE_KEYS})`` builds it, and
``StrategyFactory.create`` the strategy (see :mod:`quant_platform.execution.nautilus.load`); the other keys
ride alongside for people and audits. The strategy trades the candidate's rule with a weight of 1 (the
research replays' ±1 weight) on ``initial_capital``; its instrument is ``<symbol>-PERP.<venue>`` (the
NautilusTrader Binance adapter's id for a USDT perpetual) with bars of the spec's length.

Determinism: canonical JSON (:mod:`quant_platform.core.hashing`), rows sorted by candidate id, no clock
and no path: compiling the same inputs twice gives the same bytes. Nothing here imports ``nautilus_trader``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from quant_platform.blueprints.schemas import StrategyBlueprints
from quant_platform.core.hashing import canonical_hash, canonical_json
from quant_platform.discovery.config import UNCONDITIONAL, DiscoverySpec
from quant_platform.engine import ENGINE_VERSION, EngineConfig
from quant_platform.validation.schemas import GATE_NAMES

STRATEGY_PATH = "quant_platform.execution.nautilus.strategy:EventRuleStrategy"
CONFIG_PATH = "quant_platform.execution.nautilus.config:EventRuleStrategyConfig"
IMPORTABLE_KEYS = ("strategy_path", "config_path", "config")
DEFAULT_VENUE = "BINANCE"
SIGNAL_CLIENT_ID = "EVENT_REGISTRY"
TARGET_WEIGHT = 1.0  # the research replays trade a weight of ±1 (bridge.rules.rule_targets)
RULE_KEYS = ("family", "event_type", "symbol", "horizon_bars", "template", "state_column", "state_value")
# Stage-B columns that belong to a gate by name (the rest are the candidate's summary statistics)
_GATE_COLUMNS = {
    "observation": ("n_days",),
    "psr": ("psr", "min_trl_days"),
}
_GATE_PREFIXES = {
    "dsr": "dsr",
    "cpcv": "cpcv_",
    "bootstrap": "bootstrap_",
    "stress": "stress_",
    "fold_policy": "fold_",
}


@dataclass(frozen=True)
class CompiledBlueprints:
    """The ``strategy_blueprints`` table and the ``blueprints.jsonl`` bytes (one line per row, same order)."""

    frame: pl.DataFrame
    jsonl: bytes

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.jsonl.decode("utf-8").splitlines()]


def blueprint_id(line: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a blueprint line without its ``blueprint_id``."""
    return canonical_hash({k: v for k, v in line.items() if k != "blueprint_id"})


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: NaN (an undefined statistic) becomes null, never a number."""
    if isinstance(value, float) and value != value:
        return None
    return value


def _gates(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    gates: dict[str, dict[str, Any]] = {}
    claimed = {"candidate_id", "passed", "failure_reasons"}
    for gate in GATE_NAMES:
        entry: dict[str, Any] = {"passed": bool(row[f"{gate}_passed"]), "reason": row[f"{gate}_reason"]}
        claimed |= {f"{gate}_passed", f"{gate}_reason"}
        names = list(_GATE_COLUMNS.get(gate, ()))
        prefix = _GATE_PREFIXES.get(gate)
        if prefix:
            names += [c for c in row if c.startswith(prefix) and c not in claimed and c not in names]
        for name in names:
            key = name[len(prefix) :].lstrip("_") if prefix and name.startswith(prefix) else name
            entry[key or "value"] = _plain(row[name])
            claimed.add(name)
        gates[gate] = entry
    gates["summary"] = {c: _plain(v) for c, v in row.items() if c not in claimed}
    gates["summary"]["passed"] = bool(row["passed"])
    return gates


def _strategy_config(
    rule: dict[str, Any], spec: DiscoverySpec, config: EngineConfig, venue: str
) -> dict[str, Any]:
    template = spec.template(rule["template"])
    instrument_id = f"{rule['symbol']}-PERP.{venue}"
    return {
        "instrument_id": instrument_id,
        "bar_type": f"{instrument_id}-{spec.bar_minutes}-MINUTE-LAST-EXTERNAL",
        "event_type": rule["event_type"],
        "sign_rule": template.sign_rule,
        "direction_multiplier": template.direction_multiplier,
        "fixed_sign": template.fixed_sign,
        "state_column": rule["state_column"],
        "state_value": rule["state_value"],
        "horizon_bars": int(rule["horizon_bars"]),
        "entry_lag_bars": config.entry_lag_bars,
        "latency_bars": config.latency_bars,
        "target_weight": TARGET_WEIGHT,
        "capital": float(config.initial_capital),
        "sizing_mode": "fixed_capital",
        "signal_client_id": SIGNAL_CLIENT_ID,
        "order_id_tag": rule["candidate_id"][:16],
    }


def _rules(bridge: pl.DataFrame, candidate_ids: list[str]) -> dict[str, dict[str, Any]]:
    missing = [c for c in ("candidate_id", *RULE_KEYS) if c not in bridge.columns]
    if missing:
        raise ValueError(f"bridge_evaluation lacks columns {missing}")
    rules = (
        bridge.filter(pl.col("candidate_id").is_in(candidate_ids))
        .select("candidate_id", *RULE_KEYS)
        .unique(maintain_order=True)
    )
    if rules["candidate_id"].is_duplicated().any():
        raise ValueError("bridge_evaluation gives one candidate two different rules")
    found = {r["candidate_id"]: r for r in rules.iter_rows(named=True)}
    unknown = sorted(set(candidate_ids) - set(found))
    if unknown:
        raise ValueError(f"Stage-B survivors {unknown[:3]} have no rule in bridge_evaluation")
    return found


def compile_blueprints(
    stage_b: pl.DataFrame,
    bridge: pl.DataFrame,
    *,
    runset_id: str,
    runset_name: str,
    resolution_hash: str,
    engine_config: EngineConfig,
    spec: DiscoverySpec,
    venue: str = DEFAULT_VENUE,
) -> CompiledBlueprints:
    """Blueprints of the strict survivors (``passed``) of ``stage_b`` (a ``StageBCandidates`` table), their
    rules read from ``bridge`` (``bridge_evaluation``), priced with ``engine_config`` (the configuration the
    research replays ran under). The bridge's ontology hash must be the spec's (a rule from another spec is
    an error). No survivor gives an empty, schema-valid result."""
    if "ontology_hash" in bridge.columns and bridge.height:
        hashes = set(bridge["ontology_hash"].unique().to_list())
        if hashes != {spec.ontology_hash}:
            raise ValueError(
                f"bridge_evaluation ontology {sorted(hashes)} is not the spec's {spec.ontology_hash}"
            )
    survivors = stage_b.filter(pl.col("passed")).sort("candidate_id")
    ids = survivors["candidate_id"].to_list()
    rules = _rules(bridge, ids)
    costs = {
        **engine_config.to_dict(),
        "engine_config_id": engine_config.content_id(),
        "engine_version": ENGINE_VERSION,
    }
    lines, rows = [], []
    for stats in survivors.iter_rows(named=True):
        rule = rules[stats["candidate_id"]]
        if (rule["state_column"] == UNCONDITIONAL) != (rule["state_value"] == UNCONDITIONAL):
            raise ValueError(
                f"candidate {rule['candidate_id']}: half-conditioned state {rule['state_column']}"
            )
        config = _strategy_config(rule, spec, engine_config, venue)
        body = {
            "strategy_path": STRATEGY_PATH,
            "config_path": CONFIG_PATH,
            "config": config,
            "lineage": {
                "runset_id": runset_id,
                "runset_name": runset_name,
                "resolution_hash": resolution_hash,
                "ontology_hash": spec.ontology_hash,
                "candidate_id": rule["candidate_id"],
                **{k: rule[k] for k in RULE_KEYS},
                "horizon_bars": int(rule["horizon_bars"]),
                "entry_lag_bars": engine_config.entry_lag_bars,
                "bar_minutes": spec.bar_minutes,
                "engine_config_id": costs["engine_config_id"],
                "engine_version": ENGINE_VERSION,
            },
            "gates": _gates(stats),
            "costs": costs,
        }
        line = {"blueprint_id": blueprint_id(body), **body}
        text = canonical_json(line)
        lines.append(text)
        gates = line["gates"]
        rows.append(
            {
                "blueprint_id": line["blueprint_id"],
                "runset_id": runset_id,
                "runset_name": runset_name,
                "resolution_hash": resolution_hash,
                "ontology_hash": spec.ontology_hash,
                "candidate_id": rule["candidate_id"],
                **{k: rule[k] for k in RULE_KEYS},
                "entry_lag_bars": engine_config.entry_lag_bars,
                "bar_minutes": spec.bar_minutes,
                "sign_rule": config["sign_rule"],
                "target_weight": config["target_weight"],
                "instrument_id": config["instrument_id"],
                "bar_type": config["bar_type"],
                "strategy_path": STRATEGY_PATH,
                "config_path": CONFIG_PATH,
                "config_json": canonical_json(config),
                "sharpe_ann": gates["summary"].get("sharpe_ann"),
                "psr": gates["psr"].get("psr"),
                "dsr": gates["dsr"].get("value"),
                "dsr_n_trials_total": gates["dsr"]["n_trials_total"],
                "cpcv_sharpe_p10": gates["cpcv"].get("sharpe_p10"),
                "cpcv_sharpe_median": gates["cpcv"].get("sharpe_median"),
                "bootstrap_sharpe_p05": gates["bootstrap"].get("sharpe_p05"),
                "stress_min_sharpe": gates["stress"].get("min_sharpe"),
                "taker_fee_bps": engine_config.taker_fee_bps,
                "slippage_base_bps": engine_config.slippage_base_bps,
                "fill_price": engine_config.fill_price,
                "engine_config_id": costs["engine_config_id"],
                "engine_version": ENGINE_VERSION,
                "blueprint_json": text,
            }
        )
    schema = {n: c.dtype.type for n, c in StrategyBlueprints.to_schema().columns.items()}
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    jsonl = "".join(f"{text}\n" for text in lines).encode("utf-8")
    return CompiledBlueprints(frame=StrategyBlueprints.validate(frame), jsonl=jsonl)


def read_blueprints_jsonl(source: str | Path | bytes) -> list[dict[str, Any]]:
    """The blueprint lines of a ``blueprints.jsonl`` (a path or its bytes), each id verified against its
    content: a line whose ``blueprint_id`` is not the hash of the rest is refused (it was edited)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    lines = []
    for number, text in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"blueprints line {number}: not JSON ({exc})") from None
        missing = [k for k in ("blueprint_id", *IMPORTABLE_KEYS, "lineage", "costs") if k not in line]
        if missing:
            raise ValueError(f"blueprints line {number}: missing {missing}")
        if blueprint_id(line) != line["blueprint_id"]:
            raise ValueError(
                f"blueprints line {number}: blueprint_id {line['blueprint_id'][:12]}… is not the hash of its "
                "content (edited after compilation?)"
            )
        lines.append(line)
    if not lines:
        raise ValueError("the blueprints file holds no blueprint")
    return lines
