"""One governance decision: monitor the champion (rollback triggers), move the challenger up the ladder, or
admit the best new candidate to shadow.

Order of business, first match wins:
1. **Rollback.** The live champion is monitored over its last ``monitor_window_days``: its gate failing
   ``max_consecutive_gate_failures`` decisions in a row, input/prediction drift (PSI) above ``max_psi``, a
   reject rate or mean slippage above their limits, or a manual request each ``DEMOTE`` it to ``retired`` and
   restore the champion it replaced. A canary challenger with an execution or drift anomaly is demoted too.
2. **The ladder.** A challenger in ``shadow``/``canary`` climbs one step only if the gate passes on the
   observations made *since it entered its current step* and, while a champion is live, it beats the
   champion's ``sharpe_daily`` over the same days by ``challenger_margin``. Reaching ``live`` retires the old
   champion (``REPLACED_BY:<id>``), which a later rollback can restore.
3. **Admission.** Without a challenger, the best candidate whose gate passes enters ``shadow``, unless the
   champion is already the best (``CHAMPION_ALREADY_TOP_SURVIVOR``) or is not beaten by the margin.

Every decision names its reason codes, the gate filters used, each candidate's gate verdict (the funnel) and,
when the provenance filters were widened, the override, and is then ``prod_gated = false``: such a champion is
labelled as not prod-gated wherever it appears. A retired candidate never re-enters except by a rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from quant_platform.core.hashing import canonical_hash
from quant_platform.governance.config import CANARY, LIVE, RETIRED, SHADOW, GovernanceSpec
from quant_platform.governance.gate import FAIL, INSUFFICIENT, PASS, GateResult, evaluate_gate, widen_filters
from quant_platform.governance.ledger import (
    DEMOTE,
    NO_PROMOTION,
    PROMOTE,
    Decision,
    LedgerView,
    StateEvent,
)
from quant_platform.governance.observations import execution_health

CANDIDATE_COLUMNS: tuple[str, ...] = ("candidate_id", "candidate_kind", "runset_id", "schema_version")


@dataclass(frozen=True)
class Override:
    """An explicit, recorded opt-in of other provenance values into the gate (a demo, a replay study)."""

    opt_in: dict[str, list[str]]
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("a governance override needs a reason")
        if not any(self.opt_in.values()):
            raise ValueError("a governance override must opt at least one provenance value in")

    def as_dict(self) -> dict[str, Any]:
        return {"opt_in": {k: sorted(v) for k, v in sorted(self.opt_in.items())}, "reason": self.reason}


def inputs_hash(
    spec: GovernanceSpec,
    candidates: pl.DataFrame,
    observations: pl.DataFrame,
    as_of_day: date,
    override: Override | None,
    drift: dict[str, float] | None,
    manual_rollback: str | None,
) -> str:
    """The id of everything a decision reads besides the ledger: the same inputs give the same decision."""
    cands = candidates.select(CANDIDATE_COLUMNS).sort("candidate_id").rows()
    obs = (
        observations.filter(pl.col("day") <= as_of_day)
        .with_columns(pl.col(pl.Float64).fill_nan(None))
        .sort(["run_id", "candidate_id", "day"])
        .rows()
    )
    return canonical_hash(
        {
            "spec": spec.spec_hash,
            "candidates": [list(r) for r in cands],
            "observations": [list(r) for r in obs],
            "as_of_day": as_of_day,
            "override": override.as_dict() if override else None,
            "drift": dict(sorted((drift or {}).items())),
            "manual_rollback": manual_rollback,
        }
    )


class _Draft:
    """Collects gate verdicts and state events while one decision is worked out."""

    def __init__(
        self, spec: GovernanceSpec, observations: pl.DataFrame, as_of_day: date, override: Override | None
    ):
        self.spec = spec
        self.as_of_day = as_of_day
        self.filters = widen_filters(spec.gate.filters, override.opt_in) if override else spec.gate.filters
        self.observations = observations.filter(pl.col("day") <= as_of_day)
        self.gates: list[dict[str, Any]] = []
        self.events: list[StateEvent] = []
        self._verdicts: dict[tuple[str, date | None], GateResult] = {}  # the funnel re-asks admission's

    def gate(self, candidate_id: str, role: str, since_day: date | None, record: bool = True) -> GateResult:
        key = (candidate_id, since_day)
        if key not in self._verdicts:
            self._verdicts[key] = evaluate_gate(
                self.observations,
                candidate_id,
                self.spec.gate,
                filters=self.filters,
                since_day=since_day,
                until_day=self.as_of_day,
            )
        result = self._verdicts[key]
        if record:
            self.gates.append(result.as_dict() | {"role": role})
        return result

    def counted_observations(self) -> pl.DataFrame:
        allowed = self.filters.as_dict()
        keep = pl.all_horizontal([pl.col(c).is_in(v).fill_null(False) for c, v in allowed.items()])
        return self.observations.filter(keep)


def _anomalies(
    draft: _Draft, candidate_id: str, since_day: date, drift: dict[str, float] | None
) -> tuple[list[str], dict[str, Any]]:
    """Execution and drift triggers of ``candidate_id`` over its observations after ``since_day``."""
    limits = draft.spec.rollback
    health = execution_health(draft.counted_observations(), candidate_id, since_day)
    psi = (drift or {}).get(candidate_id)
    health["psi"] = psi
    triggers = []
    if psi is not None and psi > limits.max_psi:
        triggers.append("ROLLBACK_DRIFT")
    if health["reject_rate"] is not None and health["reject_rate"] > limits.max_reject_rate:
        triggers.append("ROLLBACK_REJECT_RATE")
    if health["mean_slippage_bps"] is not None and health["mean_slippage_bps"] > limits.max_slippage_bps:
        triggers.append("ROLLBACK_SLIPPAGE")
    return triggers, health


def _why_not(results: list[GateResult], refused: list[str]) -> list[str]:
    """Reason codes when no candidate passed."""
    reasons = []
    if refused:
        reasons.append("SCHEMA_VERSION_MISMATCH")
    if any(r.completed_runs == 0 and r.excluded_runs.get("data_regime", 0) > 0 for r in results):
        reasons.append("DATA_REGIME_NOT_PROD_LIVE")
    if any(r.status == INSUFFICIENT for r in results):
        reasons.append("INSUFFICIENT_OBSERVATION")
    if any(r.status == FAIL for r in results):
        reasons.append("GATE_FAILED")
    return reasons or ["NO_CANDIDATES"]


def _funnel(draft: _Draft, candidates: pl.DataFrame, states: dict, expected_schema: str) -> dict[str, int]:
    """How far the candidates got: schema accepted → observed in counted runs → enough to judge → gate passed,
    each on every counted observation up to the decision day; and where the ladder stands after it."""
    ids = candidates["candidate_id"].to_list()
    accepted = [
        c for c, v in zip(ids, candidates["schema_version"].to_list(), strict=True) if v == expected_schema
    ]
    results = [draft.gate(c, "funnel", None, record=False) for c in accepted]
    after = dict(states)
    for event in draft.events:
        after[event.candidate_id] = event
    current = [getattr(s, "state", None) or getattr(s, "state_after", None) for s in after.values()]
    return {
        "candidates": len(ids),
        "schema_accepted": len(accepted),
        "observed_in_counted_runs": sum(r.completed_runs > 0 for r in results),
        "enough_to_judge": sum(r.status != INSUFFICIENT for r in results),
        "gate_passed": sum(r.status == PASS for r in results),
        "on_the_ladder": sum(state in (SHADOW, CANARY) for state in current),
        "live": sum(state == LIVE for state in current),
    }


def decide(
    spec: GovernanceSpec,
    candidates: pl.DataFrame,
    observations: pl.DataFrame,
    view: LedgerView,
    as_of_day: date,
    *,
    override: Override | None = None,
    drift: dict[str, float] | None = None,
    manual_rollback: str | None = None,
) -> Decision:
    """Work out the next decision (module docstring); nothing is written here."""
    draft = _Draft(spec, observations, as_of_day, override)
    states = view.states()
    champion = view.champion()
    head = view.head
    detail: dict[str, Any] = {"filters": draft.filters.as_dict(), "n_candidates": candidates.height}

    def finish(
        decision: str, reasons: list[str], subject: str | None, champion_after: str | None
    ) -> Decision:
        detail["funnel"] = _funnel(draft, candidates, states, spec.feature_payload_schema_version)
        return Decision(
            decision_seq=view.next_seq,
            parent_decision_id=head["decision_id"] if head else None,
            inputs_hash=inputs_hash(
                spec, candidates, observations, as_of_day, override, drift, manual_rollback
            ),
            as_of_day=as_of_day,
            decision=decision,
            reason_codes=tuple(reasons),
            subject_candidate_id=subject,
            prod_gated=override is None,
            override=override.as_dict() if override else None,
            champion_before=champion,
            champion_after=champion_after,
            state_events=tuple(draft.events),
            gates=tuple(draft.gates),
            detail=detail,
        )

    def retire(candidate_id: str, reason: str) -> None:
        state = states[candidate_id]
        draft.events.append(StateEvent(candidate_id, state.state, state.allocation, RETIRED, 0.0, reason))

    # 1. Rollback of the live champion.
    if manual_rollback is not None and champion is None:
        raise ValueError("there is no live champion to roll back")
    if champion is not None:
        window_start = as_of_day - timedelta(days=spec.rollback.monitor_window_days)
        champion_gate = draft.gate(champion, "champion", window_start)
        failures = view.consecutive_gate_failures(champion, "champion")
        failures = 0 if champion_gate.status == PASS else failures + (champion_gate.status == FAIL)
        triggers, health = _anomalies(draft, champion, window_start, drift)
        detail["champion_health"] = health | {"consecutive_gate_failures": failures}
        if champion_gate.status == FAIL:
            detail["champion_gate_failing"] = True
        if failures >= spec.rollback.max_consecutive_gate_failures:
            triggers.insert(0, "ROLLBACK_CONSECUTIVE_GATE_FAILURES")
        if manual_rollback is not None:
            triggers.insert(0, "MANUAL_ROLLBACK")
            detail["manual_reason"] = manual_rollback
        if triggers:
            retire(champion, triggers[0])
            restored = view.previous_champion(champion)
            if restored is not None:
                draft.events.append(
                    StateEvent(restored, RETIRED, 0.0, LIVE, 1.0, f"ROLLBACK_RESTORE:{champion}")
                )
            else:
                triggers.append("NO_PREVIOUS_CHAMPION")
            return finish(DEMOTE, triggers, champion, restored)

    # 2. The challenger on the ladder.
    ladder = sorted(
        ((cid, s) for cid, s in states.items() if s.state in (SHADOW, CANARY)),
        key=lambda item: item[1].entered_seq,
    )
    expected_schema = spec.feature_payload_schema_version
    schemas = dict(
        zip(candidates["candidate_id"].to_list(), candidates["schema_version"].to_list(), strict=True)
    )
    if ladder:
        challenger, state = ladder[0]
        if challenger in schemas and schemas[challenger] != expected_schema:
            retire(challenger, "SCHEMA_VERSION_MISMATCH")
            return finish(DEMOTE, ["SCHEMA_VERSION_MISMATCH"], challenger, champion)
        if state.state == CANARY:
            triggers, health = _anomalies(draft, challenger, state.entered_day, drift)
            detail["challenger_health"] = health
            if triggers:
                retire(challenger, triggers[0])
                return finish(DEMOTE, triggers, challenger, champion)
        result = draft.gate(challenger, "challenger", state.entered_day)
        if not result.passed:
            return finish(NO_PROMOTION, _why_not([result], []), challenger, champion)
        if champion is not None:
            rival = draft.gate(champion, "champion_comparison", state.entered_day)
            if (
                rival.sharpe_daily is not None
                and result.sharpe_daily < rival.sharpe_daily + spec.gate.challenger_margin
            ):  # type: ignore[operator]
                return finish(NO_PROMOTION, ["CHAMPION_NOT_BEATEN"], challenger, champion)
        step = spec.ladder[spec.step_index(state.state, state.allocation) + 1]
        draft.events.append(
            StateEvent(challenger, state.state, state.allocation, step.state, step.allocation, "GATE_PASSED")
        )
        champion_after = champion
        if step.state == LIVE:
            if champion is not None:
                retire(champion, f"REPLACED_BY:{challenger}")
            champion_after = challenger
        reason = "NO_EXISTING_CHAMPION" if champion is None else "BEATS_CHAMPION_OOS"
        return finish(PROMOTE, [reason], challenger, champion_after)

    # 3. Admission of the best new candidate to shadow.
    refused = [c for c, v in schemas.items() if v != expected_schema]
    pool = [c for c in sorted(schemas) if c not in refused and (states.get(c) is None or c == champion)]
    if champion is not None and champion not in pool:
        pool.append(champion)  # the champion is ranked against the candidates even when it is not among them
    # Ranking is on every counted observation up to now, the same window for all; the champion's monitoring
    # verdict above (role "champion") is what rollback counts.
    results = {c: draft.gate(c, "champion_ranking" if c == champion else "candidate", None) for c in pool}
    for cid in refused:
        draft.gates.append(
            {
                "candidate_id": cid,
                "role": "candidate",
                "status": "refused",
                "sharpe_daily": None,
                "completed_runs": 0,
                "observation_days": 0,
                "notes": [f"schema_version {schemas[cid]!r} != {expected_schema!r}"],
            }
        )
    passing = sorted(
        (r for r in results.values() if r.passed), key=lambda r: (-(r.sharpe_daily or 0.0), r.candidate_id)
    )
    challengers = [r for r in passing if r.candidate_id != champion]
    if passing and passing[0].candidate_id == champion:
        return finish(NO_PROMOTION, ["CHAMPION_ALREADY_TOP_SURVIVOR"], champion, champion)
    if not challengers:
        others = [r for c, r in results.items() if c != champion]
        return finish(NO_PROMOTION, _why_not(others, refused), None, champion)
    best = challengers[0]
    if champion is not None:
        rival = results.get(champion) or draft.gate(champion, "champion_comparison", None)
        if (
            rival.sharpe_daily is not None
            and best.sharpe_daily < rival.sharpe_daily + spec.gate.challenger_margin
        ):  # type: ignore[operator]
            return finish(NO_PROMOTION, ["CHAMPION_NOT_BEATEN"], best.candidate_id, champion)
    first = spec.ladder[0]
    draft.events.append(
        StateEvent(best.candidate_id, "none", 0.0, first.state, first.allocation, "GATE_PASSED")
    )
    reason = "NO_EXISTING_CHAMPION" if champion is None else "BEATS_CHAMPION_OOS"
    return finish(PROMOTE, [reason], best.candidate_id, champion)
