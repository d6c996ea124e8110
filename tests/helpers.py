"""Tiny configurations so that real training runs in tests take seconds."""

from asiarch.config import ModelConfig, TaskRunConfig, TrainConfig


def tiny_run(task: str = "mqar", steps: int = 6, lrs: tuple[float, ...] = (3e-3,), **params) -> TaskRunConfig:
    defaults = {
        "mqar": {"vocab_size": 64, "seq_len": 32, "num_kv_pairs": 4, "test_kv_pairs": [2, 4], "test_examples": 16},
    }
    return TaskRunConfig(
        task=task,
        params={**defaults.get(task, {}), **params},
        model=ModelConfig(d_model=16, n_layers=1, num_heads=2),
        train=TrainConfig(steps=steps, batch_size=4, lrs=list(lrs), eval_batch_size=8),
    )
