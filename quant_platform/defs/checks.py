"""Asset checks generated from schemas (one blocking ``schema`` check per asset, PUDL-style) and from
library reports. Assets declare the specs and yield the results for exactly the frame they wrote.

Declaring a schema check also registers the asset's schema: the IO-manager path validates every output
against it *before* anything is written (:func:`validate_before_write`), so a frame that would fail the
blocking check never becomes a stored, current version that a later run could read.
"""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl

from quant_platform.core.validation import check_schema

SCHEMA_CHECK = "schema"

# asset key -> its table's pandera model; filled by schema_check_spec, so checks and write-time validation
# always use the same mapping.
_SCHEMA_BY_ASSET: dict[dg.AssetKey, type[pa.DataFrameModel]] = {}


def schema_check_spec(asset: str | dg.AssetKey, schema: type[pa.DataFrameModel]) -> dg.AssetCheckSpec:
    key = dg.AssetKey.from_coercible(asset)
    known = _SCHEMA_BY_ASSET.setdefault(key, schema)
    if known is not schema:
        raise ValueError(
            f"{key.to_user_string()} already has schema {known.__name__}; cannot also declare {schema.__name__}"
        )
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


def schema_for(asset: str | dg.AssetKey) -> type[pa.DataFrameModel] | None:
    """The pandera model declared for ``asset`` by its schema check, if it has one."""
    return _SCHEMA_BY_ASSET.get(dg.AssetKey.from_coercible(asset))


def validate_before_write(asset: str | dg.AssetKey, frame: pl.DataFrame | pl.LazyFrame) -> None:
    """Fail the step (nothing written) when ``frame`` violates the schema declared for ``asset``."""
    schema = schema_for(asset)
    if schema is None:
        return
    report = check_schema(frame, schema)
    if report.passed:
        return
    name = dg.AssetKey.from_coercible(asset).to_user_string()
    raise dg.Failure(
        description=f"{name}: output violates {schema.__name__} ({report.n_failures} failure case(s)); "
        f"nothing was written. Failed checks: {'; '.join(report.failed_checks)}",
        metadata={
            "schema": schema.__name__,
            "failed_checks": dg.MetadataValue.json(report.failed_checks),
            "failure_cases": dg.MetadataValue.json(report.failures),
        },
    )
