"""What sizing each worker's BLAS/OpenMP pools to its share of the cores does (container.server).

    .venv/bin/python benchmarks/thread_pools.py [--seconds 5] [--rows 64]

A brute-force k-nearest-neighbours model (its predict is a BLAS matrix product, which OpenBLAS
or MKL split over every core by default) is loaded once; then 1, 2 and 4 forked processes, as
gunicorn's workers are, predict --rows rows at a time for --seconds, first with the pools as
loaded (every core each) and then limited to cores // processes with threadpoolctl, as
`serve` does in each worker after the fork. It prints predictions per second for the whole
machine, and each pool threadpoolctl found.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from container.server import pool_share  # noqa: E402

FEATURES = 20
TRAINING_ROWS = 50_000


def work(model: object, X: np.ndarray, seconds: float, limit: int | None, counts: object, index: int) -> None:
    from threadpoolctl import threadpool_limits

    if limit is not None:
        threadpool_limits(limits=limit)
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        model.predict(X)  # type: ignore[attr-defined]
        done += len(X)
    counts[index] = done  # type: ignore[index]


def main() -> None:
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rows", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X_train = rng.standard_normal((TRAINING_ROWS, FEATURES))
    model = KNeighborsClassifier(algorithm="brute").fit(X_train, (X_train[:, 0] > 0).astype(int))
    X = rng.standard_normal((args.rows, FEATURES))
    # No prediction here, before the fork: as in serve's master (the GNU OpenMP runtime, once its
    # pool has run, hangs a forked child that uses it).
    print(f"{len(os.sched_getaffinity(0))} cores; pools: " + "; ".join(
        f"{p['internal_api']} ({p['user_api']}) {p['num_threads']} threads" for p in threadpool_info()))
    context = get_context("fork")
    for workers in (1, 2, 4):
        line = []
        for limit in (None, pool_share(workers)):
            counts = context.Array("d", workers)
            processes = [context.Process(target=work, args=(model, X, args.seconds, limit, counts, i))
                         for i in range(workers)]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
            line.append(f"{'as loaded' if limit is None else f'{limit} thread(s) each'}: "
                        f"{sum(counts) / args.seconds:9.0f} rows/s")
        print(f"  {workers} worker(s): " + "   ".join(line), flush=True)


if __name__ == "__main__":
    main()
