"""Evaluate candidates and references at a stage on an executor, and keep the references cached."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import (
    ZOO_PREFIX,
    TaskSummary,
    TrainingJob,
    plan_stage,
    summarise,
)
from asiarch.bench.trainer import RunResult
from asiarch.config import StageConfig
from asiarch.execute.local import JobOutcome, LocalExecutor, ProgressSink

JobsStarted = Callable[[Sequence[TrainingJob]], ProgressSink]
"""Given the planned jobs, returns the per-job progress callback (e.g. a progress bar)."""


class ReferenceJobError(RuntimeError):
    """A reference architecture's job failed: the harness, not a candidate, is at fault."""


@dataclass
class Evaluation:
    """A candidate's stage results: per-task summaries over seeds, and any failed jobs."""

    candidate: str
    rows: list[tuple[str, RunResult]] = field(default_factory=list)
    failures: list[JobOutcome] = field(default_factory=list)

    @property
    def tasks(self) -> dict[str, TaskSummary]:
        return summarise(self.rows)


def evaluate_all(
    requests: dict[str, Sequence[int]],
    stage: StageConfig,
    executor: LocalExecutor,
    on_start: JobsStarted | None = None,
) -> tuple[dict[str, Evaluation], float]:
    """Run every (candidate → seeds) request in one pool so all cores stay busy; returns wall seconds too."""
    jobs = [job for candidate, seeds in requests.items() for job in plan_stage(stage, candidate, seeds)]
    evaluations = {candidate: Evaluation(candidate) for candidate in requests}
    started = time.perf_counter()
    progress = on_start(jobs) if on_start is not None else None
    for outcome in executor.run(jobs, progress):
        target = evaluations[outcome.job.candidate]
        if outcome.result is None:
            target.failures.append(outcome)
        else:
            target.rows.append((outcome.job.label, RunResult(**outcome.result)))
    return evaluations, time.perf_counter() - started


def reference_evaluations(
    references: Sequence[str],
    stage_name: str,
    stage: StageConfig,
    executor: LocalExecutor,
    cache: BaselineCache,
    on_start: JobsStarted | None = None,
    refresh: bool = False,
) -> dict[str, Evaluation]:
    """The references' results at a stage over ``stage.reference_seeds`` seeds, computing only what is missing."""
    cached = {} if refresh else cache.load(stage_name, stage, executor.threads)
    seeds = range(stage.reference_seeds)
    requests: dict[str, list[int]] = {}
    for name in references:
        have = {result.seed for _, result in cached.get(name, [])}
        missing = [seed for seed in seeds if seed not in have]
        if missing:
            requests[ZOO_PREFIX + name] = missing
    if requests:
        fresh, _ = evaluate_all(requests, stage, executor, on_start)
        failed = [outcome for ev in fresh.values() for outcome in ev.failures]
        if failed:
            raise ReferenceJobError(f"reference job failed: {failed[0].job.describe()}: {failed[0].error}")
        for key, evaluation in fresh.items():
            cached.setdefault(key[len(ZOO_PREFIX) :], []).extend(evaluation.rows)
        cache.save(stage_name, stage, executor.threads, cached)
    return {
        name: Evaluation(ZOO_PREFIX + name, [(label, r) for label, r in cached[name] if r.seed in seeds])
        for name in references
    }
