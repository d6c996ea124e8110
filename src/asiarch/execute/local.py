"""Run jobs (training runs, gate checks) in a local pool of fresh, single-thread worker processes.

Each job gets its own spawned process: candidate code never runs in the orchestrator, nothing
leaks between candidates, and a job that hangs past its time limit is killed. Measured on a
busy 2-core machine: two single-thread processes side by side are 3–8× faster than one process
with two threads, so parallelism is across processes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asiarch.execute.job import JobRunner, run_training_job

PROGRESS_EVERY_STEPS = 10
POLL_SECONDS = 0.2
JOIN_SECONDS = 5.0
DEATH_GRACE_SECONDS = 2.0
# glibc returns large freed blocks to the OS at once and then page-faults them back on the next
# step (thousands of faults per training step, 10–20% of op time, measured); raising the
# thresholds keeps a worker's working set resident. Applied to job processes only.
WORKER_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "17179869184"}


@dataclass
class JobOutcome:
    """A finished job: its result dict, or a one-line error and the traceback tail."""

    job: Any
    result: dict | None
    error: str | None = None
    detail: str = ""


ProgressSink = Callable[[int, int], None]
"""Called with (job index, steps done) while jobs run."""


def _worker(index: int, runner: JobRunner, job: Any, threads: int, messages: mp.Queue) -> None:
    # Lead a process group of our own, so a kill reaches whatever the candidate spawned too.
    os.setpgrp()

    def report(step: int, loss: float) -> None:
        if step % PROGRESS_EVERY_STEPS == 0 or step == job.steps:
            messages.put((index, "progress", step))

    try:
        messages.put((index, "done", runner(job, threads, report)))
    except Exception as exc:  # noqa: BLE001 - any failure of untrusted code becomes a recorded outcome
        first = f"{type(exc).__name__}: {exc}".splitlines()[0]
        messages.put((index, "error", (first, traceback.format_exc(limit=-8))))


class LocalExecutor:
    """A bounded pool of spawned processes, one per job, with a wall-clock limit per job."""

    def __init__(self, workers: int, threads_per_worker: int, job_timeout_s: float) -> None:
        self.workers = workers
        self.threads = threads_per_worker
        self.timeout = job_timeout_s
        self.context = mp.get_context("spawn")

    def run(
        self, jobs: Sequence[Any], on_progress: ProgressSink | None = None, runner: JobRunner = run_training_job
    ) -> list[JobOutcome]:
        """Run ``runner(job, threads, report)`` for every job, at most ``workers`` at a time, each in
        a fresh process; outcomes come back in job order. ``runner`` must be a module-level function."""
        messages = self.context.Queue()
        outcomes: dict[int, JobOutcome] = {}
        running: dict[int, _Running] = {}
        pending = list(range(len(jobs)))
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    index = pending.pop(0)
                    process = self.context.Process(
                        target=_worker, args=(index, runner, jobs[index], self.threads, messages), daemon=True
                    )
                    _start_with_environment(process, WORKER_ENVIRONMENT)
                    running[index] = _Running(process, time.monotonic())
                for index, kind, payload in _drain(messages):
                    if kind == "progress":
                        if on_progress is not None:
                            on_progress(index, payload)
                    elif kind == "done":
                        outcomes[index] = JobOutcome(jobs[index], payload)
                    else:
                        outcomes[index] = JobOutcome(jobs[index], None, payload[0], payload[1])
                for index, error in self._finished(running, outcomes):
                    if error is not None:
                        outcomes[index] = JobOutcome(jobs[index], None, error)
        finally:
            for state in running.values():
                _kill_group(state.process)
        return [outcomes[i] for i in range(len(jobs))]

    def _finished(self, running: dict[int, _Running], outcomes: dict[int, JobOutcome]) -> list[tuple[int, str | None]]:
        """Retire processes that reported, timed out or died; a dead one gets a grace period to flush."""
        now = time.monotonic()
        retired: list[tuple[int, str | None]] = []
        for index, state in list(running.items()):
            error: str | None = None
            if index in outcomes:
                state.process.join(JOIN_SECONDS)
            elif now - state.started > self.timeout:
                _kill_group(state.process)
                state.process.join(JOIN_SECONDS)
                error = f"job exceeded its {self.timeout:g} s time limit and was killed"
            elif state.process.is_alive():
                continue
            elif state.dead_since is None:
                state.dead_since = now
                continue
            elif now - state.dead_since < DEATH_GRACE_SECONDS:
                continue
            else:
                error = f"worker process died with exit code {state.process.exitcode}"
            del running[index]
            retired.append((index, error))
        return retired


def _start_with_environment(process: mp.Process, extra: dict[str, str]) -> None:
    """Start a spawned process with ``extra`` added to the environment it inherits (not ours)."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update({key: os.environ.get(key, value) for key, value in extra.items()})
    try:
        process.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _kill_group(process: mp.Process) -> None:
    """SIGKILL the worker's whole process group (the worker and anything it started)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


@dataclass
class _Running:
    process: mp.Process
    started: float
    dead_since: float | None = None


def _drain(messages: mp.Queue) -> list[tuple[int, str, object]]:
    """Everything queued now, waiting up to one poll interval for the first message."""
    drained = []
    try:
        drained.append(messages.get(timeout=POLL_SECONDS))
        while True:
            drained.append(messages.get_nowait())
    except queue.Empty:
        return drained
