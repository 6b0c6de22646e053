"""Hyper-parameter search on Optuna (Dagster-free): TPE + median pruning over fold-level intermediate values,
worker processes sharing one study on a journal file (default) or an RDB, heartbeat retry of trials whose
worker died, every finished trial in a JSONL file and the registry's trial ledger, and the three-stage
protocol of ``spec/models.yaml``."""

from quant_platform.hpo.protocol import ProtocolResult, StageWindow, run_protocol, stage_windows, top_params
from quant_platform.hpo.records import TrialLog, TrialRecorder
from quant_platform.hpo.storage import HeartbeatJournalStorage, open_storage
from quant_platform.hpo.workers import StageJob, default_n_workers, run_stage

__all__ = [
    "HeartbeatJournalStorage",
    "ProtocolResult",
    "StageJob",
    "StageWindow",
    "TrialLog",
    "TrialRecorder",
    "default_n_workers",
    "open_storage",
    "run_protocol",
    "run_stage",
    "stage_windows",
    "top_params",
]
