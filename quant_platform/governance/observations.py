"""Run observations: what governance judges. One row per (run, candidate, UTC day) with the day's after-cost
return and execution health, joined with the run's provenance from the registry's ``runs`` facts.

Observations are append-only registry facts (``run_observations``); a (run, candidate, day) observed again
(a corrected feed, a re-sent day) is superseded by its latest fact, in fact order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl

from quant_platform.registry.columns import FACT_SCHEMAS

if TYPE_CHECKING:
    from quant_platform.registry.registry import Registry

OBSERVATION_KEY: tuple[str, ...] = ("run_id", "candidate_id", "day")
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "run_id",
    "candidate_id",
    "day",
    "status",
    "daily_return",
    "orders_submitted",
    "orders_rejected",
    "slippage_bps",
    "schema_version",
    "run_source",
    "score_source",
    "data_regime",
)
COMPLETED, RUNNING, FAILED = "completed", "running", "failed"


@dataclass(frozen=True)
class DayObservation:
    """One observed day of one run of one candidate (what a live, shadow or replay runner reports)."""

    run_id: str
    candidate_id: str
    day: date
    daily_return: float | None
    status: str = COMPLETED
    orders_submitted: int = 0
    orders_rejected: int = 0
    slippage_bps: float | None = None
    schema_version: str = "1"


def empty_observations() -> pl.DataFrame:
    schema = {k: v for k, v in FACT_SCHEMAS["run_observations"].items() if k != "written_at"}
    schema |= {c: pl.String() for c in ("run_source", "score_source", "data_regime")}
    return pl.DataFrame(schema=schema).select(OBSERVATION_COLUMNS)


def record_observations(registry: Registry, rows: Iterable[DayObservation]) -> str:
    """Append ``rows`` as one ``run_observations`` fact (every run must be registered first)."""
    rows = list(rows)
    known = set(registry.runs()["run_id"].to_list())
    unknown = sorted({r.run_id for r in rows} - known)
    if unknown:
        raise ValueError(
            f"observations name unregistered runs {[u[:12] for u in unknown]}; register_run first"
        )
    schema = {k: v for k, v in FACT_SCHEMAS["run_observations"].items() if k != "written_at"}
    frame = pl.DataFrame(
        [
            {
                "run_id": r.run_id,
                "candidate_id": r.candidate_id,
                "day": r.day,
                "status": r.status,
                "daily_return": r.daily_return,
                "orders_submitted": r.orders_submitted,
                "orders_rejected": r.orders_rejected,
                "slippage_bps": r.slippage_bps,
                "schema_version": r.schema_version,
            }
            for r in rows
        ],
        schema=schema,
    )
    return registry.facts.append("run_observations", frame)


def load_observations(registry: Registry) -> pl.DataFrame:
    """Every run observation (latest fact per key) with its run's provenance (first execution's labels;
    fact files older than provenance read as null, which no filter matches)."""
    facts = registry.facts.read("run_observations")
    if facts.height == 0:
        return empty_observations()
    latest = facts.unique(list(OBSERVATION_KEY), keep="last", maintain_order=True)
    runs = (
        registry.runs()
        .select("run_id", "run_source", "score_source", "data_regime")
        .unique("run_id", keep="first", maintain_order=True)
    )
    return latest.join(runs, on="run_id", how="left").select(OBSERVATION_COLUMNS).sort(OBSERVATION_KEY)


def execution_health(observations: pl.DataFrame, candidate_id: str, since_day: date | None) -> dict:
    """Reject rate and mean slippage of ``candidate_id``'s observed days after ``since_day``."""
    rows = observations.filter(pl.col("candidate_id") == candidate_id)
    if since_day is not None:
        rows = rows.filter(pl.col("day") > since_day)
    submitted = int(rows["orders_submitted"].sum() or 0)
    rejected = int(rows["orders_rejected"].sum() or 0)
    slippage = rows["slippage_bps"].drop_nulls()
    return {
        "orders_submitted": submitted,
        "orders_rejected": rejected,
        "reject_rate": rejected / submitted if submitted else None,
        "mean_slippage_bps": float(slippage.mean()) if slippage.len() else None,  # type: ignore[arg-type]
    }
