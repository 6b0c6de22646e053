"""Governance against the registry: gather the inputs of a decision, decide, and record it once.

``run_decision`` reads the run observations (with provenance) and the promotion ledger from the registry
root, works the decision out (``governance.decide``) and appends it, unless the ledger's head was made from
exactly the same inputs: then the recorded decision is returned and nothing is written (a re-run is
idempotent: the same decision, no new state event). A dry run never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from quant_platform.governance.config import GovernanceSpec
from quant_platform.governance.decide import CANDIDATE_COLUMNS, Override, decide
from quant_platform.governance.ledger import ConcurrentDecisionError, PromotionLedger, decision_from_rows
from quant_platform.governance.observations import load_observations

if TYPE_CHECKING:
    from quant_platform.registry.registry import Registry
    from quant_platform.storage.store import ParquetStore

RULE, MODEL = "rule_blueprint", "model"


@dataclass(frozen=True)
class DecisionOutcome:
    decision: dict[str, Any]
    written: bool
    replayed: bool
    dry_run: bool


def empty_candidates() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String() for c in CANDIDATE_COLUMNS})


def candidates_from_blueprints(blueprints: pl.DataFrame, schema_version: str) -> pl.DataFrame:
    """Strategy blueprints (``strategy_blueprints``: compiled Stage B survivors, what NautilusTrader runs) as
    governance candidates, one per blueprint id; their payload is the features schema this code writes,
    ``schema_version``."""
    return blueprints.select(
        pl.col("blueprint_id").cast(pl.String).alias("candidate_id"),
        pl.lit(RULE).alias("candidate_kind"),
        pl.col("runset_id").cast(pl.String),
        pl.lit(schema_version).alias("schema_version"),
    ).unique("candidate_id", keep="first", maintain_order=True)


CANDIDATES_ASSET = "strategy_blueprints"
STATE_EVENT_COLUMNS = [
    "candidate_id",
    "state_before",
    "allocation_before",
    "state_after",
    "allocation_after",
    "event_reason",
]
GATE_COLUMNS = ["candidate_id", "role", "status", "sharpe_daily", "completed_runs", "observation_days"]
HISTORY_COLUMNS = ["candidate_id", "live_from", "live_until", "left_reason", "prod_gated"]


def read_candidates(
    registry: Registry, store: ParquetStore, runsets: list[str], schema_version: str
) -> tuple[pl.DataFrame, list[dict]]:
    """The blueprints of ``runsets`` (empty: every RunSet that has them) as candidates, and the versions read.
    An unknown RunSet is an error, not an empty candidate list."""
    frames, lineage = [], []
    for runset in runsets or store.partitions(CANDIDATES_ASSET):
        registry.runset(runset)
        frame, read = store.scan(CANDIDATES_ASSET, [runset])
        lineage.extend(read)
        frames.append(candidates_from_blueprints(frame.collect(), schema_version))
    if not frames:
        return empty_candidates(), lineage
    return pl.concat(frames).unique("candidate_id", keep="first", maintain_order=True), lineage


def ledger_for(registry: Registry) -> PromotionLedger:
    return PromotionLedger(registry.fs)


def run_decision(
    registry: Registry,
    candidates: pl.DataFrame,
    as_of_day: date,
    *,
    spec: GovernanceSpec | None = None,
    override: Override | None = None,
    drift: dict[str, float] | None = None,
    manual_rollback: str | None = None,
    dry_run: bool = False,
    max_attempts: int = 3,
) -> DecisionOutcome:
    """Decide and record (module docstring). A concurrent decider that wins the sequence number makes this
    one decide again on the new head, up to ``max_attempts`` times."""
    spec = spec or GovernanceSpec.from_spec()
    missing = set(CANDIDATE_COLUMNS) - set(candidates.columns)
    if missing:
        raise ValueError(f"candidates lack columns {sorted(missing)}")
    ledger = ledger_for(registry)
    observations = load_observations(registry)
    for _ in range(max_attempts):
        view = ledger.view()
        decision = decide(
            spec,
            candidates,
            observations,
            view,
            as_of_day,
            override=override,
            drift=drift,
            manual_rollback=manual_rollback,
        )
        head = view.head
        if head is not None and head["inputs_hash"] == decision.inputs_hash:
            return DecisionOutcome(
                decision_from_rows(view.frame, int(head["decision_seq"])), False, True, dry_run
            )
        if dry_run:
            return DecisionOutcome(
                decision_from_rows(decision.to_frame(), decision.decision_seq), False, False, True
            )
        try:
            ledger.append(decision)
        except ConcurrentDecisionError:
            continue
        return DecisionOutcome(
            decision_from_rows(decision.to_frame(), decision.decision_seq), True, False, False
        )
    raise ConcurrentDecisionError(f"gave up after {max_attempts} attempts: other deciders kept winning")


def champion_summary(registry: Registry) -> dict[str, Any]:
    """The current champion, every candidate's state, and the history of champions."""
    view = ledger_for(registry).view()
    states = view.states()
    champion = view.champion()
    head = view.head
    return {
        "champion": champion,
        "champion_prod_gated": states[champion].prod_gated if champion else None,
        "states": [
            {
                "candidate_id": cid,
                "state": s.state,
                "allocation": s.allocation,
                "since": s.entered_day,
                "since_decision": s.entered_seq,
                "prod_gated": s.prod_gated,
            }
            for cid, s in sorted(states.items())
        ],
        "history": view.history(),
        "last_decision": decision_from_rows(view.frame, int(head["decision_seq"])) if head else None,
    }
