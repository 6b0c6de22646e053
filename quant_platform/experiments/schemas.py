"""The ``experiments`` asset's table: one row per strategy executed on the RunSet partition."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl


class ExperimentSummary(pa.DataFrameModel):
    strategy: str
    experiment_id: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    run_id: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    strategy_hash: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    resolution_hash: str = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    mode: str = pa.Field(isin=["exploratory", "reproducible"])
    trades: pl.Int64 = pa.Field(ge=0)
    final_equity: pl.Float64
    pnl_net: pl.Float64
    status: str
    total_return: pl.Float64 = pa.Field(nullable=True)
    sharpe_daily: pl.Float64 = pa.Field(nullable=True)
    max_drawdown: pl.Float64 = pa.Field(nullable=True)
    hit_rate: pl.Float64 = pa.Field(nullable=True)
    facts_written: pl.Boolean

    class Config:
        strict = True


def summary_frame(executions: list) -> pl.DataFrame:
    """The :class:`ExperimentSummary` rows of ``executions`` (``Execution`` objects)."""
    rows = []
    for run in executions:
        m = run.metrics
        rows.append(
            {
                "strategy": run.experiment.strategy.name,
                "experiment_id": run.experiment.experiment_id,
                "run_id": run.run_id,
                "strategy_hash": run.experiment.strategy_hash,
                "resolution_hash": run.resolution_hash,
                "mode": run.mode,
                "trades": run.trades.height,
                "final_equity": float(run.run["final_equity"]),
                "pnl_net": float(run.daily_pnl["pnl_net"].sum()),
                "status": str(m.get("status")),
                **{
                    k: None if m.get(k) is None else float(m[k])
                    for k in ("total_return", "sharpe_daily", "max_drawdown", "hit_rate")
                },
                "facts_written": run.wrote_anything,
            }
        )
    schema = {name: col.dtype.type for name, col in ExperimentSummary.to_schema().columns.items()}
    return pl.DataFrame(rows, schema=schema)
