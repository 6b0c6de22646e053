"""``qp hpo status|resume --study NAME``: a study's progress from the shell, and the same-command resume.

``status`` reads the study from its storage (``--storage``: a journal file path or an RDB URL; by default
the journal the study's recorded job names, found under ``--root``) and prints trials by state, the best
value and the stage's recorded window, with a progress bar of finished trials against the target.
``resume`` runs the stage again from its recorded job (``<root>/**/inputs/<study>/job.pkl``, written when
the stage first ran): dead workers' trials are failed by the heartbeat and retried, missing JSONL lines and
ledger rows are written, and the stage runs to its target while a progress bar follows it.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import threading
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

DEFAULT_ROOT = "data/hpo"


def find_job(root: str, study: str) -> Any:
    hits = sorted(Path(root).glob(f"**/inputs/{study}/job.pkl"))
    if not hits:
        raise LookupError(f"no recorded job for study {study!r} under {root} (run the stage once first)")
    if len(hits) > 1:
        raise LookupError(
            f"study {study!r} is recorded more than once under {root}: {[str(h) for h in hits]}"
        )
    return pickle.loads(hits[0].read_bytes())


def _load(study: str, storage: str) -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if "://" not in storage and not Path(storage).exists():
        raise LookupError(f"no journal file at {storage}")
    backend = storage if "://" in storage else JournalStorage(JournalFileBackend(storage))
    return optuna.load_study(study_name=study, storage=backend)


def study_status(study: optuna.Study, target: int | None) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    done = counts["COMPLETE"] + counts["PRUNED"]
    complete = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return {
        "study": study.study_name,
        "trials": counts,
        "finished": done,
        "target": target,
        "best_value": max(complete) if complete else None,
        "window": study.user_attrs.get("window"),
        "symbols": study.user_attrs.get("symbols"),
    }


def progress_bar(done: int, target: int | None, width: int = 30) -> str:
    if not target:
        return f"{done} finished"
    filled = min(width, round(width * done / target))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{target}"


def _status(args: argparse.Namespace) -> int:
    import json

    job = None
    if args.storage is None or args.target is None:
        job = find_job(args.root, args.study)
    storage = args.storage or job.storage
    target = args.target if args.target is not None else job.n_trials
    status = study_status(_load(args.study, storage), target)
    if args.json:
        print(json.dumps(status, sort_keys=True, default=str))
    else:
        print(f"{status['study']}  {progress_bar(status['finished'], target)}")
        print("  " + "  ".join(f"{k.lower()}={v}" for k, v in status["trials"].items()))
        print(f"  best={status['best_value']}  window={status['window']}  symbols={status['symbols']}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from quant_platform.hpo.workers import default_n_workers, run_stage

    job = find_job(args.root, args.study)
    n_workers = args.n_workers or default_n_workers()
    stop = threading.Event()

    def follow() -> None:
        with tqdm(total=job.n_trials, desc=job.study_name, file=sys.stderr, disable=args.json) as bar:
            while not stop.wait(1.0):
                try:
                    done = study_status(_load(job.study_name, job.storage), job.n_trials)["finished"]
                except (KeyError, LookupError):
                    continue
                bar.n = done
                bar.refresh()

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    try:
        counts = run_stage(job, n_workers)
    finally:
        stop.set()
        watcher.join()
    import json

    print(json.dumps(counts, sort_keys=True) if args.json else f"{job.study_name}: {counts}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    hpo = subparsers.add_parser("hpo", help="hyper-parameter studies: status and resume")
    commands = hpo.add_subparsers(dest="hpo_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--study", required=True, help="the stage's study name (e.g. hpo-<runset>-coarse)")
    common.add_argument(
        "--root", default=DEFAULT_ROOT, help=f"where studies are recorded (default {DEFAULT_ROOT})"
    )
    common.add_argument("--json", action="store_true", help="JSON output")

    status = commands.add_parser("status", parents=[common], help="trials by state, best value, progress")
    status.add_argument("--storage", help="journal file path or RDB URL (default: the recorded job's)")
    status.add_argument("--target", type=int, help="finished trials wanted (default: the recorded job's)")
    status.set_defaults(func=_status)

    resume = commands.add_parser("resume", parents=[common], help="run the stage to its target again")
    resume.add_argument(
        "--n-workers", type=int, default=0, help="worker processes (default max(1, cpus - 2))"
    )
    resume.set_defaults(func=_resume)
