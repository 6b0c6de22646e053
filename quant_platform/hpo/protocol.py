"""The three-stage protocol (``spec/models.yaml`` hpo.stages), on disjoint recorded windows:

1. **coarse**: TPE + pruning over the full space on one symbol and a short window (purged K-fold);
2. **refine**: stage 1's top-k queued first, then TPE, on every symbol and a medium window (purged K-fold);
3. **forward**: stage 2's top-k, each trained on every row whose label ends before the forward window and
   scored on the window no earlier stage saw, against the frozen baseline trained on the same rows.

Windows are consecutive fractions of the training set's time span; a row belongs to a window only if its
whole label interval ``[entry_ts, exit_ts]`` lies inside it, so no label straddles two stages. Only stage-3
configurations that beat the baseline (the candidate rule of :func:`quant_platform.models.candidate_decision`)
become winners. Each stage is its own Optuna study ``<study>-<stage>`` in the one storage, so every stage
resumes independently and the whole protocol is re-runnable with the same call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import polars as pl
from optuna.trial import TrialState

from quant_platform.hpo.workers import FORWARD, KFOLD, ROLE, StageJob, run_stage, write_inputs
from quant_platform.models.dataset import ENTRY_TS, EXIT_TS, TrainingSet
from quant_platform.models.spec import ModelSpec, StageSpec


@dataclass(frozen=True)
class StageWindow:
    stage: str
    start: datetime
    end: datetime  # exclusive
    symbols: tuple[str, ...]


def stage_windows(training: TrainingSet, spec: ModelSpec) -> list[StageWindow]:
    first = training.frame[ENTRY_TS].min()
    last = training.frame[EXIT_TS].max()
    span = last - first
    symbols = tuple(sorted(training.frame["symbol"].unique().to_list()))
    out = []
    for stage in spec.hpo.stages:
        lo, hi = stage.window
        end = (
            last + (span / 10**6) if hi >= 1.0 else first + span * hi
        )  # the last window includes the last exit
        out.append(
            StageWindow(
                stage.name, first + span * lo, end, symbols[:1] if stage.symbols == "first" else symbols
            )
        )
    return out


def _inside(window: StageWindow) -> pl.Expr:
    return (
        (pl.col(ENTRY_TS) >= window.start)
        & (pl.col(EXIT_TS) < window.end)
        & pl.col("symbol").is_in(list(window.symbols))
    )


def _bars_for(bars: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    return bars.filter(
        pl.col("symbol").is_in(rows["symbol"].unique().to_list())
        & pl.col("ts").is_between(rows["ts"].min(), rows[EXIT_TS].max())
    )


def top_params(study: optuna.Study, k: int) -> list[dict[str, Any]]:
    """The ``k`` best complete trials' parameters (ties by trial number, so the order is reproducible)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    done.sort(key=lambda t: (-float(t.value), t.number))
    return [dict(t.params) for t in done[:k]]


@dataclass(frozen=True)
class ProtocolResult:
    storage: str
    study_name: str
    windows: list[StageWindow]
    stages: list[dict[str, Any]]  # per stage: counts, best value, pruned share, window
    forward: pl.DataFrame  # stage-3 trials: params, model/baseline metrics, candidate flag
    winner: (
        dict[str, Any] | None
    )  # best stage-3 candidate's params (None: no configuration beat the baseline)

    def history(self) -> dict[str, list[tuple[int, float | None]]]:
        """Per stage, (trial number, value) of every finished trial: the optimization history."""
        storage = self.storage
        out = {}
        for s in self.stages:
            study = optuna.load_study(study_name=s["study"], storage=_plain(storage))
            out[s["stage"]] = [
                (t.number, t.value) for t in study.get_trials(deepcopy=False) if t.state.is_finished()
            ]
        return out


def _plain(storage: str) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return storage if "://" in storage else JournalStorage(JournalFileBackend(storage))


def run_protocol(
    training: TrainingSet,
    bars: pl.DataFrame,
    spec: ModelSpec,
    *,
    storage: str,
    study_name: str,
    work_dir: str,
    n_workers: int,
    ledger_root: str | None = None,
    runset_id: str | None = None,
    n_trials: dict[str, int] | None = None,
    timeout_s: float | None = None,
) -> ProtocolResult:
    """Run (or resume) the three stages. ``n_trials`` overrides the spec's per-stage trial counts (tests,
    benchmarks); ``ledger_root`` is the registry root whose trial ledger gets every trial. ``timeout_s`` bounds
    the two searching stages together (each stops starting trials when it has passed and the protocol goes on
    with what finished); the forward stage always evaluates its few configurations."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    windows = stage_windows(training, spec)
    stages: list[dict[str, Any]] = []
    previous: optuna.Study | None = None
    forward_frame = pl.DataFrame()
    for stage, window in zip(spec.hpo.stages, windows, strict=True):
        name = f"{study_name}-{stage.name}"
        inside = training.frame.filter(_inside(window))
        if inside.height == 0:
            raise ValueError(
                f"hpo stage {stage.name}: no rows inside its window {window.start} .. {window.end}"
            )
        if stage is spec.hpo.stages[-1]:
            kind = FORWARD
            before = training.frame.filter(
                (pl.col(EXIT_TS) < window.start) & pl.col("symbol").is_in(list(window.symbols))
            )
            rows = pl.concat(
                [
                    before.with_columns(pl.lit("train").alias(ROLE)),
                    inside.with_columns(pl.lit("test").alias(ROLE)),
                ]
            )
            stage_bars = _bars_for(bars, inside)
        else:
            kind = KFOLD
            rows, stage_bars = inside, _bars_for(bars, inside)
        inputs_dir = str(Path(work_dir) / "inputs" / name)
        write_inputs(inputs_dir, rows, stage_bars)
        queued = (
            top_params(previous, stage.top_k_from_previous)
            if previous is not None and stage.top_k_from_previous
            else []
        )
        target = _target(stage, kind, queued, n_trials)
        job = StageJob(
            study_name=name, stage=stage.name, kind=kind, storage=storage, inputs_dir=inputs_dir,
            feature_names=training.feature_names, label=training.label, n_trials=target,
            seed=spec.hpo.seed, spec=spec, jsonl_path=str(Path(work_dir) / "trials" / f"{name}.jsonl"),
            registry_root=ledger_root, runset_id=runset_id,
        )  # fmt: skip
        study = _prepare(job, n_workers, window, queued)
        budget = None if deadline is None or kind == FORWARD else max(deadline - time.monotonic(), 0.0)
        counts = run_stage(job, n_workers, timeout_s=budget)
        study = optuna.load_study(study_name=name, storage=job.open_storage(n_workers))
        finished = [
            t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        ]
        complete = [t for t in finished if t.state == TrialState.COMPLETE]
        stages.append({
            "stage": stage.name, **counts, "kind": kind,
            "window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
            "symbols": list(window.symbols), "rows": inside.height,
            "best_value": max((t.value for t in complete), default=None),
            "pruned_share": (sum(t.state == TrialState.PRUNED for t in finished) / len(finished)) if finished else 0.0,
        })  # fmt: skip
        if kind == FORWARD:
            forward_frame = _forward_table(study)
        previous = study
    winner = None
    if forward_frame.height:
        cands = forward_frame.filter(pl.col("candidate")).sort(["value", "number"], descending=[True, False])
        if cands.height:
            winner = cands.row(0, named=True)
    return ProtocolResult(storage, study_name, windows, stages, forward_frame, winner)


def _target(
    stage: StageSpec, kind: str, queued: list[dict[str, Any]], override: dict[str, int] | None
) -> int:
    if kind == FORWARD:
        if not queued:
            raise ValueError("the forward stage needs the previous stage's top configurations")
        return len(queued)
    n = (override or {}).get(stage.name, stage.n_trials)
    if n < 1:
        raise ValueError(f"hpo stage {stage.name} needs n_trials >= 1")
    return max(n, len(queued))


def _prepare(
    job: StageJob, n_workers: int, window: StageWindow, queued: list[dict[str, Any]]
) -> optuna.Study:
    storage = job.open_storage(n_workers)
    study = optuna.create_study(
        study_name=job.study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    study.set_user_attr("window", [window.start.isoformat(), window.end.isoformat()])
    study.set_user_attr("symbols", list(window.symbols))
    study.set_user_attr("stage", job.stage)
    for params in queued:
        study.enqueue_trial(params, skip_if_exists=True)
    return study


def _forward_table(study: optuna.Study) -> pl.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        attrs = {k: v for k, v in t.user_attrs.items() if k not in ("worker", "candidate_reasons")}
        rows.append({"number": t.number, "value": t.value, "params": json.dumps(t.params, sort_keys=True), **attrs,
                     "candidate_reasons": "; ".join(t.user_attrs.get("candidate_reasons", []))})  # fmt: skip
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame(rows, infer_schema_length=None)
