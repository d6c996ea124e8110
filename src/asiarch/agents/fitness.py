"""Fitness: a candidate against the strongest rival reference, in units of seed-to-seed noise.

For each task t of a stage (its label in the stage config), on one held-out split (validation where the
number decides something — promotion, the pool —, test where it is reported or claimed):

    σ_t = max(floor[metric_t], pooled SD of the rival references' per-seed values on t)
    z_t = clip(s_t · (mean_t(candidate) − mean_t(R)) / σ_t, −C, +C)        s_t = +1 if higher is better, else −1
    fitness = Σ_t w_t z_t / Σ_t w_t

R is the strongest rival: the rival with the highest weighted standardised score over the stage's tasks,
so the strongest rival has fitness 0 and a positive fitness means better than every rival on the
weighted aggregate. Rivals are ``analyst.rivals`` — by default every zoo reference but softmax
attention, which is quadratic: it is the recall ceiling a sub-quadratic layer is measured up to, not
one it is expected to beat. The pooled SD is sqrt(Σ_r (n_r − 1) s_r² / Σ_r (n_r − 1)) over rivals with
at least two seeds: how much one architecture's result moves between seeds. The floor keeps a task on
which every rival scores the same (saturated recall) from turning a tiny difference into a huge z, and
the clip C (``analyst.z_clip``) keeps any one task from deciding the aggregate: a task where the rivals
happen to agree contributes at most C, whatever the candidate's margin there.

A missing task, an empty one or one with a non-finite value scores z_t = −P (``analyst.missing_penalty``,
larger than C), so a failure can never score better than a real result.

Whether a confirmed candidate is a discovery is decided in ``agents.discovery``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from asiarch.bench.metrics import higher_is_better
from asiarch.bench.stages import TaskSummary
from asiarch.bench.tasks.base import TEST, VALIDATION, HeldOut
from asiarch.config import AnalystConfig, StageConfig

OK, MISSING, NON_FINITE = "ok", "missing", "non-finite"


@dataclass(frozen=True)
class TaskScore:
    """One task's contribution to fitness: the candidate's mean against the strongest rival's, in spreads."""

    label: str
    task: str
    metric: str
    weight: float
    mean: float | None
    n: int
    reference_mean: float
    sigma: float
    z: float
    status: str = OK

    @property
    def missing(self) -> bool:
        return self.status != OK


@dataclass(frozen=True)
class FitnessReport:
    value: float
    per_task: dict[str, TaskScore]
    strongest: str
    split: HeldOut = TEST


@dataclass(frozen=True)
class _Scale:
    task: str
    metric: str
    weight: float
    sigma: float

    @property
    def sign(self) -> float:
        return 1.0 if higher_is_better(self.metric) else -1.0


def task_status(summary: TaskSummary | None, split: HeldOut = TEST) -> str:
    """ok, missing (no result) or non-finite (a diverged or broken run) on the given split."""
    if summary is None or not summary.per_seed:
        return MISSING
    return OK if all(math.isfinite(v) for v in summary.values_on(split)) else NON_FINITE


def _pooled_sd(summaries: list[TaskSummary], split: HeldOut) -> float:
    usable = [s.values_on(split) for s in summaries if task_status(s, split) == OK and len(s.per_seed) > 1]
    dof = sum(len(values) - 1 for values in usable)
    if dof == 0:
        return 0.0
    return math.sqrt(sum((len(values) - 1) * statistics.variance(values) for values in usable) / dof)


@dataclass
class Standardiser:
    """The stage's yardstick on one held-out split, built once from the references: σ_t per task and the
    strongest rival."""

    stage: StageConfig
    references: Mapping[str, Mapping[str, TaskSummary]]
    config: AnalystConfig
    split: HeldOut = TEST
    scales: dict[str, _Scale] = field(init=False)
    strongest: str = field(init=False)
    _envelope: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rivals = [name for name in self.config.rivals if name in self.references]
        if not rivals:
            raise ValueError(
                f"none of analyst.rivals ({', '.join(self.config.rivals)}) is among the evaluated references "
                f"({', '.join(self.references) or 'none'}); name evaluated references in analyst.rivals"
            )
        if sum(run.weight for run in self.stage.tasks.values()) <= 0:
            raise ValueError("every task of the stage has weight 0; give at least one task a positive weight")
        self.scales = {label: self._scale(label, rivals) for label in self.stage.tasks}
        # Centred on the best rival mean per task only to rank the rivals; the centre cancels in the ranking.
        self._envelope = {label: self._best_mean(label, rivals) for label in self.stage.tasks}
        self.strongest = max(rivals, key=lambda name: self._aggregate(self.references[name], self._envelope))

    def _scale(self, label: str, rivals: list[str]) -> _Scale:
        summaries = [self.references[name][label] for name in rivals if label in self.references[name]]
        if not summaries:
            raise ValueError(f"no rival reference has results on task {label!r}; evaluate the references first")
        metric = summaries[0].metric
        if metric not in self.config.spread_floor:
            raise ValueError(
                f"no analyst.spread_floor for metric {metric!r} (task {label!r}); add one, e.g. "
                f"--set analyst.spread_floor.{metric}=0.01"
            )
        run = self.stage.tasks[label]
        sigma = max(self.config.spread_floor[metric], _pooled_sd(summaries, self.split))
        return _Scale(run.task, metric, run.weight, sigma)

    def _best_mean(self, label: str, rivals: list[str]) -> float:
        sign = self.scales[label].sign
        means = [self._mean(self.references[n][label]) for n in rivals if self._ok(self.references[n].get(label))]
        if not means:
            raise ValueError(f"no rival reference has finite results on task {label!r}")
        return sign * max(sign * m for m in means)

    def _ok(self, summary: TaskSummary | None) -> bool:
        return task_status(summary, self.split) == OK

    def _mean(self, summary: TaskSummary) -> float:
        return statistics.fmean(summary.values_on(self.split))

    def z(self, label: str, value: float, centre: float) -> float:
        """One value (a mean or a single seed's value) against ``centre``, in spreads, clipped to ±C; −P when
        the value is not finite."""
        if not math.isfinite(value):
            return -self.config.missing_penalty
        return self.clip(self.scales[label].sign * (value - centre) / self.scales[label].sigma)

    def clip(self, z: float) -> float:
        return max(-self.config.z_clip, min(self.config.z_clip, z))

    def _aggregate(self, tasks: Mapping[str, TaskSummary], centres: Mapping[str, float]) -> float:
        total = 0.0
        for label, scale in self.scales.items():
            summary = tasks.get(label)
            total += scale.weight * (
                self.z(label, self._mean(summary), centres[label])
                if self._ok(summary)
                else -self.config.missing_penalty
            )
        return total / sum(s.weight for s in self.scales.values())

    @property
    def centres(self) -> dict[str, float]:
        """The strongest rival's mean per task: the zero of every z (the best rival mean where it has none)."""
        own = self.references[self.strongest]
        return {
            label: self._mean(own[label]) if self._ok(own.get(label)) else self._envelope[label]
            for label in self.scales
        }

    def report(self, candidate: Mapping[str, TaskSummary]) -> FitnessReport:
        centres = self.centres
        per_task = {}
        for label, scale in self.scales.items():
            summary = candidate.get(label)
            status = task_status(summary, self.split)
            mean = self._mean(summary) if status == OK else None
            z = self.z(label, mean, centres[label]) if mean is not None else -self.config.missing_penalty
            n = len(summary.per_seed) if summary is not None else 0
            per_task[label] = TaskScore(
                label, scale.task, scale.metric, scale.weight, mean, n, centres[label], scale.sigma, z, status
            )
        return FitnessReport(self._aggregate(candidate, centres), per_task, self.strongest, self.split)


def fitness(
    stage: StageConfig,
    candidate: Mapping[str, TaskSummary],
    references: Mapping[str, Mapping[str, TaskSummary]],
    config: AnalystConfig,
    split: HeldOut = VALIDATION,
) -> FitnessReport:
    """The candidate's fitness at a stage (module docstring): 0 = as good as the strongest rival. On validation by
    default: fitness decides promotion and the pool; a reported or claimed number asks for ``split=TEST``."""
    return Standardiser(stage, references, config, split).report(candidate)
