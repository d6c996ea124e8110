"""Real tiny training runs: schedule, determinism, divergence, supervised-only logits."""

import math

import pytest
import torch

from asiarch.arch.zoo import reference
from asiarch.bench.tasks import make_task
from asiarch.bench.trainer import lr_at, make_optimizer, train_and_evaluate
from asiarch.config import Config, OptimConfig
from tests.helpers import tiny_run


def run_once(name: str = "deltanet", seed: int = 0, steps: int = 8, lr: float = 3e-3, **train):
    run = tiny_run(steps=steps)
    run = run.model_copy(update={"train": run.train.model_copy(update=train)})
    task = make_task(run.task, run.params)
    return train_and_evaluate(lambda: reference(name)(16, 2), task, run, lr, seed)


def test_same_seed_gives_identical_metrics_and_curve():
    a, b = run_once(seed=3), run_once(seed=3)
    assert a.splits == b.splits and a.curve == b.curve


def test_different_seed_changes_the_run():
    assert run_once(seed=1).curve != run_once(seed=2).curve


def test_schedule_warms_up_then_decays_to_floor():
    optim = OptimConfig(warmup_frac=0.1, min_lr_frac=0.1)
    lrs = [lr_at(step, 100, 1.0, optim) for step in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(x >= y for x, y in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_weight_decay_only_on_matrices():
    model = reference("gated_deltanet")(16, 2)
    decayed, plain = make_optimizer(model, 1e-3, OptimConfig()).param_groups
    assert decayed["weight_decay"] > 0 and all(p.ndim >= 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0 and all(p.ndim < 2 for p in plain["params"])


def test_result_reports_cost_and_curve():
    result = run_once(steps=10)
    assert result.steps_done == 10 and not result.diverged
    assert result.curve[-1][0] == 10 and all(math.isfinite(loss) for _, loss in result.curve)
    assert set(result.splits) == {"kv2", "kv4"} and 0 <= result.value <= 1
    assert result.wall_s > 0 and result.cpu_s > 0 and 0 < result.mixer_parameters < result.parameters


def test_divergence_stops_the_run_and_scores_worst():
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return x * self.scale * float("inf")

    run = tiny_run()
    result = train_and_evaluate(Exploding, make_task(run.task, run.params), run, 1e-3, 0)
    assert result.diverged and result.steps_done == 0 and result.value == 0.0


@pytest.mark.slow
def test_softmax_learns_tiny_recall_above_chance():
    run = tiny_run(steps=150, vocab_size=32, num_kv_pairs=2, test_kv_pairs=[2], seq_len=12, test_examples=64)
    task = make_task(run.task, run.params)
    result = train_and_evaluate(lambda: reference("softmax")(16, 2), task, run, 1e-2, 0)
    chance = 1 / (32 // 2)
    assert result.value > 3 * chance


@pytest.mark.parametrize(
    "stage,label", [(stage, label) for stage, cfg in Config().stages.items() for label in cfg.tasks]
)
def test_every_default_stage_task_trains_and_scores(stage, label):
    run = Config().stages[stage].tasks[label].model_copy(deep=True)
    run.train.steps = 2
    task = make_task(run.task, run.params)
    result = train_and_evaluate(
        lambda: reference("gated_deltanet")(run.model.d_model, run.model.num_heads), task, run, run.train.lrs[0], 0
    )
    assert result.steps_done == 2 and set(result.splits) == set(task.test_splits())
    assert all(math.isfinite(v) for v in result.splits.values())


def test_bf16_autocast_trains_to_a_finite_score_near_fp32():
    plain, bf16 = run_once(steps=20), run_once(steps=20, precision="bf16")
    assert not bf16.diverged and all(math.isfinite(loss) for _, loss in bf16.curve)
    assert bf16.curve != plain.curve  # it really ran in bfloat16
    assert abs(bf16.curve[-1][1] - plain.curve[-1][1]) < 0.25 * plain.curve[-1][1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error a machine without CUDA gives")
def test_training_on_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(RuntimeError, match="train.device is cuda but this job's process sees no CUDA device"):
        run_once(device="cuda")
    assert run_once(device="auto").gpu_s == 0.0
