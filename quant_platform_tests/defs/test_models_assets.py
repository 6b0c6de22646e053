"""The model assets in Dagster, end to end through the real registry, Parquet IO manager and worker processes.

A planted world (:mod:`quant_platform.models.planted_world`) is written into a temporary store as ``bars_5m``
and ``features_v1`` day partitions and registered as a dataset and a RunSet; a spec directory whose
models.yaml reads the world's feature columns is handed to the ``ModelTrainer`` resource. Truths: both
assets materialize with passing blocking checks; the search's trials are all in the registry's ledger and in
the table; the stages' windows are disjoint and in order; the model found the plant out of sample (IC above
the baseline's); the metadata carries the pictures (PNG) and the fold table; a materialization for a RunSet
whose dataset lacks a source the spec names fails naming it."""

import base64
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from quant_platform.defs.io_manager import ImmutableParquetIOManager
from quant_platform.defs.models import HpoResource, ModelTrainer, hpo_study, signal_models
from quant_platform.defs.partitions import RUNSET_PARTITIONS_NAME
from quant_platform.defs.registry import Registry
from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world
from quant_platform.registry import DatasetSpec, RunSetSpec
from quant_platform.specs import spec_root
from quant_platform.storage import ParquetStore

RUNSET = "planted_models"


def _spec_dir(root: Path, world: PlantedModelWorld, sources: dict) -> Path:
    out = root / "spec"
    out.mkdir()
    shutil.copy(spec_root() / "global_defaults.yaml", out / "global_defaults.yaml")
    shutil.copy(spec_root() / "profiles.yaml", out / "profiles.yaml")  # the bar length is the profile's
    body = yaml.safe_load((spec_root() / "models.yaml").read_text())
    body["features"] = sources
    body["lightgbm"]["num_boost_round"] = 60
    body["validation"]["purged_kfold_splits"] = 3
    body["validation"]["walk_forward_folds"] = 3
    (out / "models.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return out


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("models_assets")
    world = PlantedModelWorld(n_symbols=2, n_days=16, seed=2)
    bars, features = make_planted_world(world)
    store = ParquetStore(str(root / "store"))
    for asset, frame in (("bars_5m", bars), ("features_v1", features)):
        for (day,), part in (
            frame.with_columns(day=pl.col("ts").dt.date()).partition_by("day", as_dict=True).items()
        ):
            store.write(asset, day.isoformat(), part.drop("day"))
    registry = Registry(root=str(root / "registry"), store_root=str(root / "store"))
    library = registry.library()
    last_day = bars["ts"].max().date()
    library.register_dataset(
        DatasetSpec(dataset_id="planted_models", source="planted_world", assets=["bars_5m", "features_v1"],
                    symbols=["SYM00USDT", "SYM01USDT"], first_day=date(2024, 1, 1), last_day=last_day)
    )  # fmt: skip
    library.create_runset(
        RUNSET, RunSetSpec(dataset_id="planted_models", start=date(2024, 1, 1), end=last_day)
    )
    spec_dir = _spec_dir(root, world, {"features_v1": world.feature_names})
    resources = {
        "registry": registry,
        "io_manager": ImmutableParquetIOManager(root=str(root / "store")),
        "hpo": HpoResource(root=str(root / "hpo"), n_workers=1, trials_per_stage={"coarse": 4, "refine": 3}),
        "trainer": ModelTrainer(spec_root=str(spec_dir)),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(RUNSET_PARTITIONS_NAME, [RUNSET])
        result = dg.materialize(
            [hpo_study, signal_models], partition_key=RUNSET, instance=instance, resources=resources
        )
        assert result.success
        metadata = {
            name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
            for name in ("hpo_study", "signal_models")
        }
        outputs = {name: store.scan(name, [RUNSET])[0].collect() for name in ("hpo_study", "signal_models")}
        checks = {
            (c.asset_key.to_user_string(), c.check_name): c.passed
            for c in result.get_asset_check_evaluations()
        }
        # the same RunSet with a spec naming a source its dataset lacks
        (root / "bad").mkdir()
        sources = {"features_v1": world.feature_names, "context_features": ["mkt_ret"]}
        bad_spec = _spec_dir(root / "bad", world, sources)
        failed = dg.materialize(
            [hpo_study],
            partition_key=RUNSET,
            instance=instance,
            resources={**resources, "trainer": ModelTrainer(spec_root=str(bad_spec))},
            raise_on_error=False,
        )
    return outputs, metadata, checks, library, failed


@pytest.mark.slow
def test_model_assets_materialize_with_passing_checks(materialized):
    _, _, checks, _, _ = materialized
    assert checks == {("hpo_study", "schema"): True, ("signal_models", "schema"): True}


@pytest.mark.slow
def test_every_trial_is_in_the_ledger_and_the_windows_are_disjoint(materialized):
    outputs, metadata, _, library, _ = materialized
    trials = outputs["hpo_study"]
    ledger = library.trials(RUNSET, kind="hpo_trial")
    in_ledger = set(ledger.select("stage", "sub_id").unique().iter_rows())
    in_table = {(f"hpo_{s}", str(n)) for s, n in trials.select("stage", "number").iter_rows()}
    assert in_table == in_ledger
    windows = (
        trials.group_by("stage")
        .agg(pl.col("window_start").first(), pl.col("window_end").first())
        .sort("window_start")
    )
    assert windows["stage"].to_list() == ["coarse", "refine", "forward"]
    assert all(a <= b for a, b in zip(windows["window_end"][:-1], windows["window_start"][1:], strict=True))
    assert metadata["hpo_study"]["trials_per_stage"]["coarse"] >= 4


@pytest.mark.slow
def test_signal_model_beats_the_baseline_and_shows_pictures(materialized):
    outputs, metadata, _, _, _ = materialized
    table = outputs["signal_models"].sort("learner")
    by_learner = {r["learner"]: r for r in table.iter_rows(named=True)}
    assert by_learner["lightgbm"]["oos_ic"] > by_learner["baseline"]["oos_ic"]
    assert by_learner["lightgbm"]["oos_ic"] > 0.0  # the library test holds the bar (test_planted_null)
    assert by_learner["lightgbm"]["model_text"].startswith("tree")  # LightGBM's own text format
    meta = metadata["signal_models"]
    for key in ("walk_forward_equity", "feature_importance", "fold_ic"):
        encoded = meta[key].split("base64,")[1].rstrip(")")
        assert base64.b64decode(encoded).startswith(b"\x89PNG")
    assert "| fold | learner |" in meta["fold_table"]
    history = metadata["hpo_study"]["optimization_history"].split("base64,")[1].rstrip(")")
    assert base64.b64decode(history).startswith(b"\x89PNG")
    assert meta["runset_id"] == by_learner["lightgbm"]["runset_id"]


@pytest.mark.slow
def test_a_source_the_dataset_lacks_fails_naming_it(materialized):
    *_, failed = materialized
    assert not failed.success
    messages = " ".join(
        str(e.event_specific_data.error.to_string())
        for e in failed.all_events
        if e.event_type_value == "STEP_FAILURE"
    )
    assert "context_features" in messages
