"""Scenario tests: the whole promotion ladder driven by run facts, as a head of trading would walk it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from quant_platform.governance.config import GovernanceSpec
from quant_platform.governance.drift import population_stability_index
from quant_platform.governance.service import champion_summary
from quant_platform_tests.governance.world import DAY0, MAINTENANCE, World

BLOCK = 25  # days per observation block: above min_observation_days (20)


def _climb(world: World, candidate: str, start_block: int, sharpe: float, steps: int, seed: int = 0):
    """Observe ``candidate`` for one block, decide; repeat ``steps`` times. Returns the outcomes."""
    outcomes = []
    for step in range(steps):
        first = DAY0 + timedelta(days=BLOCK * (start_block + step))
        world.observe(candidate, first, BLOCK, sharpe=sharpe, seed=seed + step)
        outcomes.append(world.decide(first + timedelta(days=BLOCK - 1)))
    return outcomes


def _events(outcome) -> list[tuple[str, str, float, str, float]]:
    return [
        (
            e["candidate_id"],
            e["state_before"],
            e["allocation_before"],
            e["state_after"],
            e["allocation_after"],
        )
        for e in outcome.decision["state_events"]
    ]


def test_first_champion_climbs_shadow_canary_live_and_rerun_is_idempotent(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("A")
    outcomes = _climb(world, "A", 0, sharpe=2.0, steps=5)
    ladder = [_events(o) for o in outcomes]
    assert ladder == [
        [("A", "none", 0.0, "shadow", 0.0)],
        [("A", "shadow", 0.0, "canary", 0.1)],
        [("A", "canary", 0.1, "canary", 0.25)],
        [("A", "canary", 0.25, "canary", 0.5)],
        [("A", "canary", 0.5, "live", 1.0)],
    ]
    assert all(o.decision["decision"] == "PROMOTE" for o in outcomes)
    assert all(o.decision["reason_codes"] == ["NO_EXISTING_CHAMPION"] for o in outcomes)
    assert outcomes[-1].decision["champion_after"] == "A"
    assert outcomes[0].decision["detail"]["funnel"] == {
        "candidates": 1,
        "schema_accepted": 1,
        "observed_in_counted_runs": 1,
        "enough_to_judge": 1,
        "gate_passed": 1,
        "on_the_ladder": 1,
        "live": 0,
    }
    assert outcomes[-1].decision["detail"]["funnel"]["live"] == 1
    files = world.ledger_files()
    assert len(files) == 5

    # The same inputs again: the recorded decision, nothing written.
    again = world.decide(DAY0 + timedelta(days=BLOCK * 5 - 1))
    assert again.replayed and not again.written
    assert again.decision["decision_id"] == outcomes[-1].decision["decision_id"]
    assert world.ledger_files() == files

    # A new day, the champion is still the best survivor: no promotion, no state event.
    world.observe("A", DAY0 + timedelta(days=BLOCK * 5), BLOCK, sharpe=2.0, seed=9)
    hold = world.decide(DAY0 + timedelta(days=BLOCK * 6 - 1))
    assert hold.written
    assert hold.decision["decision"] == "NO_PROMOTION"
    assert hold.decision["reason_codes"] == ["CHAMPION_ALREADY_TOP_SURVIVOR"]
    assert hold.decision["state_events"] == []
    summary = champion_summary(world.registry)
    assert summary["champion"] == "A" and summary["champion_prod_gated"] is True


def test_a_gate_pass_on_old_observations_does_not_climb_a_step(tmp_path: Path) -> None:
    """Each step needs the gate to pass again on observations made after entering the current step."""
    world = World(tmp_path)
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=2.0)
    first = world.decide(DAY0 + timedelta(days=59))
    assert _events(first) == [("A", "none", 0.0, "shadow", 0.0)]
    later = world.decide(DAY0 + timedelta(days=70))  # no observation after entering shadow
    assert later.decision["decision"] == "NO_PROMOTION"
    assert later.decision["reason_codes"] == ["INSUFFICIENT_OBSERVATION"]
    assert later.decision["state_events"] == []


def test_better_challenger_replaces_the_champion_through_shadow_and_canary(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("A")
    _climb(world, "A", 0, sharpe=1.0, steps=5)
    world.candidate("B")
    # Both keep trading; B is better by more than the margin on the same days.
    outcomes = []
    for step in range(5):
        first = DAY0 + timedelta(days=BLOCK * (5 + step))
        world.observe("A", first, BLOCK, sharpe=1.0, seed=100 + step)
        world.observe("B", first, BLOCK, sharpe=3.0, seed=200 + step)
        outcomes.append(world.decide(first + timedelta(days=BLOCK - 1)))
    assert [o.decision["decision"] for o in outcomes] == ["PROMOTE"] * 5
    assert all(o.decision["reason_codes"] == ["BEATS_CHAMPION_OOS"] for o in outcomes)
    assert _events(outcomes[-1]) == [("B", "canary", 0.5, "live", 1.0), ("A", "live", 1.0, "retired", 0.0)]
    history = champion_summary(world.registry)["history"]
    assert [(h["candidate_id"], h["left_reason"]) for h in history] == [("A", "REPLACED_BY:B"), ("B", None)]
    assert history[0]["live_until"] == outcomes[-1].decision["as_of_day"]


def test_challenger_not_better_by_the_margin_is_held(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("A")
    _climb(world, "A", 0, sharpe=2.0, steps=5)
    world.candidate("B")
    first = DAY0 + timedelta(days=BLOCK * 5)
    world.observe("A", first, BLOCK, sharpe=2.0, seed=1)
    world.observe("B", first, BLOCK, sharpe=2.05, seed=2)  # better, but by less than the 0.1 margin
    outcome = world.decide(first + timedelta(days=BLOCK - 1))
    assert outcome.decision["decision"] == "NO_PROMOTION"
    assert outcome.decision["reason_codes"] == ["CHAMPION_NOT_BEATEN"]


def test_maintenance_only_challenger_is_refused(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("M")
    world.observe("M", DAY0, 60, sharpe=5.0, n_runs=8, provenance=MAINTENANCE)
    outcome = world.decide(DAY0 + timedelta(days=59))
    assert outcome.decision["decision"] == "NO_PROMOTION"
    assert "DATA_REGIME_NOT_PROD_LIVE" in outcome.decision["reason_codes"]
    assert "INSUFFICIENT_OBSERVATION" in outcome.decision["reason_codes"]
    gate = outcome.decision["gates"][0]
    assert gate["filters"]["data_regime"] == ["prod_live"]
    assert gate["excluded_runs"]["data_regime"] == 8 and gate["completed_runs"] == 0
    funnel = outcome.decision["detail"]["funnel"]
    assert (funnel["candidates"], funnel["observed_in_counted_runs"], funnel["gate_passed"]) == (1, 0, 0)


@pytest.mark.parametrize(("n_runs", "n_days"), [(3, 60), (8, 10)])
def test_too_little_data_is_insufficient_never_a_pass(tmp_path: Path, n_runs: int, n_days: int) -> None:
    world = World(tmp_path)
    world.candidate("A")
    world.observe("A", DAY0, n_days, sharpe=10.0, n_runs=n_runs)
    outcome = world.decide(DAY0 + timedelta(days=n_days - 1))
    assert outcome.decision["decision"] == "NO_PROMOTION"
    assert outcome.decision["reason_codes"] == ["INSUFFICIENT_OBSERVATION"]
    assert outcome.decision["gates"][0]["status"] == "insufficient_observation"


def test_schema_mismatch_is_refused(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.candidate("S", schema_version="2")
    world.observe("S", DAY0, 60, sharpe=3.0)
    outcome = world.decide(DAY0 + timedelta(days=59))
    assert outcome.decision["decision"] == "NO_PROMOTION"
    assert outcome.decision["reason_codes"] == ["SCHEMA_VERSION_MISMATCH"]
    # A challenger whose schema changes mid-ladder is demoted.
    world.candidate("A")
    _climb(world, "A", 3, sharpe=2.0, steps=2)
    world.candidate("A", schema_version="2")
    outcome = world.decide(DAY0 + timedelta(days=BLOCK * 6))
    assert outcome.decision["decision"] == "DEMOTE"
    assert outcome.decision["reason_codes"] == ["SCHEMA_VERSION_MISMATCH"]
    assert _events(outcome) == [("A", "canary", 0.1, "retired", 0.0)]


def _two_champions(world: World) -> None:
    """A was champion, B replaced it (B is live, A retired)."""
    world.candidate("A")
    _climb(world, "A", 0, sharpe=1.0, steps=5)
    world.candidate("B")
    for step in range(5):
        first = DAY0 + timedelta(days=BLOCK * (5 + step))
        world.observe("A", first, BLOCK, sharpe=1.0, seed=100 + step)
        world.observe("B", first, BLOCK, sharpe=3.0, seed=200 + step)
        world.decide(first + timedelta(days=BLOCK - 1))
    assert champion_summary(world.registry)["champion"] == "B"


def _assert_rolled_back(outcome, trigger: str) -> None:
    assert outcome.decision["decision"] == "DEMOTE"
    assert outcome.decision["reason_codes"][0] == trigger
    assert _events(outcome) == [("B", "live", 1.0, "retired", 0.0), ("A", "retired", 0.0, "live", 1.0)]
    assert outcome.decision["champion_after"] == "A"


def test_rollback_on_consecutive_gate_failures_restores_the_previous_champion(tmp_path: Path) -> None:
    world = World(tmp_path)
    _two_champions(world)
    start = DAY0 + timedelta(days=BLOCK * 10)
    world.observe("B", start, 40, sharpe=-2.0, seed=7)
    outcomes = [world.decide(start + timedelta(days=39 + k)) for k in range(3)]
    assert [o.decision["decision"] for o in outcomes] == ["NO_PROMOTION", "NO_PROMOTION", "DEMOTE"]
    assert [o.decision["detail"]["champion_health"]["consecutive_gate_failures"] for o in outcomes] == [
        1,
        2,
        3,
    ]
    _assert_rolled_back(outcomes[-1], "ROLLBACK_CONSECUTIVE_GATE_FAILURES")
    assert champion_summary(world.registry)["history"][-1]["candidate_id"] == "A"


def test_rollback_on_drift(tmp_path: Path) -> None:
    world = World(tmp_path)
    _two_champions(world)
    as_of = DAY0 + timedelta(days=BLOCK * 10 + 1)
    calm = world.decide(as_of, drift={"B": 0.05})
    assert calm.decision["decision"] == "NO_PROMOTION"
    assert calm.decision["detail"]["champion_health"]["psi"] == 0.05
    # the PSI of inputs that moved: 1,000 training values against live values piled into their top quartile
    reference = np.arange(1000, dtype=float)
    live = np.concatenate([np.full(700, 900.0), np.arange(300, dtype=float)])
    psi = population_stability_index(reference, live, bins=10)
    assert psi > GovernanceSpec.from_spec().rollback.max_psi
    _assert_rolled_back(world.decide(as_of, drift={"B": psi}), "ROLLBACK_DRIFT")


def test_rollback_on_reject_rate_and_slippage(tmp_path: Path) -> None:
    for kind, kwargs, trigger in (
        ("rejects", {"rejects": (2, 10)}, "ROLLBACK_REJECT_RATE"),
        ("slippage", {"slippage_bps": 40.0}, "ROLLBACK_SLIPPAGE"),
    ):
        world = World(tmp_path / kind)
        _two_champions(world)
        start = DAY0 + timedelta(days=BLOCK * 10)
        world.observe("B", start, BLOCK, sharpe=3.0, seed=5, **kwargs)
        _assert_rolled_back(world.decide(start + timedelta(days=BLOCK - 1)), trigger)


def test_manual_rollback_and_nothing_to_restore(tmp_path: Path) -> None:
    world = World(tmp_path)
    with pytest.raises(ValueError, match="no live champion"):
        world.decide(DAY0, manual_rollback="desk request")
    world.candidate("A")
    _climb(world, "A", 0, sharpe=2.0, steps=5)
    outcome = world.decide(DAY0 + timedelta(days=BLOCK * 5), manual_rollback="desk request")
    assert outcome.decision["decision"] == "DEMOTE"
    assert outcome.decision["reason_codes"] == ["MANUAL_ROLLBACK", "NO_PREVIOUS_CHAMPION"]
    assert outcome.decision["detail"]["manual_reason"] == "desk request"
    assert champion_summary(world.registry)["champion"] is None
