"""Run retention on an ephemeral instance: old finished runs and their event logs go, the rest stays.

Truth: the instance's own run and event storage before and after (ids recorded at creation time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

from quant_platform.defs import automation


@dg.op
def noop() -> int:
    return 1


@dg.job
def tiny_job() -> None:
    noop()


def _finished_run(instance: dg.DagsterInstance) -> str:
    result = tiny_job.execute_in_process(instance=instance)
    assert result.success and instance.all_logs(result.run_id)
    return result.run_id


def test_purge_deletes_only_finished_runs_created_before_the_cutoff() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        old = [_finished_run(instance), _finished_run(instance)]
        time.sleep(0.05)
        cutoff = datetime.now(UTC)
        time.sleep(0.05)
        recent = _finished_run(instance)
        queued = instance.create_run_for_job(tiny_job, run_id=None)  # not finished: never purged
        assert sorted(automation.purge_finished_runs(instance, cutoff, batch=1)) == sorted(old)
        for run_id in old:
            assert instance.get_run_by_id(run_id) is None and instance.all_logs(run_id) == []
        assert instance.get_run_by_id(recent) is not None and instance.all_logs(recent)
        assert instance.get_run_by_id(queued.run_id) is not None


def test_purge_job_with_zero_days_keeps_only_itself() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        earlier = [_finished_run(instance) for _ in range(2)]
        result = automation.purge_old_runs_job.execute_in_process(
            instance=instance, run_config={"ops": {"purge_old_runs": {"config": {"older_than_days": 0}}}}
        )
        assert result.success
        assert [r.run_id for r in instance.get_runs()] == [result.run_id]
        assert all(instance.get_run_by_id(r) is None for r in earlier)


def test_dagster_yaml_keeps_ticks_of_every_type_for_a_bounded_time() -> None:
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "dagster.yaml").read_text())
    retention = config["retention"]
    assert set(retention) == {"schedule", "sensor", "auto_materialize"}
    for settings in retention.values():
        days = settings["purge_after_days"]
        values = [days] if isinstance(days, int) else list(days.values())
        assert all(0 < v <= 90 for v in values)
