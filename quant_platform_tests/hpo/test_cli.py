"""``qp hpo resume`` runs a recorded stage to its target (its job written by the first run, here a run that
was cut short), and ``qp hpo status`` reports what the study holds, with the progress bar."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from quant_platform.cli import main
from quant_platform.hpo.cli import progress_bar
from quant_platform.hpo.workers import run_stage, write_job
from quant_platform_tests.hpo.resume_driver import job_for


@pytest.mark.slow
def test_resume_runs_a_recorded_stage_to_its_target_and_status_reports_it(tmp_path, capsys):
    job = replace(job_for(tmp_path), n_trials=3, registry_root=None, runset_id=None)
    run_stage(replace(job, n_trials=1), n_workers=1)  # a first run that stopped short of the target
    write_job(job)  # the recorded job asks for 3
    assert main(["hpo", "status", "--study", job.study_name, "--root", str(tmp_path), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["finished"] == 1 and before["target"] == 3
    assert (
        main(
            [
                "hpo",
                "resume",
                "--study",
                job.study_name,
                "--root",
                str(tmp_path),
                "--n-workers",
                "1",
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["hpo", "status", "--study", job.study_name, "--root", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "3/3" in text and "complete=" in text
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(line)["number"] for line in lines}) >= 3


def test_unknown_study_is_a_usage_error(tmp_path, capsys):
    assert main(["hpo", "status", "--study", "nope", "--root", str(tmp_path)]) == 2
    assert "no recorded job" in capsys.readouterr().err


def test_progress_bar_fills_with_finished_trials():
    assert progress_bar(0, 4, width=4) == "[....] 0/4"
    assert progress_bar(2, 4, width=4) == "[##..] 2/4"
    assert progress_bar(5, 4, width=4) == "[####] 5/4"
