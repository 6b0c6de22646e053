"""The bridge on null worlds of the REAL chain (synthetic market without planted effects -> cleaning ->
features -> context -> events -> discovery): nothing is tradable. Truth: the world is null by construction,
so any tradable verdict is a false one. Non-vacuous: besides the gate-passing candidates (usually none), the
bridge also replays each seed's most significant-looking null candidates, which must fail on their own."""

from __future__ import annotations

import polars as pl
import pytest

from quant_platform.bridge import evaluate_bridge, tradability
from quant_platform.discovery import load_discovery_spec, run_discovery
from quant_platform.discovery.synthetic_world import synthetic_chain
from quant_platform.market.sources.synthetic import SyntheticConfig


@pytest.fixture(scope="module")
def spec():
    return load_discovery_spec()


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_bridge_passes_nothing_in_a_null_real_chain(spec, seed):
    config = SyntheticConfig(seed=seed, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    assert not config.planted_effects
    world = synthetic_chain(config, "2024-01-01", "2024-01-14", spec)
    candidates = run_discovery(world.bars, world.events, world.states, spec).candidates
    gated = evaluate_bridge(candidates, world.bars, world.events, world.states, spec)
    assert not tradability(gated)["tradable"].any()
    best_looking = (
        candidates.filter(pl.col("tested"), pl.col("state_column") == "all").sort("p_value").head(4)
    )
    assert best_looking.height == 4 and best_looking["p_value"].max() < 0.2
    replayed = tradability(
        evaluate_bridge(best_looking, world.bars, world.events, world.states, spec, only_passing=False)
    )
    assert replayed.height == 4 and not replayed["tradable"].any()
    assert replayed["verdict_reasons"].str.contains("cost_x1").all()
