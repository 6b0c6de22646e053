"""The trial ledger: every tested hypothesis, for the registry's ``record_trials`` (DSR trial counts)."""

from __future__ import annotations

import polars as pl

from quant_platform.core.hashing import sha256_hex

DISCOVERY_STAGE = "phase2_discovery"
TRIAL_COLUMNS = [
    "trial_id",
    "runset_id",
    "stage",
    "candidate_id",
    "ontology_hash",
    "family",
    "event_type",
    "symbol",
    "horizon_bars",
    "template",
    "state_column",
    "state_value",
    "n_observations",
    "t_statistic",
    "p_value",
    "q_value",
    "passed",
]


def trial_ledger(candidates: pl.DataFrame, runset_id: str, stage: str = DISCOVERY_STAGE) -> pl.DataFrame:
    """One row per tested candidate; ``trial_id = sha256(runset_id | stage | candidate_id)`` (deterministic)."""
    tested = candidates.filter(pl.col("tested"))
    ids = [sha256_hex(f"{runset_id}|{stage}|{c}") for c in tested["candidate_id"].to_list()]
    return tested.with_columns(
        trial_id=pl.Series(ids, dtype=pl.String),
        runset_id=pl.lit(runset_id),
        stage=pl.lit(stage),
        passed=pl.col("passes_gates"),
    ).select(TRIAL_COLUMNS)
