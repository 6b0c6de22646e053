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
    failed_checks: list[str] = field(default_factory=list)  # every distinct "column: check" that failed


def check_schema(
    frame: pl.DataFrame | pl.LazyFrame, schema: type[pa.DataFrameModel], max_cases: int = 20
) -> SchemaReport:
    """Validate ``frame`` against ``schema`` collecting every failure (lazy), never raising on bad data."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        shown = cases.head(max_cases).with_columns(pl.all().cast(pl.String)).to_dicts()
        named = (
            cases.select(
                pl.concat_str(
                    pl.col("column").fill_null("<frame>"), pl.lit(": "), pl.col("check").fill_null("?")
                )
            )
            .to_series()
            .unique(maintain_order=True)
            .to_list()
        )
        return SchemaReport(passed=False, n_failures=cases.height, failures=shown, failed_checks=named)
    except pa.errors.SchemaError as exc:  # a structural error pandera reports eagerly
        message = str(exc)[:500]
        return SchemaReport(
            passed=False, n_failures=1, failures=[{"error": message}], failed_checks=[message]
        )
    return SchemaReport(passed=True)
