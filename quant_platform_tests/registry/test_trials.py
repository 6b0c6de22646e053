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


def _hand_ledger(runset: str) -> pl.DataFrame:
    """Two hypotheses tested by discovery; Stage A re-screens both on 3 folds; Stage B evaluates one of them
    on 2 CPCV paths; an HPO search tries 4 configurations of one model (long format, a few metrics each)."""
    rows = [
        *[("phase2_discovery", "hypothesis", h, "", "t_stat", 1.0) for h in ("h1", "h2")],
        *[("stage_a", "hypothesis", h, "", "passed", 1.0) for h in ("h1", "h2")],
        *[
            ("stage_a", "fold", h, str(k), m, 0.1)
            for h in ("h1", "h2")
            for k in range(3)
            for m in ("ic", "sr")
        ],
        ("stage_b", "hypothesis", "h1", "", "dsr", 0.9),
        *[("stage_b", "cpcv_path", "h1", str(p), "sharpe_ann", 0.5) for p in range(2)],
        *[("signal_models", "hpo_trial", "lgbm", str(t), "auc", 0.6) for t in range(4)],
    ]
    stage, kind, trial, sub, metric, value = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "runset_id": [runset] * len(rows),
            "stage": stage,
            "kind": kind,
            "trial_id": trial,
            "sub_id": sub,
            "family": ["f"] * len(rows),
            "metric": metric,
            "value": value,
        }
    )


def test_kinds_and_sub_ids_round_trip_and_count_by_hand(registry: Registry, runset: str) -> None:
    ledger = _hand_ledger(runset)
    # distinct evaluations by hand: 2 + 2 + 6 folds + 1 + 2 paths + 4 HPO trials
    assert registry.record_trials(ledger) == 17
    registry.record_trials(ledger.filter(pl.col("stage") == "stage_a"))  # a re-materialization: no new counts

    back = registry.trials(runset).sort("stage", "kind", "trial_id", "sub_id", "metric")
    expected = ledger.sort("stage", "kind", "trial_id", "sub_id", "metric")
    assert back.select(expected.columns).unique(maintain_order=True).equals(expected)
    # Hypotheses: h1, h2 (re-evaluated by Stage A and B, still two) plus 4 HPO configurations.
    assert registry.count_hypotheses(runset) == 6
    assert registry.count_hypotheses(runset, "stage_b") == 1
    assert registry.count_evaluations(runset) == 17
    assert registry.count_evaluations(runset, "stage_a") == 8
    assert registry.count_evaluations(runset, kind="fold") == 6
    assert registry.count_evaluations(runset, "stage_b", "cpcv_path") == 2
    assert registry.count_trials(runset) == 2 + 2 + 1 + 1  # per stage, folds and paths share their trial id
    assert registry.trials(runset, kind="hpo_trial")["sub_id"].sort().to_list() == ["0", "1", "2", "3"]
    with pytest.raises(ValueError, match="unknown trial kind"):
        registry.trials(runset, kind="folds")

    # The DuckDB views agree with the library's counts.
    counts = registry.query("SELECT * EXCLUDE (runset_id) FROM trial_counts").row(0, named=True)
    assert counts == {
        "n_hypotheses": 6,
        "n_evaluations": 17,
        "n_hypothesis_evaluations": 5,
        "n_folds": 6,
        "n_cpcv_paths": 2,
        "n_hpo_trials": 4,
    }
    folds = registry.query(
        "SELECT trial_id, sub_id, n_metrics FROM trial_evaluations WHERE kind = $kind ORDER BY ALL",
        {"kind": "fold"},
    )
    assert folds.rows() == [(h, str(k), 4) for h in ("h1", "h2") for k in range(3)]  # recorded twice


def test_trial_fact_files_from_before_kinds_still_read(registry: Registry, runset: str) -> None:
    registry.record_trials(_hand_ledger(runset).filter(pl.col("stage") == "stage_a"))
    (written,) = registry.facts.files("trials")
    path = registry.fs.abs(written)
    # The layout of an older writer: no kind / sub_id, folds as metrics of their candidate.
    old = (
        pl.read_parquet(path)
        .filter(pl.col("kind") == "hypothesis")
        .drop("kind", "sub_id")
        .with_columns(pl.lit("fold0_ic").alias("metric"))
    )
    old.write_parquet(path)
    back = registry.trials(runset)
    assert back["kind"].to_list() == ["hypothesis"] * 2 and back["sub_id"].to_list() == ["", ""]
    assert registry.count_hypotheses(runset) == registry.count_evaluations(runset) == 2
    registry.rebuild(force=True)
    assert registry.query("SELECT n_hypotheses, n_evaluations FROM trial_counts").rows() == [(2, 2)]
    assert registry.query("SELECT count(*) AS n FROM trials WHERE kind IS NULL")["n"].item() == 0


def test_kinds_and_sub_ids_are_validated(registry: Registry, runset: str) -> None:
    base = {"runset_id": [runset], "stage": ["stage_a"], "trial_id": ["h1"], "family": ["f"]}
    with pytest.raises(ValueError, match="unknown trial kind"):
        registry.record_trials(pl.DataFrame({**base, "kind": ["path"], "sub_id": ["0"]}))
    with pytest.raises(ValueError, match="has sub_id '0'"):
        registry.record_trials(pl.DataFrame({**base, "kind": ["hypothesis"], "sub_id": ["0"]}))
    with pytest.raises(ValueError, match="has sub_id ''"):
        registry.record_trials(pl.DataFrame({**base, "kind": ["fold"]}))
    with pytest.raises(ValueError, match="invalid trial sub_id"):
        registry.record_trials(pl.DataFrame({**base, "kind": ["fold"], "sub_id": ["0\n; drop"]}))
    with pytest.raises(ValueError, match="nulls"):
        registry.record_trials(pl.DataFrame({**base, "kind": [None], "sub_id": [""]}))
    assert registry.facts.files("trials") == []
