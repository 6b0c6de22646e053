"""Worker processes sharing one Optuna study, and the coordinator that runs, recovers and reconciles them.

Each worker is a fresh process (``python -m quant_platform.hpo.worker <job> <index> <n>``): it opens the storage itself, loads the stage's inputs from Parquet
(written once by the coordinator), and runs ``study.optimize`` with a ``TPESampler`` seeded ``seed + worker``
(distinct workers must not propose the same points), the ``MedianPruner``, the trial recorder and Optuna's
``MaxTrialsCallback`` counting complete and pruned trials. LightGBM runs on one thread per worker, so
``n_workers`` processes use ``n_workers`` cores.

The coordinator (:func:`run_stage`) is what a shell command or an asset calls, again and again after any
crash, with the same arguments: it reconciles the records, waits out the heartbeat grace of any RUNNING
trial left by a dead worker and lets Optuna fail and retry it (same parameters, queued as WAITING), starts
the workers, and repeats until the study holds its target of finished trials and nothing waits. With one
worker the search is reproducible: the same inputs and seed give the same trial parameters.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import polars as pl
from optuna.storages import fail_stale_trials
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from quant_platform.hpo.objective import kfold_objective, sample_params
from quant_platform.hpo.records import WORKER_ATTR, TrialLog, TrialRecorder
from quant_platform.hpo.storage import HeartbeatJournalStorage, grace_of, open_storage
from quant_platform.models.dataset import TrainingSet
from quant_platform.models.spec import ModelSpec
from quant_platform.models.training import BASELINE, MODEL, candidate_decision, cross_validate

KFOLD, FORWARD = "kfold", "forward"
ROLE = "_role"  # forward stage: "train" rows before the window, "test" rows inside it
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)


def default_n_workers() -> int:
    return max(1, (os.cpu_count() or 1) - 2)


@dataclass(frozen=True)
class StageJob:
    """Everything a worker needs, all picklable: where the study and inputs live and how to score."""

    study_name: str
    stage: str
    kind: str  # KFOLD or FORWARD
    storage: str
    inputs_dir: str
    feature_names: tuple[str, ...]
    label: str
    n_trials: int
    seed: int
    spec: ModelSpec
    jsonl_path: str
    registry_root: str | None = None
    runset_id: str | None = None

    def open_storage(self, n_workers: int) -> optuna.storages.BaseStorage:
        h = self.spec.hpo
        return open_storage(
            self.storage,
            n_workers=n_workers,
            heartbeat_interval=h.heartbeat_interval_s,
            grace_period=h.grace_period_s,
            max_retry=h.max_retry,
        )

    def recorder(self) -> TrialRecorder:
        ledger = None
        if self.registry_root is not None:
            from quant_platform.registry import Registry

            ledger = Registry(self.registry_root)
        return TrialRecorder(TrialLog(self.jsonl_path), self.stage, self.seed, ledger, self.runset_id)

    def load_inputs(self) -> tuple[TrainingSet, pl.DataFrame]:
        frame = pl.read_parquet(Path(self.inputs_dir) / "training.parquet")
        bars = pl.read_parquet(Path(self.inputs_dir) / "bars.parquet")
        empty = pl.DataFrame(schema={"reason": pl.String, "n_rows": pl.Int64})
        return TrainingSet(frame, self.feature_names, self.label, empty), bars


def write_job(job: StageJob) -> str:
    """The pickled job beside the stage's inputs: what each worker process is started with."""
    path = Path(job.inputs_dir) / "job.pkl"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(job))
    os.replace(tmp, path)
    return str(path)


def write_inputs(directory: str, training: pl.DataFrame, bars: pl.DataFrame) -> None:
    """The stage's inputs, written once (a resumed stage reads what the first run wrote)."""
    out = Path(directory)
    if (out / "bars.parquet").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("training", training), ("bars", bars)):
        tmp = out / f".{name}.parquet.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, out / f"{name}.parquet")


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def is_done(study: optuna.Study, n_trials: int) -> bool:
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    return finished_count(study) >= n_trials and not waiting


def _forward_objective(
    trial: optuna.Trial, training: TrainingSet, bars: pl.DataFrame, spec: ModelSpec
) -> float:
    params = sample_params(trial, spec.hpo.space)
    role = training.frame[ROLE].to_numpy()
    import numpy as np

    split = [(np.flatnonzero(role == "train"), np.flatnonzero(role == "test"))]
    result = cross_validate(training, bars, spec, split, params=params, with_baseline=True, stitch=True)
    candidate, reasons = candidate_decision(result.summary, spec)
    for learner in (MODEL, BASELINE):
        for metric in ("ic", "pnl_after_cost", "max_drawdown", "objective", "sharpe_daily"):
            trial.set_user_attr(f"{learner}_{metric}", result.summary[learner][metric])
    trial.set_user_attr("candidate", candidate)
    trial.set_user_attr("candidate_reasons", reasons)
    return float(result.summary[MODEL]["objective"])


def worker_main(job: StageJob, worker_index: int, n_workers: int, timeout_s: float | None = None) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = job.open_storage(n_workers)
    h = job.spec.hpo
    study = optuna.load_study(
        study_name=job.study_name,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=job.seed + worker_index),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=h.pruner_startup_trials, n_warmup_steps=h.pruner_warmup_steps
        ),
    )
    if is_done(study, job.n_trials):
        return
    training, bars = job.load_inputs()
    worker = f"{socket.gethostname()}:{os.getpid()}:{worker_index}"
    score = kfold_objective if job.kind == KFOLD else _forward_objective

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker)
        return score(trial, training, bars, job.spec)

    with (
        warnings.catch_warnings()
    ):  # fail_stale_trials is experimental in Optuna; its behaviour is tested here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        _optimize(study, objective, job, timeout_s)


def _optimize(study: optuna.Study, objective: Any, job: StageJob, timeout_s: float | None) -> None:
    study.optimize(
        objective,
        timeout=timeout_s,
        callbacks=[job.recorder(), MaxTrialsCallback(job.n_trials, states=COUNTED)],
        catch=(ValueError, ArithmeticError),
    )


def recover_stale(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int:
    """Wait out the heartbeat grace of RUNNING trials (their workers are gone when the coordinator runs),
    then let Optuna fail and retry them. Returns how many were running."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return 0
    grace = grace_of(storage)
    if isinstance(storage, HeartbeatJournalStorage):
        newest = max(storage.last_beat(t) for t in running)
        time.sleep(max(0.0, grace - (time.time() - newest)) + 0.5)
    else:
        time.sleep(grace + 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)
    return len(running)


def run_stage(
    job: StageJob, n_workers: int, *, max_rounds: int = 5, timeout_s: float | None = None
) -> dict[str, Any]:
    """Run (or resume) one stage to its target; returns counts for the caller's metadata. With ``timeout_s``
    the workers start no new trial once it has passed (Optuna's ``optimize(timeout=...)``) and the stage
    returns with what finished (``timed_out: True``), as a timed-out Optuna study does."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    timed_out = False
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = job.open_storage(n_workers)
    study = optuna.create_study(
        study_name=job.study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    recorder = job.recorder()
    repaired = recorder.reconcile(study)
    retried = 0
    job_path = write_job(job)
    for _ in range(max_rounds):
        retried += recover_stale(study, storage)
        if is_done(study, job.n_trials):
            break
        remaining = [] if deadline is None else [str(max(deadline - time.monotonic(), 0.0))]
        if remaining and float(remaining[0]) <= 0.0:
            timed_out = True
            break
        command = [sys.executable, "-m", "quant_platform.hpo.worker", job_path]
        procs = [subprocess.Popen([*command, str(i), str(n_workers), *remaining]) for i in range(n_workers)]
        codes = [p.wait() for p in procs]
        recorder.reconcile(study)
        if any(code > 0 for code in codes):  # a negative code is a signal (a killed worker): recovered above
            raise RuntimeError(f"an HPO worker of {job.study_name} exited with an error: exit codes {codes}")
    retried += recover_stale(study, storage)
    final = recorder.reconcile(study)
    timed_out = timed_out or (deadline is not None and time.monotonic() >= deadline)
    if not is_done(study, job.n_trials) and not timed_out:
        raise RuntimeError(
            f"study {job.study_name} did not reach {job.n_trials} finished trials in {max_rounds} rounds"
        )
    trials = study.get_trials(deepcopy=False)
    return {
        "study": job.study_name,
        "n_trials": len(trials),
        "n_complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "n_pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "n_failed": sum(t.state == TrialState.FAIL for t in trials),
        "retried_stale": retried,
        "timed_out": timed_out and not is_done(study, job.n_trials),
        "reconciled": {k: repaired[k] + final[k] for k in repaired},
    }
