"""Execution: the NautilusTrader strategy that trades a compiled blueprint (``execution/nautilus/``).

Only ``quant_platform.execution.nautilus`` imports ``nautilus_trader`` (the optional ``[nautilus]`` extra);
nothing else in the library does.
"""
