"""Planted-signal proof in small worlds: discovery finds planted drifts, false discoveries stay rare, and a
null world passes nothing through the gates or the bridge. (The 20-seed statistics are in
bench/bench_discovery.py; these few seeds use looser bounds that still fail if the method breaks.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from quant_platform.bridge import evaluate_bridge
from quant_platform.discovery import load_discovery_spec, run_discovery
from quant_platform.discovery.config import CostModel
from quant_platform.discovery.planted_world import (
    PlantedDrift,
    WorldConfig,
    label_truth,
    make_world,
    symbols_of,
)

SEEDS = (101, 102, 103)


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


def planted_config(seed: int, size_bps: float) -> WorldConfig:
    rng = np.random.default_rng(seed)
    base = WorldConfig(n_symbols=6, n_days=30, events_per_day=3.0, seed=seed)
    symbols = symbols_of(base)
    types = [*base.directional_events, *base.nondirectional_events]
    effects = tuple(
        PlantedDrift(
            t, symbols[int(rng.integers(len(symbols)))], 12, size_bps * (1 if rng.random() < 0.5 else -1)
        )
        if t in base.directional_events
        else PlantedDrift(t, symbols[int(rng.integers(len(symbols)))], 12, size_bps)
        for t in types[:4]
    )
    return replace(base, effects=effects)


def recovery_and_fdp(world, candidates, spec) -> tuple[float, float, int]:
    labelled = label_truth(candidates, world, spec)
    planted = labelled.join(
        world.effects.select("event_type", "symbol", "horizon_bars"),
        on=["event_type", "symbol", "horizon_bars"],
    ).filter(pl.col("state_column") == "all", pl.col("is_true_effect"))
    found = labelled.filter(pl.col("passes_fdr"))
    fdp = float((~found["is_true_effect"]).mean()) if found.height else 0.0
    return float(planted["passes_fdr"].mean()), fdp, found.height


def test_recovers_planted_drifts_with_few_false_discoveries(spec):
    recoveries, fdps = [], []
    for seed in SEEDS:
        world = make_world(planted_config(seed, 60.0), spec)
        result = run_discovery(world.bars, world.events, world.states, spec)
        rec, fdp, n_found = recovery_and_fdp(world, result.candidates, spec)
        recoveries.append(rec)
        fdps.append(fdp)
        assert n_found >= 3
    assert np.mean(recoveries) >= 0.75, recoveries
    assert np.mean(fdps) <= 0.15, fdps


def test_planted_sign_is_recovered_not_its_mirror(spec):
    world = make_world(planted_config(SEEDS[0], 60.0), spec)
    found = label_truth(run_discovery(world.bars, world.events, world.states, spec).candidates, world, spec)
    standard = found.filter(pl.col("promotion_track") == "standard")
    assert standard.height > 0 and standard["is_true_effect"].all()


@pytest.mark.parametrize("zero_cost", [False, True])
def test_null_world_passes_nothing(spec, zero_cost):
    # zero cost makes every null hypothesis sit exactly on the boundary (mean net return 0): the hardest case
    use = replace(spec, cost=CostModel(0.0, 0.0)) if zero_cost else spec
    total_found = 0
    for seed in SEEDS:
        world = make_world(replace(planted_config(seed, 0.0), effects=()), use)
        result = run_discovery(world.bars, world.events, world.states, use)
        total_found += int(result.candidates["passes_fdr"].sum())
        if not zero_cost:
            assert not result.candidates["passes_gates"].any()
            bridge = evaluate_bridge(result.candidates, world.bars, world.events, world.states, use)
            assert bridge.height == 0
    assert total_found <= 1
