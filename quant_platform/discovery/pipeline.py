"""``discover``: trade samples -> candidate statistics -> shrinkage -> two-level BH -> gates -> ids + hash."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.discovery.fdr import two_level_fdr
from quant_platform.discovery.gates import apply_gates
from quant_platform.discovery.samples import KEY_COLUMNS, build_samples
from quant_platform.discovery.schemas import HypothesisCandidates
from quant_platform.discovery.shrinkage import shrink_hierarchical
from quant_platform.discovery.statistics import aggregate_candidates, candidate_ids, t_test_candidates
from quant_platform.discovery.trials import trial_ledger


@dataclass(frozen=True)
class DiscoveryResult:
    """The candidates table, the exclusion counts and (with a runset id) the trial ledger."""

    candidates: pl.DataFrame
    exclusions: pl.DataFrame
    trials: pl.DataFrame | None


def score_candidates(stats: pl.DataFrame, spec: DiscoverySpec) -> pl.DataFrame:
    """Shrinkage, FDR and gates on a frame of candidate statistics (``aggregate_candidates`` output)."""
    tested = t_test_candidates(stats, spec.min_observations)
    shrunk = shrink_hierarchical(
        tested,
        strata=list(spec.shrinkage_strata),
        levels=[(name, list(keys)) for name, keys in spec.shrinkage_levels],
        min_children_for_own_tau2=spec.min_children_for_own_tau2,
    )
    fdr = two_level_fdr(shrunk, list(spec.fdr_group_by), spec.gates.max_q_value)
    return apply_gates(fdr, spec, leaf_level=spec.shrinkage_levels[-1][0])


def run_discovery(
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    spec: DiscoverySpec | None = None,
    runset_id: str | None = None,
    templates: tuple[str, ...] = (),
) -> DiscoveryResult:
    """Phase-2 discovery on ``bars`` (symbol, ts, open, gap), ``events`` (event_id, symbol, ts, event_type,
    direction[, family]) and optional ``states`` (symbol, ts, one column per conditioning column).

    ``templates``: glob patterns (a RunSet's template filter; empty = every template of the spec). Only
    hypotheses of matching rule templates are tested and recorded as trials; a pattern matching no template
    of the spec raises ``ValueError``."""
    spec = (spec or load_discovery_spec()).restricted_to_templates(tuple(templates))
    sample_set = build_samples(bars, events, states, spec)
    return discover_from_samples(sample_set.samples, sample_set.exclusions, spec, runset_id)


def discover_from_samples(
    samples: pl.DataFrame, exclusions: pl.DataFrame, spec: DiscoverySpec, runset_id: str | None
) -> DiscoveryResult:
    """Statistics, shrinkage, FDR, gates, ids and (with a runset id) the trial ledger of trade ``samples``."""
    scored = score_candidates(aggregate_candidates(samples), spec)
    candidates = scored.with_columns(
        candidate_id=candidate_ids(scored, spec.ontology_hash),
        ontology_hash=pl.lit(spec.ontology_hash),
        round_trip_cost_bps=pl.lit(spec.cost.round_trip_bps),
        entry_lag_bars=pl.lit(spec.entry_lag_bars, dtype=pl.Int32),
    ).sort(KEY_COLUMNS)
    candidates = HypothesisCandidates.validate(candidates)
    trials = trial_ledger(candidates, runset_id) if runset_id is not None else None
    return DiscoveryResult(candidates=candidates, exclusions=exclusions, trials=trials)


def discover(
    bars: pl.DataFrame,
    events: pl.DataFrame,
    states: pl.DataFrame | None = None,
    spec: DiscoverySpec | None = None,
) -> pl.DataFrame:
    """The ``hypothesis_candidates`` table (see :func:`run_discovery` for exclusions and trials)."""
    return run_discovery(bars, events, states, spec).candidates
