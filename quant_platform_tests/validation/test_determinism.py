"""Same inputs ⇒ the same bytes: the validation outputs are hashed over repeated calls on frames large enough
for polars to aggregate multi-threaded (POLARS_MAX_THREADS left at its default). Before the order-fixed
reductions of ``grouped.py``, ``daily_returns`` over ~2M rows gave a different hash on nearly every call
(polars group_by sums combine per-thread partial sums in a scheduling-dependent order)."""

from __future__ import annotations

import hashlib
import io
import math

import polars as pl
import pytest

from quant_platform.validation.daily import daily_returns
from quant_platform.validation.stage_a import StageAConfig, stage_a_screen
from quant_platform.validation.stage_b import StageBConfig, stage_b_evaluate
from quant_platform_tests.validation.synthetic import make_streams

RUNS = 5


def _bytes_hash(frame: pl.DataFrame) -> str:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.fixture(scope="module")
def big_streams() -> pl.DataFrame:
    # 8 candidates × 365 days × 720 steps (2-minute steps) = 2,102,400 rows, shuffled so that nothing relies
    # on the input arriving in order.
    streams = make_streams(8, 365, 720, seed=21)
    return streams.sample(fraction=1.0, shuffle=True, seed=5)


def test_daily_returns_are_byte_identical_and_exact_to_round_off(big_streams):
    assert big_streams.height >= 2_000_000
    frames = [daily_returns(big_streams) for _ in range(RUNS)]
    assert len({_bytes_hash(f) for f in frames}) == 1
    daily = frames[0]
    assert daily.height == 8 * 365
    assert daily.select(pl.col("candidate_id", "day")).is_unique().all()
    assert daily.equals(daily.sort("candidate_id", "day"))
    # Independent truth: exactly rounded sums (math.fsum) of every day of two candidates.
    for candidate_id in ("cand0000", "cand0005"):
        mine = big_streams.filter(pl.col("candidate_id") == candidate_id)
        by_day = mine.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.col("ret_after_cost"))
        expected = {day: math.fsum(values) for day, values in by_day.iter_rows()}
        got = dict(daily.filter(pl.col("candidate_id") == candidate_id).select("day", "ret").iter_rows())
        assert got.keys() == expected.keys()
        for day, total in expected.items():
            assert got[day] == pytest.approx(total, rel=1e-12, abs=1e-15)


def test_stage_a_is_byte_identical_across_runs():
    streams = make_streams(40, 240, 48, skill={0: 0.3}, seed=22).sample(fraction=1.0, shuffle=True, seed=6)
    config = StageAConfig.from_spec()
    results = [stage_a_screen(streams, config) for _ in range(RUNS)]
    assert len({_bytes_hash(r.fold_metrics) for r in results}) == 1
    assert len({_bytes_hash(r.decisions) for r in results}) == 1
    assert results[0].decisions.height == 40


def test_stage_b_is_byte_identical_across_runs():
    config = StageBConfig.from_spec()
    streams = make_streams(8, 365, 96, skill={0: 0.2}, seed=23)
    trials = make_streams(40, 365, 24, seed=24, prefix="trial")
    stressed = {
        s.name: streams.with_columns(pl.col("ret_after_cost") - 1e-5 * (s.cost_multiplier - 1))
        for s in config.scenarios
    }
    results = [
        stage_b_evaluate(streams, 60, trial_streams=trials, stressed_streams=stressed, config=config)
        for _ in range(RUNS)
    ]
    for table in ("candidates", "stress", "funnel"):
        assert len({_bytes_hash(getattr(r, table)) for r in results}) == 1, table
    candidates = results[0].candidates
    assert candidates.height == 8 and candidates["dsr"].is_not_null().sum() >= 6
