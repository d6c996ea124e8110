"""Evaluate candidates and references at a stage on an executor, and keep the references cached."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import (
    ZOO_PREFIX,
    TaskSummary,
    TrainingJob,
    chosen_lrs,
    is_search_seed,
    jobs_per_seed,
    located,
    plan_stage,
    reference_protocol,
    stage_seeds,
    summarise,
)
from asiarch.bench.trainer import RunResult
from asiarch.config import GatesConfig, StageConfig, WatchdogConfig
from asiarch.execute.job import run_training_job
from asiarch.execute.local import LocalExecutor
from asiarch.execute.progress import JobBoard
from asiarch.execute.watchdog import LossWatchdog, leak_floor
from asiarch.protocols import JobHandle, JobOutcome
from asiarch.protocols import ProgressSink as HandleProgress

JobsStarted = Callable[[Sequence[TrainingJob]], JobBoard]
"""Given a batch's planned jobs, returns the board that follows them (steps by job index, finished jobs)."""


class ReferenceJobError(RuntimeError):
    """A reference architecture's job failed: the harness, not a candidate, is at fault."""


class OutOfTime(Exception):
    """The wall-clock deadline passed while jobs were running; the unfinished ones were cancelled.

    ``partial`` holds what finished before the deadline, so a caller can keep it (the baseline cache does), and
    ``wall_s`` how long the jobs ran."""

    def __init__(self, partial: dict[str, Evaluation] | None = None, wall_s: float = 0.0) -> None:
        super().__init__("the wall-clock budget ran out")
        self.partial = partial or {}
        self.wall_s = wall_s


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
    watch: WatchPlan | None = None,
    deadline: float | None = None,
    retries: int = 0,
    prior: Mapping[str, Sequence[tuple[str, RunResult]]] | None = None,
    recheck: GatesConfig | None = None,
    on_result: Callable[[dict[str, Evaluation]], None] | None = None,
) -> tuple[dict[str, Evaluation], float]:
    """Run every (candidate → seeds) request in one pool so all cores stay busy; returns wall seconds too.

    Search seeds train at every learning rate; later seeds at the learning rate chosen on the search seeds'
    validation (``bench.stages``): from the ``prior`` rows of a candidate where those hold its search seeds (a
    later look, a cached reference), else from this call's search seeds, in a second round once they finish.
    With ``watch``, every job's reported losses go through a ``LossWatchdog`` whose floor is the
    leak floor of the job's task, and a job it objects to is cancelled with the watchdog's reason.
    With ``deadline`` (a ``time.monotonic()`` instant), jobs still running then are cancelled and
    ``OutOfTime`` is raised, so a budget is not overrun by a whole stage. A job whose worker was lost (killed
    from outside, crashed) runs again up to ``retries`` times. With ``recheck``, every candidate file's trained
    layers go through the trained-layer gates before its job may report (``asiarch.arch.gates.TRAINED_GATES``).
    ``on_result`` sees the evaluations each time a job's result comes in (to keep them before the end)."""
    prior = prior or {}
    evaluations = {candidate: Evaluation(candidate) for candidate in requests}
    started = time.perf_counter()
    now: dict[str, tuple[list[int], dict[str, float]]] = {}
    later: dict[str, list[int]] = {}
    for candidate, seeds in requests.items():
        lrs = chosen_lrs(prior.get(candidate, []))
        if all(label in lrs for label in stage.tasks):
            now[candidate] = (list(seeds), lrs)
            continue
        now[candidate] = ([seed for seed in seeds if is_search_seed(stage, seed)], lrs)
        later[candidate] = [seed for seed in seeds if not is_search_seed(stage, seed)]
    rounds = [now, {}]
    for number, planned in enumerate(rounds):
        if number == 1:
            for candidate, seeds in later.items():
                lrs = chosen_lrs([*prior.get(candidate, []), *evaluations[candidate].rows])
                if seeds and not evaluations[candidate].failures and all(label in lrs for label in stage.tasks):
                    planned[candidate] = (seeds, lrs)
        jobs = [
            job
            for candidate, (seeds, lrs) in planned.items()
            for job in plan_stage(stage, located(candidate), seeds, lrs, recheck)
        ]
        if jobs:
            _run_round(jobs, {located(c): c for c in requests}, evaluations, executor, on_start, watch, deadline,
                       retries, started, on_result)  # fmt: skip
    return evaluations, time.perf_counter() - started


def _run_round(
    jobs: list[TrainingJob],
    requested: dict[str, str],
    evaluations: dict[str, Evaluation],
    executor: LocalExecutor,
    on_start: JobsStarted | None,
    watch: WatchPlan | None,
    deadline: float | None,
    retries: int,
    started: float,
    on_result: Callable[[dict[str, Evaluation]], None] | None = None,
) -> None:
    """One pool of jobs; outcomes are added to ``evaluations`` (rows, or failures) as they come back."""
    progress = on_start(jobs) if on_start is not None else None

    def submit(index: int) -> JobHandle:
        return executor.submit(jobs[index], run_training_job, _watched(executor, index, jobs[index], progress, watch))

    waiting = [(index, submit(index), 0) for index in range(len(jobs))]
    handles = [handle for _, handle, _ in waiting]
    try:
        while waiting:
            index, handle, tries = waiting.pop(0)
            try:
                outcome = executor.result(handle, None if deadline is None else max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise OutOfTime(evaluations, time.perf_counter() - started) from None
            if outcome.worker_lost and tries < retries:  # run it again where the worker was lost, not the job
                again = submit(index)
                handles.append(again)
                waiting.append((index, again, tries + 1))
                continue
            if progress is not None:
                progress.finish(index)
            target = evaluations[requested[outcome.job.candidate]]
            if outcome.result is None or outcome.error is not None:
                target.failures.append(outcome)
            else:
                target.rows.append((outcome.job.label, RunResult(**outcome.result)))
                if on_result is not None:
                    on_result(evaluations)
    finally:
        for handle in handles:
            executor.cancel(handle, "cancelled: the evaluation was interrupted")
        if progress is not None:
            progress.close()


@dataclass(frozen=True)
class WatchPlan:
    """How to watch candidate jobs: the watchdog settings and the leak floor per task label."""

    config: WatchdogConfig
    floors: dict[str, float | None]

    @classmethod
    def from_references(cls, config: WatchdogConfig, references: dict[str, Evaluation]) -> WatchPlan:
        runs: dict[str, list[RunResult]] = defaultdict(list)
        for evaluation in references.values():
            for label, result in evaluation.rows:
                runs[label].append(result)
        return cls(config, {label: leak_floor(results, config) for label, results in runs.items()})


def _watched(
    executor: LocalExecutor, index: int, job: TrainingJob, progress: JobBoard | None, watch: WatchPlan | None
) -> HandleProgress:
    watchdog = None if watch is None else LossWatchdog(watch.config, watch.floors.get(job.label))

    def on_progress(handle: JobHandle, step: int, loss: float) -> None:
        if progress is not None:
            progress.step(index, step)
        reason = None if watchdog is None else watchdog.observe(step, loss)
        if reason is not None:
            executor.cancel(handle, reason)

    return on_progress


def reference_evaluations(
    references: Sequence[str],
    stage_name: str,
    stage: StageConfig,
    executor: LocalExecutor,
    cache: BaselineCache,
    on_start: JobsStarted | None = None,
    refresh: bool = False,
    deadline: float | None = None,
    retries: int = 0,
) -> dict[str, Evaluation]:
    """The references' results at a stage over ``stage.reference_seeds`` seeds, computing only what is missing;
    every learning rate on every seed (``bench.stages.reference_protocol``).

    Runs that finish are cached even when another fails or the ``deadline`` passes, so the next call resumes.
    A job whose worker was lost runs again up to ``retries`` times before it counts as a harness failure."""
    cached = {} if refresh else cache.load(stage_name, stage, executor.threads)
    seeds = stage_seeds(stage, stage.reference_seeds)
    protocol = reference_protocol(stage)
    requests: dict[str, list[int]] = {}
    for name in references:
        have = {result.seed for _, result in cached.get(name, [])}
        missing = [seed for seed in seeds if seed not in have]
        if missing:
            requests[ZOO_PREFIX + name] = missing
    if requests:
        saved = sum(len(rows) for rows in cached.values())

        def keep_whole_seeds(partial: Mapping[str, Evaluation]) -> None:
            """Save every seed whose jobs have all finished, so a killed measurement resumes from it."""
            nonlocal saved
            whole = {name: list(rows) for name, rows in cached.items()}
            for key, evaluation in partial.items():
                whole.setdefault(key[len(ZOO_PREFIX) :], []).extend(_whole_seeds(evaluation.rows, protocol))
            count = sum(len(rows) for rows in whole.values())
            if count > saved:
                cache.save(stage_name, stage, executor.threads, whole)
                saved = count

        try:
            fresh, _ = evaluate_all(
                requests,
                protocol,
                executor,
                on_start,
                deadline=deadline,
                retries=retries,
                prior={ZOO_PREFIX + name: rows for name, rows in cached.items()},
                on_result=keep_whole_seeds,
            )
        except OutOfTime as out:
            keep_whole_seeds(out.partial)
            raise
        failed = [outcome for ev in fresh.values() for outcome in ev.failures]
        incomplete = {(outcome.job.candidate, outcome.job.seed) for outcome in failed}
        for key, evaluation in fresh.items():
            complete = [(label, r) for label, r in evaluation.rows if (key, r.seed) not in incomplete]
            cached.setdefault(key[len(ZOO_PREFIX) :], []).extend(complete)
        cache.save(stage_name, stage, executor.threads, cached)  # what finished is kept even if a job failed
        if failed:
            raise ReferenceJobError(f"reference job failed: {failed[0].job.describe()}: {failed[0].error}")
    return {
        name: Evaluation(ZOO_PREFIX + name, [(label, r) for label, r in cached[name] if r.seed in seeds])
        for name in references
    }


def _whole_seeds(rows: list[tuple[str, RunResult]], stage: StageConfig) -> list[tuple[str, RunResult]]:
    """The rows of seeds whose every job finished: a seed the cache holds is never run again, so half of one is
    not kept."""
    finished: dict[int, int] = defaultdict(int)
    for _, result in rows:
        finished[result.seed] += 1
    return [(label, result) for label, result in rows if finished[result.seed] == jobs_per_seed(stage, result.seed)]
