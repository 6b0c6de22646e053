"""Synthetic candidate streams with planted effects, shared by the stage tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from quant_platform.core.timeutil import TS_DTYPE


def make_streams(
    n_candidates: int,
    n_days: int,
    steps_per_day: int,
    *,
    skill: dict[int, float] | None = None,
    seed: int = 0,
    prefix: str = "cand",
    cost: float = 0.0,
) -> pl.DataFrame:
    """Candidate ``i`` trades ``sign(signal)`` against a forward return; ``skill[i]`` mixes the forward return
    into the signal (0 = pure noise). Step returns have per-step vol 1% / sqrt(steps_per_day)."""
    rng = np.random.default_rng(seed)
    skill = skill or {}
    n = n_days * steps_per_day
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step_ms = 86_400_000 // steps_per_day
    ts = (
        pl.Series("ts", np.int64(start.timestamp() * 1000) + np.arange(n, dtype=np.int64) * step_ms)
        .cast(pl.Datetime("ms"))
        .dt.replace_time_zone("UTC")
    )
    frames = []
    vol = 0.01 / np.sqrt(steps_per_day)
    for i in range(n_candidates):
        fwd = rng.normal(0.0, vol, n)
        noise = rng.normal(0.0, vol, n)
        k = skill.get(i, 0.0)
        signal = k * fwd + np.sqrt(max(1 - k * k, 0.0)) * noise
        ret = np.sign(signal) * fwd - cost
        frames.append(
            pl.DataFrame(
                {
                    "candidate_id": f"{prefix}{i:04d}",
                    "ts": ts,
                    "ret_after_cost": ret,
                    "signal": signal,
                    "forward_return": fwd,
                }
            )
        )
    return pl.concat(frames).with_columns(pl.col("ts").cast(TS_DTYPE))
