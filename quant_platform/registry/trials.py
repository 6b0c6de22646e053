"""The trial ledger's evaluation kinds and its two counts (pure functions over ledger rows).

Every ledger row is one metric of one *evaluation*, keyed by ``(stage, kind, trial_id, sub_id)``:

- ``hypothesis``: a tested strategy hypothesis (``trial_id`` = candidate id, ``sub_id`` = ``""``).
- ``hpo_trial``: one hyper-parameter configuration of a model search (``trial_id`` = the model or study,
  ``sub_id`` = the trial number).
- ``fold``: one fold of a hypothesis (``sub_id`` = the fold index), e.g. Stage A's anchored folds.
- ``cpcv_path``: one CPCV backtest path of a hypothesis (``sub_id`` = the path index).

Two counts, because multiple-testing corrections need different things:

- :func:`count_hypotheses`: distinct *configurations* tested (``hypothesis`` and ``hpo_trial`` rows), across
  stages: a candidate that discovery tested and Stage A re-screens is one hypothesis, not two. This is the N
  of the DSR and of FDR over strategies (re-recording or re-evaluating a known hypothesis never moves it).
- :func:`count_evaluations`: every distinct evaluation (any kind, per stage), i.e. every fold, CPCV path,
  HPO trial and hypothesis any stage computed: how much was looked at in total.

Fact files written before ``kind``/``sub_id`` existed read with nulls there; :func:`with_legacy_kinds` reads
them as what they were, one hypothesis per (stage, trial_id).
"""

from __future__ import annotations

import polars as pl

HYPOTHESIS = "hypothesis"
HPO_TRIAL = "hpo_trial"
FOLD = "fold"
CPCV_PATH = "cpcv_path"
TRIAL_KINDS: tuple[str, ...] = (HYPOTHESIS, HPO_TRIAL, FOLD, CPCV_PATH)
# Kinds whose rows each name a distinct strategy configuration (folds and paths re-evaluate one of them).
CONFIGURATION_KINDS: tuple[str, ...] = (HYPOTHESIS, HPO_TRIAL)
EVALUATION_KEY: tuple[str, ...] = ("stage", "kind", "trial_id", "sub_id")


def with_legacy_kinds(ledger: pl.DataFrame) -> pl.DataFrame:
    """Rows from fact files older than ``kind``/``sub_id`` (nulls) read as hypotheses with no sub id."""
    return ledger.with_columns(pl.col("kind").fill_null(HYPOTHESIS), pl.col("sub_id").fill_null(""))


def count_hypotheses(ledger: pl.DataFrame) -> int:
    """Distinct configurations tested in ``ledger`` rows (module doc): hypotheses and HPO trials, each once
    however many stages evaluated it."""
    rows = with_legacy_kinds(ledger).filter(pl.col("kind").is_in(CONFIGURATION_KINDS))
    return rows.select("kind", "trial_id", "sub_id").unique().height


def count_evaluations(ledger: pl.DataFrame) -> int:
    """Distinct evaluations in ``ledger`` rows (module doc): every (stage, kind, trial_id, sub_id)."""
    return with_legacy_kinds(ledger).select(EVALUATION_KEY).unique().height
