"""The local executor runs real jobs in real spawned processes and turns every failure into an outcome."""

import time
from pathlib import Path

from asiarch.bench.stages import TrainingJob
from asiarch.execute.local import LocalExecutor
from tests.helpers import tiny_run

FIXTURES = Path(__file__).parent / "fixtures"


def job(candidate: str, seed: int = 0) -> TrainingJob:
    return TrainingJob(candidate, "mqar", tiny_run(), 3e-3, seed)


def test_runs_reference_jobs_in_order_with_progress():
    seen: dict[int, int] = {}
    outcomes = LocalExecutor(2, 1, 120).run(
        [job("zoo:deltanet", 0), job("zoo:softmax", 1), job("zoo:gla", 2)],
        lambda index, steps: seen.__setitem__(index, steps),
    )
    assert [o.job.seed for o in outcomes] == [0, 1, 2]
    assert all(o.error is None and o.result["steps_done"] == 6 for o in outcomes)
    assert seen == {0: 6, 1: 6, 2: 6}


def test_candidate_exception_becomes_a_one_line_error():
    (outcome,) = LocalExecutor(1, 1, 120).run([job(str(FIXTURES / "raises.py"))])
    assert outcome.result is None
    assert "refuses to be built" in outcome.error and "\n" not in outcome.error
    assert "raises.py" in outcome.detail


def test_hanging_candidate_is_killed_at_the_time_limit():
    (outcome,) = LocalExecutor(1, 1, 8).run([job(str(FIXTURES / "hangs.py"))])
    assert outcome.result is None and "time limit" in outcome.error


def test_dying_worker_is_reported_with_its_exit_code():
    outcomes = LocalExecutor(2, 1, 120).run([job(str(FIXTURES / "exits.py")), job("zoo:softmax")])
    assert "exit code 3" in outcomes[0].error
    assert outcomes[1].error is None


def test_same_job_in_two_processes_gives_identical_metrics():
    first, second = LocalExecutor(2, 1, 120).run([job("zoo:gated_deltanet", 5), job("zoo:gated_deltanet", 5)])
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


def test_timeout_kills_the_whole_process_group_leaving_no_orphans():
    started = time.monotonic()
    (outcome,) = LocalExecutor(1, 1, 6).run([job(str(FIXTURES / "spawns_and_hangs.py"))])
    assert "time limit" in outcome.error
    assert time.monotonic() - started < 6 + 5
    deadline = time.monotonic() + 5
    while _processes_with("asiarch-orphan-probe") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with("asiarch-orphan-probe") == []
