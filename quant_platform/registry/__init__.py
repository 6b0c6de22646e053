"""The registry (Dagster-free): append-only Parquet facts, deterministic ids, the RunSet resolver and the
disposable DuckDB cache rebuilt from the facts. See ``registry.registry`` for the rules."""

from quant_platform.registry.ids import artifact_id, run_id, runset_id
from quant_platform.registry.registry import FrozenRunSetError, NotFoundError, Registry, RunSetInfo
from quant_platform.registry.resolver import RESOLVER_VERSION, Resolution
from quant_platform.registry.specs import EXPLORATORY, REPRODUCIBLE, DatasetSpec, RunSetSpec

__all__ = [
    "EXPLORATORY",
    "REPRODUCIBLE",
    "RESOLVER_VERSION",
    "DatasetSpec",
    "FrozenRunSetError",
    "NotFoundError",
    "Registry",
    "Resolution",
    "RunSetInfo",
    "RunSetSpec",
    "artifact_id",
    "run_id",
    "runset_id",
]
