"""Does a result hold on fresh seeds? The comparison behind ``asiarch replicate``.

ASI-Arch's users asked for a way to rule out flukes; this is it. A candidate's claim is its fitness,
so a replication runs the candidate and its rival references again on seeds never used before and asks
whether the candidate's new seeds score as its old seeds did. Both are scored against one yardstick:
the references' cached seeds and their fresh seeds together. Scoring the new seeds against the fresh
references alone would mix two things — the candidate's seed noise and the references' — while the old
interval holds only the first; measured on a 2-seed tiny stage, a candidate whose own numbers barely
moved "failed" that way because one rival's spread shrank fivefold between draws. Pooling keeps the
comparison about the candidate, and the extra reference seeds make the yardstick firmer, so a lucky
reference draw behind the original claim is diluted rather than kept.

- a candidate holds when the new fitness lies inside the 95% confidence interval of the old fitness
  (the t interval over per-seed fitness values); when the old result had a single seed there is no
  such interval, and it holds when the old fitness lies inside the new seeds' interval instead;
- a reference architecture has no claim of its own but defines "normal", so it holds when, on every
  task, its new seeds are consistent with its cached seeds: a two-sided Welch test with p > 0.05
  after a Bonferroni correction for the number of tasks.

Per-seed fitness is ``fitness`` of that seed alone against the references' means, so it averages to
the fitness of the seeds together whenever every seed completed every task.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from asiarch.agents.analyst import fitness
from asiarch.bench.stages import TaskSummary
from asiarch.config import AnalystConfig, StageConfig
from asiarch.stats import bonferroni, mean_ci, welch_t_test

REPLICATION_ALPHA = 0.05
"""A reference's task fails to replicate when its corrected two-sided p falls below this."""
CI_LEVEL = 0.95

Summaries = Mapping[str, TaskSummary]
Interval = tuple[float, float]


@dataclass(frozen=True)
class TaskComparison:
    """One task: the old and new seeds' means with t intervals, and a two-sided Welch test between them."""

    label: str
    metric: str
    old_mean: float | None
    old_ci: Interval | None
    old_n: int
    new_mean: float | None
    new_ci: Interval | None
    new_n: int
    p: float | None


@dataclass(frozen=True)
class Replication:
    """The verdict, with old and new fitness against the pooled yardstick, and the fitness as first measured
    (against the cached reference seeds alone) for comparison with the stored claim."""

    target: str
    claimed_fitness: float
    old_fitness: float
    old_ci: Interval | None
    new_fitness: float
    new_ci: Interval | None
    strongest: str
    tasks: list[TaskComparison]
    holds: bool
    reason: str


def _finite_values(summary: TaskSummary | None) -> list[float]:
    return [v for v in summary.values if math.isfinite(v)] if summary is not None else []


def _interval(values: list[float]) -> Interval | None:
    return mean_ci(values, CI_LEVEL) if len(values) > 1 else None


def _task(label: str, old: TaskSummary | None, new: TaskSummary | None) -> TaskComparison:
    before, after = _finite_values(old), _finite_values(new)
    complete = all(len(s.values) == len(v) for s, v in ((old, before), (new, after)) if s is not None)
    testable = complete and len(before) > 1 and len(after) > 1
    metric = (old or new).metric if (old or new) is not None else "?"
    return TaskComparison(
        label=label,
        metric=metric,
        old_mean=sum(before) / len(before) if before else None,
        old_ci=_interval(before),
        old_n=len(old.values) if old is not None else 0,
        new_mean=sum(after) / len(after) if after else None,
        new_ci=_interval(after),
        new_n=len(new.values) if new is not None else 0,
        p=welch_t_test(before, after).p if testable else None,
    )


def seed_fitness(stage: StageConfig, tasks: Summaries, references: Mapping[str, Summaries],
                 config: AnalystConfig) -> list[float]:  # fmt: skip
    """Fitness of each seed alone (seeds that ran any task), against the references' means."""
    seeds = sorted({seed for summary in tasks.values() for seed in summary.per_seed})
    alone = [
        {label: TaskSummary(label, s.metric, {seed: s.per_seed[seed]}) for label, s in tasks.items() if seed in s.per_seed}
        for seed in seeds
    ]  # fmt: skip
    return [fitness(stage, one, references, config).value for one in alone]


def _inside(value: float, interval: Interval) -> bool:
    return interval[0] <= value <= interval[1]


def _describe(interval: Interval) -> str:
    return f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"


def compare(
    target: str,
    stage: StageConfig,
    old: Summaries,
    old_references: Mapping[str, Summaries],
    new: Summaries,
    new_references: Mapping[str, Summaries],
    config: AnalystConfig,
    is_reference: bool,
) -> Replication:
    """The replication verdict for ``target`` (rules in the module docstring)."""
    pooled = {name: _pooled(tasks, new_references.get(name, {})) for name, tasks in old_references.items()}
    old_report = fitness(stage, old, pooled, config)
    new_report = fitness(stage, new, pooled, config)
    old_ci = _interval(seed_fitness(stage, old, pooled, config))
    new_ci = _interval(seed_fitness(stage, new, pooled, config))
    tasks = [_task(label, old.get(label), new.get(label)) for label in stage.tasks]
    if is_reference:
        holds, reason = _reference_verdict(tasks)
    elif old_ci is not None:
        holds = _inside(new_report.value, old_ci)
        reason = (f"the new fitness {new_report.value:+.3f} lies {'inside' if holds else 'outside'} the old "
                  f"fitness's {CI_LEVEL:.0%} interval {_describe(old_ci)}")  # fmt: skip
    elif new_ci is not None:
        holds = _inside(old_report.value, new_ci)
        reason = (f"the old fitness {old_report.value:+.3f} (one seed, no interval of its own) lies "
                  f"{'inside' if holds else 'outside'} the new seeds' {CI_LEVEL:.0%} interval {_describe(new_ci)}")  # fmt: skip
    else:
        raise ValueError("a replication needs at least two seeds on one side to form an interval")
    claimed = fitness(stage, old, old_references, config).value
    return Replication(target, claimed, old_report.value, old_ci, new_report.value, new_ci, old_report.strongest,
                       tasks, holds, reason)  # fmt: skip


def _pooled(old: Summaries, new: Summaries) -> dict[str, TaskSummary]:
    """A reference's cached and fresh seeds as one sample per task (their seeds never overlap)."""
    merged = {}
    for label in {**old, **new}:
        parts = [tasks[label] for tasks in (old, new) if label in tasks]
        merged[label] = TaskSummary(label, parts[0].metric, {seed: r for part in parts for seed, r in part.per_seed.items()})
    return merged


def _reference_verdict(tasks: list[TaskComparison]) -> tuple[bool, str]:
    untested = [t.label for t in tasks if t.p is None]
    if untested:
        return False, f"no test on {', '.join(untested)}: a side has fewer than two seeds or a non-finite result"
    corrected = {t.label: bonferroni(t.p, len(tasks)) for t in tasks}
    moved = [f"{label} (p={p:.3g})" for label, p in corrected.items() if p <= REPLICATION_ALPHA]
    if moved:
        return False, (f"the new seeds differ from the cached ones on {', '.join(moved)}, Bonferroni-corrected "
                       f"for {len(tasks)} tasks")  # fmt: skip
    lowest = min(corrected.values())
    return True, (f"on every task the new seeds are consistent with the cached ones (smallest Bonferroni-corrected "
                  f"p = {lowest:.3g} > {REPLICATION_ALPHA:g})")  # fmt: skip
