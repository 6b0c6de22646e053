"""The storage benchmark compares like with like: its verified and unverified reads return the same rows
(checked inside ``run``), and it reports every row it promises."""

from __future__ import annotations

from bench import bench_storage


def test_storage_bench_quick_run_reports_read_and_write_ratios() -> None:
    rows = bench_storage.run(quick=True)
    metrics = [r["metric"] for r in rows]
    assert sum(m.startswith("verified read") for m in metrics) == 2
    assert any(m.startswith("durable write") for m in metrics)
    for r in rows:
        assert r["value"] > 0 and (r["reference"] is None or r["ratio"] > 0)
