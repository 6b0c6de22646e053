"""The promotion ledger: an append-only chain of decisions under the registry root.

Each decision is one Parquet file ``governance/ledger/<seq:012d>.parquet`` holding every row it made: one
``decision`` row (decision, reason codes, override, champion before/after), its ``state_event`` rows
(state_before → state_after of each candidate it moved) and its ``gate`` rows (the funnel: every candidate's
gate verdict). Because the whole decision is one file, a crash (even ``kill -9``) leaves all of it or none.

Order never depends on clocks: decision ``n`` is the file named ``n``, created exclusively (``os.link`` of a
fully written, fsynced temporary file onto the final name fails if that name exists), and it names its
parent's id. Two deciders racing for ``n`` cannot both win; the loser gets :class:`ConcurrentDecisionError`
and decides again on the new head. On object storage the same protocol maps onto a conditional put
(``If-None-Match: *``) of the numbered object (:func:`quant_platform.storage.durable.create_exclusive`).

The current states, the champion and its history are a replay of the state events (:class:`LedgerView`);
nothing else is stored.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from quant_platform.core.hashing import canonical_hash, canonical_json
from quant_platform.core.timeutil import TS_DTYPE
from quant_platform.registry.fs import RootFS
from quant_platform.storage.durable import create_exclusive

LEDGER_DIR = "governance/ledger"
DECISION, STATE_EVENT, GATE = "decision", "state_event", "gate"
PROMOTE, NO_PROMOTION, DEMOTE = "PROMOTE", "NO_PROMOTION", "DEMOTE"
NONE_STATE = "none"

LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "decision_seq": pl.Int64(),
    "decision_id": pl.String(),
    "parent_decision_id": pl.String(),
    "inputs_hash": pl.String(),
    "as_of_day": pl.Date(),
    "decided_at": TS_DTYPE,
    "decision": pl.String(),
    "reason_codes": pl.List(pl.String()),
    "subject_candidate_id": pl.String(),
    "prod_gated": pl.Boolean(),
    "override_json": pl.String(),
    "champion_before": pl.String(),
    "champion_after": pl.String(),
    "row_kind": pl.String(),
    "candidate_id": pl.String(),
    "role": pl.String(),
    "state_before": pl.String(),
    "allocation_before": pl.Float64(),
    "state_after": pl.String(),
    "allocation_after": pl.Float64(),
    "event_reason": pl.String(),
    "gate_status": pl.String(),
    "sharpe_daily": pl.Float64(),
    "completed_runs": pl.Int64(),
    "observation_days": pl.Int64(),
    "detail_json": pl.String(),
}


class ConcurrentDecisionError(RuntimeError):
    """Another decider recorded the decision with this sequence number first."""


class LedgerIntegrityError(RuntimeError):
    """The ledger's chain is broken (a gap, a wrong parent, an unreadable file); the message names the file."""


@dataclass(frozen=True)
class StateEvent:
    candidate_id: str
    state_before: str
    allocation_before: float
    state_after: str
    allocation_after: float
    reason: str


@dataclass(frozen=True)
class Decision:
    """One decision, as recorded (or, for a dry run, as it would be recorded)."""

    decision_seq: int
    parent_decision_id: str | None
    inputs_hash: str
    as_of_day: date
    decision: str
    reason_codes: tuple[str, ...]
    subject_candidate_id: str | None
    prod_gated: bool
    override: dict[str, Any] | None
    champion_before: str | None
    champion_after: str | None
    state_events: tuple[StateEvent, ...]
    gates: tuple[dict[str, Any], ...]
    detail: dict[str, Any] = field(default_factory=dict)
    decided_at: datetime | None = None

    @property
    def decision_id(self) -> str:
        content = {
            "decision_seq": self.decision_seq,
            "parent_decision_id": self.parent_decision_id,
            "inputs_hash": self.inputs_hash,
            "as_of_day": self.as_of_day,
            "decision": self.decision,
            "reason_codes": list(self.reason_codes),
            "subject_candidate_id": self.subject_candidate_id,
            "prod_gated": self.prod_gated,
            "override": self.override,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "state_events": [e.__dict__ for e in self.state_events],
            "gates": list(self.gates),
            "detail": self.detail,
        }
        return canonical_hash(_jsonable(content))

    def to_frame(self) -> pl.DataFrame:
        base = {
            "decision_seq": self.decision_seq,
            "decision_id": self.decision_id,
            "parent_decision_id": self.parent_decision_id,
            "inputs_hash": self.inputs_hash,
            "as_of_day": self.as_of_day,
            "decided_at": self.decided_at,
            "decision": self.decision,
            "reason_codes": list(self.reason_codes),
            "subject_candidate_id": self.subject_candidate_id,
            "prod_gated": self.prod_gated,
            "override_json": canonical_json(_jsonable(self.override)) if self.override else None,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
        }
        rows = [base | {"row_kind": DECISION, "detail_json": canonical_json(_jsonable(self.detail))}]
        for event in self.state_events:
            rows.append(
                base
                | {
                    "row_kind": STATE_EVENT,
                    "candidate_id": event.candidate_id,
                    "state_before": event.state_before,
                    "allocation_before": event.allocation_before,
                    "state_after": event.state_after,
                    "allocation_after": event.allocation_after,
                    "event_reason": event.reason,
                }
            )
        for gate in self.gates:
            rows.append(
                base
                | {
                    "row_kind": GATE,
                    "candidate_id": gate["candidate_id"],
                    "role": gate["role"],
                    "gate_status": gate["status"],
                    "sharpe_daily": gate["sharpe_daily"],
                    "completed_runs": gate["completed_runs"],
                    "observation_days": gate["observation_days"],
                    "detail_json": canonical_json(_jsonable(gate)),
                }
            )
        return pl.DataFrame(rows, schema=LEDGER_SCHEMA)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN has no canonical JSON form
        return None
    return value


@dataclass(frozen=True)
class CandidateState:
    state: str
    allocation: float
    entered_day: date | None
    entered_seq: int
    prod_gated: bool


@dataclass
class LedgerView:
    """The ledger replayed: states now, the champion, its predecessors and recent gate verdicts."""

    frame: pl.DataFrame

    @property
    def decisions(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("row_kind") == DECISION).sort("decision_seq")

    @property
    def state_events(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("row_kind") == STATE_EVENT).sort("decision_seq")

    @property
    def head(self) -> dict[str, Any] | None:
        decisions = self.decisions
        return decisions.row(-1, named=True) if decisions.height else None

    @property
    def next_seq(self) -> int:
        head = self.head
        return 1 if head is None else int(head["decision_seq"]) + 1

    def states(self) -> dict[str, CandidateState]:
        current: dict[str, CandidateState] = {}
        for row in self.state_events.iter_rows(named=True):
            current[row["candidate_id"]] = CandidateState(
                state=row["state_after"],
                allocation=float(row["allocation_after"]),
                entered_day=row["as_of_day"],
                entered_seq=int(row["decision_seq"]),
                prod_gated=bool(row["prod_gated"]),
            )
        return current

    def champion(self) -> str | None:
        live = [c for c, s in self.states().items() if s.state == "live"]
        if len(live) > 1:
            raise LedgerIntegrityError(f"the ledger has several live champions: {sorted(live)}")
        return live[0] if live else None

    def previous_champion(self, champion: str) -> str | None:
        """The champion that ``champion`` replaced (None for the first), if it is retired, not gone for cause."""
        events = self.state_events
        replaced = events.filter(
            (pl.col("state_before") == "live") & (pl.col("event_reason") == f"REPLACED_BY:{champion}")
        )
        if replaced.height == 0:
            return None
        previous = replaced.row(-1, named=True)["candidate_id"]
        state = self.states().get(previous)
        return previous if state is not None and state.state == "retired" else None

    def consecutive_gate_failures(self, candidate_id: str, role: str) -> int:
        """How many of the latest decisions in a row judged ``candidate_id`` (in ``role``) as a gate failure;
        ``insufficient_observation`` neither counts nor breaks the run."""
        gates = self.frame.filter(
            (pl.col("row_kind") == GATE) & (pl.col("candidate_id") == candidate_id) & (pl.col("role") == role)
        ).sort("decision_seq")
        count = 0
        for status in reversed(gates["gate_status"].to_list()):
            if status == "fail":
                count += 1
            elif status == "pass":
                break
        return count

    def history(self) -> list[dict[str, Any]]:
        """Every champion with its period live and why it left (a row per stay)."""
        stays: list[dict[str, Any]] = []
        open_stays: dict[str, dict[str, Any]] = {}
        for row in self.state_events.iter_rows(named=True):
            cid = row["candidate_id"]
            if row["state_after"] == "live" and row["state_before"] != "live":
                open_stays[cid] = {
                    "candidate_id": cid,
                    "live_from": row["as_of_day"],
                    "live_from_decision": row["decision_seq"],
                    "live_until": None,
                    "left_reason": None,
                    "prod_gated": bool(row["prod_gated"]),
                }
                stays.append(open_stays[cid])
            elif row["state_before"] == "live" and row["state_after"] != "live" and cid in open_stays:
                stay = open_stays.pop(cid)
                stay["live_until"] = row["as_of_day"]
                stay["left_reason"] = row["event_reason"]
        return stays


class PromotionLedger:
    """Read and append decisions under a registry root (local path or fsspec URL)."""

    def __init__(self, fs: RootFS) -> None:
        self.fs = fs

    def files(self) -> list[str]:
        return self.fs.glob(f"{LEDGER_DIR}/*.parquet")

    def read(self) -> pl.DataFrame:
        frames = []
        for relative in self.files():
            try:
                with self.fs.fsspec.open(self.fs.abs(relative), "rb") as handle:
                    frame = pl.read_parquet(io.BytesIO(handle.read()))
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise LedgerIntegrityError(f"unreadable ledger file {self.fs.uri(relative)}: {exc}") from exc
            seq = int(relative.rsplit("/", 1)[-1].split(".")[0])
            if frame.height == 0 or set(frame["decision_seq"].unique().to_list()) != {seq}:
                raise LedgerIntegrityError(
                    f"ledger file {self.fs.uri(relative)} does not hold decision {seq}"
                )
            frames.append(frame.cast(LEDGER_SCHEMA))  # type: ignore[arg-type]
        if not frames:
            return pl.DataFrame(schema=LEDGER_SCHEMA)
        frame = pl.concat(frames, how="vertical")
        decisions = frame.filter(pl.col("row_kind") == DECISION).sort("decision_seq")
        parent = None
        for expected, row in enumerate(decisions.iter_rows(named=True), start=1):
            if row["decision_seq"] != expected or row["parent_decision_id"] != parent:
                raise LedgerIntegrityError(
                    f"ledger chain broken at decision {row['decision_seq']} (expected {expected}, parent "
                    f"{(parent or 'none')[:12]}); files under {self.fs.uri(LEDGER_DIR)}"
                )
            parent = row["decision_id"]
        return frame

    def view(self) -> LedgerView:
        return LedgerView(self.read())

    def append(self, decision: Decision) -> str:
        """Write ``decision`` as the file of its sequence number, exclusively; returns its relative path."""
        relative = f"{LEDGER_DIR}/{decision.decision_seq:012d}.parquet"
        buffer = io.BytesIO()
        decision.to_frame().write_parquet(buffer, compression="zstd", statistics=False)
        try:
            _put_exclusive(self.fs, relative, buffer.getvalue())
        except FileExistsError:
            raise ConcurrentDecisionError(
                f"decision {decision.decision_seq} was recorded by another decider first; decide again"
            ) from None
        return relative


def _put_exclusive(fs: RootFS, relative: str, data: bytes) -> None:
    """Create ``relative`` with ``data`` only if it does not exist; whole or nothing, durable before visible
    (the store's primitive: ``os.link`` of an fsynced temporary file locally, a conditional put on object
    storage). ``FileExistsError`` when another decider created it first."""
    if not create_exclusive(fs.fsspec, fs.abs(relative), data):
        raise FileExistsError(relative)


def decision_from_rows(frame: pl.DataFrame, seq: int) -> dict[str, Any]:
    """The decision row of ``seq`` with its state events and gates, as plain data (for the CLI and metadata)."""
    rows = frame.filter(pl.col("decision_seq") == seq)
    decision = rows.filter(pl.col("row_kind") == DECISION).row(0, named=True)
    events = rows.filter(pl.col("row_kind") == STATE_EVENT).select(
        "candidate_id", "state_before", "allocation_before", "state_after", "allocation_after", "event_reason"
    )
    gates = rows.filter(pl.col("row_kind") == GATE)
    return {
        **{k: decision[k] for k in ("decision_seq", "decision_id", "as_of_day", "decision", "prod_gated")},
        "reason_codes": decision["reason_codes"],
        "subject_candidate_id": decision["subject_candidate_id"],
        "champion_before": decision["champion_before"],
        "champion_after": decision["champion_after"],
        "override": json.loads(decision["override_json"]) if decision["override_json"] else None,
        "detail": json.loads(decision["detail_json"]) if decision["detail_json"] else {},
        "state_events": events.to_dicts(),
        "gates": [json.loads(g) for g in gates["detail_json"].to_list()],
    }
