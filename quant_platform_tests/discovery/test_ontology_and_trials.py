"""Ontology hash checks and the trial ledger."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from quant_platform.discovery import check_ontology, load_discovery_spec, run_discovery, trial_ledger
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world
from quant_platform.registry import DatasetSpec, Registry, RunSetSpec
from quant_platform.specs import ontology_hash, spec_root


@pytest.fixture(scope="module")
def result():
    spec = load_discovery_spec()
    config = WorldConfig(
        n_symbols=2, n_days=10, effects=(PlantedDrift("VOL_SHOCK", "SYM00USDT", 12, 80.0),), seed=5
    )
    world = make_world(config, spec)
    return run_discovery(world.bars, world.events, world.states, spec, runset_id="runset-abc")


def test_candidates_carry_the_current_hash(result):
    assert result.candidates["ontology_hash"].unique().to_list() == [ontology_hash()]
    check_ontology(result.candidates)


def test_mismatch_is_an_error(result):
    stale = result.candidates.with_columns(ontology_hash=pl.lit("0" * 64))
    with pytest.raises(ValueError, match="ontology hash mismatch"):
        check_ontology(stale)
    with pytest.raises(ValueError, match="no ontology_hash"):
        check_ontology(result.candidates.drop("ontology_hash"))
    # empty: nothing computed under another spec, so it passes; without the column it cannot tell
    check_ontology(result.candidates.clear())
    with pytest.raises(ValueError, match="no ontology_hash"):
        check_ontology(result.candidates.clear().drop("ontology_hash"))
    with pytest.raises(ValueError, match="ontology hash mismatch"):  # a null hash is not the current spec
        check_ontology(result.candidates.with_columns(ontology_hash=pl.lit(None, dtype=pl.String)))


def test_changed_spec_changes_hash_and_fails_check(result, tmp_path: Path):
    copy = tmp_path / "spec"
    shutil.copytree(spec_root(), copy)
    gates = copy / "gates.yaml"
    gates.write_text(gates.read_text().replace("max_q_value: 0.05", "max_q_value: 0.10"))
    changed = load_discovery_spec(copy)
    assert changed.gates.max_q_value == 0.10
    with pytest.raises(ValueError, match="mismatch"):
        check_ontology(result.candidates, expected=changed.ontology_hash)


def test_trial_ledger_has_every_tested_hypothesis(result):
    trials = result.trials
    tested = result.candidates.filter(pl.col("tested"))
    assert trials.height == tested.height > 0
    assert trials["trial_id"].n_unique() == trials.height
    assert set(trials["trial_id"]) == set(tested["candidate_id"])
    assert (trials["runset_id"] == "runset-abc").all() and (trials["stage"] == "phase2_discovery").all()
    # the registry's record_trials contract: four string keys, every other column numeric
    keys = ["runset_id", "stage", "trial_id", "family"]
    assert trials.columns[:4] == keys
    assert all(trials.schema[c].is_numeric() for c in trials.columns[4:])
    row = trials.join(tested, left_on="trial_id", right_on="candidate_id").row(0, named=True)
    assert (
        row["family"] == f"{row['family_right']}/{row['event_type']}/{row['template']}/h{row['horizon_bars']}"
    )
    assert trial_ledger(result.candidates, "runset-abc").equals(trials)  # deterministic


def test_registry_records_and_counts_the_trials(result, tmp_path: Path):
    registry = Registry(str(tmp_path / "registry"), str(tmp_path / "store"))
    registry.register_dataset(
        DatasetSpec(dataset_id="synthetic_v1", source="synthetic", assets=["bars_5m"], symbols=["SYM00USDT"],
                    first_day="2024-01-01", last_day="2024-01-10")
    )  # fmt: skip
    registry.create_runset("discovery_demo", RunSetSpec(dataset_id="synthetic_v1"))
    ledger = trial_ledger(result.candidates, "discovery_demo")
    assert registry.record_trials(ledger) == ledger.height
    registry.record_trials(ledger)  # recording the same trials again does not inflate the count
    assert registry.count_trials("discovery_demo", "phase2_discovery") == int(
        result.candidates["tested"].sum()
    )
