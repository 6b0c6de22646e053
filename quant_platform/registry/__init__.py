"""The registry (Dagster-free): append-only Parquet facts, deterministic ids, the RunSet resolver and the
disposable DuckDB cache rebuilt from the facts. See ``registry.registry`` for the rules."""

from quant_platform.registry.ids import artifact_id, run_id, runset_id
from quant_platform.registry.registry import FrozenRunSetError, NotFoundError, Registry, RunSetInfo
from quant_platform.registry.resolver import RESOLVER_VERSION, Resolution
from quant_platform.registry.specs import EXPLORATORY, REPRODUCIBLE, DatasetSpec, RunSetSpec
from quant_platform.registry.trials import (
    CPCV_PATH,
    FOLD,
    HPO_TRIAL,
    HYPOTHESIS,
    TRIAL_KINDS,
    count_evaluations,
    count_hypotheses,
)

__all__ = [
    "CPCV_PATH",
    "EXPLORATORY",
    "FOLD",
    "HPO_TRIAL",
    "HYPOTHESIS",
    "REPRODUCIBLE",
    "RESOLVER_VERSION",
    "TRIAL_KINDS",
    "DatasetSpec",
    "FrozenRunSetError",
    "NotFoundError",
    "Registry",
    "Resolution",
    "RunSetInfo",
    "RunSetSpec",
    "artifact_id",
    "count_evaluations",
    "count_hypotheses",
    "run_id",
    "runset_id",
]
