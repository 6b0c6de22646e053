"""A governance test world: a registry with a live dataset, runs with provenance, and observed days whose
returns have a chosen daily Sharpe (deterministic from a seed)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from quant_platform.governance.observations import DayObservation, record_observations
from quant_platform.governance.service import DecisionOutcome, run_decision
from quant_platform.registry import DatasetSpec, Registry
from quant_platform.registry.provenance import Provenance

DAY0 = date(2025, 1, 1)
PROD = Provenance(run_source="prod", score_source="model", data_regime="prod_live")
MAINTENANCE = Provenance(run_source="maintenance", score_source="model", data_regime="maintenance_replay")


class World:
    def __init__(self, root: Path, source: str = "binance_files") -> None:
        self.registry = Registry(str(root / "registry"), str(root / "store"))
        self.dataset = DatasetSpec(
            dataset_id="live_v1",
            source=source,
            assets=["bars_5m"],
            symbols=["BTCUSDT"],
            first_day="2024-01-01",
        )
        self.registry.register_dataset(self.dataset)
        self.candidates: dict[str, str] = {}
        self._n_runs = 0

    def candidate(self, candidate_id: str, schema_version: str = "1") -> None:
        self.candidates[candidate_id] = schema_version

    def candidates_frame(self, only: list[str] | None = None) -> pl.DataFrame:
        ids = only if only is not None else sorted(self.candidates)
        return pl.DataFrame(
            {
                "candidate_id": ids,
                "candidate_kind": ["rule_blueprint"] * len(ids),
                "runset_id": ["0" * 64] * len(ids),
                "schema_version": [self.candidates[c] for c in ids],
            }
        )

    def observe(
        self,
        candidate_id: str,
        first_day: date,
        n_days: int,
        *,
        sharpe: float,
        n_runs: int = 5,
        provenance: Provenance = PROD,
        seed: int = 0,
        rejects: tuple[int, int] = (0, 10),
        slippage_bps: float = 1.0,
    ) -> None:
        """``n_runs`` completed runs, each observed every day of ``[first_day, first_day + n_days)``, with
        per-day returns whose annualized daily Sharpe over the block is exactly ``sharpe``."""
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(n_days)
        noise = (noise - noise.mean()) / noise.std(ddof=1)
        daily = 0.01 * noise + 0.01 * sharpe / np.sqrt(365)
        rows = []
        for _ in range(n_runs):
            self._n_runs += 1
            strategy = hashlib.sha256(f"{candidate_id}-{self._n_runs}".encode()).hexdigest()
            run = self.registry.register_run(
                dataset_ids=[self.dataset.dataset_id],
                strategy_hash=strategy,
                engine_version="e1",
                seed=self._n_runs,
                provenance=provenance,
            )
            for offset in range(n_days):
                rows.append(
                    DayObservation(
                        run_id=run,
                        candidate_id=candidate_id,
                        day=first_day + timedelta(days=offset),
                        daily_return=float(daily[offset]),
                        orders_submitted=rejects[1],
                        orders_rejected=rejects[0],
                        slippage_bps=slippage_bps,
                    )
                )
        record_observations(self.registry, rows)

    def decide(self, as_of: date, **kwargs) -> DecisionOutcome:
        only = kwargs.pop("only", None)
        return run_decision(self.registry, self.candidates_frame(only), as_of, **kwargs)

    def ledger_files(self) -> list[str]:
        return self.registry.fs.glob("governance/ledger/*.parquet")
