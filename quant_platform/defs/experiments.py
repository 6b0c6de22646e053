"""``experiments`` (RunSet-partitioned): execute the configured strategies on the RunSet and show them.

Thin: for each strategy file named in the run config (default: every spec in ``spec/strategies/``), create the
experiment (RunSet + strategy) and execute it through the library (:mod:`quant_platform.experiments`), which
reads exactly the RunSet's resolved versions, replays through the engine and writes the facts. The asset's
table is one summary row per strategy; its metadata carries the metrics table and the equity curves (a PNG,
or a Vega-Lite spec without matplotlib). A strategy that cannot run (no events of its type, a model policy,
an unknown event type) fails the materialization naming every such strategy and why — after the others have
been executed and recorded — so an empty experiment is never a green run.
"""

import dagster as dg
import pydantic

from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.partitions import runset_partitions
from quant_platform.defs.registry import Registry, runset_output_metadata
from quant_platform.experiments import create_experiment, execute_experiment, list_strategies, load_strategy
from quant_platform.experiments.report import equity_curves, equity_markdown
from quant_platform.experiments.schemas import ExperimentSummary, summary_frame

INPUTS = ("bars_5m", "market_events", "features_v1", "raw_funding")


class ExperimentsConfig(dg.Config):
    strategies: list[str] = pydantic.Field(
        default_factory=list
    )  # spec/strategies/ names (or YAML paths); empty: every shipped strategy


def _table(frame) -> dg.MetadataValue:
    columns = ["strategy", "trades", "pnl_net", "final_equity", "total_return", "sharpe_daily", "max_drawdown",
               "hit_rate", "status", "mode"]  # fmt: skip
    types = {"strategy": "string", "status": "string", "mode": "string", "trades": "int"}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, types.get(c, "float")) for c in columns])
    records = [
        dg.TableRecord({c: row[c] for c in columns}) for row in frame.select(columns).iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


@dg.asset(
    partitions_def=runset_partitions,
    group_name="research",
    deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in INPUTS],
    check_specs=[schema_check_spec("experiments", ExperimentSummary)],
    description="Strategy specs (spec/strategies/) executed on the RunSet through the engine: runs, trades, daily "
    "PnL and metrics as registry facts; metrics table and equity curves in the metadata.",
)
def experiments(context: dg.AssetExecutionContext, config: ExperimentsConfig, registry: Registry):
    library = registry.library()
    strategies = [load_strategy(name) for name in config.strategies] or list_strategies()
    if not strategies:
        raise dg.Failure("no strategies configured and none in spec/strategies/")
    executions, failures = [], {}
    for strategy in strategies:
        try:
            experiment = create_experiment(library, context.partition_key, strategy)
            executions.append(
                execute_experiment(library, experiment.experiment_id, dagster_run_id=context.run_id)
            )
        except (ValueError, LookupError, NotImplementedError) as exc:
            failures[strategy.name] = str(exc)
    if failures:
        raise dg.Failure(
            f"{len(failures)} of {len(strategies)} strategies could not run on RunSet {context.partition_key!r}",
            metadata={"failures": dg.MetadataValue.json(failures),
                      "executed": dg.MetadataValue.json([e.experiment.strategy.name for e in executions])},
        )  # fmt: skip
    frame = summary_frame(executions)
    resolution = library.resolution(context.partition_key, executions[0].resolution_hash)
    picture, picture_kind = equity_markdown(
        equity_curves(executions), f"equity: RunSet {context.partition_key}"
    )
    yield parquet_output(
        context,
        frame,
        metadata={
            **runset_output_metadata(resolution),
            "metrics": _table(frame),
            "equity_curves": dg.MetadataValue.md(picture),
            "equity_curves_format": picture_kind,
            "run_ids": dg.MetadataValue.json({e.experiment.strategy.name: e.run_id for e in executions}),
            "trades": int(frame["trades"].sum()),
            "facts_written": int(frame["facts_written"].sum()),
        },
    )
    yield schema_check_result("experiments", ExperimentSummary, frame)


defs = dg.Definitions(assets=[experiments])
