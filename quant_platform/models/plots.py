"""PNG pictures of a model run for the Dagster UI: walk-forward equity (model vs baseline), per-fold IC,
feature importance and the search's optimization history. Matplotlib on the non-interactive Agg backend;
each function returns PNG bytes, and :func:`markdown_image` embeds them in a markdown metadata value."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, title: str) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def equity_png(equity: pl.DataFrame, title: str = "walk-forward out-of-sample equity") -> bytes:
    """``equity``: learner, ts, equity (the stitched out-of-sample replays)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    for learner in equity["learner"].unique(maintain_order=True).to_list():
        part = equity.filter(pl.col("learner") == learner).sort("ts")
        ax.plot(part["ts"].to_list(), part["equity"].to_numpy(), label=learner, linewidth=1)
    ax.set_title(title)
    ax.legend()
    fig.autofmt_xdate()
    return _png(fig)


def fold_ic_png(folds: pl.DataFrame) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 2.6))
    learners = folds["learner"].unique(maintain_order=True).to_list()
    width = 0.8 / max(len(learners), 1)
    for i, learner in enumerate(learners):
        part = folds.filter(pl.col("learner") == learner).sort("fold")
        ax.bar(part["fold"].to_numpy() + i * width, part["ic"].fill_null(0).to_numpy(), width, label=learner)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("walk-forward fold")
    ax.set_ylabel("Spearman IC")
    ax.legend()
    return _png(fig)


def importance_png(importance: dict[str, float], top: int = 20) -> bytes:
    items = sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title("feature importance (LightGBM gain)")
    return _png(fig)


def history_png(history: dict[str, list[tuple[int, float | None]]]) -> bytes:
    """Per stage, each finished trial's value and the running best."""
    fig, ax = plt.subplots(figsize=(7, 3))
    offset = 0
    for stage, points in history.items():
        xs = [offset + i for i, (_, v) in enumerate(points) if v is not None]
        ys = [v for _, v in points if v is not None]
        if ys:
            best = [max(ys[: i + 1]) for i in range(len(ys))]
            ax.scatter(xs, ys, s=10, label=f"{stage} trials")
            ax.plot(xs, best, linewidth=1)
        offset += len(points)
    ax.set_xlabel("trial (stages in order)")
    ax.set_ylabel("objective")
    ax.set_title("optimization history")
    ax.legend(fontsize=7)
    return _png(fig)
