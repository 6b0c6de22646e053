"""The trial ledger: every tested hypothesis, in the shape of the registry's ``record_trials`` (wide: the
keys ``runset_id``, ``stage``, ``trial_id``, ``family`` plus numeric metric columns).

``trial_id`` is the candidate id (sha256 of the ontology hash and the candidate key), so a ledger row joins
back to its ``hypothesis_candidates`` row; ``family`` is the multiplicity family the FDR procedure used,
``<family>/<event_type>/<template>/h<horizon>``, so trial counts per family are available to DSR and FDR.
Untested candidates (too few observations) are not trials: no test statistic was computed for them.
"""

from __future__ import annotations

import polars as pl

DISCOVERY_STAGE = "phase2_discovery"
TRIAL_METRICS = ["n_observations", "mean_net_bps", "t_statistic", "p_value", "q_value", "passed"]


def trial_ledger(candidates: pl.DataFrame, runset_id: str, stage: str = DISCOVERY_STAGE) -> pl.DataFrame:
    """One row per tested candidate (see module docstring); deterministic for the same candidates."""
    return (
        candidates.filter(pl.col("tested"))
        .select(
            pl.lit(runset_id).alias("runset_id"),
            pl.lit(stage).alias("stage"),
            pl.col("candidate_id").alias("trial_id"),
            pl.format("{}/{}/{}/h{}", "family", "event_type", "template", "horizon_bars").alias("family"),
            pl.col("n_observations").cast(pl.Float64),
            "mean_net_bps",
            "t_statistic",
            "p_value",
            "q_value",
            pl.col("passes_gates").cast(pl.Float64).alias("passed"),
        )
        .sort("trial_id")
    )
