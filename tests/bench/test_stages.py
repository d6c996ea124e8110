"""Planning a stage into jobs and choosing one learning rate per task on validation."""

import math

import pytest

from asiarch.bench.stages import chosen_lrs, plan_stage, summarise
from asiarch.bench.trainer import RunResult
from asiarch.config import StageConfig
from tests.helpers import tiny_run


def result(
    task: str, seed: int, lr: float, value: float, metric: str = "accuracy", validation: float | None = None
) -> RunResult:
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
        validation={} if validation is None else {"a": validation},
        validation_value=validation,
    )


def test_plan_tries_every_lr_on_search_seeds_and_the_chosen_one_later_longest_first():
    stage = StageConfig(
        seeds=3, reference_seeds=3, lr_search_seeds=1, seed_base=10,
        tasks={"short": tiny_run(steps=5, lrs=(1e-2, 3e-3)), "long": tiny_run(steps=50)},
    )  # fmt: skip
    jobs = plan_stage(stage, "zoo:softmax", [10, 11], lrs={"short": 3e-3, "long": 3e-3})
    assert {(j.label, j.lr, j.seed) for j in jobs} == {
        ("short", 1e-2, 10), ("short", 3e-3, 10), ("long", 3e-3, 10), ("short", 3e-3, 11), ("long", 3e-3, 11),
    }  # fmt: skip
    assert [j.label for j in jobs[:2]] == ["long", "long"]
    assert all(j.run.params["test_seed"] == 10 for j in jobs), "held-out data comes from the stage's seed_base"
    with pytest.raises(ValueError, match="chosen on the search seeds"):
        plan_stage(stage, "zoo:softmax", [11])


def test_a_task_naming_its_test_seed_keeps_it():
    stage = StageConfig(seed_base=5, tasks={"t": tiny_run().model_copy(update={"params": {"test_seed": 3}})})
    assert plan_stage(stage, "zoo:softmax", [5])[0].run.params["test_seed"] == 3


def test_one_lr_per_task_chosen_on_the_validation_mean_not_on_test():
    rows = [
        # recall: 1e-2 has the better validation mean (0.85 vs 0.65) though 3e-3 has the better test mean.
        ("recall", result("mqar", 0, 1e-2, 0.5, validation=0.9)),
        ("recall", result("mqar", 0, 3e-3, 0.95, validation=0.7)),
        ("recall", result("mqar", 1, 1e-2, 0.6, validation=0.8)),
        ("recall", result("mqar", 1, 3e-3, 0.97, validation=0.6)),
        ("recall", result("mqar", 2, 1e-2, 0.7, validation=0.75)),  # a later seed, trained at the chosen lr only
        ("lm", result("byte_lm", 0, 1e-2, 2.0, "nats_per_token", validation=2.0)),
        ("lm", result("byte_lm", 0, 3e-3, 1.5, "nats_per_token", validation=1.5)),
        ("lm", result("byte_lm", 1, 1e-2, 1.0, "nats_per_token", validation=1.0)),
        ("lm", result("byte_lm", 1, 3e-3, math.inf, "nats_per_token", validation=math.inf)),
    ]
    tasks = summarise(rows)
    assert tasks["recall"].lr == 1e-2 and tasks["recall"].values == [0.5, 0.6, 0.7]
    assert tasks["recall"].validation_values == [0.9, 0.8, 0.75] and tasks["recall"].higher_is_better
    assert tasks["lm"].lr == 1e-2, "lower loss is better, and a diverged seed sinks its lr's mean"
    assert tasks["lm"].values == [2.0, 1.0] and not tasks["lm"].higher_is_better
    assert chosen_lrs(rows) == {"recall": 1e-2, "lm": 1e-2}


def test_results_without_validation_are_chosen_on_their_test_value():
    rows = [("recall", result("mqar", 0, 1e-2, 0.5)), ("recall", result("mqar", 0, 3e-3, 0.9))]
    assert summarise(rows)["recall"].lr == 3e-3
