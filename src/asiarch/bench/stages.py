"""Turning a stage definition into training jobs, and job results back into per-task verdicts.

A stage evaluation of one candidate is the cross product task run × seed × learning rate.
For each (task, seed) only the best learning rate is kept — the architecture is judged at
its own best setting, not at one that happens to suit another design.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asiarch.bench.metrics import higher_is_better
from asiarch.bench.trainer import RunResult
from asiarch.config import StageConfig, TaskRunConfig

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

    @property
    def steps(self) -> int:
        return self.run.train.steps

    def describe(self) -> str:
        return f"{self.candidate} {self.label} seed={self.seed} lr={self.lr:g}"


def plan_stage(stage: StageConfig, candidate: str, seeds: Iterable[int]) -> list[TrainingJob]:
    """All jobs of one candidate at one stage, longest first so a pool finishes them evenly."""
    jobs = [
        TrainingJob(candidate, label, run, lr, seed)
        for seed in seeds
        for label, run in stage.tasks.items()
        for lr in run.train.lrs
    ]
    return sorted(jobs, key=lambda job: -job.steps * job.run.train.batch_size)


@dataclass
class TaskSummary:
    """One task's result over seeds after keeping the best learning rate per seed."""

    label: str
    metric: str
    per_seed: dict[int, RunResult]

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.metric)

    @property
    def values(self) -> list[float]:
        return [self.per_seed[seed].value for seed in sorted(self.per_seed)]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def split_means(self) -> dict[str, float]:
        names = next(iter(self.per_seed.values())).splits
        return {name: statistics.fmean(r.splits[name] for r in self.per_seed.values()) for name in names}


def _better(a: RunResult, b: RunResult) -> bool:
    return a.value > b.value if higher_is_better(a.metric) else a.value < b.value


def summarise(labelled: Iterable[tuple[str, RunResult]]) -> dict[str, TaskSummary]:
    """Group run results by task label and seed, keeping the best learning rate of each pair."""
    best: dict[str, dict[int, RunResult]] = {}
    for label, result in labelled:
        per_seed = best.setdefault(label, {})
        current = per_seed.get(result.seed)
        if current is None or _better(result, current):
            per_seed[result.seed] = result
    return {
        label: TaskSummary(label, next(iter(per_seed.values())).metric, per_seed) for label, per_seed in best.items()
    }
