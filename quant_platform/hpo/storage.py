"""Optuna storages for the search: a journal file on one machine (the default), any RDB URL for many.

Optuna's heartbeat (a RUNNING trial whose worker stops beating is failed after a grace period and handed to
a stale-trial callback, here ``RetryHeartbeatStaleTrialCallback``: the same parameters are queued again) is
built into ``RDBStorage``. Optuna's ``JournalStorage`` has no heartbeat, so :class:`HeartbeatJournalStorage`
adds one through Optuna's own ``BaseHeartbeat`` interface: each worker's heartbeat thread (started by
``study.optimize``) writes the time into the trial's system attributes, and a trial whose last beat (or
start) is older than the grace period is stale. ``study.optimize`` then fails and retries stale trials
exactly as it does for an RDB.

Plain SQLite is refused for more than one worker: SQLite serializes writers with a file lock that parallel
workers contend on (Optuna's own docs advise against it); use the journal file or a server RDB.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

HEARTBEAT_ATTR = "heartbeat_unix"


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal-file storage with Optuna's heartbeat protocol (module docstring)."""

    def __init__(
        self,
        path: str,
        *,
        heartbeat_interval: int,
        grace_period: int,
        stale_callback: Callable[[optuna.Study, FrozenTrial], None] | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(JournalFileBackend(path))
        if heartbeat_interval < 1 or grace_period <= heartbeat_interval:
            raise ValueError("heartbeat_interval must be >= 1 s and grace_period longer than it")
        self.path = path
        self._interval = heartbeat_interval
        self._grace = grace_period
        self._stale_callback = stale_callback
        self._clock = clock

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, self._clock())

    def last_beat(self, trial: FrozenTrial) -> float:
        beat = trial.system_attrs.get(HEARTBEAT_ATTR)
        if beat is not None:
            return float(beat)
        return trial.datetime_start.timestamp() if trial.datetime_start else self._clock()

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = self._clock()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running if now - self.last_beat(t) > self._grace]

    def get_heartbeat_interval(self) -> int | None:
        return self._interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_callback

    @property
    def grace_period(self) -> int:
        return self._grace


def is_rdb_url(storage: str) -> bool:
    return "://" in storage


def open_storage(
    storage: str, *, n_workers: int, heartbeat_interval: int, grace_period: int, max_retry: int
) -> BaseStorage:
    """A journal file path (default) or an RDB URL, both with heartbeat and stale-trial retry."""
    with (
        warnings.catch_warnings()
    ):  # Optuna marks the retry callback experimental; its behaviour is tested here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    if is_rdb_url(storage):
        if storage.startswith("sqlite") and n_workers > 1:
            raise ValueError(
                f"refusing plain SQLite ({storage}) for {n_workers} parallel workers: use the journal file "
                "(a path) or a server RDB URL (postgresql://, mysql://)"
            )
        return RDBStorage(
            storage,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=retry,
        )
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    return HeartbeatJournalStorage(
        storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period, stale_callback=retry
    )


def grace_of(storage: BaseStorage) -> float:
    if isinstance(storage, HeartbeatJournalStorage):
        return storage.grace_period
    if isinstance(storage, RDBStorage):
        return float(storage.grace_period or 2 * (storage.heartbeat_interval or 0))
    return 0.0
