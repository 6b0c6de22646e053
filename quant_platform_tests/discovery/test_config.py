"""The discovery spec: derived from the canonical event registry, validated, never restated in code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from quant_platform.discovery import load_discovery_spec
from quant_platform.events.registry import load_event_registry
from quant_platform.specs import spec_root


@pytest.fixture()
def spec_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "spec"
    shutil.copytree(spec_root(), copy)
    return copy


def edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def test_every_registry_event_is_planned_in_its_family():
    spec = load_discovery_spec()
    registry = load_event_registry()
    plan = spec.plan()
    assert set(plan["event_type"]) == set(registry.names)
    for event, family in plan.select("event_type", "family").unique().iter_rows():
        assert registry.family_of(event) == family
    # directional events get opposite-sign template pairs, so no trade is tested twice
    signs = plan.group_by("event_type", "horizon_bars", "from_direction").agg(
        s=plan["sign_multiplier"].implode()
    )
    assert signs.height > 0


def test_spec_values_flow_from_yaml(spec_copy):
    edit(spec_copy / "global_defaults.yaml", lambda d: d["cost_model"].update(fee_bps_per_side=7.5))
    edit(
        spec_copy / "multiplicity/families.yaml",
        lambda d: d["families"]["FORCED_FLOW"].update(horizons_bars=[6]),
    )
    spec = load_discovery_spec(spec_copy)
    assert spec.cost.round_trip_bps == 2 * (7.5 + 1.0)
    assert set(spec.plan().filter(family="FORCED_FLOW")["horizon_bars"]) == {6}
    assert spec.ontology_hash != load_discovery_spec().ontology_hash


@pytest.mark.parametrize(
    ("relative", "change", "message"),
    [
        ("global_defaults.yaml", lambda d: d.update(entry_lag_bars=0), "entry_lag_bars"),
        (
            "multiplicity/families.yaml",
            lambda d: d["families"].pop("FORCED_FLOW"),
            "lacks canonical families",
        ),
        (
            "multiplicity/families.yaml",
            lambda d: d.update(event_overrides={"NOPE": {}}),
            "not in the canonical",
        ),
        (
            "multiplicity/families.yaml",
            lambda d: d["families"]["FORCED_FLOW"].update(directional_templates=["moonshot"]),
            "unknown template",
        ),
        (
            "hypotheses/templates.yaml",
            lambda d: d["templates"]["fade"].update(direction_multiplier=2),
            "multiplier",
        ),
        ("global_defaults.yaml", lambda d: d.update(overlap_policy="hac"), "overlap_policy"),
        (
            "gates.yaml",
            lambda d: d["gate_v1_phase2"]["per_event_overrides"].update(VOL_SHOCK={"max_q_value": 0.2}),
            "cannot override",
        ),
        (
            "gates.yaml",
            lambda d: d["gate_v1_phase2"]["per_event_overrides"].update(
                VOL_SHOK={"min_after_cost_expectancy_bps": 9}
            ),
            "VOL_SHOK: not an event of the canonical event registry \\(did you mean VOL_SHOCK",
        ),
    ],
)
def test_bad_spec_is_a_clear_error(spec_copy, relative, change, message):
    edit(spec_copy / relative, change)
    with pytest.raises(ValueError, match=message):
        load_discovery_spec(spec_copy)
