"""Run provenance: what produced a run (``run_source``), what scored its signal (``score_source``) and what
data it saw (``data_regime``). Every run fact carries the three; champion governance counts only runs whose
provenance passes its filters (``spec/governance.yaml``).

The vocabulary lives in ``spec/governance.yaml`` (``provenance``). One rule holds whatever the spec says: a
run over data from the synthetic market is never ``prod_live``.

Defaults are the conservative ones (``maintenance`` / ``heuristic`` / ``maintenance_replay``): a caller that
says nothing records a run that no production gate will ever count.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from quant_platform.specs import load_yaml

PROD_LIVE = "prod_live"
SYNTHETIC_SOURCES = frozenset({"synthetic"})


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, tuple[str, ...]]:
    spec = load_yaml("governance.yaml")["provenance"]
    return {
        "run_source": tuple(spec["run_sources"]),
        "score_source": tuple(spec["score_sources"]),
        "data_regime": tuple(spec["data_regimes"]),
    }


class Provenance(BaseModel):
    """The three provenance labels of one run, checked against the spec's vocabulary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_source: str = "maintenance"
    score_source: str = "heuristic"
    data_regime: str = "maintenance_replay"

    def model_post_init(self, _context: object) -> None:
        for field, allowed in vocabulary().items():
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(f"unknown {field} {value!r}; known: {list(allowed)}")

    def check_sources(self, dataset_sources: Iterable[str]) -> None:
        """Refuse ``prod_live`` for a run over any dataset from the synthetic market."""
        synthetic = sorted(set(dataset_sources) & SYNTHETIC_SOURCES)
        if self.data_regime == PROD_LIVE and synthetic:
            raise ValueError(
                "a run over synthetic data can never be data_regime=prod_live "
                f"(dataset sources {synthetic}); use maintenance_replay or mixed"
            )


# What the research chain records for its engine replays of rule candidates over history.
RESEARCH_REPLAY = Provenance(
    run_source="maintenance", score_source="heuristic", data_regime="maintenance_replay"
)
