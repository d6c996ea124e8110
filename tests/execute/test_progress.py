"""Progress of a batch of training jobs: counts, ETA and estimates, and the events a real evaluation sends."""

import pytest

from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import TrainingJob
from asiarch.config import ExecutionConfig, StageConfig
from asiarch.execute.evaluate import reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.execute.progress import JobBoard, StepTimer, duration, reported
from tests.helpers import tiny_run


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def jobs(*steps: int) -> list[TrainingJob]:
    return [TrainingJob("zoo:deltanet", "mqar", tiny_run(steps=n), 3e-3, seed) for seed, n in enumerate(steps)]


def test_the_eta_follows_the_step_rate_and_finished_jobs_count_in_full():
    clock = Clock()
    board = JobBoard("references", jobs(100, 100, 200), workers=2, estimate_s=999.0, clock=clock)
    assert board.eta_s() == 999.0, "before any step the up-front estimate stands"
    clock.now += 10
    board.step(0, 50)
    board.step(1, 50)
    assert board.running() == [(board.jobs[0], 50), (board.jobs[1], 50)]
    assert board.eta_s() == pytest.approx((400 - 100) * 10 / 100)
    clock.now += 10
    board.step(0, 70)
    board.finish(0)  # a job that stopped early (diverged, cancelled) is done all the same
    assert board.steps_done == 100 + 50 and board.done == 1 and not board.complete
    assert [job for job, _ in board.running()] == [board.jobs[1]]
    board.finish(1)
    board.finish(2)
    assert board.complete and board.eta_s() == 0.0
    assert board.summary() == "references: 3/3 jobs done, 20 s elapsed"
    assert board.record(board.jobs[2]).endswith("finished zoo:deltanet mqar seed=2 lr=0.003")


def test_without_an_estimate_there_is_no_eta_until_a_step_is_seen():
    board = JobBoard("training at screen", jobs(10), workers=1)
    assert board.eta_s() is None and "left" not in board.summary()


@pytest.mark.parametrize(
    ("seconds", "text"), [(45, "45 s"), (12 * 60, "12 min"), (5400, "1.5 h"), (float("inf"), "unknown")]
)
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration(seconds) == text


def test_the_estimate_adds_up_timed_steps_over_the_workers():
    timer = StepTimer(threads=1, steps=2)
    per_step = timer(tiny_run(steps=10))
    assert 0 < per_step < 5
    work = [TrainingJob("zoo:gla", "mqar", tiny_run(steps=10), 3e-3, seed) for seed in range(4)]
    one, two = timer.estimate(work, 1), timer.estimate(work, 2)
    assert two == pytest.approx(one / 2) and one > 4 * 10 * per_step, "steps plus each job's start-up"
    assert timer(tiny_run(steps=10)) == per_step, "a task run is timed once per process"


def test_a_reference_measurement_is_announced_followed_and_closed(tmp_path):
    events = []
    stage = StageConfig(reference_seeds=2, tasks={"mqar": tiny_run(steps=8, lrs=(1e-3, 3e-3))})
    execution = ExecutionConfig(workers=2)
    with LocalExecutor(execution) as executor:
        reference_evaluations(["deltanet"], "screen", stage, executor, BaselineCache(tmp_path),
                              reported(lambda event, **details: events.append((event, details)), "refs", execution))  # fmt: skip
    names = [event for event, _ in events]
    assert names[0] == "jobs" and names[-1] == "jobs_over"
    board = events[0][1]["board"]
    assert len(board.jobs) == 4 and board.estimate_s > 0 and board.workers == 2
    done = [details["job"] for event, details in events if event == "job_done"]
    assert sorted(job.describe() for job in done) == sorted(job.describe() for job in board.jobs)
    assert "job_step" in names and board.complete
