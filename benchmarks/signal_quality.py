"""How much signal does a stage carry? Train every reference over several seeds and print:

- each task's mean ± sd per reference,
- wall and CPU seconds per candidate evaluation (amortised over the batch, and one evaluation alone),
- Kendall tau of the reference ranking between every pair of seeds, per task,
- the separation between adjacent references in units of their seed spread,
- whether softmax ranks first and elu+1 linear attention last on recall in every seed.

Usage: python benchmarks/signal_quality.py [--stage screen] [--seeds 3] [--references a,b,...] [--use-cache]
The results are also written to the per-machine baseline cache, so `asiarch eval` reuses them.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from rich.console import Console
from rich.table import Table

from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import ZOO_PREFIX
from asiarch.config import load_config
from asiarch.execute.evaluate import Evaluation, evaluate_all, reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.stats import kendall_tau, separation
from asiarch.terminal import evaluation_tables, job_progress

RECALL_TASK = "mqar"
CEILING, FLOOR = "softmax", "linear_elu"


def per_seed_costs(evaluation: Evaluation) -> list[float]:
    """CPU seconds of each seed's full stage evaluation (all tasks, all learning rates)."""
    totals: dict[int, float] = {}
    for _, result in evaluation.rows:
        totals[result.seed] = totals.get(result.seed, 0.0) + result.cpu_s
    return list(totals.values())


def ranking_table(refs: dict[str, Evaluation], seeds: int) -> tuple[Table, list[str]]:
    table = Table(title="ranking stability and separation", title_justify="left")
    for column in ("task", "Kendall τ per seed pair", "min τ", "adjacent separations (sd units), best → worst"):
        table.add_column(column)
    failures: list[str] = []
    labels = list(next(iter(refs.values())).tasks)
    for label in labels:
        tasks = {name: ev.tasks[label] for name, ev in refs.items()}
        sign = 1 if next(iter(tasks.values())).higher_is_better else -1
        taus = []
        for s1, s2 in itertools.combinations(range(seeds), 2):
            a = [sign * t.per_seed[s1].value for t in tasks.values()]
            b = [sign * t.per_seed[s2].value for t in tasks.values()]
            taus.append(kendall_tau(a, b))
        ordered = sorted(tasks.items(), key=lambda item: -sign * item[1].mean)
        seps = [
            f"{hi[0]}>{lo[0]} {sign * separation(hi[1].values, lo[1].values):.1f}"
            for hi, lo in itertools.pairwise(ordered)
        ]
        table.add_row(label, " ".join(f"{t:.2f}" for t in taus), f"{min(taus):.2f}", ", ".join(seps))
        if label == RECALL_TASK and CEILING in tasks and FLOOR in tasks:
            for seed in range(seeds):
                by_seed = sorted(tasks, key=lambda name: -sign * tasks[name].per_seed[seed].value)
                if by_seed[0] != CEILING or by_seed[-1] != FLOOR:
                    failures.append(f"seed {seed}: {RECALL_TASK} order is {' > '.join(by_seed)}")
    return table, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="screen")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--references", default=None, help="comma-separated zoo names (default: all configured)")
    parser.add_argument("--use-cache", action="store_true", help="reuse cached reference results if present")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    args = parser.parse_args()

    console = Console()
    overrides = [f"stages.{args.stage}.reference_seeds={args.seeds}", *args.overrides]
    cfg = load_config(None, overrides)
    stage = cfg.stage(args.stage)
    names = args.references.split(",") if args.references else cfg.references
    executor = LocalExecutor(cfg.execution)

    started = time.perf_counter()
    refs = reference_evaluations(
        names,
        args.stage,
        stage,
        executor,
        BaselineCache(cfg.cache_dir),
        job_progress(console, "references", executor.workers),
        refresh=not args.use_cache,
    )
    batch_wall = time.perf_counter() - started
    for table in evaluation_tables({}, refs, args.stage, None):
        console.print(table)

    cpu = [c for ev in refs.values() for c in per_seed_costs(ev)]
    evaluations = len(names) * args.seeds
    console.print(
        f"{evaluations} evaluations ({len(names)} references × {args.seeds} seeds) on {executor.workers} workers: "
        f"batch wall {batch_wall:.0f} s → {batch_wall / evaluations:.1f} s wall per evaluation amortised; "
        f"CPU per evaluation {statistics.fmean(cpu):.0f} s (min {min(cpu):.0f}, max {max(cpu):.0f})"
    )
    slowest = max(refs, key=lambda name: statistics.fmean(per_seed_costs(refs[name])))
    _, wall = evaluate_all({ZOO_PREFIX + slowest: [0]}, stage, executor, job_progress(console, slowest, executor.workers))
    console.print(f"one {args.stage} evaluation alone ({slowest}, the slowest reference): {wall:.0f} s wall")

    table, failures = ranking_table(refs, args.seeds)
    console.print(table)
    if failures:
        for failure in failures:
            console.print(f"[red]ordering target missed[/] {failure}")
    else:
        console.print(f"ordering target met: {CEILING} first and {FLOOR} last on {RECALL_TASK} in every seed")


if __name__ == "__main__":
    main()
