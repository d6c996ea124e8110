"""Are the references as strong as an outside implementer would make them?

Trains every independent implementation in ``benchmarks/reference_variants/`` (files named ``<zoo name>_<variant>.py``,
written from the papers) under exactly the references' protocol — the stage's tasks on the references' seeds, every
learning rate on every seed, the learning rate chosen on validation — and prints, per reference and task, the zoo
mean ± sd beside the best variant's (best by validation mean, shown on test), and the difference in units of the
stage's reference spread σ_t (the unit fitness is measured in). A variant better than its zoo counterpart by more
than one σ_t on any task is a FAIL: a candidate could then be promoted for being a better-written reference.

    python benchmarks/reference_strength.py [--stage screen] [--variants DIR] [--only deltanet,gla] [--config FILE]

Variants must pass every gate their zoo counterpart passes (those that do not are listed and skipped). The references come from the baseline
cache (measured once per machine); the variants are trained every time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from asiarch.agents.engineer import Engineer
from asiarch.agents.fitness import Standardiser
from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import TaskSummary, reference_protocol, stage_seeds
from asiarch.bench.tasks.base import TEST, VALIDATION
from asiarch.config import load_config
from asiarch.execute.evaluate import evaluate_all, reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.terminal import format_value, job_progress

VARIANTS = Path(__file__).parent / "reference_variants"
WIDE = 160


def variant_files(directory: Path, zoo: list[str], only: list[str] | None) -> dict[str, list[Path]]:
    """Variant files per zoo name, from their ``<zoo name>_<variant>.py`` names (longest zoo name first, so
    ``gated_deltanet_x`` is not taken for a ``deltanet`` variant)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.glob("*.py")):
        name = next((z for z in sorted(zoo, key=len, reverse=True) if path.stem.startswith(z + "_")), None)
        if name is not None and (only is None or name in only):
            found.setdefault(name, []).append(path)
    return found


def cell(summary: TaskSummary) -> str:
    return f"{format_value(summary, summary.mean)} ± {format_value(summary, summary.sd)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="screen")
    parser.add_argument("--variants", type=Path, default=VARIANTS)
    parser.add_argument("--only", default=None, help="comma-separated zoo names (default: every one with variants)")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    args = parser.parse_args()

    console = Console() if sys.stdout.isatty() else Console(width=WIDE)  # a pipe or file gets the whole table
    cfg = load_config(args.config, args.overrides)
    stage = cfg.stage(args.stage)
    variants = variant_files(args.variants, cfg.references, args.only.split(",") if args.only else None)
    executor = LocalExecutor(cfg.execution)
    engineer = Engineer(cfg, executor)
    passing: dict[str, list[Path]] = {}
    for name, paths in variants.items():
        zoo_verdict = engineer.check(f"zoo:{name}")[-1]
        for path in paths:
            verdict = engineer.check(path)[-1]
            if verdict.passed or (not zoo_verdict.passed and verdict.gate == zoo_verdict.gate):
                passing.setdefault(name, []).append(path)  # softmax fails the sub-quadratic gate as its zoo version
            else:
                console.print(f"[yellow]skipped[/] {path.name}: failed the {verdict.gate} gate: {verdict.reason}")
    refs = reference_evaluations(cfg.references, args.stage, stage, executor, BaselineCache(cfg.cache_dir),
                                 job_progress(console, "references", executor.workers))  # fmt: skip
    seeds = stage_seeds(stage, stage.reference_seeds)
    requests = {str(path): seeds for paths in passing.values() for path in paths}
    found, wall = evaluate_all(requests, reference_protocol(stage), executor,
                               job_progress(console, "variants", executor.workers))  # fmt: skip
    yardstick = Standardiser(stage, {n: e.tasks for n, e in refs.items()}, cfg.analyst, TEST)

    table = Table(title=f"{args.stage}: zoo references against independent implementations (test split)")
    for column in ("reference", "task", "zoo", "best variant", "variant", "σ_t", "variant − zoo (σ_t)", "verdict"):
        table.add_column(column)
    beaten = []
    for name, paths in passing.items():
        for label, scale in yardstick.scales.items():
            zoo = refs[name].tasks[label]
            tried = [(path, found[str(path)].tasks.get(label)) for path in paths]
            tried = [(path, summary) for path, summary in tried if summary is not None]
            if not tried:
                continue
            sign = 1.0 if zoo.higher_is_better else -1.0
            path, best = max(tried, key=lambda item: sign * statistics.fmean(item[1].values_on(VALIDATION)))
            margin = sign * (best.mean - zoo.mean) / scale.sigma
            verdict = "FAIL" if margin > 1.0 else "ok"
            if verdict == "FAIL":
                beaten.append(f"{path.stem} on {label}")
            table.add_row(name, label, cell(zoo), cell(best), path.stem, format_value(zoo, scale.sigma),
                          f"{margin:+.2f}", verdict)  # fmt: skip
    console.print(table)
    console.print(f"variants trained in {wall / 60:.1f} min wall on {executor.workers} workers")
    if beaten:
        console.print(f"[red]target missed[/]: an independent implementation beats the zoo by > 1 σ_t: {', '.join(beaten)}")
    else:
        console.print("target met: no independent implementation beats its zoo counterpart by more than one σ_t")


if __name__ == "__main__":
    main()
