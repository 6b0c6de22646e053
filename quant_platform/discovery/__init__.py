"""Phase-2 discovery (Dagster-free): conditional event hypotheses, hierarchical shrinkage, BH-FDR, gates.

Public API: :func:`discover` / :func:`run_discovery` (the ``hypothesis_candidates`` table), :func:`bh_adjust`,
:func:`grouped_bh`, :func:`two_level_fdr`, :func:`shrink_hierarchical`, :func:`apply_gates`,
:func:`check_ontology`, :func:`trial_ledger`, :func:`load_discovery_spec` and the
:class:`HypothesisCandidates` schema.
"""

from quant_platform.discovery.config import DiscoverySpec, load_discovery_spec
from quant_platform.discovery.fdr import bh_adjust, grouped_bh, two_level_fdr
from quant_platform.discovery.gates import apply_gates
from quant_platform.discovery.ontology import check_ontology
from quant_platform.discovery.overlap import non_overlapping_mask
from quant_platform.discovery.pipeline import DiscoveryResult, discover, run_discovery, score_candidates
from quant_platform.discovery.samples import build_samples
from quant_platform.discovery.schemas import HypothesisCandidates
from quant_platform.discovery.shrinkage import shrink_hierarchical
from quant_platform.discovery.statistics import aggregate_candidates, t_test_candidates
from quant_platform.discovery.trials import trial_ledger

__all__ = [
    "DiscoveryResult",
    "DiscoverySpec",
    "HypothesisCandidates",
    "aggregate_candidates",
    "apply_gates",
    "bh_adjust",
    "build_samples",
    "check_ontology",
    "discover",
    "grouped_bh",
    "load_discovery_spec",
    "non_overlapping_mask",
    "run_discovery",
    "score_candidates",
    "shrink_hierarchical",
    "t_test_candidates",
    "trial_ledger",
    "two_level_fdr",
]
