"""Entry point of one worker process:
``python -m quant_platform.hpo.worker <job.pkl> <index> <n_workers> [<timeout seconds>]``."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from quant_platform.hpo.workers import worker_main


def main(argv: list[str]) -> None:
    job_path, index, n_workers, *timeout = argv
    job = pickle.loads(Path(job_path).read_bytes())
    worker_main(job, int(index), int(n_workers), float(timeout[0]) if timeout else None)


if __name__ == "__main__":
    main(sys.argv[1:])
