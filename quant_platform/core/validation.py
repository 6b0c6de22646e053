"""Run a pandera schema and summarise the outcome as plain data (used by Dagster checks and by tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl


@dataclass(frozen=True)
class SchemaReport:
    passed: bool
    n_failures: int = 0
    failures: list[dict] = field(default_factory=list)  # the first failure cases, for display


def check_schema(
    frame: pl.DataFrame | pl.LazyFrame, schema: type[pa.DataFrameModel], max_cases: int = 20
) -> SchemaReport:
    """Validate ``frame`` against ``schema`` collecting every failure (lazy), never raising on bad data."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        shown = cases.head(max_cases).with_columns(pl.all().cast(pl.String)).to_dicts()
        return SchemaReport(passed=False, n_failures=cases.height, failures=shown)
    except pa.errors.SchemaError as exc:  # a structural error pandera reports eagerly
        return SchemaReport(passed=False, n_failures=1, failures=[{"error": str(exc)[:500]}])
    return SchemaReport(passed=True)
