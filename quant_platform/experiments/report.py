"""What the ``experiments`` asset shows: a metrics table and an equity-curve picture of a RunSet's experiments.

The picture is a PNG drawn with matplotlib (the Agg backend: no display) and embedded in markdown as a data
URI, which the Dagster UI renders; without matplotlib it is a Vega-Lite spec in a markdown code block (the
same data, renderable by any Vega viewer), so the asset never fails for want of a plotting library.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import polars as pl

from quant_platform.experiments.experiment import Execution

METRIC_COLUMNS = (
    "status", "total_return", "sharpe_daily", "max_drawdown", "n_round_trips", "hit_rate", "turnover",
)  # fmt: skip


def metrics_rows(executions: list[Execution]) -> list[dict[str, Any]]:
    """One row per execution: strategy, ids, trade count, final equity and the engine's key metrics."""
    rows = []
    for run in executions:
        row = {
            "strategy": run.experiment.strategy.name,
            "experiment_id": run.experiment.experiment_id,
            "run_id": run.run_id,
            "mode": run.mode,
            "trades": run.trades.height,
            "final_equity": run.run["final_equity"],
            "pnl_net": float(run.daily_pnl["pnl_net"].sum()),
        }
        for name in METRIC_COLUMNS:
            value = run.metrics.get(name)
            row[name] = value if isinstance(value, str | int | float) or value is None else str(value)
        rows.append(row)
    return rows


def equity_curves(executions: list[Execution]) -> pl.DataFrame:
    """Long (strategy, ts, equity) of every execution, at bar resolution."""
    frames = [
        run.equity.select(pl.lit(run.experiment.strategy.name).alias("strategy"), "ts", "equity")
        for run in executions
    ]
    return (
        pl.concat(frames)
        if frames
        else pl.DataFrame(schema={"strategy": pl.String, "ts": pl.Datetime, "equity": pl.Float64})
    )


def equity_png(curves: pl.DataFrame, title: str) -> bytes:
    """Equity curves as PNG bytes (requires matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4), dpi=100)
    try:
        for (name,), curve in curves.partition_by("strategy", as_dict=True, maintain_order=True).items():
            axes.plot(curve["ts"].to_list(), curve["equity"].to_numpy(), label=name, linewidth=1.2)
        axes.set_title(title)
        axes.set_ylabel("equity")
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize=8)
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def vega_lite_spec(curves: pl.DataFrame, title: str, max_points: int = 2000) -> dict[str, Any]:
    """The same curves as a Vega-Lite line chart (thinned to ``max_points`` per strategy)."""
    thinned = []
    for (_,), curve in curves.partition_by("strategy", as_dict=True, maintain_order=True).items():
        step = max(1, curve.height // max_points)
        thinned.append(curve.gather_every(step))
    data = (
        pl.concat(thinned).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
        if thinned
        else curves
    )
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "data": {"values": data.to_dicts()},
        "mark": "line",
        "encoding": {
            "x": {"field": "ts", "type": "temporal"},
            "y": {"field": "equity", "type": "quantitative", "scale": {"zero": False}},
            "color": {"field": "strategy", "type": "nominal"},
        },
    }


def equity_markdown(curves: pl.DataFrame, title: str) -> tuple[str, str]:
    """``(markdown, kind)``: an embedded PNG (``png``) or, without matplotlib, a Vega-Lite spec (``vega-lite``)."""
    try:
        png = equity_png(curves, title)
    except ImportError:
        spec = json.dumps(vega_lite_spec(curves, title))
        return f"```json\n{spec}\n```", "vega-lite"
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})", "png"
