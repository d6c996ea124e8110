"""Noisy in-context recall, in the style of the MAD suite (Poli et al. 2024).

Why this task: recall must survive distractors. Noise tokens, drawn from their own
vocabulary, are interleaved between key-value pairs, so a mixer that writes every token into
its state indiscriminately wastes capacity on them and recalls worse.

Each sequence has its own random dictionary (every key maps to a value). The full sequence
(``seq_len + 1`` tokens) is a random interleaving of two-token units ``key value`` — keys
drawn uniformly from the dictionary, so keys recur — and one-token noise units. A value is
scored only when its key already appeared earlier in the sequence, so every scored answer is
recoverable from the context and the best achievable accuracy is 1.

Vocabulary: ``[key ids | value ids | noise ids]``.
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
    seen_before,
    shifted_batch,
)

PAIR_LEN = 2
"""Tokens in a key-value unit."""


class NoisyRecallParams(TaskParams):
    """Parameters of :class:`NoisyRecall`."""

    num_keys: int = pydantic.Field(16, ge=1, description="Keys in each sequence's dictionary.")
    num_values: int = pydantic.Field(16, ge=2, description="Distinct value tokens.")
    noise_vocab_size: int = pydantic.Field(16, ge=1, description="Distinct noise tokens.")
    noise_fraction: float = pydantic.Field(
        0.25, ge=0.0, lt=1.0, description="Fraction of the sequence's tokens that are noise."
    )
    seq_len: int = pydantic.Field(64, ge=3, description="Length of the model's input.")
    test_examples: int = pydantic.Field(500, ge=1, description="Sequences in the test split.")
    test_seed: int = pydantic.Field(0, description="Seed of the test split (not of training).")

    @pydantic.model_validator(mode="after")
    def _pairs_recur(self) -> NoisyRecallParams:
        """Without at least two pairs nothing can be recalled."""
        if pair_count(self.seq_len, self.noise_fraction) < PAIR_LEN:
            raise ValueError(
                f"seq_len={self.seq_len} with noise_fraction={self.noise_fraction} "
                "leaves fewer than two key-value pairs"
            )
        return self


def pair_count(seq_len: int, noise_fraction: float) -> int:
    """Key-value pairs in a full sequence; the remaining tokens are noise."""
    return math.floor((seq_len + 1) * (1.0 - noise_fraction) / PAIR_LEN)


class NoisyRecall(GeneratedTask):
    """Noisy in-context recall; see the module docstring."""

    name: ClassVar[str] = "noisy_recall"
    Params: ClassVar[type[pydantic.BaseModel]] = NoisyRecallParams
    metric = "accuracy"
    params: NoisyRecallParams

    @property
    def vocab_size(self) -> int:
        return self.params.num_keys + self.params.num_values + self.params.noise_vocab_size

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        p = self.params
        full_len = p.seq_len + 1
        pairs = pair_count(p.seq_len, p.noise_fraction)
        noise = full_len - PAIR_LEN * pairs
        pair_starts, noise_starts = self._layout(batch_size, pairs, noise, generator)

        dictionary = torch.randint(0, p.num_values, (batch_size, p.num_keys), generator=generator)
        keys = torch.randint(0, p.num_keys, (batch_size, pairs), generator=generator)
        values = p.num_keys + dictionary.gather(1, keys)
        noise_tokens = (
            p.num_keys + p.num_values + torch.randint(0, p.noise_vocab_size, (batch_size, noise), generator=generator)
        )

        full = torch.empty(batch_size, full_len, dtype=torch.int64)
        full.scatter_(1, pair_starts, keys)
        full.scatter_(1, pair_starts + 1, values)
        full.scatter_(1, noise_starts, noise_tokens)
        answers = torch.zeros(batch_size, full_len, dtype=torch.bool)
        answers.scatter_(1, pair_starts + 1, seen_before(keys, p.num_keys))
        return shifted_batch(full, answers)

    @staticmethod
    def _layout(
        batch_size: int, pairs: int, noise: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Start positions of the pair units ``(B, pairs)`` and noise units ``(B, noise)``.

        The units are shuffled per row by marking a random subset of unit slots as pairs;
        a cumulative sum of unit lengths then gives each unit's start. Every row has exactly
        ``pairs`` pair units, so boolean selection reshapes cleanly to a rectangle.
        """
        units = pairs + noise
        is_pair = torch.zeros(batch_size, units, dtype=torch.bool)
        is_pair.scatter_(1, distinct_choice(batch_size, units, pairs, generator), True)
        lengths = 1 + is_pair.long()
        starts = lengths.cumsum(dim=1) - lengths
        pair_starts = starts[is_pair].view(batch_size, pairs)
        noise_starts = starts[~is_pair].view(batch_size, noise)
        return pair_starts, noise_starts
