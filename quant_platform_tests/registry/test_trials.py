"""The trial ledger counts every distinct trial any stage evaluated (the N of multiple-testing corrections)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from quant_platform.registry import DatasetSpec, Registry, RunSetSpec


@pytest.fixture
def runset(registry: Registry, dataset: DatasetSpec) -> str:
    return registry.create_runset("trials_set", RunSetSpec(dataset_id=dataset.dataset_id)).runset_id


def test_counts_distinct_trials_per_stage_across_writes(registry: Registry, runset: str) -> None:
    wide = pl.DataFrame(
        {
            "runset_id": ["trials_set"] * 4,
            "stage": ["hypotheses"] * 3 + ["stage_a"],
            "trial_id": ["h1", "h2", "h3", "fold-0"],
            "family": ["momentum"] * 4,
            "t_stat": [2.1, -0.3, math.nan, 1.0],  # a failed evaluation (NaN) is still a trial
            "p_value": [0.03, 0.7, None, 0.3],
        }
    )
    assert registry.record_trials(wide) == 4
    long = pl.DataFrame(
        {
            "runset_id": [runset] * 3,
            "stage": ["hpo"] * 3,
            "trial_id": ["t0", "t0", "t1"],
            "family": ["lgbm"] * 3,
            "metric": ["sharpe", "ic", "sharpe"],
            "value": [1.2, 0.05, 0.9],
        }
    )
    assert registry.record_trials(long) == 2  # three metric rows, two trials
    no_metrics = pl.DataFrame(
        {"runset_id": [runset] * 2, "stage": ["cpcv"] * 2, "trial_id": [1, 2], "family": ["paths"] * 2}
    )
    registry.record_trials(no_metrics)
    registry.record_trials(wide.head(2))  # re-recording the same trials does not inflate the count

    assert registry.count_trials(runset, "hypotheses") == 3
    assert registry.count_trials("trials_set", "hpo") == 2
    assert registry.count_trials(runset, "cpcv") == 2
    assert registry.count_trials(runset) == 3 + 1 + 2 + 2
    rows = registry.trials(runset, "hypotheses").filter(pl.col("trial_id") == "h3")
    assert rows.filter(pl.col("metric") == "t_stat")["value"].is_nan().all()
    assert rows.filter(pl.col("metric") == "p_value")["value"].is_null().all()


def test_bad_trial_frames_are_refused(registry: Registry, runset: str) -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        registry.record_trials(pl.DataFrame({"runset_id": [runset], "stage": ["s"]}))
    with pytest.raises(ValueError, match="nulls"):
        registry.record_trials(
            pl.DataFrame({"runset_id": [runset], "stage": ["s"], "trial_id": [None], "family": ["f"]})
        )
    with pytest.raises(ValueError, match="numeric"):
        registry.record_trials(
            pl.DataFrame(
                {"runset_id": [runset], "stage": ["s"], "trial_id": ["1"], "family": ["f"], "note": ["x"]}
            )
        )
    assert registry.count_trials(runset) == 0


def test_discovery_ledger_records_as_is(registry: Registry, runset: str) -> None:
    """The discovery stage's ledger shape goes straight in; untested candidates are not trials."""
    from quant_platform.discovery.trials import DISCOVERY_STAGE, trial_ledger

    candidates = pl.DataFrame(
        {
            "tested": [True, True, False],
            "candidate_id": ["c1", "c2", "c3"],
            "family": ["momentum"] * 3,
            "event_type": ["VOL_SPIKE", "FUNDING_FLIP", "VOL_SPIKE"],
            "template": ["breakout"] * 3,
            "horizon_bars": [12, 12, 24],
            "n_observations": [40, 35, 3],
            "mean_net_bps": [4.0, -1.0, None],
            "t_statistic": [2.5, -0.4, None],
            "p_value": [0.01, 0.69, None],
            "q_value": [0.02, 0.69, None],
            "passes_gates": [True, False, False],
        }
    )
    assert registry.record_trials(trial_ledger(candidates, "trials_set")) == 2
    assert registry.count_trials(runset, DISCOVERY_STAGE) == 2
    families = registry.trials(runset)["family"].unique().sort().to_list()
    assert families == ["momentum/FUNDING_FLIP/breakout/h12", "momentum/VOL_SPIKE/breakout/h12"]
