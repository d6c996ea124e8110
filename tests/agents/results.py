"""Hand-built stage results: real ``RunResult``s grouped as ``TaskSummary``s, with values chosen by the test."""

from asiarch.bench.stages import TaskSummary
from asiarch.bench.trainer import RunResult
from asiarch.config import StageConfig
from tests.helpers import tiny_run

ACC, NATS = "accuracy", "nats_per_token"


def summary(
    label: str, metric: str, values: list[float], first_seed: int = 0, mixer_parameters: int = 0
) -> TaskSummary:
    """Test values as given; validation values equal to them (choices and claims see the same numbers here);
    mixer parameters 0 = not recorded, so no budget is judged unless a test asks."""
    runs = {
        first_seed + i: RunResult(
            label, first_seed + i, 0.01, metric, {"test": v}, v, [(10, 1.0)], 10, False, 1.0, 1.0, 1000,
            mixer_parameters, validation={"test": v}, validation_value=v,
        )  # fmt: skip
        for i, v in enumerate(values)
    }
    return TaskSummary(label, metric, runs, 0.01)


def results(mqar: list[float], lm: list[float]) -> dict[str, TaskSummary]:
    return {"mqar": summary("mqar", ACC, mqar), "lm": summary("lm", NATS, lm)}


def two_task_stage(mqar_weight: float = 1.0, lm_weight: float = 1.0, seeds: int = 1) -> StageConfig:
    """A stage with a recall task (accuracy) labelled mqar and a byte-LM task (nats) labelled lm."""
    return StageConfig(
        seeds=seeds,
        reference_seeds=3,
        tasks={
            "mqar": tiny_run("mqar").model_copy(update={"weight": mqar_weight}),
            "lm": tiny_run("byte_lm").model_copy(update={"weight": lm_weight}),
        },
    )
