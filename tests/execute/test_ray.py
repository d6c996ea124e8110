"""The Ray executor on a real local Ray cluster (a head and one worker node with a fake GPU), on the CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from asiarch.config import ExecutionConfig, RayConfig
from asiarch.protocols import JobHandle
from tests.execute.ray_runners import sleeps, where_am_i
from tests.execute.test_local import FIXTURES, _alive, job
from tests.web.browser import free_port

ray = pytest.importorskip("ray", reason="the Ray executor needs the ray extra: pip install -e '.[ray]'")
from asiarch.execute.ray import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
NODE_OPTIONS = ["--disable-usage-stats", "--object-store-memory=100000000"]
# Workers import the test runners from the repository; Ray's default niceness (15) would starve them on a busy
# machine and turn minutes into tens of minutes.
ENVIRONMENT = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO), "RAY_worker_niceness": "0"}


@pytest.fixture(scope="module")
def cluster():
    """`ray start` a head (1 CPU, no GPU) and a worker node (1 CPU, 1 fake GPU), as a user would."""
    address = f"127.0.0.1:{free_port()}"
    head = ["ray", "start", "--head", f"--port={address.split(':')[1]}", "--num-cpus=1", "--num-gpus=0",
            "--include-dashboard=false", *NODE_OPTIONS]  # fmt: skip
    worker = ["ray", "start", f"--address={address}", "--num-cpus=1", "--num-gpus=1", *NODE_OPTIONS]
    try:
        for command in (head, worker):
            subprocess.run(command, env=ENVIRONMENT, check=True, capture_output=True, timeout=180)
        os.environ["RAY_AUTH_MODE"] = "disabled"
        yield address
    finally:
        subprocess.run(["ray", "stop", "--force"], env=ENVIRONMENT, capture_output=True, timeout=120)


def executor(address: str, **ray_settings: object) -> RayExecutor:
    settings = RayConfig(address=address, **ray_settings)
    return RayExecutor(ExecutionConfig(workers=2, job_timeout_s=300, ray=settings))


def test_jobs_run_sandboxed_on_the_cluster_and_gpu_jobs_get_the_gpu_node(cluster):
    with executor(cluster) as cpu_pool:
        training, failing = cpu_pool.run([job("zoo:deltanet", 0), job(str(FIXTURES / "raises.py"))])
        assert training.error is None and training.result["steps_done"] == 6
        assert "refuses to be built" in failing.error and "\n" not in failing.error  # the job's error, not retried
        (cpu_run,) = cpu_pool.run(["cpu"], runner=where_am_i)
    assert cpu_run.result["cuda"] in (None, "")
    assert cpu_run.result["ppid"] != os.getpid()  # a child of a Ray worker, not of this process
    with executor(cluster, num_gpus=1) as gpu_pool:
        (gpu_run,) = gpu_pool.run(["gpu"], runner=where_am_i)
    assert gpu_run.error is None and gpu_run.result["cuda"] == "0"  # only the worker node has the (fake) GPU


def test_a_job_no_node_can_take_fails_at_once_with_the_reason(cluster):
    started = time.monotonic()
    with executor(cluster, num_gpus=2) as pool:
        (outcome,) = pool.run(["x"], runner=where_am_i)
    assert outcome.result is None and "no node of the Ray cluster offers 1 CPU, 2 GPU per job" in outcome.error
    assert time.monotonic() - started < 60


def test_cancel_kills_the_job_and_a_hang_meets_its_time_limit(cluster):
    with executor(cluster) as pool:
        handle = pool.submit("300", runner=sleeps)
        children = _started(pool, handle)
        pool.cancel(handle, "cancelled by the test")
        assert pool.result(handle).error == "cancelled by the test"
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in children):  # the sandboxed child dies with its Ray worker
            assert time.monotonic() < deadline, "the cancelled job's process outlived its Ray worker"
            time.sleep(0.2)
        (late,) = [pool.result(pool.submit(job(str(FIXTURES / "hangs.py")), timeout_s=8))]
    assert late.result is None and "time limit" in late.error


def _started(pool: RayExecutor, handle: JobHandle) -> set[int]:
    """Drive the pool until the job's sandboxed process runs on the cluster; its pids."""
    deadline = time.monotonic() + 120
    while not (children := _sandboxed_job_processes()):
        assert time.monotonic() < deadline, "the job never started"
        with pytest.raises(TimeoutError):
            pool.result(handle, timeout=1)
    return children


def _sandboxed_job_processes() -> set[int]:
    """Job processes whose parent is a Ray worker running a job (Ray titles it ray::run_sandboxed)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            parent = status.read_text().split("PPid:")[1].split()[0]
            if b"ray::run_sandboxed" in Path(f"/proc/{parent}/cmdline").read_bytes():
                found.add(int(status.parent.name))
        except (OSError, IndexError):
            continue
    return found


def test_an_unreachable_cluster_is_one_line():
    from asiarch.execute.ray import RayUnavailable

    with pytest.raises(RayUnavailable, match="cannot join the Ray cluster at 127.0.0.1:1.*ray start --head"):
        executor("127.0.0.1:1")


@pytest.mark.reliability
def test_a_ray_worker_killed_mid_job_is_retried_by_ray_or_recorded_as_lost_with_the_reason(cluster):
    for retries, survives in ((1, True), (0, False)):
        with executor(cluster, max_retries=retries) as pool:
            handle = pool.submit("8", runner=sleeps)
            children = _started(pool, handle)
            ray_worker = int(Path(f"/proc/{min(children)}/status").read_text().split("PPid:")[1].split()[0])
            os.kill(ray_worker, signal.SIGKILL)
            outcome = pool.result(handle, timeout=240)
        if survives:
            assert outcome.error is None and outcome.result == {"slept": 8.0}
        else:
            assert outcome.result is None and outcome.error.startswith("Ray lost the job after 0 retries: ")
            assert "\n" not in outcome.error
