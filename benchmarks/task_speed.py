"""How fast each evaluation task makes a training batch (the data side of a training step).

Prints the median milliseconds per ``train_batch`` of 64 sequences over 20 calls, per task; the target
is well under 10 ms, so data generation stays a small share of a CPU training step. (This was a timed
unit test; timings belong in benchmarks, where a busy machine cannot turn them into failures.)

    python benchmarks/task_speed.py [--batch 64] [--calls 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from asiarch.bench.tasks import TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    for name, cls in TASKS.items():
        task = cls()
        generator = torch.Generator().manual_seed(0)
        task.train_batch(args.batch, generator)
        times = []
        for _ in range(args.calls):
            start = time.perf_counter()
            task.train_batch(args.batch, generator)
            times.append(time.perf_counter() - start)
        print(f"{name:16s} {1e3 * statistics.median(times):7.2f} ms per batch of {args.batch}")


if __name__ == "__main__":
    main()
