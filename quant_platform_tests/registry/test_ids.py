"""Deterministic ids recomputed independently with hashlib from the design's definitions."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from quant_platform.registry import RunSetSpec, artifact_id, run_id, runset_id


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_runset_id_is_sha256_of_the_canonical_spec() -> None:
    spec = RunSetSpec(
        dataset_id="synthetic_v1",
        symbols=["ETHUSDT", "BTCUSDT"],
        start="2024-10-01",
        end="2024-12-31",
        templates=["momentum_*"],
        tags=["q4"],
    )
    literal = (
        '{"dataset_id":"synthetic_v1","end":"2024-12-31","mode":"exploratory","rolling_days":null,'
        '"start":"2024-10-01","strategies":[],"symbols":["BTCUSDT","ETHUSDT"],"tags":["q4"],'
        '"templates":["momentum_*"]}'
    )
    assert spec.to_json() == literal
    assert runset_id(spec) == _sha(literal)


def test_equivalent_specs_share_an_id_and_any_change_moves_it() -> None:
    a = RunSetSpec(dataset_id="d", symbols=["BTCUSDT", "ETHUSDT"], tags=["x", "y"])
    b = RunSetSpec(dataset_id="d", symbols=["ETHUSDT", "BTCUSDT", "BTCUSDT"], tags=["y", "x"])
    assert runset_id(a) == runset_id(b)
    assert runset_id(a) != runset_id(a.model_copy(update={"mode": "reproducible"}))
    assert runset_id(a) != runset_id(RunSetSpec(dataset_id="d", symbols=["BTCUSDT"], tags=["x", "y"]))


def test_spec_rejects_unknown_keys_bad_dates_and_is_frozen() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        RunSetSpec(dataset_id="d", symbol=["BTCUSDT"])  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        RunSetSpec(dataset_id="d", start="2024-02-30")
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        RunSetSpec(dataset_id="d", start=1_700_000_000)  # an int is not silently a date
    with pytest.raises(ValidationError, match="before start"):
        RunSetSpec(dataset_id="d", start="2024-02-02", end="2024-02-01")
    with pytest.raises(ValidationError, match="not both"):
        RunSetSpec(dataset_id="d", start="2024-02-02", rolling_days=5)
    spec = RunSetSpec(dataset_id="d")
    with pytest.raises(ValidationError):
        spec.dataset_id = "e"  # type: ignore[misc]
    assert RunSetSpec.model_validate_json(spec.to_json()) == spec


def test_run_id_definition() -> None:
    strategy = "ab" * 32
    expected = _sha(
        json.dumps(
            {
                "dataset_ids": ["ds_a", "ds_b"],
                "engine_version": "1.2.0",
                "seed": 7,
                "strategy_hash": strategy,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
    )
    assert run_id(["ds_b", "ds_a"], strategy, "1.2.0", 7) == expected
    assert run_id(["ds_a", "ds_b"], strategy, "1.2.0", 8) != expected
    assert run_id(["ds_a"], strategy, "1.2.0", 7) != expected
    with pytest.raises(ValueError, match="seed"):
        run_id(["ds_a"], strategy, "1.2.0", 7.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy hash"):
        run_id(["ds_a"], "not-a-hash", "1.2.0", 7)


def test_artifact_id_definition() -> None:
    content = "cd" * 32
    assert artifact_id(content, "bars_5m", "run-1") == _sha(f'["{content}","bars_5m","run-1"]')
    assert artifact_id(content, "bars_5m", "") != artifact_id(content, "features_v1", "")
