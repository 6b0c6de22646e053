"""``make bench``: run every ``bench/bench_*.py`` and print one table (ratios against in-run references).

``python -m bench.run [--quick] [--only NAME ...]``; results are also written to ``bench/results/latest.json``
(this run's rows, not kept) and, per benchmark, to ``bench/results/<name>[_quick].json`` (see
:func:`store_results`: committed, so every number quoted from a benchmark has its stored rows).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

import bench


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict[str, object]:
    """The commit the benchmark code was loaded from, and whether the tree had uncommitted changes then."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
    }


def store_results(
    name: str, rows: list[dict], quick: bool, started: datetime, code: dict[str, object] | None = None
) -> Path:
    """Write one benchmark's rows with what they were measured on to ``bench/results/<name>[_quick].json``.

    The files are committed (not git-ignored): a ratio or a recovery table quoted in a docstring, the README or
    an issue points at the stored rows it came from, with the commit, the date, the machine's cores and its
    load average at the end of the run (the machine may be shared: a noisy ratio says so). ``code``: the
    :func:`code_version` taken when the run started (default: now). A new run overwrites the file; git keeps
    the history."""
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}{'_quick' if quick else ''}.json"
    record = {
        "benchmark": name,
        "quick": quick,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **(code or code_version()),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "rows": rows,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark module names (without bench_)")
    args = parser.parse_args(argv)

    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    rows, failures = [], []
    code = code_version()  # the code every benchmark of this run imports
    for name in names:
        print(f"== {name}", flush=True)
        started = datetime.now(UTC)
        try:
            module = importlib.import_module(f"bench.{name}")
            got = module.run(quick=args.quick)
        except Exception:  # a broken benchmark must not hide the others' results
            failures.append(name)
            traceback.print_exc()
            continue
        for r in got:
            print(
                f"  {r['metric']:<48} {_fmt(r['value']):>12} {r['unit']:<10} "
                f"ref({r.get('reference_name') or '-'})={_fmt(r['reference'])} ratio={_fmt(r['ratio'])} "
                f"rss={_fmt(r['peak_rss_mb'])}MiB target[{r['target']}] met={_fmt(r['target_met'])}",
                flush=True,
            )
        rows.extend(got)
        store_results(name, got, args.quick, started, code)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2, default=str))
    if failures:
        print(f"failed benchmarks: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
