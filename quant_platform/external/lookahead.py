"""Point-in-time audit of external events: what we knew at a cut must not change when later records arrive.

For each cut instant, the records ingested by then are processed alone and compared with the events computed
from everything: every row whose event time is at or before the cut must be the same in both (present in
both, same values). The event time is ``available_at`` (when we had the record); auditing a pipeline that
used the publish stamp instead (``event_time="published_at"``) finds every back-dated record — the
front-running caller of the synthetic generator — as a changed past event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from quant_platform.external.config import ExternalSpec
from quant_platform.external.pipeline import process_external

_COMPARED = ("record_uid", "symbol", "side", "quality", "cluster_id", "is_cluster_head")


@dataclass(frozen=True)
class ExternalLookaheadReport:
    cuts: list[datetime]
    n_changed: int
    changed: pl.DataFrame  # one row per past event that appeared, vanished or changed after its cut

    @property
    def passed(self) -> bool:
        return self.n_changed == 0


def external_lookahead_report(
    raw: pl.DataFrame,
    universe: list[str],
    cuts: list[datetime],
    spec: ExternalSpec | None = None,
    event_time: str = "available_at",
) -> ExternalLookaheadReport:
    spec = spec or ExternalSpec.from_spec()
    full = process_external(raw, universe, spec).events
    changes = []
    for cut in cuts:
        known = process_external(raw.filter(pl.col("ingested_at") <= cut), universe, spec).events
        before = known.filter(pl.col(event_time) <= cut).select(_COMPARED)
        after = full.filter(pl.col(event_time) <= cut).select(_COMPARED)
        diff = pl.concat(
            [
                after.join(before, on=list(_COMPARED), how="anti").with_columns(
                    pl.lit("appeared_or_changed").alias("change")
                ),
                before.join(after, on=list(_COMPARED), how="anti").with_columns(
                    pl.lit("vanished").alias("change")
                ),
            ]
        ).with_columns(pl.lit(cut).alias("cut"))
        changes.append(diff)
    changed = pl.concat(changes) if changes else pl.DataFrame()
    return ExternalLookaheadReport(cuts=list(cuts), n_changed=changed.height, changed=changed)
