"""Scoring a trained model on a task's fixed test splits.

Only supervised positions are scored and only there is the output head applied: on recall
tasks that is a handful of positions per sequence, and computing logits elsewhere is wasted.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from asiarch.arch.backbone import LanguageModel
from asiarch.bench.tasks.base import IGNORE_INDEX, Batch

ACCURACY = "accuracy"
NATS = "nats_per_token"


def higher_is_better(metric: str) -> bool:
    return metric == ACCURACY


def worst_value(metric: str) -> float:
    """What a run that produced nothing usable scores: never better than any real result."""
    return 0.0 if higher_is_better(metric) else math.inf


def supervised_logits(model: LanguageModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits and targets at supervised positions only, plus the mixers' auxiliary loss."""
    hidden, aux = model.hidden_states(batch.inputs)
    mask = batch.targets != IGNORE_INDEX
    return model.logits(hidden[mask]), batch.targets[mask], aux


@torch.no_grad()
def score_split(model: LanguageModel, split: Batch, metric: str, batch_size: int) -> float:
    """Accuracy, or mean cross-entropy in nats, over all supervised positions of a split."""
    correct = 0
    nats = 0.0
    count = 0
    device = next(model.parameters()).device
    for start in range(0, split.inputs.shape[0], batch_size):
        part = Batch(split.inputs[start : start + batch_size], split.targets[start : start + batch_size]).to(device)
        logits, targets, _ = supervised_logits(model, part)
        if metric == ACCURACY:
            correct += int((logits.argmax(-1) == targets).sum())
        else:
            nats += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
        count += targets.numel()
    if count == 0:
        raise ValueError("test split has no supervised positions")
    value = correct / count if metric == ACCURACY else nats / count
    return value if math.isfinite(value) else worst_value(metric)


def score_task(model: LanguageModel, splits: dict[str, Batch], metric: str, batch_size: int) -> dict[str, float]:
    """One value per split, keyed by split name."""
    model.eval()
    try:
        return {name: score_split(model, split, metric, batch_size) for name, split in splits.items()}
    finally:
        model.train()


def primary(values: dict[str, float]) -> float:
    """The task's headline number: the mean over its test splits."""
    return sum(values.values()) / len(values)
