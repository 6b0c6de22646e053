"""A RunSet's template filter (glob patterns) cuts the hypothesis plan: only matching rule templates are
tested and recorded as trials, their statistics are exactly those of the unfiltered run, and a pattern that
matches no template of the spec is an error."""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.discovery import load_discovery_spec, run_discovery
from quant_platform.discovery.planted_world import PlantedDrift, WorldConfig, make_world

KEYS = ["family", "event_type", "symbol", "horizon_bars", "template", "state_column", "state_value"]


@pytest.fixture(scope="module")
def world():
    spec = load_discovery_spec()
    effects = (PlantedDrift("VOL_SHOCK", "SYM00USDT", 12, 80.0),)
    return make_world(WorldConfig(n_symbols=2, n_days=12, events_per_day=3.0, effects=effects, seed=4), spec)


@pytest.fixture(scope="module")
def unfiltered(world):
    return run_discovery(world.bars, world.events, world.states, runset_id="r")


def test_only_matching_templates_are_tested_and_counted(world, unfiltered):
    result = run_discovery(world.bars, world.events, world.states, runset_id="r", templates=("continuation",))
    got = result.candidates
    assert set(got["template"]) == {"continuation"}
    expected = unfiltered.candidates.filter(pl.col("template") == "continuation")
    assert got.height == expected.height > 0
    # per-hypothesis sample statistics do not depend on which other templates were tried
    joined = got.join(expected, on=KEYS, suffix="_all")
    assert joined.height == got.height
    assert (joined["n_observations"] == joined["n_observations_all"]).all()
    assert (joined["candidate_id"] == joined["candidate_id_all"]).all()
    diff = (joined["mean_net_bps"] - joined["mean_net_bps_all"]).abs().max()
    assert diff is None or diff < 1e-9
    # trials: exactly the tested continuation hypotheses, fewer than the unfiltered run records
    assert result.trials.height == int(got["tested"].sum())
    assert 0 < result.trials.height < unfiltered.trials.height


def test_glob_patterns_select_every_matching_template(world, unfiltered):
    result = run_discovery(world.bars, world.events, world.states, templates=("drift_*", "rev*"))
    assert set(result.candidates["template"]) == {"drift_long", "drift_short", "reversal"}
    # directional events keep only `reversal`; the non-directional session event keeps its drift templates
    spec = load_discovery_spec().restricted_to_templates(("drift_*", "rev*"))
    assert set(spec.plan()["template"]) == {"drift_long", "drift_short", "reversal"}


def test_events_left_without_a_template_are_counted_not_dropped(world):
    result = run_discovery(world.bars, world.events, world.states, templates=("drift_*",))
    excluded = result.exclusions.filter(pl.col("reason") == "no_selected_template")
    directional = world.events.filter(pl.col("event_type") != "SESSION_OPEN_EVENT")
    assert excluded["n_observations"].sum() == directional.height
    assert set(excluded["event_type"]) == set(directional["event_type"])


def test_a_pattern_matching_no_template_is_an_error(world):
    with pytest.raises(ValueError, match=r"momentum_\*.*matches no rule template"):
        run_discovery(world.bars, world.events, world.states, templates=("continuation", "momentum_*"))


def test_empty_filter_means_every_template(world, unfiltered):
    result = run_discovery(world.bars, world.events, world.states, runset_id="r", templates=())
    assert result.candidates.equals(unfiltered.candidates)
    assert set(unfiltered.candidates["template"]) == set(load_discovery_spec().planned_templates())
