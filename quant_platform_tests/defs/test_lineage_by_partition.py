"""A single-run backfill records each day's own upstream window (what a one-day run of that day reads), with
runs of never-materialized upstream days collapsed into one recorded entry."""

from __future__ import annotations

from datetime import date, timedelta

from quant_platform.defs.io_manager import lineage_by_partition


def _loaded(first: date, last: date, missing_before: date) -> list[dict]:
    """What load_input records for a look-back window: every key, missing ones with content_hash None."""
    out = []
    day = first
    while day <= last:
        present = day >= missing_before
        out.append(
            {"asset": "up", "partition": day.isoformat(), "content_hash": f"h{day:%d}" if present else None}
        )
        day += timedelta(days=1)
    return out


def test_each_day_gets_the_lineage_of_its_own_one_day_run() -> None:
    lookback, start, days = 5, date(2024, 1, 10), 4
    keys = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    data_from = date(2024, 1, 8)
    backfill = lineage_by_partition(
        _loaded(start - timedelta(days=lookback), start + timedelta(days=days - 1), data_from), keys
    )
    for i, key in enumerate(keys):
        day = start + timedelta(days=i)
        alone = lineage_by_partition(_loaded(day - timedelta(days=lookback), day, data_from), [key])[key]
        assert backfill[key] == alone, key
    first = backfill[keys[0]]
    # 2024-01-05..07 never materialized: one entry, counted; then 01-08..01-10 each with its version
    assert first[0] == {
        "asset": "up",
        "partition": "2024-01-05..2024-01-07",
        "content_hash": None,
        "missing_partitions": 3,
    }
    assert [x["partition"] for x in first[1:]] == ["2024-01-08", "2024-01-09", "2024-01-10"]
    assert len(backfill[keys[-1]]) == 1 + 5  # window of 6 days, 01-08..01-13 present, 01-07 missing


def test_same_day_inputs_keep_only_their_day_and_other_keys_pass_through() -> None:
    loaded = [{"asset": "raw", "partition": k, "content_hash": k} for k in ("2024-01-01", "2024-01-02")]
    assert lineage_by_partition(loaded, ["2024-01-01", "2024-01-02"]) == {
        "2024-01-01": [loaded[0]],
        "2024-01-02": [loaded[1]],
    }
    runset = [{"asset": "features_v1", "partition": "2024-01-01", "content_hash": "x"}]
    assert lineage_by_partition(runset, ["my_runset"]) == {"my_runset": runset}
