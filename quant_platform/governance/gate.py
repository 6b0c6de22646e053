"""The real-data gate: judge one candidate on the daily Sharpe of the runs that pass the provenance filters.

Rules (``spec/governance.yaml`` ``gate``):
- Only runs whose ``run_source``, ``score_source`` and ``data_regime`` are all in the filters count (by
  default ``prod`` / ``model`` / ``prod_live``). The result always names the filters and how many of the
  candidate's runs each filter excluded, so "why was nothing judged" has an answer.
- Only completed runs count; a day's return is the mean over the candidate's completed runs observed that
  day (replicas of one strategy, not extra days).
- The metric is ``sharpe_daily``: mean / sample std of those UTC-day returns, times sqrt(annualization_days).
  A step (per-bar) Sharpe is never computed here.
- Fewer than ``min_completed_runs`` completed runs or ``min_observation_days`` days is
  ``insufficient_observation``, never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from quant_platform.governance.config import GateFilters, GateSpec

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient_observation"
PROVENANCE_COLUMNS: tuple[str, ...] = ("run_source", "score_source", "data_regime")


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict on one candidate and everything needed to explain it."""

    candidate_id: str
    status: str
    sharpe_daily: float | None
    completed_runs: int
    observation_days: int
    filters: dict[str, list[str]]
    excluded_runs: dict[str, int]
    since_day: date | None
    until_day: date | None
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "status": self.status,
            "sharpe_daily": self.sharpe_daily,
            "completed_runs": self.completed_runs,
            "observation_days": self.observation_days,
            "filters": self.filters,
            "excluded_runs": self.excluded_runs,
            "since_day": self.since_day,
            "until_day": self.until_day,
            "notes": list(self.notes),
        }


def widen_filters(filters: GateFilters, extra: dict[str, list[str]]) -> GateFilters:
    """The filters with ``extra`` values opted in (an explicit override; the caller records it)."""
    merged = {
        name: sorted(set(values) | set(extra.get(name, []))) for name, values in filters.as_dict().items()
    }
    unknown = set(extra) - set(merged)
    if unknown:
        raise ValueError(f"override names unknown provenance fields {sorted(unknown)}")
    return GateFilters.model_validate(merged)


def daily_sharpe(daily: pl.Series, annualization_days: int) -> float | None:
    """Annualized Sharpe of UTC-day returns (sample std); None when it is undefined (< 2 days, zero std)."""
    values = daily.drop_nulls().drop_nans()
    if values.len() < 2:
        return None
    std = float(values.std(ddof=1))  # type: ignore[arg-type]
    if not math.isfinite(std) or std == 0.0:
        return None
    return float(values.mean()) / std * math.sqrt(annualization_days)  # type: ignore[arg-type]


def evaluate_gate(
    observations: pl.DataFrame,
    candidate_id: str,
    spec: GateSpec,
    *,
    filters: GateFilters | None = None,
    since_day: date | None = None,
    until_day: date | None = None,
) -> GateResult:
    """Judge ``candidate_id`` on ``observations`` (``governance.observations`` columns) with observed days in
    ``(since_day, until_day]``; ``filters`` default to the spec's."""
    filters = filters or spec.filters
    allowed = filters.as_dict()
    rows = observations.filter(pl.col("candidate_id") == candidate_id)
    excluded: dict[str, int] = {}
    for column in PROVENANCE_COLUMNS:
        failing = rows.filter(~pl.col(column).is_in(allowed[column]) | pl.col(column).is_null())
        excluded[column] = failing["run_id"].n_unique()
    keep = pl.all_horizontal([pl.col(c).is_in(allowed[c]).fill_null(False) for c in PROVENANCE_COLUMNS])
    rows = rows.filter(keep)
    in_window = pl.lit(True)
    if since_day is not None:
        in_window = in_window & (pl.col("day") > since_day)
    if until_day is not None:
        in_window = in_window & (pl.col("day") <= until_day)
    excluded["outside_window"] = (
        rows.filter(~in_window)["run_id"].n_unique() - rows.filter(in_window)["run_id"].n_unique()
    )
    rows = rows.filter(in_window)
    completed_ids = rows.filter(pl.col("status") == "completed")["run_id"].unique()
    excluded["not_completed"] = rows["run_id"].n_unique() - completed_ids.len()
    completed = rows.filter(pl.col("run_id").is_in(completed_ids.implode()))
    per_day = completed.group_by("day").agg(pl.col("daily_return").mean()).sort("day")
    n_runs, n_days = completed_ids.len(), per_day.height
    sharpe = daily_sharpe(per_day["daily_return"], spec.annualization_days)
    notes: list[str] = []
    if n_runs < spec.min_completed_runs:
        notes.append(f"completed_runs {n_runs} < min_completed_runs {spec.min_completed_runs}")
    if n_days < spec.min_observation_days:
        notes.append(f"observation_days {n_days} < min_observation_days {spec.min_observation_days}")
    if notes:
        status = INSUFFICIENT
    elif sharpe is None:
        status, notes = FAIL, ["sharpe_daily undefined (constant daily returns)"]
    else:
        status = PASS if sharpe >= spec.min_sharpe_daily else FAIL
        if status == FAIL:
            notes.append(f"sharpe_daily {sharpe:.3f} < min_sharpe_daily {spec.min_sharpe_daily}")
    return GateResult(
        candidate_id=candidate_id,
        status=status,
        sharpe_daily=sharpe,
        completed_runs=n_runs,
        observation_days=n_days,
        filters=allowed,
        excluded_runs=excluded,
        since_day=since_day,
        until_day=until_day,
        notes=tuple(notes),
    )
