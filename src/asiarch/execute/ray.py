"""Run jobs as Ray tasks: the local pool's job entry points and sandbox, on a cluster's nodes.

Each job is one Ray task in a fresh Ray worker process (``max_calls=1``). Inside it the job runs exactly
as the local executor runs it — in a spawned, sandboxed child with its time, CPU and memory limits —
because the sandbox cuts the network, which the Ray worker needs to hand the result back. Ray retries a
task whose worker or node died (``execution.ray.max_retries``); a job's own failure is an outcome and is
never retried. Outcomes come back as jobs finish. A job that no node of the cluster could ever take (it
asks for a GPU or a resource nobody offers) is refused at once with one line instead of waiting forever;
one still unfinished after its time limit plus ``schedule_timeout_s`` (a cluster too busy, a node that
never came) is cancelled with that reason.
"""

from __future__ import annotations

import math
import socket
import time
from typing import Any

from asiarch.config import ExecutionConfig
from asiarch.execute.job import run_training_job
from asiarch.execute.local import DrivenExecutor, LocalExecutor
from asiarch.protocols import JobHandle, JobOutcome, JobRunner, ProgressSink

POLL_SECONDS = 0.2
CONNECT_TIMEOUT_S = 5.0
BYTES_PER_GB = 2**30


class RayUnavailable(RuntimeError):
    """Ray is missing or its cluster cannot be reached, as one line naming the fix."""


def run_sandboxed(runner: JobRunner, job: Any, timeout_s: float, execution: ExecutionConfig) -> JobOutcome:
    """The body of every Ray task: the job in a sandboxed child process on this node, as the local pool runs it."""
    with LocalExecutor(execution.model_copy(update={"workers": 1})) as pool:
        return pool.result(pool.submit(job, runner, timeout_s=timeout_s))


def _check_reachable(address: str | None) -> None:
    """Fail fast on a HOST:PORT nobody listens on: Ray itself keeps retrying its connection for minutes."""
    host, colon, port = (address or "").rpartition(":")
    if not colon or "://" in (address or "") or not port.isdigit():
        return  # a new local Ray, 'auto', or a ray:// client address: Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnavailable(
            f"cannot join the Ray cluster at {address}: {exc.strerror or exc}; start it with `ray start --head` "
            "or fix execution.ray.address"
        ) from exc


class RayExecutor(DrivenExecutor):
    """The Executor protocol over Ray: submit, wait for results as they finish, cancel."""

    def __init__(self, execution: ExecutionConfig) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable("Ray is not installed; pip install -e '.[ray]' (or use --executor local)") from exc
        self.ray = ray
        self.config = execution
        settings = execution.ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            _check_reachable(settings.address)
            try:
                if settings.address is None:
                    ray.init(num_cpus=execution.worker_count(), include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=settings.address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise RayUnavailable(
                    f"cannot join the Ray cluster at {settings.address or 'a new local Ray'}: {first}; start it with "
                    "`ray start --head` or fix execution.ray.address"
                ) from exc
        self.demand = {"CPU": settings.num_cpus, "GPU": settings.num_gpus, **settings.resources}
        if settings.memory_gb is not None:
            self.demand["memory"] = settings.memory_gb * BYTES_PER_GB
        self.demand = {name: amount for name, amount in self.demand.items() if amount > 0}
        options: dict[str, Any] = {
            "num_cpus": settings.num_cpus,
            "num_gpus": settings.num_gpus,
            "resources": dict(settings.resources),
            "max_retries": settings.max_retries,
            "retry_exceptions": False,
        }
        if settings.memory_gb is not None:
            options["memory"] = settings.memory_gb * BYTES_PER_GB
        self._task = ray.remote(max_calls=1)(run_sandboxed).options(**options)  # a fresh worker per job
        cpus = ray.cluster_resources().get("CPU", 1.0)
        self.max_in_flight = settings.max_in_flight or max(1, math.floor(cpus / settings.num_cpus))
        self.timeout = execution.job_timeout_s
        self._queued: list[JobHandle] = []
        self._running: dict[Any, JobHandle] = {}

    def submit(
        self,
        job: Any,
        runner: JobRunner = run_training_job,
        on_progress: ProgressSink | None = None,
        timeout_s: float | None = None,
    ) -> JobHandle:
        """Queue a job; it is handed to Ray as soon as fewer than ``max_in_flight`` jobs are out there."""
        handle = JobHandle(job, runner, timeout_s or self.timeout, on_progress)
        missing = self._unmet_demand()
        if missing:
            handle.outcome = JobOutcome(job, None, missing)
        else:
            self._queued.append(handle)
        return handle

    def cancel(self, handle: JobHandle, reason: str) -> None:
        """Stop a job now (Ray kills its worker and with it the sandboxed child); its outcome carries ``reason``."""
        if handle.outcome is not None:
            return
        if handle in self._queued:
            self._queued.remove(handle)
        else:
            reference = handle.state["ref"]
            self._running.pop(reference, None)
            self.ray.cancel(reference, force=True)
        handle.outcome = JobOutcome(handle.job, None, reason)

    def close(self) -> None:
        """Cancel every job; shut down the local Ray this executor started (a joined cluster stays up)."""
        for handle in [*self._queued, *self._running.values()]:
            self.cancel(handle, "cancelled: the executor was closed")
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()

    def _step(self) -> None:
        while self._queued and len(self._running) < self.max_in_flight:
            handle = self._queued.pop(0)
            reference = self._task.remote(handle.runner, handle.job, handle.timeout_s, self.config)
            handle.state.update(ref=reference, started=time.monotonic())
            self._running[reference] = handle
        if not self._running:
            time.sleep(POLL_SECONDS)
            return
        ready, _ = self.ray.wait(list(self._running), num_returns=len(self._running), timeout=POLL_SECONDS)
        for reference in ready:
            handle = self._running.pop(reference)
            handle.outcome = self._collect(handle, reference)
            steps = getattr(handle.job, "steps", None)
            if handle.on_progress is not None and handle.outcome.error is None and steps:
                handle.on_progress(handle, steps, math.nan)
        now = time.monotonic()
        patience = self.config.ray.schedule_timeout_s
        for handle in list(self._running.values()):
            if now - handle.state["started"] > handle.timeout_s + patience:
                self.cancel(
                    handle,
                    f"not finished {handle.timeout_s + patience:g} s after it was handed to Ray "
                    "(no free node could take it); raise execution.ray.schedule_timeout_s or add nodes",
                )

    def _collect(self, handle: JobHandle, reference: Any) -> JobOutcome:
        from ray.exceptions import RayError, TaskCancelledError

        try:
            return self.ray.get(reference)
        except TaskCancelledError:
            return JobOutcome(handle.job, None, "cancelled")
        except RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            retries = self.config.ray.max_retries
            return JobOutcome(handle.job, None, f"Ray lost the job after {retries} retries: {first}", str(exc))

    def _unmet_demand(self) -> str | None:
        """Why no alive node could ever run a job of this shape, or None when one could."""
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        if any(all(node.get(name, 0.0) >= amount for name, amount in self.demand.items()) for node in nodes):
            return None
        wanted = ", ".join(f"{amount:g} {name}" for name, amount in self.demand.items())
        return (
            f"no node of the Ray cluster offers {wanted} per job (nodes: {len(nodes)}); add such a node or lower "
            "execution.ray.num_gpus / num_cpus / memory_gb / resources"
        )
