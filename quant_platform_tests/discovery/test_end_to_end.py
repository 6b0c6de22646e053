"""End to end on the synthetic market: a planted post-shock drift in one symbol goes through cleaning,
features, event detection (features only) and discovery; what discovery finds is that drift and nothing
else (the other symbols are null worlds sharing every other random draw)."""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.discovery import load_discovery_spec, run_discovery
from quant_platform.discovery.synthetic_world import synthetic_chain
from quant_platform.market.sources.synthetic import PlantedEffect, SyntheticConfig

PLANTED_SYMBOL = "ETHUSDT"


@pytest.fixture(scope="module")
def world():
    effect = PlantedEffect("vol_shock", PLANTED_SYMBOL, horizon_bars=12, size_bps=80.0, rate_per_day=6.0)
    config = SyntheticConfig(
        seed=3, symbols=("BTCUSDT", PLANTED_SYMBOL, "SOLUSDT"), planted_effects=(effect,)
    )
    spec = load_discovery_spec()
    chain = synthetic_chain(config, "2024-01-01", "2024-01-14", spec)
    return run_discovery(chain.bars, chain.events, chain.states, spec, runset_id="e2e")


def test_discovers_the_planted_drift_and_nothing_else(world):
    found = world.candidates.filter(pl.col("passes_fdr"))
    assert found.height >= 1
    assert (found["symbol"] == PLANTED_SYMBOL).all(), found.select("event_type", "symbol", "template")
    # the drift continues the shock's direction: only direction-following templates can carry it
    assert found["template"].is_in(["continuation", "breakout_follow"]).all()
    assert (found["horizon_bars"] >= 12).all()
    # The planted drift is unconditional, so it must clear every economic gate; whether a state adds
    # information (the state gate, which decides standard vs fallback_only) is the data's call, not ours.
    economic = (
        "gate_significance_pass",
        "gate_economic_pass",
        "gate_economic_conservative_pass",
        "gate_stability_pass",
    )
    assert found.filter(pl.all_horizontal(economic)).height >= 1


def test_every_tested_hypothesis_is_in_the_trial_ledger(world):
    assert world.trials.height == world.candidates["tested"].sum()
    assert world.exclusions["n_observations"].sum() > 0  # gaps, overlaps, state warm-up: counted, not silent
