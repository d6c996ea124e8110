"""Planning a stage into jobs and keeping the best learning rate per (task, seed)."""

import math

from asiarch.bench.stages import plan_stage, summarise
from asiarch.bench.trainer import RunResult
from asiarch.config import StageConfig
from tests.helpers import tiny_run


def result(task: str, seed: int, lr: float, value: float, metric: str = "accuracy") -> RunResult:
    return RunResult(
        task=task,
        seed=seed,
        lr=lr,
        metric=metric,
        splits={"a": value},
        value=value,
        curve=[],
        steps_done=1,
        diverged=False,
        wall_s=1.0,
        cpu_s=1.0,
        parameters=10,
        mixer_parameters=5,
    )


def test_plan_is_the_cross_product_longest_first():
    stage = StageConfig(tasks={"short": tiny_run(steps=5, lrs=(1e-2, 3e-3)), "long": tiny_run(steps=50)})
    jobs = plan_stage(stage, "zoo:softmax", [0, 1])
    assert len(jobs) == 2 * (2 + 1)
    assert {(j.label, j.lr, j.seed) for j in jobs} == {
        (label, lr, seed)
        for seed in (0, 1)
        for label, lrs in (("short", (1e-2, 3e-3)), ("long", (3e-3,)))
        for lr in lrs
    }
    assert [j.label for j in jobs[:2]] == ["long", "long"]


def test_best_learning_rate_kept_per_seed_in_the_metric_direction():
    rows = [
        ("recall", result("mqar", 0, 1e-2, 0.9)),
        ("recall", result("mqar", 0, 3e-3, 0.7)),
        ("recall", result("mqar", 1, 1e-2, 0.2)),
        ("recall", result("mqar", 1, 3e-3, 0.6)),
        ("lm", result("byte_lm", 0, 1e-2, 2.0, "nats_per_token")),
        ("lm", result("byte_lm", 0, 3e-3, 1.5, "nats_per_token")),
        ("lm", result("byte_lm", 1, 3e-3, math.inf, "nats_per_token")),
    ]
    tasks = summarise(rows)
    assert tasks["recall"].values == [0.9, 0.6]
    assert tasks["recall"].mean == 0.75 and tasks["recall"].higher_is_better
    assert tasks["lm"].per_seed[0].lr == 3e-3 and not tasks["lm"].higher_is_better
    assert tasks["lm"].values == [1.5, math.inf]
