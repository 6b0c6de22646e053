"""Per-step candidate streams → UTC-day returns, and day-aligned matrices for the vectorized statistics."""

from __future__ import annotations

import numpy as np
import polars as pl

from quant_platform.validation.schemas import CandidateStreams


def validate_streams(streams: pl.DataFrame, what: str = "streams") -> pl.DataFrame:
    """Schema-check a :class:`CandidateStreams` frame (ValueError naming the problem)."""
    if not isinstance(streams, pl.DataFrame):
        raise ValueError(f"{what} must be a polars DataFrame, got {type(streams).__name__}")
    try:
        return CandidateStreams.validate(streams)
    except Exception as exc:  # pandera raises SchemaError(s); surface one clear ValueError
        raise ValueError(f"{what} do not match the CandidateStreams schema: {exc}") from exc


def daily_returns(streams: pl.DataFrame) -> pl.DataFrame:
    """``candidate_id, day, ret`` — the sum of a candidate's per-step after-cost returns per UTC day.

    Only days with at least one step appear (a missing day is not a zero-return day)."""
    return (
        streams.lazy()
        .group_by("candidate_id", pl.col("ts").dt.date().alias("day"), maintain_order=True)
        .agg(pl.col("ret_after_cost").sum().alias("ret"))
        .sort("candidate_id", "day")
        .collect()
    )


def coverage_groups(daily: pl.DataFrame) -> list[tuple[list[str], list, np.ndarray]]:
    """Split candidates into groups that share exactly the same days, each as
    ``(candidate_ids, days, returns matrix (n_candidates, n_days))`` — so CPCV and the bootstrap run
    vectorized over a group's streams on one common timeline."""
    signatures = (
        daily.group_by("candidate_id", maintain_order=True)
        .agg(pl.col("day").sort().alias("days"))
        .sort("candidate_id")
    )
    groups: dict[tuple, list[str]] = {}
    for candidate_id, days in signatures.iter_rows():
        groups.setdefault(tuple(days), []).append(candidate_id)
    out = []
    for days, ids in groups.items():
        wide = (
            daily.filter(pl.col("candidate_id").is_in(ids))
            .pivot(on="day", index="candidate_id", values="ret", sort_columns=True)
            .sort("candidate_id")
        )
        matrix = wide.drop("candidate_id").to_numpy().astype(np.float64)
        out.append((wide["candidate_id"].to_list(), list(days), matrix))
    return out
