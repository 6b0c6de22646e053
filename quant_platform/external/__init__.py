"""External information as a first-class source: caller alerts, news and macro releases — connectors,
normalization, entity linking, deduplication, quality, point-in-time features and the synthetic generator.

Library only (no dagster); ``spec/external.yaml`` holds the sources, tiers, SLOs and thresholds.
"""
