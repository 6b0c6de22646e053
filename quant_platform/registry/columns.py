"""The exact polars schema every registry fact file is written with (kept apart from the pandera models so
that reading facts never pays for importing pandera; writes validate with ``registry.schemas``)."""

from __future__ import annotations

import polars as pl

from quant_platform.core.timeutil import TS_DTYPE

_STR, _LIST = pl.String(), pl.List(pl.String())
FACT_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "datasets": {
        "dataset_id": _STR,
        "content_hash": _STR,
        "definition_json": _STR,
        "source": _STR,
        "assets": _LIST,
        "symbols": _LIST,
        "first_day": pl.Date(),
        "last_day": pl.Date(),
        "written_at": TS_DTYPE,
    },
    "runs": {
        "run_id": _STR,
        "dataset_ids": _LIST,
        "strategy_hash": _STR,
        "engine_version": _STR,
        "seed": pl.Int64(),
        "runset_id": _STR,
        "dagster_run_id": _STR,
        "config_json": _STR,
        # Provenance (registry.provenance); fact files older than these columns read them as null, which no
        # governance filter ever matches.
        "run_source": _STR,
        "score_source": _STR,
        "data_regime": _STR,
        "written_at": TS_DTYPE,
    },
    "runsets": {
        "runset_name": _STR,
        "runset_id": _STR,
        "spec_json": _STR,
        "dataset_id": _STR,
        "mode": _STR,
        "tags": _LIST,
        "written_at": TS_DTYPE,
    },
    "resolutions": {
        "runset_id": _STR,
        "runset_name": _STR,
        "resolution_hash": _STR,
        "resolver_version": _STR,
        "as_of": TS_DTYPE,
        "range_start": pl.Date(),
        "range_end": pl.Date(),
        "asset": _STR,
        "partition": _STR,
        "content_hash": _STR,
        "path": _STR,
        "version_written_at": TS_DTYPE,
        # True for a resolve against an explicit past instant (`--as-of`): recorded, never the latest.
        # Fact files written before this column existed read it as null, i.e. false.
        "historical": pl.Boolean(),
        "written_at": TS_DTYPE,
    },
    "freezes": {
        "runset_id": _STR,
        "runset_name": _STR,
        "resolution_hash": _STR,
        "written_at": TS_DTYPE,
    },
    "trials": {
        "runset_id": _STR,
        "stage": _STR,
        # What was evaluated (registry.trials.TRIAL_KINDS) and which part of the trial (fold / path / HPO trial
        # number; "" for a whole hypothesis). Older fact files read them as null: see registry.trials.
        "kind": _STR,
        "trial_id": _STR,
        "sub_id": _STR,
        "family": _STR,
        "metric": _STR,
        "value": pl.Float64(),
        "written_at": TS_DTYPE,
    },
    # One observed UTC day of a run of a governance candidate (governance.observations): its after-cost return
    # and execution health. Governance reads these together with the run's provenance from ``runs``.
    "run_observations": {
        "run_id": _STR,
        "candidate_id": _STR,
        "day": pl.Date(),
        "status": _STR,
        "daily_return": pl.Float64(),
        "orders_submitted": pl.Int64(),
        "orders_rejected": pl.Int64(),
        "slippage_bps": pl.Float64(),
        "schema_version": _STR,
        "written_at": TS_DTYPE,
    },
}
FACT_TYPES: tuple[str, ...] = tuple(FACT_SCHEMAS)
