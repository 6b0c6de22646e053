"""Discovery per information source on the synthetic external generator: the informed caller is recovered
under shrinkage + two-level BH-FDR + gates, and no noise caller (nor the front-runner, whose alerts arrive
after the move) passes, over 20 seeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_platform.discovery.sources import SOURCE_STATE, run_source_discovery
from quant_platform.external.config import ExternalSpec
from quant_platform.external.events import external_market_events
from quant_platform.external.pipeline import process_external
from quant_platform.external.synthetic import SyntheticExternalConfig, synthetic_external

SPEC = ExternalSpec.from_spec()
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
CONFIG = SyntheticExternalConfig()


def _bars(seed: int, days: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 288 * days
    start = datetime(2024, 3, 1, tzinfo=UTC)
    ts = pl.datetime_range(start, start + timedelta(minutes=5 * (n - 1)), "5m", eager=True, time_unit="ms")
    return pl.concat(
        [
            pl.DataFrame(
                {
                    "symbol": s,
                    "ts": ts,
                    "open": 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n))),
                    "gap": False,
                }
            )
            for s in SYMBOLS
        ]
    )


def _passing_sources(seed: int) -> tuple[set[str], pl.DataFrame]:
    bars = _bars(seed, 12)
    raw = synthetic_external(
        bars, SyntheticExternalConfig(seed=seed, alerts_per_caller_per_day=10.0, hit_rate=0.9)
    )
    events = external_market_events(process_external(raw, SYMBOLS, SPEC).events, SPEC, 5)
    candidates = run_source_discovery(bars, events).candidates
    passing = candidates.filter(pl.col("passes_gates") & (pl.col("state_column") == SOURCE_STATE))
    return set(passing["state_value"]), candidates


def test_every_source_is_a_cell_and_the_key_names_it() -> None:
    _, candidates = _passing_sources(1000)
    cells = candidates.filter(pl.col("state_column") == SOURCE_STATE)
    expected = {CONFIG.informed_caller, CONFIG.frontrunner, *CONFIG.noise_callers}
    assert expected <= set(cells.filter(pl.col("event_type") == "CALLER_ALERT")["state_value"])
    assert candidates["candidate_id"].n_unique() == candidates.height


@pytest.mark.slow
def test_informed_caller_recovered_and_no_noise_caller_passes_over_20_seeds() -> None:
    table = {seed: _passing_sources(seed)[0] for seed in range(1000, 1020)}
    recovered = sum(CONFIG.informed_caller in passed for passed in table.values())
    false_sources = {seed: passed - {CONFIG.informed_caller} for seed, passed in table.items()}
    print({seed: sorted(passed) for seed, passed in table.items()})  # the table the issue asks for (-s)
    assert all(not extra for extra in false_sources.values()), false_sources
    assert recovered >= 17, recovered
