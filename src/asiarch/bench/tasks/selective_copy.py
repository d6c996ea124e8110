"""Selective copying, in the style of the MAD suite (Poli et al. 2024) and Mamba's task.

Why this task: the model must *select* a few content tokens from a stream dominated by noise
and carry them, in order, to the end — a test of content-dependent (input-selective) state
updates that time-invariant mixers cannot do.

Layout of one full sequence (``seq_len + 1`` tokens):

* a context region where ``num_tokens_to_copy`` content tokens sit at random positions (in
  order) among noise tokens drawn from a separate noise vocabulary;
* one separator token;
* the content tokens again, in order. Only these are scored: the target at the separator is
  the first content token, and the target at each copied token is the next one.

Vocabulary: ``[content ids | noise ids | separator]``.
"""

from __future__ import annotations

from typing import ClassVar

import pydantic
import torch

from asiarch.bench.tasks.base import (
    Batch,
    GeneratedTask,
    TaskParams,
    distinct_choice,
    shifted_batch,
)


class SelectiveCopyParams(TaskParams):
    """Parameters of :class:`SelectiveCopy`."""

    content_vocab_size: int = pydantic.Field(16, ge=2, description="Distinct content tokens (drawn with replacement).")
    noise_vocab_size: int = pydantic.Field(1, ge=1, description="Distinct noise tokens; 1 means a single blank token.")
    num_tokens_to_copy: int = pydantic.Field(
        8, ge=1, description="Content tokens per sequence, all of which must be copied."
    )
    seq_len: int = pydantic.Field(64, ge=3, description="Length of the model's input.")
    test_examples: int = pydantic.Field(500, ge=1, description="Sequences in the test split.")
    test_seed: int = pydantic.Field(0, description="Seed of the test split (not of training).")

    @pydantic.model_validator(mode="after")
    def _content_fits(self) -> SelectiveCopyParams:
        """The context must hold the content tokens, with room for the separator and copy."""
        context = self.seq_len - self.num_tokens_to_copy
        if context < self.num_tokens_to_copy:
            raise ValueError(
                f"{self.num_tokens_to_copy} tokens to copy need seq_len >= "
                f"{2 * self.num_tokens_to_copy}, got seq_len={self.seq_len}"
            )
        return self


class SelectiveCopy(GeneratedTask):
    """Selective copying; see the module docstring."""

    name: ClassVar[str] = "selective_copy"
    Params: ClassVar[type[pydantic.BaseModel]] = SelectiveCopyParams
    metric = "accuracy"
    params: SelectiveCopyParams

    @property
    def vocab_size(self) -> int:
        return self.params.content_vocab_size + self.params.noise_vocab_size + 1

    @property
    def separator(self) -> int:
        """Token id that ends the context and starts the copy."""
        return self.vocab_size - 1

    @property
    def context_len(self) -> int:
        """Tokens before the separator."""
        return self.params.seq_len - self.params.num_tokens_to_copy

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        p = self.params
        n = p.num_tokens_to_copy
        content = torch.randint(0, p.content_vocab_size, (batch_size, n), generator=generator)
        context = p.content_vocab_size + torch.randint(
            0, p.noise_vocab_size, (batch_size, self.context_len), generator=generator
        )
        positions = distinct_choice(batch_size, self.context_len, n, generator).sort(dim=1).values
        context.scatter_(1, positions, content)

        separator = torch.full((batch_size, 1), self.separator)
        full = torch.cat([context, separator, content], dim=1)
        answers = torch.zeros_like(full, dtype=torch.bool)
        answers[:, -n:] = True
        return shifted_batch(full, answers)
