"""Per-step candidate streams → UTC-day returns, and day-aligned matrices for the vectorized statistics."""

from __future__ import annotations

import numpy as np
import polars as pl

from quant_platform.validation.grouped import sorted_runs
from quant_platform.validation.schemas import CandidateStreams


def validate_streams(streams: pl.DataFrame, what: str = "streams") -> pl.DataFrame:
    """Schema-check a :class:`CandidateStreams` frame (ValueError naming the problem)."""
    if not isinstance(streams, pl.DataFrame):
        raise ValueError(f"{what} must be a polars DataFrame, got {type(streams).__name__}")
    try:
        return CandidateStreams.validate(streams)
    except Exception as exc:  # pandera raises SchemaError(s); surface one clear ValueError
        raise ValueError(f"{what} do not match the CandidateStreams schema: {exc}") from exc


def entry_flags(streams: pl.DataFrame) -> pl.Series:
    """1.0 where a step opens a position, else 0.0, aligned with the rows of ``streams``.

    An entry is a step whose held signal is non-zero with a sign different from the candidate's previous
    step (flat, missing, or opposite): for the bridge's rule streams (``signal`` = the ±1 weight held) each
    entry is one trade, so ``sum(ret_after_cost) / entries`` is the after-cost expectancy per trade on the
    traded notional, the measure of the economic gates of ``spec/gates.yaml``."""
    direction = pl.col("signal").fill_null(0.0).sign()
    previous = direction.shift(1).over("candidate_id", order_by="ts").fill_null(0.0)
    return streams.select(((direction != 0) & (direction != previous)).cast(pl.Float64).alias("entry"))[
        "entry"
    ]


def daily_returns(streams: pl.DataFrame) -> pl.DataFrame:
    """``candidate_id, day, ret, entries`` — the sum of a candidate's per-step after-cost returns per UTC day
    and the number of trades opened that day (:func:`entry_flags`).

    Only days with at least one step appear (a missing day is not a zero-return day). Each day's steps add
    in time order (``grouped.py``), so the same streams always give the same bytes."""
    steps = streams.select(
        "candidate_id", pl.col("ts").dt.date().alias("day"), "ts", "ret_after_cost"
    ).with_columns(entry_flags(streams))
    ordered, runs = sorted_runs(steps, ["candidate_id", "day"], ["ts"])
    return runs.keys.with_columns(
        pl.Series("ret", runs.sum(ordered["ret_after_cost"].to_numpy()), dtype=pl.Float64),
        pl.Series("entries", runs.sum(ordered["entry"].to_numpy()), dtype=pl.Float64),
    )


def coverage_groups(
    daily: pl.DataFrame, values: tuple[str, ...] = ("ret",)
) -> list[tuple[list[str], list, np.ndarray]]:
    """Split candidates into groups that share exactly the same days, each as
    ``(candidate_ids, days, matrix)`` — so CPCV and the bootstrap run vectorized over a group's streams on one
    common timeline. ``matrix`` is ``(n_candidates, n_days)`` for one value column, else
    ``(len(values), n_candidates, n_days)``."""
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
        members = daily.filter(pl.col("candidate_id").is_in(ids))
        matrices = []
        for column in values:
            wide = members.pivot(on="day", index="candidate_id", values=column, sort_columns=True).sort(
                "candidate_id"
            )
            matrices.append(wide.drop("candidate_id").to_numpy().astype(np.float64))
        matrix = matrices[0] if len(values) == 1 else np.stack(matrices)
        out.append((wide["candidate_id"].to_list(), list(days), matrix))
    return out
