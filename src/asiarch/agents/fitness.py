"""Fitness and discovery: a candidate against the strongest rival reference, in units of seed-to-seed noise.

For each task t of a stage (its label in the stage config):

    σ_t = max(floor[metric_t], pooled SD of the rival references' per-seed values on t)
    z_t = max(−P, s_t · (mean_t(candidate) − mean_t(R)) / σ_t)        s_t = +1 if higher is better, else −1
    fitness = Σ_t w_t z_t / Σ_t w_t

R is the strongest rival: the rival with the highest weighted standardised score over the stage's tasks,
so the strongest rival has fitness 0 and a positive fitness means better than every rival on the
weighted aggregate. Rivals are ``analyst.rivals`` — by default every zoo reference but softmax
attention, which is quadratic: it is the recall ceiling a sub-quadratic layer is measured up to, not
one it is expected to beat. The pooled SD is sqrt(Σ_r (n_r − 1) s_r² / Σ_r (n_r − 1)) over rivals with
at least two seeds: how much one architecture's result moves between seeds. The floor keeps a task on
which every rival scores the same (saturated recall) from turning a tiny difference into a huge z.

A missing task, an empty one or one with a non-finite value scores z_t = −P (``analyst.missing_penalty``),
and every task's z is clipped below at −P, so a failure can never score better than a real result.

Discovery (at the confirm stage or later; the caller decides when to ask): per seed i, the candidate's
aggregate a_i = Σ_t w_t z_{t,i} / Σ_t w_t with z_{t,i} the same standardisation of that seed's value,
and the same for the strongest rival's seeds (whose aggregates average 0). One-sided Welch test of
mean(a) > mean(a_R); p is multiplied by the number of candidates confirmed in the campaign (Bonferroni)
and must stay below ``analyst.discovery_alpha``; no task may have z_t < −``analyst.non_inferiority_sd``;
the candidate must hold the parameter budget; and no task may be missing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from asiarch.bench.metrics import higher_is_better
from asiarch.bench.stages import TaskSummary
from asiarch.config import AnalystConfig, StageConfig
from asiarch.stats import WelchResult, bonferroni, welch_t_test

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


@dataclass(frozen=True)
class DiscoveryVerdict:
    """Whether a confirmed candidate is a discovery, with the numbers and every reason it is not."""

    is_discovery: bool
    p_value: float | None
    p_corrected: float | None
    inferior_tasks: list[str]
    reason: str
    strongest: str = ""
    comparisons: int = 1
    t: float | None = None
    df: float | None = None


@dataclass(frozen=True)
class _Scale:
    task: str
    metric: str
    weight: float
    sigma: float

    @property
    def sign(self) -> float:
        return 1.0 if higher_is_better(self.metric) else -1.0


def _status(summary: TaskSummary | None) -> str:
    if summary is None or not summary.per_seed:
        return MISSING
    return OK if all(math.isfinite(v) for v in summary.values) else NON_FINITE


def _pooled_sd(summaries: list[TaskSummary]) -> float:
    usable = [s for s in summaries if _status(s) == OK and len(s.values) > 1]
    dof = sum(len(s.values) - 1 for s in usable)
    if dof == 0:
        return 0.0
    return math.sqrt(sum((len(s.values) - 1) * statistics.variance(s.values) for s in usable) / dof)


@dataclass
class Standardiser:
    """The stage's yardstick, built once from the references: σ_t per task and the strongest rival."""

    stage: StageConfig
    references: Mapping[str, Mapping[str, TaskSummary]]
    config: AnalystConfig
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
        return _Scale(run.task, metric, run.weight, max(self.config.spread_floor[metric], _pooled_sd(summaries)))

    def _best_mean(self, label: str, rivals: list[str]) -> float:
        sign = self.scales[label].sign
        means = [self.references[n][label].mean for n in rivals if _status(self.references[n].get(label)) == OK]
        if not means:
            raise ValueError(f"no rival reference has finite results on task {label!r}")
        return sign * max(sign * m for m in means)

    def z(self, label: str, value: float, centre: float) -> float:
        """One value (a mean or a single seed's value) against ``centre``, in spreads, clipped below at −P."""
        scale = self.scales[label]
        if not math.isfinite(value):
            return -self.config.missing_penalty
        return max(-self.config.missing_penalty, scale.sign * (value - centre) / scale.sigma)

    def _aggregate(self, tasks: Mapping[str, TaskSummary], centres: Mapping[str, float]) -> float:
        total = 0.0
        for label, scale in self.scales.items():
            summary = tasks.get(label)
            ok = _status(summary) == OK
            total += scale.weight * (
                self.z(label, summary.mean, centres[label]) if ok else -self.config.missing_penalty
            )
        return total / sum(s.weight for s in self.scales.values())

    @property
    def centres(self) -> dict[str, float]:
        """The strongest rival's mean per task: the zero of every z (the best rival mean where it has none)."""
        own = self.references[self.strongest]
        return {
            label: own[label].mean if _status(own.get(label)) == OK else self._envelope[label] for label in self.scales
        }

    def report(self, candidate: Mapping[str, TaskSummary]) -> FitnessReport:
        centres = self.centres
        per_task = {}
        for label, scale in self.scales.items():
            summary = candidate.get(label)
            status = _status(summary)
            mean = summary.mean if status == OK else None
            z = self.z(label, mean, centres[label]) if mean is not None else -self.config.missing_penalty
            n = len(summary.per_seed) if summary is not None else 0
            per_task[label] = TaskScore(
                label, scale.task, scale.metric, scale.weight, mean, n, centres[label], scale.sigma, z, status
            )
        return FitnessReport(self._aggregate(candidate, centres), per_task, self.strongest)

    def seed_scores(self, tasks: Mapping[str, TaskSummary]) -> list[float]:
        """Per seed, the weighted standardised score over the stage's tasks (seeds with every task only)."""
        if any(_status(tasks.get(label)) != OK for label in self.scales):
            return []
        seeds = sorted(set.intersection(*(set(tasks[label].per_seed) for label in self.scales)))
        centres = self.centres
        weight = sum(s.weight for s in self.scales.values())
        return [
            sum(
                s.weight * self.z(label, tasks[label].per_seed[seed].value, centres[label])
                for label, s in self.scales.items()
            )
            / weight
            for seed in seeds
        ]

    def aggregate_test(self, candidate: Mapping[str, TaskSummary]) -> WelchResult | None:
        """One-sided Welch test that the candidate's per-seed aggregate beats the strongest rival's;
        None when either side has fewer than two complete seeds."""
        ours, theirs = self.seed_scores(candidate), self.seed_scores(self.references[self.strongest])
        if len(ours) < 2 or len(theirs) < 2:
            return None
        return welch_t_test(ours, theirs, alternative="greater")


def fitness(
    stage: StageConfig,
    candidate: Mapping[str, TaskSummary],
    references: Mapping[str, Mapping[str, TaskSummary]],
    config: AnalystConfig,
) -> FitnessReport:
    """The candidate's fitness at a stage (module docstring): 0 = as good as the strongest rival."""
    return Standardiser(stage, references, config).report(candidate)


def discovery(
    candidate: Mapping[str, TaskSummary],
    references: Mapping[str, Mapping[str, TaskSummary]],
    stage: StageConfig,
    confirmed_count: int,
    parameters_ok: bool,
    config: AnalystConfig,
) -> DiscoveryVerdict:
    """Whether a candidate evaluated at the confirm stage (or later) is a discovery (module docstring).

    ``confirmed_count`` is the number of candidates confirmed in the campaign, this one included: the
    Bonferroni factor. Every failed condition is named in ``reason``."""
    yardstick = Standardiser(stage, references, config)
    report = yardstick.report(candidate)
    comparisons = max(1, confirmed_count)
    problems = []
    missing = [label for label, score in report.per_task.items() if score.missing]
    if missing:
        problems.append(f"missing or non-finite results on {', '.join(missing)}")
    inferior = [label for label, s in report.per_task.items() if s.z < -config.non_inferiority_sd and not s.missing]
    if inferior:
        worst = ", ".join(f"{label} z={report.per_task[label].z:+.2f}" for label in inferior)
        problems.append(f"worse than {report.strongest} beyond {config.non_inferiority_sd:g} spreads on {worst}")
    if not parameters_ok:
        problems.append("outside the parameter budget")
    test = yardstick.aggregate_test(candidate)
    p_corrected = None
    if test is None and not missing:
        problems.append("fewer than two complete seeds on one side: no test (discovery needs the confirm stage)")
    elif test is not None:
        p_corrected = bonferroni(test.p, comparisons)
        if not p_corrected < config.discovery_alpha:
            problems.append(
                f"aggregate not significantly better than {report.strongest}: p={test.p:.3g} × {comparisons} "
                f"= {p_corrected:.3g} ≥ {config.discovery_alpha:g}"
            )
    if problems:
        reason = "not a discovery: " + "; ".join(problems)
    else:
        reason = (
            f"discovery: beats {report.strongest} on the aggregate (one-sided Welch t={test.t:.2f}, df={test.df:.1f}, "
            f"p={test.p:.3g} × {comparisons} = {p_corrected:.3g} < {config.discovery_alpha:g}), within "
            f"{config.non_inferiority_sd:g} spreads of it on every task, inside the parameter budget"
        )
    return DiscoveryVerdict(
        is_discovery=not problems,
        p_value=None if test is None else test.p,
        p_corrected=p_corrected,
        inferior_tasks=inferior,
        reason=reason,
        strongest=report.strongest,
        comparisons=comparisons,
        t=None if test is None or not math.isfinite(test.t) else test.t,
        df=None if test is None or not math.isfinite(test.df) else test.df,
    )
