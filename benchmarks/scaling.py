"""Throughput of evaluation jobs through the Ray executor with 1, 2 and 4 workers, and its efficiency.

Each size starts a private local Ray with that many CPUs and runs the same batch of screen-sized training
jobs (zoo references on the screen's MQAR task, shortened so a batch takes minutes), one CPU per job.
Efficiency = throughput(n) / (n × throughput(1)): near 1 while the machine has a free core per worker, and
falling once workers outnumber cores. Needs the ray extra (pip install -e '.[ray]').

Usage: python benchmarks/scaling.py [--workers 1,2,4] [--jobs 8] [--steps 150]
"""

from __future__ import annotations

import argparse
import os
import time

from asiarch.bench.stages import ZOO_PREFIX, TrainingJob
from asiarch.config import Config, ExecutionConfig, RayConfig, TrainConfig
from asiarch.execute.ray import RayExecutor

ZOO = ("deltanet", "gated_deltanet", "gla", "mamba2", "retnet", "linear_elu")
SCREEN_TASK = "mqar"


def jobs(count: int, steps: int) -> list[TrainingJob]:
    run = Config().stage("screen").tasks[SCREEN_TASK]
    run = run.model_copy(update={"train": TrainConfig(**{**run.train.model_dump(), "steps": steps})})
    return [TrainingJob(f"{ZOO_PREFIX}{ZOO[i % len(ZOO)]}", SCREEN_TASK, run, run.train.lrs[0], i) for i in range(count)]


def throughput(workers: int, batch: list[TrainingJob]) -> float:
    """Jobs per minute with ``workers`` Ray workers (a fresh local Ray each time)."""
    execution = ExecutionConfig(workers=workers, job_timeout_s=3600, ray=RayConfig(num_cpus=1))
    with RayExecutor(execution) as pool:
        started = time.perf_counter()
        outcomes = pool.run(batch)
        elapsed = time.perf_counter() - started
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise SystemExit(f"{len(failed)} job(s) failed, e.g. {failed[0]}")
    return 60 * len(batch) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local Ray needs no token
    batch = jobs(args.jobs, args.steps)
    cores = len(os.sched_getaffinity(0))
    base = None
    print(f"{args.jobs} MQAR screen jobs of {args.steps} steps each; {cores} cores here")
    for workers in (int(w) for w in args.workers.split(",")):
        rate = throughput(workers, batch)
        base = base or rate / workers
        print(f"{workers} worker(s): {rate:6.2f} jobs/min, efficiency {rate / (workers * base):.0%}")


if __name__ == "__main__":
    main()
