"""Jobs, schedules and sensors: the daily job materializes yesterday's market and features partitions."""

import dagster as dg

from quant_platform.defs.partitions import daily_partitions, runset_partitions

market_daily_job = dg.define_asset_job(
    "market_daily",
    selection=dg.AssetSelection.groups("market", "features"),
    partitions_def=daily_partitions,
    description="The daily layer for one UTC day: raw market tables, cleaned 5m bars and quarantine, then "
    "point-in-time features, cross-symbol context and events.",
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

defs = dg.Definitions(jobs=[market_daily_job, research_job], schedules=[market_daily_schedule])
