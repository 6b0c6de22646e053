"""The platform's deterministic ids. Each is ``sha256`` over the canonical JSON (``core.hashing``) of exactly
the inputs the design names, so anyone can recompute an id from what it identifies:

- ``runset_id    = sha256(canonical_json(spec))``            (the full RunSet spec, defaults included)
- ``run_id       = sha256(canonical_json({"dataset_ids": sorted ids, "engine_version", "seed",
  "strategy_hash"}))``                                           (dataset order does not matter)
- ``artifact_id  = sha256(canonical_json([content_hash, kind, run_id]))``
  For an artifact written by the Parquet IO manager, ``kind`` is its asset key path (``bars_5m``) and
  ``run_id`` its materialization run id (below), never the Dagster run UUID: re-materializing identical
  inputs with the same code from scratch gives the same artifact ids.
- ``materialization_run_id = sha256(canonical_json({"asset", "partition", "inputs": sorted upstream
  (asset, partition, content_hash), "code_version"}))``
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quant_platform.core.hashing import canonical_hash
from quant_platform.registry.names import validate_content_id, validate_label, validate_name


def runset_id(spec: Any) -> str:
    """Content id of a RunSet spec (a ``RunSetSpec`` or its canonical dict)."""
    payload = spec.canonical() if hasattr(spec, "canonical") else spec
    return canonical_hash(payload)


def run_id(dataset_ids: Iterable[str], strategy_hash: str, engine_version: str, seed: int) -> str:
    """Content id of a backtest/model run: the same datasets, strategy, engine and seed give the same id."""
    ids = sorted({validate_name(d, "dataset id") for d in dataset_ids})
    if not ids:
        raise ValueError("a run needs at least one dataset id")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return canonical_hash(
        {
            "dataset_ids": ids,
            "engine_version": validate_label(engine_version, "engine version"),
            "seed": seed,
            "strategy_hash": validate_content_id(strategy_hash, "strategy hash"),
        }
    )


def materialization_run_id(
    asset: str, partition: str, inputs: Iterable[dict[str, Any]], code_version: str | None = None
) -> str:
    """The deterministic run id of one asset-partition materialization: what it is, the exact upstream
    versions it read (``{"asset", "partition", "content_hash"}`` each, any order) and the asset's code
    version. A never-materialized upstream (``content_hash`` null) is part of the inputs too."""
    upstream = sorted(
        {(str(i["asset"]), str(i["partition"]), i.get("content_hash")) for i in inputs},
        key=lambda t: (t[0], t[1], t[2] or ""),
    )
    return canonical_hash(
        {
            "asset": asset,
            "code_version": code_version,
            "inputs": [list(t) for t in upstream],
            "partition": partition,
        }
    )


def artifact_id(content_hash: str, kind: str, run_id: str) -> str:
    """Content id of one artifact: its bytes' hash, what it is, and the run that produced it."""
    for value, what in ((content_hash, "content hash"), (kind, "artifact kind"), (run_id, "run id")):
        if not isinstance(value, str):
            raise ValueError(f"{what} must be a string, got {value!r}")
    return canonical_hash([content_hash, kind, run_id])
