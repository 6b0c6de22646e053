"""The real-data gate against hand computations, the provenance rules, the override and PSI."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from quant_platform.governance.config import GovernanceSpec
from quant_platform.governance.decide import Override
from quant_platform.governance.drift import population_stability_index, psi_from_shares
from quant_platform.governance.gate import evaluate_gate
from quant_platform.governance.service import champion_summary
from quant_platform.registry.provenance import Provenance
from quant_platform_tests.governance.world import DAY0, MAINTENANCE, World

SPEC = GovernanceSpec.from_spec()


def _obs(rows: list[tuple]) -> pl.DataFrame:
    columns = [
        "run_id",
        "candidate_id",
        "day",
        "status",
        "daily_return",
        "run_source",
        "score_source",
        "data_regime",
    ]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    return frame.with_columns(
        pl.lit(10).alias("orders_submitted"),
        pl.lit(0).alias("orders_rejected"),
        pl.lit(None, pl.Float64).alias("slippage_bps"),
        pl.lit("1").alias("schema_version"),
    )


def test_gate_sharpe_is_daily_mean_over_sample_std_of_day_means() -> None:
    prod = ("prod", "model", "prod_live")
    rng = np.random.default_rng(3)
    rets = rng.normal(0.002, 0.01, size=(6, 30))
    rows = [
        (f"r{r}", "A", DAY0 + timedelta(days=d), "completed", float(rets[r, d]), *prod)
        for r in range(6)
        for d in range(30)
    ]
    rows += [("r_run", "A", DAY0, "running", 5.0, *prod)]  # not completed: never counted
    rows += [("r_maint", "A", DAY0, "completed", 5.0, "maintenance", "model", "maintenance_replay")]
    rows += [("r_heur", "A", DAY0, "completed", 5.0, "prod", "heuristic", "prod_live")]
    result = evaluate_gate(_obs(rows), "A", SPEC.gate)
    day_means = rets.mean(axis=0)
    expected = day_means.mean() / day_means.std(ddof=1) * math.sqrt(365)
    assert result.sharpe_daily == pytest.approx(expected, rel=1e-12)
    assert (result.completed_runs, result.observation_days) == (6, 30)
    assert result.excluded_runs["run_source"] == 1
    assert result.excluded_runs["score_source"] == 1
    assert result.excluded_runs["data_regime"] == 1
    assert result.excluded_runs["not_completed"] == 1
    assert result.filters == {"run_source": ["prod"], "score_source": ["model"], "data_regime": ["prod_live"]}
    assert result.status == ("pass" if expected >= SPEC.gate.min_sharpe_daily else "fail")


def test_gate_judges_daily_sharpe_only() -> None:
    gate = SPEC.gate.model_dump() | {"metric": "sharpe_step"}
    with pytest.raises(ValueError, match="sharpe_daily only"):
        SPEC.with_overrides(gate=gate)


def test_synthetic_data_is_never_prod_live(tmp_path: Path) -> None:
    world = World(tmp_path, source="synthetic")
    with pytest.raises(ValueError, match="never be data_regime=prod_live"):
        world.observe("A", DAY0, 5, sharpe=1.0)
    with pytest.raises(ValueError, match="unknown run_source"):
        Provenance(run_source="production")


def test_override_is_recorded_and_labels_the_champion_not_prod_gated(tmp_path: Path) -> None:
    world = World(tmp_path, source="synthetic")
    world.candidate("A")
    world.observe("A", DAY0, 60, sharpe=3.0, provenance=MAINTENANCE)
    refused = world.decide(DAY0 + timedelta(days=59))
    assert "DATA_REGIME_NOT_PROD_LIVE" in refused.decision["reason_codes"]
    override = Override(
        opt_in={"run_source": ["maintenance"], "data_regime": ["maintenance_replay"]},
        reason="demo on the synthetic market",
    )
    promoted = world.decide(DAY0 + timedelta(days=59), override=override)
    assert promoted.decision["decision"] == "PROMOTE"
    assert promoted.decision["prod_gated"] is False
    assert promoted.decision["override"]["reason"] == "demo on the synthetic market"
    assert promoted.decision["gates"][0]["filters"]["data_regime"] == ["maintenance_replay", "prod_live"]
    states = champion_summary(world.registry)["states"]
    assert states == [
        {
            "candidate_id": "A",
            "state": "shadow",
            "allocation": 0.0,
            "since": date(2025, 3, 1),
            "since_decision": 2,
            "prod_gated": False,
        }
    ]
    with pytest.raises(ValueError, match="needs a reason"):
        Override(opt_in={"data_regime": ["mixed"]}, reason=" ")


def test_psi_matches_hand_computation() -> None:
    expected = np.array([0.25, 0.25, 0.25, 0.25])
    actual = np.array([0.1, 0.2, 0.3, 0.4])
    hand = sum((a - e) * math.log(a / e) for a, e in zip(actual, expected, strict=True))
    assert psi_from_shares(expected, actual) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(0.2282, abs=1e-4)
    reference = np.arange(1000, dtype=float)
    assert population_stability_index(reference, reference.copy(), bins=4) == pytest.approx(0.0, abs=1e-12)
    # current: 100 values in the first quartile, 200 in the second, 300 in the third, 400 in the fourth
    current = np.concatenate(
        [np.full(100, 10.0), np.full(200, 300.0), np.full(300, 600.0), np.full(400, 900.0)]
    )
    assert population_stability_index(reference, current, bins=4) == pytest.approx(hand, rel=1e-12)
