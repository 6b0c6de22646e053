"""The search's contracts that do not need a kill: reproducible trial parameters with one worker from clean
stores, plain SQLite refused for parallel workers, the stage windows disjoint with no label straddling two
stages, and the heartbeat storage's stale-trial rule against a hand-set clock."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from quant_platform.hpo import open_storage, run_stage, stage_windows
from quant_platform.hpo.storage import HEARTBEAT_ATTR, HeartbeatJournalStorage
from quant_platform.models import build_training_set
from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world
from quant_platform_tests.hpo.resume_driver import job_for
from quant_platform_tests.models.conftest import world_spec


def _params_of_a_clean_run(work: Path) -> list[dict]:
    job = replace(job_for(work), n_trials=4, registry_root=None, runset_id=None)
    run_stage(job, n_workers=1)
    return [json.loads(line)["params"] for line in (work / "trials.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_clean_runs_with_one_worker_propose_identical_params(tmp_path):
    first = _params_of_a_clean_run(tmp_path / "a")
    second = _params_of_a_clean_run(tmp_path / "b")
    assert len(first) >= 4
    assert first == second


def test_plain_sqlite_is_refused_for_parallel_workers(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(ValueError, match="refusing plain SQLite"):
        open_storage(url, n_workers=2, heartbeat_interval=1, grace_period=3, max_retry=1)
    storage = open_storage(url, n_workers=1, heartbeat_interval=1, grace_period=3, max_retry=1)
    assert isinstance(storage, optuna.storages.RDBStorage)
    default = open_storage(
        str(tmp_path / "s.journal"), n_workers=4, heartbeat_interval=1, grace_period=3, max_retry=1
    )
    assert isinstance(default, HeartbeatJournalStorage)


def test_stale_rule_follows_the_last_heartbeat(tmp_path):
    now = [1000.0]
    storage = HeartbeatJournalStorage(
        str(tmp_path / "s.journal"),
        heartbeat_interval=1,
        grace_period=5,
        stale_callback=None,
        clock=lambda: now[0],
    )
    study = optuna.create_study(storage=storage, study_name="beat")
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    now[0] += 4.0
    assert storage._get_stale_trial_ids(study._study_id) == []
    now[0] += 2.0  # 6 s after the last beat, grace 5 s
    assert storage._get_stale_trial_ids(study._study_id) == [trial._trial_id]
    storage.record_heartbeat(trial._trial_id)  # it beats again: alive
    assert storage._get_stale_trial_ids(study._study_id) == []
    assert study.trials[0].system_attrs[HEARTBEAT_ATTR] == now[0]


def test_stage_windows_are_disjoint_ordered_and_pick_their_symbols():
    world = PlantedModelWorld(n_symbols=2, n_days=8, seed=4)
    bars, features = make_planted_world(world)
    spec = world_spec(world)
    training = build_training_set(bars, features, spec)
    windows = stage_windows(training, spec)
    assert [w.stage for w in windows] == ["coarse", "refine", "forward"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(windows))
    assert windows[0].symbols == ("SYM00USDT",) and len(windows[1].symbols) == 2


@pytest.mark.slow
def test_a_timed_out_stage_returns_what_finished(tmp_path):
    job = replace(job_for(tmp_path), n_trials=50, registry_root=None, runset_id=None)
    counts = run_stage(job, n_workers=1, timeout_s=1.0)
    assert counts["timed_out"] is True
    assert 1 <= counts["n_complete"] + counts["n_pruned"] < 50  # Optuna finishes the trial it is in
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    assert len(lines) == counts["n_trials"]
