"""Each gate's pass/fail and reason on hand-made candidate rows, per-event overrides, promotion tracks."""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.discovery import apply_gates, load_discovery_spec


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


def row(**overrides):
    base = {
        "event_type": "VOL_SHOCK",
        "state_column": "all",
        "tested": True,
        "untested_reason": None,
        "passes_fdr": True,
        "q_value": 0.001,
        "group_q_value": 0.001,
        "fdr_level_within": 0.05,
        "mean_net_shrunk_bps": 30.0,
        "n_first_half": 40,
        "n_second_half": 40,
        "mean_gross_first_half_bps": 35.0,
        "mean_gross_second_half_bps": 45.0,
        "shrink_state_weight": 0.9,
    }
    base.update(overrides)
    return base


def gate(spec, **overrides) -> dict:
    floats = {k: pl.Float64 for k, v in row().items() if isinstance(v, float)}
    frame = pl.DataFrame([row(**overrides)], schema_overrides={**floats, "untested_reason": pl.String})
    return apply_gates(frame, spec).row(0, named=True)


def test_all_pass_is_standard(spec):
    out = gate(spec)
    assert out["promotion_track"] == "standard" and out["passes_gates"]
    assert out["gate_economic_reason"].startswith("pass: shrunken net 30.0 bps vs min 2.0")


def test_economic_threshold_and_conservative_multiple(spec):
    cost = spec.cost.round_trip_bps  # 10 bps: conservative x2 subtracts another 10
    assert not gate(spec, mean_net_shrunk_bps=1.9)["gate_economic_pass"]
    mid = gate(spec, mean_net_shrunk_bps=2.0 + cost - 0.1)
    assert mid["gate_economic_pass"] and not mid["gate_economic_conservative_pass"]
    assert mid["promotion_track"] == "fallback_only"
    assert gate(spec, mean_net_shrunk_bps=2.0 + cost)["gate_economic_conservative_pass"]


def test_per_event_override(spec):
    # FEE_REGIME_CHANGE_EVENT needs 5 bps in spec/gates.yaml
    assert gate(spec, mean_net_shrunk_bps=4.0)["gate_economic_pass"]
    out = gate(spec, event_type="FEE_REGIME_CHANGE_EVENT", mean_net_shrunk_bps=4.0)
    assert not out["gate_economic_pass"] and "min 5.0" in out["gate_economic_reason"]


def test_stability(spec):
    assert not gate(spec, mean_gross_second_half_bps=-1.0)["gate_stability_pass"]
    assert not gate(spec, n_first_half=4)["gate_stability_pass"]
    assert gate(spec, n_first_half=5)["gate_stability_pass"]
    assert gate(spec, mean_gross_second_half_bps=None)["gate_stability_pass"] is False


def test_state_information(spec):
    assert (
        gate(spec, state_column="vol_regime", shrink_state_weight=0.49)["gate_state_information_pass"]
        is False
    )
    assert gate(spec, state_column="vol_regime", shrink_state_weight=0.5)["gate_state_information_pass"]
    assert gate(spec, shrink_state_weight=0.0)["gate_state_information_pass"]  # unconditional


def test_significance_is_hard(spec):
    out = gate(spec, passes_fdr=False)
    assert out["promotion_track"] == "rejected" and not out["passes_gates"]
    untested = gate(spec, tested=False, untested_reason="too_few_observations", passes_fdr=False)
    assert untested["gate_significance_reason"] == "fail: untested: too_few_observations"
