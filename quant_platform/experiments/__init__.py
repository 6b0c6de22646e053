"""Experiments (Dagster-free): strategy specs, experiments = RunSet + strategy, executed through the engine
into append-only facts the registry's DuckDB cache projects (``trades``, ``experiment_runs``, ...)."""

from quant_platform.experiments.experiment import (
    EXPLORATORY,
    REPRODUCIBLE,
    EmptyExperimentError,
    Execution,
    Experiment,
    ModelPolicyUnavailableError,
    create_experiment,
    execute_experiment,
    experiment_id,
    experiment_mode,
    experiment_runs,
    get_experiment,
    list_experiments,
)
from quant_platform.experiments.strategy import StrategySpec, list_strategies, load_strategy, parse_strategy

__all__ = [
    "EXPLORATORY",
    "REPRODUCIBLE",
    "EmptyExperimentError",
    "Execution",
    "Experiment",
    "ModelPolicyUnavailableError",
    "StrategySpec",
    "create_experiment",
    "execute_experiment",
    "experiment_id",
    "experiment_mode",
    "experiment_runs",
    "get_experiment",
    "list_experiments",
    "list_strategies",
    "load_strategy",
    "parse_strategy",
]
