"""Every finished trial, written as it finishes: one JSONL line and one ``hpo_trial`` row in the trial ledger.

A worker writes both right after Optuna records the trial's end (a study callback). A kill can land between
the study's record and either write, and a trial failed by the heartbeat (its worker died) finishes in no
worker at all, so :func:`reconcile` (run by the coordinator before and after every round of workers, when no
worker runs) writes what is missing and drops a torn last line. JSONL lines and ledger rows are keyed by
(study, trial number): never written twice, and after a reconcile the study's finished trials, the JSONL
lines and the ledger rows are the same set.

Ledger rows (``registry.trials``): ``stage = hpo_<stage>``, ``kind = hpo_trial``, ``trial_id`` = the study,
``sub_id`` = the trial number, metrics ``objective`` (NaN when pruned or failed) and ``state_code``
(0 complete, 1 pruned, 2 failed), so DSR's trial count includes every configuration the search tried.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import optuna
import polars as pl
from optuna.trial import FrozenTrial, TrialState

from quant_platform.registry.trials import HPO_TRIAL

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
STATE_CODE = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAIL: 2}
WORKER_ATTR = "worker"


class TrialLedger(Protocol):
    """What the search needs of the registry: append ledger rows and read them back."""

    def record_trials(self, frame: pl.DataFrame) -> int: ...

    def trials(
        self, runset: str | None = None, stage: str | None = None, kind: str | None = None
    ) -> pl.DataFrame: ...


def trial_record(study: optuna.Study, trial: FrozenTrial, stage: str, seed: int) -> dict[str, Any]:
    duration = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else None
    )
    return {
        "study": study.study_name,
        "stage": stage,
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value if trial.state == TrialState.COMPLETE else None,
        "params": trial.params,
        "intermediate_values": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
        "duration_s": duration,
        "worker": trial.user_attrs.get(WORKER_ATTR),
        "seed": seed,
        "retried_from": trial.system_attrs.get("failed_trial"),
        "user_attrs": {k: v for k, v in trial.user_attrs.items() if k != WORKER_ATTR},
    }


class TrialLog:
    """The JSONL file of one study stage."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        """One line, one ``write`` on an ``O_APPEND`` descriptor (atomic for a line this short), fsynced."""
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Complete lines only (a torn last line from a kill is not a record)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def repair(self) -> int:
        """Rewrite the file without torn or duplicated lines (only while no worker runs); returns lines dropped."""
        if not self.path.exists():
            return 0
        lines = self.path.read_text().splitlines()
        kept, seen = [], set()
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = (rec["study"], rec["number"])
            if key not in seen:
                seen.add(key)
                kept.append(line)
        if len(kept) != len(lines) or (lines and not self.path.read_text().endswith("\n")):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(k + "\n" for k in kept))
            os.replace(tmp, self.path)
        return len(lines) - len(kept)


def ledger_frame(records: Iterable[dict[str, Any]], runset_id: str, family: str = "lightgbm") -> pl.DataFrame:
    rows = [
        {
            "runset_id": runset_id,
            "stage": f"hpo_{r['stage']}",
            "kind": HPO_TRIAL,
            "trial_id": r["study"],
            "sub_id": str(r["number"]),
            "family": family,
            "objective": float("nan") if r["value"] is None else float(r["value"]),
            "state_code": float(STATE_CODE[TrialState[r["state"]]]),
        }
        for r in records
    ]
    return pl.DataFrame(rows, schema={"runset_id": pl.String, "stage": pl.String, "kind": pl.String,
                                      "trial_id": pl.String, "sub_id": pl.String, "family": pl.String,
                                      "objective": pl.Float64, "state_code": pl.Float64})  # fmt: skip


class TrialRecorder:
    """The study callback a worker runs after each trial, and the coordinator's reconcile."""

    def __init__(
        self, log: TrialLog, stage: str, seed: int, ledger: TrialLedger | None, runset_id: str | None
    ) -> None:
        if ledger is not None and runset_id is None:
            raise ValueError("a ledger needs the RunSet id its rows belong to")
        self.log, self.stage, self.seed, self.ledger, self.runset_id = log, stage, seed, ledger, runset_id

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state not in FINISHED:
            return
        record = trial_record(study, trial, self.stage, self.seed)
        self.log.append(record)
        if self.ledger is not None:
            self.ledger.record_trials(ledger_frame([record], self.runset_id or ""))

    def ledger_numbers(self, study_name: str) -> set[int]:
        if self.ledger is None:
            return set()
        rows = self.ledger.trials(self.runset_id, f"hpo_{self.stage}", HPO_TRIAL)
        rows = rows.filter(pl.col("trial_id") == study_name)
        return {int(s) for s in rows["sub_id"].unique().to_list()}

    def reconcile(self, study: optuna.Study) -> dict[str, int]:
        """Write the JSONL line and ledger row of every finished trial that lacks one (no worker may run)."""
        dropped = self.log.repair()
        logged = {r["number"] for r in self.log.records() if r["study"] == study.study_name}
        in_ledger = self.ledger_numbers(study.study_name)
        finished = study.get_trials(deepcopy=False, states=FINISHED)
        missing_log = [t for t in finished if t.number not in logged]
        for trial in missing_log:
            self.log.append(trial_record(study, trial, self.stage, self.seed))
        missing_ledger = [
            trial_record(study, t, self.stage, self.seed) for t in finished if t.number not in in_ledger
        ]
        if missing_ledger and self.ledger is not None:
            self.ledger.record_trials(ledger_frame(missing_ledger, self.runset_id or ""))
        return {
            "torn_lines_dropped": dropped,
            "lines_written": len(missing_log),
            "ledger_rows_written": len(missing_ledger) if self.ledger is not None else 0,
        }
