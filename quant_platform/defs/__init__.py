"""The Dagster layer: partitions, resources, the immutable Parquet IO manager, assets per layer, checks,
schedules and sensors. The only package that imports ``dagster``; every asset body calls the library."""
