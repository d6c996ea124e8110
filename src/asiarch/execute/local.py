"""Run jobs (training runs, gate checks) in a local pool of fresh, sandboxed worker processes.

Each job gets its own spawned process: candidate code never runs in the orchestrator, nothing
leaks between candidates, and a job that hangs past its time limit is killed with everything it
started. The worker enters the sandbox (``sandbox.py``) before it touches the job. Measured on a
busy 2-core machine: two single-thread processes side by side are 3–8× faster than one process
with two threads, so parallelism is across processes.

The executor has no thread of its own: ``result`` (or ``run``) drives the pool — starts queued
jobs, forwards progress, retires finished, timed-out and dead workers — until what it waits for
is done.
"""

from __future__ import annotations

import abc
import ctypes
import math
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Self

from asiarch.config import ExecutionConfig
from asiarch.execute.job import run_training_job
from asiarch.execute.library_guard import LibraryGuard, monkeypatch_message
from asiarch.execute.sandbox import SandboxLimits, enter_sandbox, take_violations, workdir_for_job
from asiarch.protocols import JobHandle, JobOutcome, JobRunner, ProgressSink

PROGRESS_EVERY_STEPS = 10
GUARD_EVERY_S = 10.0
"""How often, at most, a progress report also checks that the candidate has not rebound library code (one check
takes ~50 ms)."""
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2
JOIN_SECONDS = 5.0
DEATH_GRACE_SECONDS = 2.0
# glibc returns large freed blocks to the OS at once and then page-faults them back on the next
# step (thousands of faults per training step, 10–20% of op time, measured); raising the
# thresholds keeps a worker's working set resident. Applied to job processes only.
WORKER_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "17179869184"}


IndexProgress = Callable[[int, int], None]
"""Called with (job index, steps done) while ``run`` works through a list of jobs."""


def _die_with(parent: int) -> None:
    """A worker must not outlive whoever waits for it (an orchestrator or a Ray worker killed with SIGKILL): the
    kernel kills it when its parent dies (Linux ``PR_SET_PDEATHSIG``)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker(
    runner: JobRunner, job: Any, threads: int, limits: SandboxLimits, messages: Connection, parent: int
) -> None:
    _die_with(parent)
    # Lead a process group of our own, so a kill reaches whatever the job started too.
    os.setpgrp()
    steps = getattr(job, "steps", None)
    guard: LibraryGuard | None = None
    checked = time.monotonic()

    def report(step: int, loss: float) -> None:
        nonlocal checked
        if guard is not None and time.monotonic() - checked > GUARD_EVERY_S:
            checked = time.monotonic()
            if changed := guard.changed():
                raise PermissionError(monkeypatch_message(changed))
        if step % PROGRESS_EVERY_STEPS == 0 or step == steps:
            messages.send(("progress", (step, loss)))

    try:
        enter_sandbox(limits, on_refusal=lambda message: messages.send(("refused", message)))
        guard = LibraryGuard()
        result = runner(job, threads, report)
        problem = _sandbox_problem(guard)
        if problem:
            messages.send(("refused", problem))  # the result comes too, to show how far the job got
        messages.send(("done", result))
    except Exception as exc:  # noqa: BLE001 - any failure of untrusted code becomes a recorded outcome
        first = _sandbox_problem(guard) or f"{type(exc).__name__}: {exc}".splitlines()[0]
        messages.send(("error", (first, traceback.format_exc(limit=-8))))


def _sandbox_problem(guard: LibraryGuard | None) -> str | None:
    """The first refused attempt, else the library code the candidate rebound, else None."""
    refused = take_violations()
    if refused:
        return refused[0]
    changed = guard.changed() if guard is not None else []
    return monkeypatch_message(changed) if changed else None


class DrivenExecutor(abc.ABC):
    """What the executors share: none has a thread of its own, so waiting for a result is what drives them
    (``_step``: hand out queued jobs, collect finished ones)."""

    @abc.abstractmethod
    def submit(
        self,
        job: Any,
        runner: JobRunner = run_training_job,
        on_progress: ProgressSink | None = None,
        timeout_s: float | None = None,
    ) -> JobHandle: ...

    @abc.abstractmethod
    def cancel(self, handle: JobHandle, reason: str) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def _step(self) -> None: ...

    def result(self, handle: JobHandle, timeout: float | None = None) -> JobOutcome:
        """Drive the executor until ``handle`` is finished; raises TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while handle.outcome is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{describe_job(handle.job)} is still running after {timeout:g} s")
            self._step()
        return handle.outcome

    def run(
        self, jobs: Sequence[Any], on_progress: IndexProgress | None = None, runner: JobRunner = run_training_job
    ) -> list[JobOutcome]:
        """Run ``runner(job, threads, report)`` for every job; outcomes come back in job order. ``runner`` must
        be a module-level function."""
        sink = None if on_progress is None else index_sink(on_progress)
        handles = [self.submit(job, runner, sink) for job in jobs]
        for index, handle in enumerate(handles):
            handle.state["index"] = index
        try:
            return [self.result(handle) for handle in handles]
        finally:
            for handle in handles:
                self.cancel(handle, "cancelled: the orchestrator stopped waiting")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LocalExecutor(DrivenExecutor):
    """A bounded pool of spawned, sandboxed processes, one per job, each with its own time limit."""

    def __init__(self, execution: ExecutionConfig) -> None:
        self.config = execution
        self.workers = execution.worker_count()
        self.threads = execution.threads_per_worker
        self.timeout = execution.job_timeout_s
        self.context = mp.get_context("spawn")
        self._queued: list[JobHandle] = []
        self._running: dict[Connection, JobHandle] = {}

    def submit(
        self,
        job: Any,
        runner: JobRunner = run_training_job,
        on_progress: ProgressSink | None = None,
        timeout_s: float | None = None,
    ) -> JobHandle:
        """Queue a job; it starts as soon as a worker slot is free (while ``result`` or ``run`` waits)."""
        handle = JobHandle(job, runner, timeout_s or self.timeout, on_progress)
        self._queued.append(handle)
        return handle

    def cancel(self, handle: JobHandle, reason: str) -> None:
        """Stop a job now (kill its process group if it runs); its outcome is an error with ``reason``."""
        if handle.outcome is not None:
            return
        if handle in self._queued:
            self._queued.remove(handle)
            handle.outcome = JobOutcome(handle.job, None, reason)
        else:
            self._retire(handle, reason, kill=True)

    def close(self) -> None:
        """Kill every running job and forget queued ones."""
        for handle in [*self._queued, *self._running.values()]:
            self.cancel(handle, "cancelled: the executor was closed")

    def _step(self) -> None:
        while self._queued and len(self._running) < self.workers:
            self._start(self._queued.pop(0))
        open_readers = [reader for reader, handle in self._running.items() if "closed" not in handle.state]
        if not open_readers:
            time.sleep(POLL_SECONDS)
        for reader in wait(open_readers, timeout=POLL_SECONDS) if open_readers else ():
            handle = self._running[reader]
            messages, closed = _drain(reader)
            if closed:
                handle.state["closed"] = True
            for kind, payload in messages:
                if handle.outcome is not None:
                    break
                refused = handle.state.get("refused")
                if kind == "refused":
                    handle.state.setdefault("refused", payload)
                elif kind == "progress":
                    if handle.on_progress is not None:
                        handle.on_progress(handle, *payload)
                elif kind == "done":
                    self._retire(handle, refused, result=payload)
                else:
                    self._retire(handle, refused or payload[0], detail=payload[1])
        self._check_workers()

    def _start(self, handle: JobHandle) -> None:
        workdir = workdir_for_job()
        sandbox = self.config.sandbox
        train = getattr(getattr(handle.job, "run", None), "train", None)  # gate jobs have no training settings
        on_gpu = train is not None and train.device != "cpu"
        limits = SandboxLimits(
            workdir=str(workdir),
            memory_bytes=int(sandbox.memory_limit_gb * 2**30),
            cpu_seconds=math.ceil(handle.timeout_s * self.threads * sandbox.cpu_limit_factor),
            file_size_bytes=int(sandbox.file_size_limit_mb * 2**20),
            isolate_network=sandbox.isolate_network,
            landlock=sandbox.landlock,
            programs=tuple(sandbox.toolchain) if on_gpu or (train is not None and train.compile) else (),
            gpu=on_gpu,
        )
        try:
            reader, writer = self.context.Pipe(duplex=False)
        except OSError as exc:
            self._not_started(handle, workdir, exc)
            return
        process = self.context.Process(
            target=_worker, args=(handle.runner, handle.job, self.threads, limits, writer, os.getpid()), daemon=True
        )
        try:
            _start_with_environment(process, WORKER_ENVIRONMENT)
        except (OSError, RuntimeError) as exc:
            reader.close()
            self._not_started(handle, workdir, exc)
            return
        finally:
            writer.close()
        handle.state.update(
            reader=reader, process=process, started=time.monotonic(), workdir=workdir, cpu_seconds=limits.cpu_seconds
        )
        self._running[reader] = handle

    @staticmethod
    def _not_started(handle: JobHandle, workdir: Path, exc: Exception) -> None:
        """No worker could be started (no processes, file descriptors or memory left): the job fails with the
        reason and the pool goes on."""
        shutil.rmtree(workdir, ignore_errors=True)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        handle.outcome = JobOutcome(
            handle.job, None, f"could not start a worker process for the job ({reason})", worker_lost=True
        )

    def _check_workers(self) -> None:
        """Retire workers that timed out or died; a dead one gets a grace period to flush its messages."""
        now = time.monotonic()
        for handle in list(self._running.values()):
            process: mp.Process = handle.state["process"]
            if now - handle.state["started"] > handle.timeout_s:
                message = f"job exceeded its {handle.timeout_s:g} s time limit and was killed"
                self._retire(handle, message, kill=True, timed_out=True)
            elif process.is_alive():
                continue
            elif "dead_since" not in handle.state:
                handle.state["dead_since"] = now
            elif now - handle.state["dead_since"] >= DEATH_GRACE_SECONDS:
                self._retire(
                    handle,
                    _death_reason(process.exitcode, handle.state["cpu_seconds"]),
                    lost=process.exitcode != -signal.SIGXCPU,
                )  # over its CPU limit: the job's own doing

    def _retire(
        self,
        handle: JobHandle,
        error: str | None,
        *,
        result: dict | None = None,
        detail: str = "",
        kill: bool = False,
        timed_out: bool = False,
        lost: bool = False,
    ) -> None:
        process: mp.Process = handle.state["process"]
        if kill:
            _kill_group(process)
        process.join(JOIN_SECONDS)
        reader: Connection = handle.state["reader"]
        self._running.pop(reader, None)
        reader.close()
        shutil.rmtree(handle.state["workdir"], ignore_errors=True)
        handle.outcome = JobOutcome(handle.job, result, error, detail, timed_out, worker_lost=lost)


def index_sink(on_progress: IndexProgress) -> ProgressSink:
    """A per-handle progress sink that reports by the job's index in ``run``'s list."""
    return lambda handle, step, loss: on_progress(handle.state["index"], step)


def describe_job(job: Any) -> str:
    """A job as error messages name it."""
    return job.describe() if hasattr(job, "describe") else repr(job)


def _death_reason(exitcode: int | None, cpu_seconds: int) -> str:
    if exitcode == -signal.SIGXCPU:
        return f"worker exceeded its CPU-time limit of {cpu_seconds} s and was stopped (SIGXCPU)"
    if exitcode == -signal.SIGKILL:
        return "worker was killed (SIGKILL), usually by the kernel's out-of-memory killer"
    if exitcode == -signal.SIGSEGV:
        return "worker crashed with a segmentation fault"
    return f"worker process died with exit code {exitcode}"


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


def _drain(reader: Connection) -> tuple[list[tuple[str, Any]], bool]:
    """Every complete message waiting on a worker's pipe, and whether the pipe is closed (or torn by
    a kill mid-message); the worker's exit is then noticed, with a grace period, by ``_check_workers``."""
    drained = []
    try:
        while reader.poll():
            drained.append(reader.recv())
    except (EOFError, OSError, pickle.UnpicklingError):
        return drained, True
    return drained, False
