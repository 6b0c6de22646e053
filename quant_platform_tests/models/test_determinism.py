"""Same inputs + same seed => the same model file bytes and manifest (deterministic LightGBM: deterministic,
force_row_wise, a fixed thread count, seeded bagging), written from clean directories; a different seed
gives a different file (so the comparison can fail)."""

import json
from pathlib import Path

from quant_platform.models import build_training_set, train_final
from quant_platform.models.learners import lightgbm_params
from quant_platform_tests.models.conftest import world_spec


def _train(planted, out: Path, seed: int) -> tuple[bytes, dict]:
    world, bars, features = planted
    spec = world_spec(world).with_lightgbm(seed=seed, num_boost_round=60)
    training = build_training_set(bars, features, spec)
    model, baseline = train_final(
        training, spec, lineage={"runset_id": "r" * 64, "resolution_hash": "h" * 64}
    )
    model_path, manifest_path = model.write(str(out))
    baseline.write(str(out))
    return Path(model_path).read_bytes(), json.loads(Path(manifest_path).read_text())


def test_two_trainings_from_clean_stores_give_identical_model_files(planted, tmp_path):
    first, manifest_a = _train(planted, tmp_path / "a", seed=11)
    second, manifest_b = _train(planted, tmp_path / "b", seed=11)
    assert first == second
    assert manifest_a == manifest_b
    other, _ = _train(planted, tmp_path / "c", seed=12)
    assert other != first  # bagging draws follow the seed
    for key in ("data_range", "feature_schema", "seed", "library_versions", "runset_id", "resolution_hash"):
        assert key in manifest_a
    assert manifest_a["feature_schema"]["names"] == ["f_0", "f_1", "f_2", "f_3", "f_4", "f_5"]
    assert len(manifest_a["feature_schema"]["hash"]) == 64
    assert (tmp_path / "a" / "baseline.json").exists()


def test_determinism_switches_are_always_on():
    params = lightgbm_params({"deterministic": False, "num_threads": 1, "num_boost_round": 5})
    assert params["deterministic"] is True and params["force_row_wise"] is True
    assert "num_boost_round" not in params
