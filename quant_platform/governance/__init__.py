"""Champion governance: the real-data gate, candidate states on the promotion ladder (shadow → canary →
live → retired), an append-only promotion ledger, rollback triggers and champion history.

Library only (no dagster): ``defs/governance.py`` wraps it as the ``champion`` asset and ``qp champion``
is its shell.
"""
