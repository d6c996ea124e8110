"""Memorization, in the style of the MAD suite (Poli et al. 2024).

Why this task: it measures how much a fixed mapping the model can store in its weights,
the complement of in-context recall. A mixer that trades parameters for context handling
shows up here.

One key-to-value mapping is drawn from ``test_seed`` and shared by training and test data.
The full sequence (``seq_len + 1`` tokens) is a stream of ``key value`` pairs whose keys are
distinct within a sequence, so the context never reveals an answer; every value is scored.

Vocabulary: ``[key ids | value ids]``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import pydantic
import torch

from asiarch.bench.tasks.base import (
    Batch,
    GeneratedTask,
    TaskParams,
    distinct_choice,
    seeded_generator,
    shifted_batch,
)

PAIR_LEN = 2
"""Tokens in a key-value pair."""

MAPPING_STREAM = 0
"""Salt of the mapping's generator, kept apart from the test split's stream."""

TEST_STREAM = 1
"""Salt of the test split's generator."""


def pair_count(seq_len: int) -> int:
    """Pairs needed to fill a full sequence of ``seq_len + 1`` tokens (the last may be cut)."""
    return math.ceil((seq_len + 1) / PAIR_LEN)


class MemorizationParams(TaskParams):
    """Parameters of :class:`Memorization`."""

    num_keys: int = pydantic.Field(256, ge=1, description="Keys in the fixed mapping.")
    num_values: int = pydantic.Field(64, ge=2, description="Distinct value tokens.")
    seq_len: int = pydantic.Field(64, ge=3, description="Length of the model's input.")
    test_examples: int = pydantic.Field(500, ge=1, description="Sequences in the test split.")
    test_seed: int = pydantic.Field(0, description="Seed of the fixed mapping and of the test split (not of training).")

    @pydantic.model_validator(mode="after")
    def _keys_distinct(self) -> MemorizationParams:
        """Keys are distinct within a sequence, so the mapping must have enough of them."""
        needed = pair_count(self.seq_len)
        if self.num_keys < needed:
            raise ValueError(f"seq_len={self.seq_len} needs num_keys >= {needed} distinct keys, got {self.num_keys}")
        return self


class Memorization(GeneratedTask):
    """Memorization of a fixed key-value mapping; see the module docstring."""

    name: ClassVar[str] = "memorization"
    Params: ClassVar[type[pydantic.BaseModel]] = MemorizationParams
    metric = "accuracy"
    params: MemorizationParams
    test_salt = (TEST_STREAM,)

    def __init__(self, params: pydantic.BaseModel | None = None) -> None:
        super().__init__(params)
        generator = seeded_generator(self.params.test_seed, MAPPING_STREAM)
        self.mapping = torch.randint(0, self.params.num_values, (self.params.num_keys,), generator=generator)

    @property
    def vocab_size(self) -> int:
        return self.params.num_keys + self.params.num_values

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        p = self.params
        full_len = p.seq_len + 1
        keys = distinct_choice(batch_size, p.num_keys, pair_count(p.seq_len), generator)
        values = p.num_keys + self.mapping[keys]
        full = torch.stack([keys, values], dim=2).reshape(batch_size, -1)[:, :full_len]
        answers = torch.zeros_like(full, dtype=torch.bool)
        answers[:, 1::PAIR_LEN] = True
        return shifted_batch(full, answers)
