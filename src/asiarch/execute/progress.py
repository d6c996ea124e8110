"""Progress of a batch of training jobs: what is done, what is running, and when the rest should end.

Every long wait (reference measurement, screen, confirm, scale) is a batch of training jobs on a pool of
workers. A :class:`JobBoard` follows one batch from the evaluator's reports; the terminal renders it as a live
bar with the running jobs, a pipe or ``--quiet`` as one plain line per finished job. Before a batch starts, an
estimate for this machine comes from timing a few training steps of a reference (:class:`StepTimer`), so a user
knows a 40-minute wait from a hang before the first job has finished.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch

from asiarch.arch.zoo import reference
from asiarch.bench.stages import TrainingJob
from asiarch.bench.tasks import make_task
from asiarch.bench.trainer import seconds_per_step
from asiarch.config import ExecutionConfig, TaskRunConfig

PROBE_REFERENCE = "deltanet"
"""The reference whose training steps are timed for estimates: a mid-priced layer among the references."""
PROBE_STEPS = 3
"""Timed steps per task run (after one warm-up step): a second or two per stage."""
JOB_OVERHEAD_S = 3.0
"""Seconds a job spends outside its training steps (process start, imports, scoring the held-out splits)."""

View = Callable[..., None]
"""Called as ``view(event, **details)`` at every step, for a live display. Events: references, paused, proposed,
rejected, failed, gated, training, trained, analysed, confirmed, batch, finished (details: id, name, reason,
fitness, …); and for every batch of training jobs, jobs, job_step, job_done and jobs_over (details: board, the
:class:`JobBoard`; job)."""


class JobBoard:
    """One batch of jobs as the evaluator reports it: steps per job, finished jobs, and the ETA they imply."""

    def __init__(
        self,
        title: str,
        jobs: Sequence[TrainingJob],
        workers: int,
        estimate_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title = title
        self.jobs = list(jobs)
        self.workers = workers
        self.estimate_s = estimate_s
        self.clock = clock
        self.started = clock()
        self.steps = [0] * len(self.jobs)
        self.finished: set[int] = set()

    def step(self, index: int, steps: int) -> None:
        self.steps[index] = steps

    def finish(self, index: int) -> None:
        """A job's outcome arrived (a result, a failure or a cancellation): all of its steps count as done."""
        self.finished.add(index)

    def close(self) -> None:
        """The batch is over, finished or interrupted: a display lets go of the terminal."""

    @property
    def done(self) -> int:
        return len(self.finished)

    @property
    def complete(self) -> bool:
        return self.done == len(self.jobs)

    @property
    def total_steps(self) -> int:
        return sum(job.steps for job in self.jobs)

    @property
    def steps_done(self) -> int:
        return sum(job.steps if i in self.finished else self.steps[i] for i, job in enumerate(self.jobs))

    def running(self) -> list[tuple[TrainingJob, int]]:
        """Jobs that have reported a step and not finished, with their steps so far."""
        return [(job, self.steps[i]) for i, job in enumerate(self.jobs) if self.steps[i] and i not in self.finished]

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def eta_s(self) -> float | None:
        """Seconds until every job is done, at the step rate seen so far (the up-front estimate before any
        step); None when there is neither."""
        done, elapsed = self.steps_done, self.elapsed_s
        if done and elapsed > 0:
            return (self.total_steps - done) * elapsed / done
        if self.estimate_s is not None:
            return max(0.0, self.estimate_s - elapsed)
        return None

    def summary(self) -> str:
        """One line: jobs done, steps, elapsed and ETA."""
        eta = self.eta_s()
        left = f", about {duration(eta)} left" if eta is not None and not self.complete else ""
        return f"{self.title}: {self.done}/{len(self.jobs)} jobs done, {duration(self.elapsed_s)} elapsed{left}"

    def record(self, job: TrainingJob) -> str:
        """The plain line a pipe or ``--quiet`` gets when ``job`` finishes."""
        return f"{self.summary()} · finished {job.describe()}"


def duration(seconds: float) -> str:
    """Seconds as a person reads a wait: 45 s, 12 min, 1.5 h."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StepTimer:
    """Seconds per training step of each task run on this machine, timed once per run and remembered."""

    _timed: ClassVar[dict[tuple[str, int, int], float]] = {}
    """Timings shared by every timer of the process: each task run is timed once."""

    def __init__(self, threads: int, steps: int = PROBE_STEPS) -> None:
        self.threads = threads
        self.steps = steps

    def __call__(self, run: TaskRunConfig) -> float:
        key = (run.model_dump_json(), self.threads, self.steps)
        if key not in self._timed:
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                mixer = reference(PROBE_REFERENCE)
                factory = lambda: mixer(d_model=run.model.d_model, num_heads=run.model.num_heads)  # noqa: E731
                self._timed[key] = seconds_per_step(factory, make_task(run.task, run.params), run, self.steps)
            finally:
                torch.set_num_threads(before)
        return self._timed[key]

    def estimate(self, jobs: Sequence[TrainingJob], workers: int) -> float:
        """Wall seconds for ``jobs`` on ``workers`` workers (assumed to have a core each)."""
        seconds = sum(job.steps * self(job.run) + JOB_OVERHEAD_S for job in jobs)
        return seconds / max(1, min(workers, len(jobs)))


def reported(view: View, title: str, execution: ExecutionConfig) -> Callable[[Sequence[TrainingJob]], JobBoard]:
    """An evaluator ``on_start`` that follows each batch on a :class:`JobBoard` and tells ``view`` about it:
    ``jobs`` when a batch starts (with its estimate for this machine), ``job_step`` as steps come in, ``job_done``
    when a job's outcome arrives and ``jobs_over`` when the batch ends, finished or not."""
    workers = execution.worker_count()
    timer = StepTimer(execution.threads_per_worker)

    def start(jobs: Sequence[TrainingJob]) -> JobBoard:
        board = ObservedBoard(view, title, jobs, workers, timer.estimate(jobs, workers))
        view("jobs", board=board)
        return board

    return start


class ObservedBoard(JobBoard):
    """A board that passes every change on to a view."""

    def __init__(
        self, view: View, title: str, jobs: Sequence[TrainingJob], workers: int, estimate_s: float | None
    ) -> None:
        super().__init__(title, jobs, workers, estimate_s)
        self.view = view

    def step(self, index: int, steps: int) -> None:
        super().step(index, steps)
        self.view("job_step", board=self)

    def finish(self, index: int) -> None:
        super().finish(index)
        self.view("job_done", board=self, job=self.jobs[index])

    def close(self) -> None:
        self.view("jobs_over", board=self)
