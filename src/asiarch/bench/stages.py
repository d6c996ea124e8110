"""Turning a stage definition into training jobs, and job results back into per-task verdicts.

A stage evaluation of one architecture trains every task run on the stage's seeds
(``seed_base``, ``seed_base + 1``, …). A candidate's first ``lr_search_seeds`` seeds train at every
configured learning rate; per task, the learning rate with the best *validation* mean over those seeds is
its learning rate, and the later seeds train at it alone. References try every learning rate on every seed
(``reference_protocol``). So an architecture is judged at its own best setting (not at one that suits
another design), the choice never looks at test data, and every seed of a task uses the same learning rate
(no per-seed maximum that would flatter a noisy layer).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asiarch.bench.metrics import higher_is_better
from asiarch.bench.tasks.base import TEST, HeldOut
from asiarch.bench.trainer import RunResult
from asiarch.config import GatesConfig, StageConfig, TaskRunConfig

ZOO_PREFIX = "zoo:"


def located(candidate: str) -> str:
    """``zoo:NAME`` as it is, a candidate file as an absolute path: workers run in their own directory."""
    return candidate if candidate.startswith(ZOO_PREFIX) else str(Path(candidate).resolve())


@dataclass(frozen=True)
class TrainingJob:
    """One training run: which mixer (``zoo:NAME`` or a file path), which task run, lr and seed."""

    candidate: str
    label: str
    run: TaskRunConfig
    lr: float
    seed: int
    recheck: GatesConfig | None = None
    """Gate settings to re-check the trained layers with (``asiarch.arch.gates.TRAINED_GATES``); None for the
    zoo's references, which are project code."""

    @property
    def steps(self) -> int:
        return self.run.train.steps

    def describe(self) -> str:
        return f"{self.candidate} {self.label} seed={self.seed} lr={self.lr:g}"


def stage_seeds(stage: StageConfig, count: int, start: int = 0) -> list[int]:
    """Seeds ``start`` … ``count − 1`` of a stage, counted from its ``seed_base``."""
    return [stage.seed_base + index for index in range(start, count)]


def is_search_seed(stage: StageConfig, seed: int) -> bool:
    """Does this seed train at every learning rate (the learning rate is chosen on these seeds)?"""
    return seed - stage.seed_base < stage.lr_search_seeds


def with_stage_data(stage: StageConfig, run: TaskRunConfig) -> TaskRunConfig:
    """The task run with the stage's held-out data: ``test_seed`` is the stage's ``seed_base`` unless the task's
    params name one, so each stage is scored on its own validation and test sets."""
    if "test_seed" in run.params:
        return run
    return run.model_copy(update={"params": {**run.params, "test_seed": stage.seed_base}})


def plan_stage(
    stage: StageConfig,
    candidate: str,
    seeds: Iterable[int],
    lrs: Mapping[str, float] | None = None,
    recheck: GatesConfig | None = None,
) -> list[TrainingJob]:
    """All jobs of one candidate at one stage, longest first so a pool finishes them evenly: every learning rate
    on search seeds, the chosen one (``lrs``, per task label) on the others. A candidate file's jobs re-check its
    trained layers with ``recheck``."""
    recheck = None if candidate.startswith(ZOO_PREFIX) else recheck
    jobs = []
    for seed in seeds:
        for label, run in stage.tasks.items():
            if is_search_seed(stage, seed):
                chosen = run.train.lrs
            elif lrs is None or label not in lrs:
                raise ValueError(f"seed {seed} of task {label!r} needs the learning rate chosen on the search seeds")
            else:
                chosen = [lrs[label]]
            jobs += [TrainingJob(candidate, label, with_stage_data(stage, run), lr, seed, recheck) for lr in chosen]
    return sorted(jobs, key=lambda job: -job.steps * job.run.train.batch_size)


def reference_protocol(stage: StageConfig) -> StageConfig:
    """The stage as references are measured: every learning rate on every seed, the one with the best validation
    mean over all of them kept. References are measured once per machine and every candidate meets the same cached
    runs, so a rival tuned on the first seeds alone and left on its worse learning rate would be a weakened rival
    for every comparison, a difference the paired test across seeds cannot see (``benchmarks/null_rate.py``
    measured the false-discovery rate rising above α that way). A candidate's own unlucky choice only hurts it."""
    return stage.model_copy(update={"lr_search_seeds": max(stage.reference_seeds, stage.seeds)})


def jobs_per_seed(stage: StageConfig, seed: int) -> int:
    """How many jobs one seed of an architecture takes at this stage."""
    return sum(len(run.train.lrs) if is_search_seed(stage, seed) else 1 for run in stage.tasks.values())


@dataclass
class TaskSummary:
    """One task's result over seeds at the architecture's learning rate for the task (chosen on validation)."""

    label: str
    metric: str
    per_seed: dict[int, RunResult]
    lr: float | None = None

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.metric)

    @property
    def values(self) -> list[float]:
        """Test values, in seed order: what is reported and what claims are tested on."""
        return [self.per_seed[seed].value for seed in sorted(self.per_seed)]

    @property
    def validation_values(self) -> list[float]:
        """Validation values, in seed order: what choices are made on."""
        return [self.per_seed[seed].selection_value for seed in sorted(self.per_seed)]

    def values_on(self, split: HeldOut) -> list[float]:
        return self.values if split == TEST else self.validation_values

    def value_of(self, seed: int, split: HeldOut) -> float:
        result = self.per_seed[seed]
        return result.value if split == TEST else result.selection_value

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def split_means(self) -> dict[str, float]:
        names = next(iter(self.per_seed.values())).splits
        return {name: statistics.fmean(r.splits[name] for r in self.per_seed.values()) for name in names}


def _chosen_lr(results: list[RunResult]) -> float:
    """The learning rate with the best mean validation value over the seeds that tried every learning rate."""
    lrs = sorted({r.lr for r in results})
    tried = {r.seed for r in results}
    for lr in lrs:
        tried &= {r.seed for r in results if r.lr == lr}
    sign = 1.0 if higher_is_better(results[0].metric) else -1.0

    def score(lr: float) -> float:
        chosen = [r.selection_value for r in results if r.lr == lr and (r.seed in tried or not tried)]
        return sign * statistics.fmean(chosen)

    return max(lrs, key=score)  # the first (smallest) lr wins a tie: sorted order, and max keeps the first


def summarise(labelled: Iterable[tuple[str, RunResult]]) -> dict[str, TaskSummary]:
    """Group run results by task label, choose each task's learning rate on validation (module docstring) and keep
    every seed's run at that learning rate."""
    grouped: dict[str, list[RunResult]] = {}
    for label, result in labelled:
        grouped.setdefault(label, []).append(result)
    summaries = {}
    for label, results in grouped.items():
        lr = _chosen_lr(results)
        per_seed = {r.seed: r for r in results if r.lr == lr}
        summaries[label] = TaskSummary(label, results[0].metric, per_seed, lr)
    return summaries


def chosen_lrs(labelled: Iterable[tuple[str, RunResult]]) -> dict[str, float]:
    """Per task label, the learning rate later seeds train at."""
    return {label: summary.lr for label, summary in summarise(labelled).items() if summary.lr is not None}
