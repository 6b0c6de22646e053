"""Candidates carry the ontology hash of the spec they were computed under; a mismatch is an error."""

from __future__ import annotations

import polars as pl

from quant_platform.specs import ontology_hash


def check_ontology(frame: pl.DataFrame, expected: str | None = None) -> None:
    """Raise ``ValueError`` unless every row's ``ontology_hash`` equals ``expected`` (default: the active spec's).

    An empty frame passes when it has the column: it carries no result computed under another spec (a RunSet
    whose window has no events yields no candidates, and refusing it would fail the whole chain on a quiet
    window). A frame without the column, or a row with a null hash, is an error."""
    want = expected if expected is not None else ontology_hash()
    if "ontology_hash" not in frame.columns:
        raise ValueError("frame has no ontology_hash column: cannot tell which spec produced it")
    found = frame["ontology_hash"].unique().to_list()
    stale = [h for h in found if h != want]
    if stale:
        raise ValueError(
            f"ontology hash mismatch: frame was produced under spec {stale} but the current spec is {want}; "
            "recompute it under the current spec"
        )
