"""quant_platform: a research lab for systematic crypto and equity strategies.

The library lives in one folder per domain (``market/``, ``features/``, ``events/`` …) and never imports
Dagster; ``quant_platform/defs/`` is the thin Dagster layer and ``quant_platform/definitions.py`` its
single entry point.
"""

__version__ = "0.1.0"
