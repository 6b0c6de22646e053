"""RunSet names (and dataset ids) are created exclusively: of two concurrent creations of one name with
different specs exactly one wins and the other gets a clear error, whatever the writers' clocks say.

Before: a writer that stamped its fact first but landed it last also "won" after its rival had been told it
won, so both ``qp runset create`` exited 0 and printed their own spec, and the name pointed to one of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from quant_platform.registry import DatasetSpec, Registry, RunSetSpec, runset_id
from quant_platform.storage import IntegrityError
from quant_platform_tests.registry.conftest import DATASET
from quant_platform_tests.registry.helpers import T0_NS, TickingClock, write_version_record

REPO_ROOT = Path(__file__).resolve().parents[2]


def _interleaved(
    roots: tuple[Path, Path], create_a, create_b, clock: TickingClock | None = None
) -> dict[str, object]:
    """Writer A stamps its fact, then stalls; writer B runs a whole creation; then A lands its fact. Both
    share one clock, so A's stamp is earlier than B's although A's file lands later."""
    clock = clock or TickingClock()
    a = Registry(str(roots[0]), str(roots[1]), clock=clock)
    b = Registry(str(roots[0]), str(roots[1]), clock=clock)
    outcome: dict[str, object] = {}
    real_put = a.fs.put_atomic

    def stalled_put(relative: str, data: bytes) -> None:
        if relative.startswith("facts/") and "b" not in outcome:
            try:
                outcome["b"] = create_b(b)
            except ValueError as exc:
                outcome["b"] = exc
        real_put(relative, data)

    a.fs.put_atomic = stalled_put  # type: ignore[method-assign]
    try:
        outcome["a"] = create_a(a)
    except ValueError as exc:
        outcome["a"] = exc
    return outcome


def test_interleaved_runset_creations_have_exactly_one_winner(roots: tuple[Path, Path]) -> None:
    Registry(str(roots[0]), str(roots[1]), clock=TickingClock()).register_dataset(DATASET)
    ours = RunSetSpec(dataset_id=DATASET.dataset_id, symbols=["BTCUSDT"])
    theirs = RunSetSpec(dataset_id=DATASET.dataset_id, symbols=["ETHUSDT"])
    outcome = _interleaved(
        roots, lambda r: r.create_runset("contested", ours), lambda r: r.create_runset("contested", theirs)
    )
    errors = [k for k, v in outcome.items() if isinstance(v, ValueError)]
    assert len(errors) == 1, outcome
    (winner,) = {"a", "b"} - set(errors)
    assert "already exists with a different spec" in str(outcome[errors[0]])
    fresh = Registry(str(roots[0]), str(roots[1]))
    assert fresh.runset("contested").spec == outcome[winner].spec
    assert [(i.name, i.spec) for i in fresh.runsets()] == [("contested", outcome[winner].spec)]
    assert len(fresh.facts.files("runsets")) == 1  # the loser wrote nothing


def test_interleaved_dataset_registrations_have_exactly_one_winner(roots: tuple[Path, Path]) -> None:
    ours = DATASET
    theirs = DATASET.model_copy(update={"symbols": ("BTCUSDT",)})
    outcome = _interleaved(roots, lambda r: r.register_dataset(ours), lambda r: r.register_dataset(theirs))
    errors = [k for k, v in outcome.items() if isinstance(v, ValueError)]
    assert len(errors) == 1, outcome
    (winner,) = {"a", "b"} - set(errors)
    assert Registry(str(roots[0]), str(roots[1])).dataset(DATASET.dataset_id) == outcome[winner]


def test_interleaved_freezes_of_different_resolutions_agree_on_one_pin(roots: tuple[Path, Path]) -> None:
    """Before: a freeze stamped first but landed last replaced the pin another freeze had already returned."""
    clock = TickingClock()
    setup = Registry(str(roots[0]), str(roots[1]), clock=clock)
    setup.register_dataset(DATASET)
    setup.create_runset(
        "paper", RunSetSpec(dataset_id=DATASET.dataset_id, start="2024-01-01", end="2024-01-01")
    )
    write_version_record(roots[1], "bars_5m", "2024-01-01", "old bars", T0_NS - 2000)
    first = setup.resolve("paper")

    def freeze_newer(registry: Registry) -> object:  # new data arrives; B resolves it and freezes that
        write_version_record(roots[1], "bars_5m", "2024-01-01", "new bars", T0_NS - 1000)
        assert registry.resolve("paper").resolution_hash != first.resolution_hash
        return registry.freeze("paper", allow_incomplete=True)

    outcome = _interleaved(roots, lambda r: r.freeze("paper", allow_incomplete=True), freeze_newer, clock)
    pins = {outcome["a"].resolution_hash, outcome["b"].resolution_hash}
    final = Registry(str(roots[0]), str(roots[1])).runset("paper").pinned_resolution_hash
    assert pins == {final}, (pins, final)


def test_same_spec_twice_and_a_crash_between_claim_and_fact_are_idempotent(
    registry: Registry, dataset: DatasetSpec
) -> None:
    spec = RunSetSpec(dataset_id=dataset.dataset_id, symbols=["BTCUSDT"])
    registry._claim_runset("crashed", runset_id(spec))  # a creator that died right after its claims
    assert registry.create_runset("crashed", spec).spec == spec  # the same spec completes the creation
    assert registry.create_runset("crashed", spec).spec == spec
    with pytest.raises(ValueError, match="already exists with a different spec"):
        registry.create_runset("crashed", spec.model_copy(update={"symbols": ("ETHUSDT",)}))
    with pytest.raises(ValueError, match="already exists as RunSet 'crashed'"):
        registry.create_runset("other_name", spec)
    assert not (Path(registry.fs.abs("claims/runset_names/other_name.json"))).exists()  # released


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from quant_platform.cli import main
    go = Path(sys.argv[1])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    sys.exit(main(sys.argv[2:]))
    """
)


def test_two_concurrent_qp_runset_create_processes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        QP_REGISTRY_ROOT=str(tmp_path / "registry"),
        QP_STORE_ROOT=str(tmp_path / "store"),
    )
    Registry(str(tmp_path / "registry")).register_dataset(DATASET)
    go = tmp_path / "go"
    create = ["runset", "create", "--id", "raced", "--dataset", DATASET.dataset_id, "--json", "--symbols"]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(go), *create, symbol],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for symbol in ("BTCUSDT", "ETHUSDT")
    ]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready"
    time.sleep(0.2)  # both are polling for the go file
    go.touch()
    results = [(r.wait(timeout=120), r.stdout.read(), r.stderr.read()) for r in racers]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (won,) = [json.loads(out) for code, out, _ in results if code == 0]
    (lost,) = [err for code, _, err in results if code == 2]
    assert "already exists with a different spec" in lost
    assert Registry(str(tmp_path / "registry")).runset("raced").runset_id == won["runset_id"]


def test_a_corrupt_claim_is_named_not_guessed(registry: Registry, dataset: DatasetSpec) -> None:
    claim = Path(registry.fs.abs("claims/runset_names/damaged.json"))
    claim.parent.mkdir(parents=True)
    claim.write_bytes(b'{"runset_id": "trunc')
    with pytest.raises(IntegrityError, match=f"claim file {claim} is corrupt"):
        registry.create_runset("damaged", RunSetSpec(dataset_id=dataset.dataset_id))
    assert registry.facts.files("runsets") == []
