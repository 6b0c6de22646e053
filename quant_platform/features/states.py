"""Market state columns from ``spec/states`` (bins over one feature: label of the first bin with value < upper)."""

from __future__ import annotations

import polars as pl

from quant_platform.features.spec import StateDef


def state_expr(state: StateDef) -> pl.Expr:
    value = pl.col(state.input)
    expr = pl.when(value.is_null() | value.is_nan()).then(None)
    for label, upper in zip(state.labels, state.uppers, strict=True):
        expr = (
            expr.when(value < upper).then(pl.lit(label))
            if upper is not None
            else expr.otherwise(pl.lit(label))
        )
    return expr.cast(pl.String).alias(state.name)


def state_columns(states: tuple[StateDef, ...], available: set[str]) -> list[pl.Expr]:
    """Expressions for every state whose input column is available (a state of a skipped family is omitted)."""
    return [state_expr(s) for s in states if s.input in available]
