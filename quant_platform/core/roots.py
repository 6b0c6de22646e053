"""Where the store and the registry live by default: one definition for the ``qp`` CLI and the Dagster resources.

``$QP_STORE_ROOT`` / ``$QP_REGISTRY_ROOT`` (any fsspec URL) win; otherwise ``data/store`` and ``data/registry``
inside the project checkout, never relative to the current directory, so ``qp`` run from any folder and the
Dagster code location see the same registry. The environment is passed in by the entry points (the CLI, the
Dagster definitions); library code never reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

STORE_ROOT_ENV = "QP_STORE_ROOT"
REGISTRY_ROOT_ENV = "QP_REGISTRY_ROOT"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_store_root(environ: Mapping[str, str]) -> str:
    """``environ[QP_STORE_ROOT]`` if set and non-empty, else ``<checkout>/data/store``."""
    return environ.get(STORE_ROOT_ENV) or str(PROJECT_ROOT / "data" / "store")


def default_registry_root(environ: Mapping[str, str]) -> str:
    """``environ[QP_REGISTRY_ROOT]`` if set and non-empty, else ``<checkout>/data/registry``."""
    return environ.get(REGISTRY_ROOT_ENV) or str(PROJECT_ROOT / "data" / "registry")
