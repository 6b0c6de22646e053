"""Kill -9 at random moments, resume with the same command: no finished trial is lost or duplicated, a trial
whose worker died is failed by the heartbeat and retried with the same parameters, and the study, the JSONL
file and the registry's trial ledger hold the same trials."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import polars as pl
import pytest
from optuna.trial import TrialState

from quant_platform.hpo.records import FINISHED
from quant_platform.registry import Registry
from quant_platform_tests.hpo.resume_driver import N_TRIALS, RUNSET

DRIVER = [sys.executable, "-m", "quant_platform_tests.hpo.resume_driver"]
REPO = Path(__file__).resolve().parents[2]


def _start(work: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([*DRIVER, str(work)], cwd=REPO, env=env, start_new_session=True)


def _lines(work: Path) -> int:
    path = work / "trials.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


def _study(work: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(work / "study.journal"))
    )
    return optuna.load_study(study_name="resume-coarse", storage=storage)


def _running_worker_pid(work: Path) -> int | None:
    if not (work / "study.journal").exists():
        return None
    try:
        running = _study(work).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    except KeyError:  # the study is not created yet
        return None
    for trial in running:
        worker = trial.user_attrs.get("worker")
        if worker:
            return int(worker.split(":")[1])
    return None


def _wait_until(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path):
    work = tmp_path / "study"
    rng = random.Random(20240101)
    kills = []
    # 1) one worker killed while it runs a trial (the coordinator lives on), then, at a random point after
    #    the next finished trial, the whole command (coordinator and workers)
    proc = _start(work)
    _wait_until(lambda: _running_worker_pid(work) is not None, proc, timeout=600)
    pid = _running_worker_pid(work)
    assert pid is not None, "no running trial was seen to kill its worker"
    os.kill(pid, signal.SIGKILL)
    kills.append("worker")
    # 2) the whole command killed at random points, twice
    for _ in range(2):
        if proc.poll() is not None:
            proc = _start(work)
        target = _lines(work) + rng.randint(1, 2)
        _wait_until(lambda target=target: _lines(work) >= target, proc, timeout=600)
        time.sleep(rng.uniform(0.0, 0.8))  # land anywhere: mid-trial, mid-write, between trials
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills.append("command")
        proc.wait()
        proc = _start(work)
    assert proc.wait(timeout=600) == 0
    # 3) the same command once more: nothing left to do, nothing duplicated
    proc = _start(work)
    assert proc.wait(timeout=120) == 0
    assert kills.count("worker") == 1 and len(kills) == 3

    study = _study(work)
    trials = study.get_trials(deepcopy=False)
    finished = {t.number for t in trials if t.state in FINISHED}
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) >= N_TRIALS

    records = [json.loads(line) for line in (work / "trials.jsonl").read_text().splitlines()]
    numbers = [r["number"] for r in records]
    assert len(numbers) == len(set(numbers)), "a trial was logged twice"
    assert set(numbers) == finished

    ledger = Registry(str(work / "registry")).trials(RUNSET, "hpo_coarse", "hpo_trial")
    per_trial = ledger.group_by("sub_id").agg(pl.len().alias("rows"))
    assert set(per_trial["sub_id"].cast(pl.Int64)) == finished
    assert (per_trial["rows"] == 2).all(), "a trial was recorded in the ledger twice"  # objective + state

    # the killed worker's trial was failed by the heartbeat and retried with the parameters it had drawn
    # (a kill during sampling leaves only some drawn: the retry keeps those and draws the rest)
    retried = [t for t in trials if t.system_attrs.get("failed_trial") is not None]
    assert retried
    by_number = {t.number: t for t in trials}
    for t in retried:
        original = by_number[t.system_attrs["failed_trial"]]
        assert original.state == TrialState.FAIL
        assert original.params.items() <= t.params.items()
