"""The local executor runs real jobs in real spawned processes and turns every failure into an outcome."""

import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asiarch.bench.stages import TrainingJob
from asiarch.config import ExecutionConfig
from asiarch.execute.job import run_training_job
from asiarch.execute.local import LocalExecutor
from tests.helpers import tiny_run

FIXTURES = Path(__file__).parent / "fixtures"


def job(candidate: str, seed: int = 0, steps: int = 6) -> TrainingJob:
    return TrainingJob(candidate, "mqar", tiny_run(steps=steps), 3e-3, seed)


def executor(workers: int = 2, timeout: float = 120) -> LocalExecutor:
    return LocalExecutor(ExecutionConfig(workers=workers, job_timeout_s=timeout))


def test_runs_reference_jobs_in_order_with_progress():
    seen: dict[int, int] = {}
    outcomes = executor(2).run(
        [job("zoo:deltanet", 0), job("zoo:softmax", 1), job("zoo:gla", 2)],
        lambda index, steps: seen.__setitem__(index, steps),
    )
    assert [o.job.seed for o in outcomes] == [0, 1, 2]
    assert [o.error for o in outcomes] == [None, None, None]
    assert all(o.result["steps_done"] == 6 for o in outcomes)
    assert seen == {0: 6, 1: 6, 2: 6}


def test_candidate_exception_becomes_a_one_line_error():
    (outcome,) = executor(1).run([job(str(FIXTURES / "raises.py"))])
    assert outcome.result is None
    assert "refuses to be built" in outcome.error and "\n" not in outcome.error
    assert "raises.py" in outcome.detail


def test_hanging_candidate_is_killed_at_the_time_limit():
    (outcome,) = executor(1, 8).run([job(str(FIXTURES / "hangs.py"))])
    assert outcome.result is None and "time limit" in outcome.error


def test_dying_worker_is_reported_with_its_exit_code():
    outcomes = executor(2).run([job(str(FIXTURES / "exits.py")), job("zoo:softmax")])
    assert "exit code 3" in outcomes[0].error
    assert outcomes[1].error is None


def test_same_job_in_two_processes_gives_identical_metrics():
    first, second = executor(2).run([job("zoo:gated_deltanet", 5), job("zoo:gated_deltanet", 5)])
    assert first.result["splits"] == second.result["splits"]
    assert first.result["curve"] == second.result["curve"]


def _processes_with(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(proc.name)
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_hung_worker_is_gone_from_the_process_table_within_timeout_plus_five_seconds():
    pool = executor(1, 4)
    started = time.monotonic()
    handle = pool.submit(job(str(FIXTURES / "hangs.py")), run_training_job)
    outcome = pool.result(handle)
    pid = handle.state["process"].pid
    assert outcome.timed_out and "time limit" in outcome.error
    assert time.monotonic() - started < 4 + 5
    assert not _alive(pid)


ORCHESTRATOR = """
import time
from asiarch.execute.local import LocalExecutor
from tests.execute.test_local import FIXTURES, executor, job

if __name__ == "__main__":
    pool = executor(1, 600)
    handle = pool.submit(job(str(FIXTURES / "hangs.py")))
    try:
        pool.result(handle, timeout=1)
    except TimeoutError:
        print(handle.state["process"].pid, flush=True)
    time.sleep(600)
"""


def test_a_worker_dies_with_its_orchestrator(tmp_path):
    script = tmp_path / "orchestrator.py"
    script.write_text(ORCHESTRATOR)
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    orchestrator = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=environment)
    worker = int(orchestrator.stdout.readline())
    assert _alive(worker)
    orchestrator.kill()  # SIGKILL: no chance to clean up
    orchestrator.wait()
    deadline = time.monotonic() + 10
    while _alive(worker):
        assert time.monotonic() < deadline, "the worker outlived its orchestrator"
        time.sleep(0.1)


def test_a_candidate_that_spawns_a_process_is_refused_and_leaves_nothing_behind():
    (outcome,) = executor(1, 30).run([job(str(FIXTURES / "spawns_and_hangs.py"))])
    assert outcome.error.startswith("sandbox:") and "start a process" in outcome.error
    assert _processes_with("asiarch-orphan-probe") == []


def test_submit_result_and_cancel():
    pool = executor(2)
    reported: list[tuple[int, float]] = []
    quick = pool.submit(job("zoo:deltanet"), run_training_job, lambda h, step, loss: reported.append((step, loss)))
    stuck = pool.submit(job(str(FIXTURES / "hangs.py")), run_training_job)
    assert pool.result(quick).error is None
    assert reported and reported[-1][0] == 6 and all(math.isfinite(loss) for _, loss in reported)
    with pytest.raises(TimeoutError, match="still running"):
        pool.result(stuck, timeout=0.5)
    pid = stuck.state["process"].pid
    pool.cancel(stuck, "not needed any more")
    assert pool.result(stuck).error == "not needed any more"
    assert not _alive(pid)


def test_cancelling_from_a_progress_callback_stops_the_job_early():
    pool = executor(1)
    handle = pool.submit(
        job("zoo:deltanet", steps=400), run_training_job, lambda h, step, loss: pool.cancel(h, f"stop at {step}")
    )
    outcome = pool.result(handle)
    assert outcome.result is None and outcome.error == "stop at 10"


def test_a_worker_that_cannot_be_started_fails_its_job_with_the_reason_and_the_pool_goes_on():
    script = """
import os, resource
from asiarch.config import ExecutionConfig
from asiarch.execute.local import LocalExecutor
from tests.execute import sandbox_probes
pool = LocalExecutor(ExecutionConfig(workers=1))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 1, hard))
(starved,) = pool.run(["x"], runner=sandbox_probes.observe)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
(fine,) = pool.run(["x"], runner=sandbox_probes.observe)
print(starved.error)
print(fine.error is None and "audit hook" in fine.result["layers"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr
    starved, fine = done.stdout.strip().splitlines()[-2:]
    assert starved.startswith("could not start a worker process for the job (OSError") and "Too many open files" in starved
    assert fine == "True"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile on the CPU needs a C++ compiler")
def test_a_compiled_training_job_runs_inside_the_sandbox_and_trains_like_the_eager_one():
    eager = tiny_run(steps=6)
    compiled = eager.model_copy(update={"train": eager.train.model_copy(update={"compile": True})})
    pool = LocalExecutor(ExecutionConfig(workers=2, job_timeout_s=600))
    plain, fast = pool.run([TrainingJob("zoo:deltanet", "mqar", run, 3e-3, 0) for run in (eager, compiled)])
    assert fast.error is None, fast.error
    losses = [[loss for _, loss in outcome.result["curve"]] for outcome in (plain, fast)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
