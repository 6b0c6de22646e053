"""Strategy blueprints: Stage-B survivors compiled into NautilusTrader ``ImportableStrategyConfig`` lines.

The compiler is pure (Polars in, a frame and ``blueprints.jsonl`` bytes out) and never imports
``nautilus_trader``; the strategy it names lives in :mod:`quant_platform.execution.nautilus`.
"""

from quant_platform.blueprints.compile import (
    CONFIG_PATH,
    STRATEGY_PATH,
    CompiledBlueprints,
    blueprint_id,
    compile_blueprints,
    read_blueprints_jsonl,
)
from quant_platform.blueprints.files import write_blueprints_jsonl
from quant_platform.blueprints.schemas import StrategyBlueprints

__all__ = [
    "CONFIG_PATH",
    "STRATEGY_PATH",
    "CompiledBlueprints",
    "StrategyBlueprints",
    "blueprint_id",
    "compile_blueprints",
    "read_blueprints_jsonl",
    "write_blueprints_jsonl",
]
