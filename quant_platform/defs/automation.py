"""Jobs, schedules and sensors: the daily job materializes yesterday's market and features partitions; a
nightly housekeeping job deletes old finished runs with their event logs (Dagster has no event-log
retention setting; dagster.yaml's ``retention`` covers ticks only)."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from quant_platform.defs.partitions import daily_partitions, runset_partitions

market_daily_job = dg.define_asset_job(
    "market_daily",
    selection=dg.AssetSelection.groups("market", "features"),
    partitions_def=daily_partitions,
    description="The daily layer for one UTC day: raw market tables, cleaned 5m bars and quarantine, then "
    "point-in-time features, cross-symbol context and events.",
)

# External information for a day, linked to that day's bars_5m universe: a job of its own, since its source
# (files, REST endpoints, or the synthetic generator over the synthetic market) is configured separately.
external_daily_job = dg.define_asset_job(
    "external_daily",
    selection=dg.AssetSelection.groups("external"),
    partitions_def=daily_partitions,
    description="The day's caller alerts, news and macro releases: normalized, linked to the day's universe, "
    "deduplicated, quality-scored, quarantined with reasons.",
)

# A daily partition is complete once its UTC day has ended: run at 00:15 UTC for the day just finished.
market_daily_schedule = dg.build_schedule_from_partitioned_job(
    market_daily_job, hour_of_day=0, minute_of_hour=15
)


research_job = dg.define_asset_job(
    "research",
    selection=dg.AssetSelection.groups("research"),
    partitions_def=runset_partitions,
    description="The research chain for one RunSet: hypotheses, bridge, Stage A and Stage B.",
    tags={"quant_platform/layer": "research"},  # dagster.yaml limits concurrent research runs
)

FINISHED_RUN_STATUSES = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def purge_finished_runs(
    instance: dg.DagsterInstance, created_before: datetime, batch: int = 500
) -> list[str]:
    """Delete every finished run created before ``created_before``, with its event log; returns their ids.

    Queued or in-progress runs are never touched, however old. The Parquet store and the registry are not
    affected: they are the truth; runs and events are the instance's record of how they were produced.
    """
    deleted: list[str] = []
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=FINISHED_RUN_STATUSES, created_before=created_before), limit=batch
        )
        if not records:
            return deleted
        for record in records:
            instance.delete_run(record.dagster_run.run_id)
            deleted.append(record.dagster_run.run_id)


class PurgeRunsConfig(dg.Config):
    older_than_days: int = 90  # runs (and their event logs) kept this many days


@dg.op(description="Delete finished runs older than older_than_days, with their event logs.")
def purge_old_runs(context: dg.OpExecutionContext, config: PurgeRunsConfig) -> None:
    if config.older_than_days < 0:
        raise ValueError(f"older_than_days must be >= 0, got {config.older_than_days}")
    cutoff = datetime.now(UTC) - timedelta(days=config.older_than_days)
    deleted = purge_finished_runs(context.instance, cutoff)
    context.log.info(f"deleted {len(deleted)} finished runs created before {cutoff.isoformat()}")


@dg.job(
    description="Housekeeping: event-log retention by deleting old finished runs (see dagster.yaml for ticks)."
)
def purge_old_runs_job() -> None:
    purge_old_runs()


purge_old_runs_schedule = dg.ScheduleDefinition(
    job=purge_old_runs_job, cron_schedule="30 3 * * *", execution_timezone="UTC"
)

defs = dg.Definitions(
    jobs=[market_daily_job, external_daily_job, research_job, purge_old_runs_job],
    schedules=[market_daily_schedule, purge_old_runs_schedule],
)
