"""The watchdog stops runs whose reported losses show a leak or divergence, and only those."""

import math

from asiarch.bench.trainer import RunResult
from asiarch.config import ExecutionConfig, StageConfig, WatchdogConfig
from asiarch.execute.evaluate import Evaluation, WatchPlan, evaluate_all
from asiarch.execute.local import LocalExecutor
from asiarch.execute.watchdog import LossWatchdog, leak_floor
from tests.helpers import tiny_run

CFG = WatchdogConfig(warmup_steps=20, smoothing=0.5)


def result(final_loss: float, diverged: bool = False) -> RunResult:
    return RunResult("mqar", 0, 1e-3, "accuracy", {}, 0.5, [(10, 3.0), (20, final_loss)], 20, diverged, 1, 1, 10, 5)


def feed(watchdog: LossWatchdog, losses: list[float]) -> str | None:
    for step, loss in enumerate(losses, start=1):
        reason = watchdog.observe(step * 10, loss)
        if reason is not None:
            return reason
    return None


def test_leak_floor_is_a_fraction_of_the_best_honest_reference():
    runs = [result(2.0), result(1.2), result(0.1, diverged=True)]
    assert leak_floor(runs, CFG) == 0.5 * 1.2
    assert leak_floor([], CFG) is None
    assert leak_floor(runs, WatchdogConfig(leak_floor_fraction=0)) is None


def test_an_honest_decreasing_loss_is_left_alone():
    assert feed(LossWatchdog(CFG, floor=0.5), [4.0, 3.0, 2.2, 1.8, 1.5, 1.3, 1.2]) is None


def test_a_loss_far_below_every_reference_is_stopped_as_a_leak():
    reason = feed(LossWatchdog(CFG, floor=0.5), [4.0, 2.0, 0.4, 0.1, 0.05, 0.01])
    assert reason is not None and "leak floor" in reason and "future tokens" in reason


def test_non_finite_and_exploding_losses_are_stopped():
    assert "diverged" in feed(LossWatchdog(CFG, None), [4.0, math.nan])
    assert "explosion" in feed(LossWatchdog(CFG, None), [2.0, 3.0, 10.0, 30.0, 90.0])


def test_evaluate_all_cancels_a_watched_job_with_the_watchdog_reason():
    stage = StageConfig(seeds=1, tasks={"mqar": tiny_run(steps=200)})
    watch = WatchPlan(WatchdogConfig(warmup_steps=0, leak_floor_fraction=1.0), {"mqar": 100.0})
    pool = LocalExecutor(ExecutionConfig(workers=1))
    found, _ = evaluate_all({"zoo:deltanet": [0]}, stage, pool, watch=watch)
    (failure,) = found["zoo:deltanet"].failures
    assert "leak floor" in failure.error and found["zoo:deltanet"].rows == []


def test_watch_plan_takes_floors_from_reference_rows():
    refs = {
        "zoo:a": Evaluation("zoo:a", [("mqar", result(1.0))]),
        "zoo:b": Evaluation("zoo:b", [("mqar", result(0.4))]),
    }
    assert WatchPlan.from_references(CFG, refs).floors == {"mqar": 0.2}
