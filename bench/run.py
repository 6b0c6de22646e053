"""``make bench``: run every ``bench/bench_*.py`` and print one table (ratios against in-run references).

``python -m bench.run [--quick] [--only NAME ...]``; results are also written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import traceback
from pathlib import Path

import bench


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark module names (without bench_)")
    args = parser.parse_args(argv)

    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    rows, failures = [], []
    for name in names:
        print(f"== {name}", flush=True)
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
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2, default=str))
    if failures:
        print(f"failed benchmarks: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
