"""Asset checks generated from schemas (one blocking ``schema`` check per asset, PUDL-style) and from
library reports. Assets declare the specs and yield the results for exactly the frame they wrote."""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl

from quant_platform.core.validation import check_schema

SCHEMA_CHECK = "schema"


def schema_check_spec(asset: str | dg.AssetKey, schema: type[pa.DataFrameModel]) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=SCHEMA_CHECK,
        asset=asset,
        blocking=True,
        description=f"Every row conforms to the pandera schema {schema.__name__} (blocking: downstream waits).",
    )


def schema_check_result(
    asset: str | dg.AssetKey, schema: type[pa.DataFrameModel], frame: pl.DataFrame
) -> dg.AssetCheckResult:
    report = check_schema(frame, schema)
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey.from_coercible(asset),
        check_name=SCHEMA_CHECK,
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "schema": schema.__name__,
            "rows": frame.height,
            "n_failure_cases": report.n_failures,
            "failure_cases": dg.MetadataValue.json(report.failures),
        },
    )
