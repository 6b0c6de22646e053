"""Read ``spec/`` (the YAML ground truth) and fingerprint it.

Code reads parameters from here and never restates them. The ontology hash is sha256 over the canonical
content of every YAML file under ``spec/`` (path + parsed content, so formatting and comments do not change
it), computed once per process and carried by every downstream output.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from quant_platform.core.hashing import canonical_hash

_ENV_ROOT = "QUANT_PLATFORM_SPEC_ROOT"


def spec_root() -> Path:
    """The ``spec/`` directory: ``$QUANT_PLATFORM_SPEC_ROOT`` if set, else the one beside the package."""
    override = os.environ.get(_ENV_ROOT)
    root = Path(override) if override else Path(__file__).resolve().parents[2] / "spec"
    if not root.is_dir():
        raise FileNotFoundError(f"spec directory not found: {root}")
    return root


def load_yaml(relative_path: str, root: Path | None = None) -> Any:
    """Parse one spec file, e.g. ``load_yaml("gates.yaml")``. Paths may not leave the spec root."""
    base = (root or spec_root()).resolve()
    path = (base / relative_path).resolve()
    if base not in path.parents:
        raise ValueError(f"spec path escapes the spec root: {relative_path!r}")
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_dir(relative_dir: str, root: Path | None = None) -> dict[str, Any]:
    """Every ``*.yaml`` directly under a spec sub-directory, keyed by file stem, in name order."""
    base = (root or spec_root()) / relative_dir
    return {
        p.stem: load_yaml(str(p.relative_to(root or spec_root())), root) for p in sorted(base.glob("*.yaml"))
    }


# Spec folders that are not ontology: strategy specs (spec/strategies/) are what experiments trade, each with its
# own strategy hash; adding one must not invalidate every stored discovery output's ontology check.
NON_ONTOLOGY_DIRS: tuple[str, ...] = ("strategies",)


def compute_ontology_hash(root: Path | None = None) -> str:
    base = root or spec_root()
    content = {
        str(p.relative_to(base)).replace(os.sep, "/"): yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted(base.rglob("*.yaml"))
        if p.relative_to(base).parts[0] not in NON_ONTOLOGY_DIRS
    }
    return canonical_hash(content)


@lru_cache(maxsize=1)
def ontology_hash() -> str:
    """The ontology hash of the active ``spec/`` (cached: the spec does not change under a running process)."""
    return compute_ontology_hash()
