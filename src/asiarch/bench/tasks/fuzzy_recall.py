"""Fuzzy in-context recall, in the style of the MAD suite (Poli et al. 2024).

Why this task: in real text a unit of meaning spans several tokens. Here keys and values are
multi-token spans, so the mixer must bind a whole key span (no single token identifies it)
to a whole value span of varying length.

Each sequence has its own dictionary of ``num_entries`` entries. An entry's key is a span of
``key_len`` tokens from the key vocabulary, distinct from every other key *as a span* though
keys share individual tokens; its value is a span of 1 to ``max_value_len`` tokens from the
value vocabulary. The full sequence (``seq_len + 1`` tokens) is a stream of ``key value``
entries drawn uniformly from the dictionary, cut at the end. When an entry's key already
appeared earlier, all its value tokens are scored: the target at the key's last token is the
first value token, and so on through the span.

Key spans have a fixed length on purpose: with variable-length keys the end of a key (where
the first value token is due) could be ambiguous, and a scored answer must be recoverable
from the context. Value lengths vary, and recalling them is part of the task.

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
    seen_before,
    shifted_batch,
)


class FuzzyRecallParams(TaskParams):
    """Parameters of :class:`FuzzyRecall`."""

    key_vocab_size: int = pydantic.Field(8, ge=2, description="Distinct key tokens.")
    value_vocab_size: int = pydantic.Field(16, ge=2, description="Distinct value tokens.")
    key_len: int = pydantic.Field(2, ge=1, description="Tokens per key span.")
    max_value_len: int = pydantic.Field(
        2, ge=1, description="Value spans have 1 to max_value_len tokens (uniform per entry)."
    )
    num_entries: int = pydantic.Field(6, ge=1, description="Key-value entries in each sequence's dictionary.")
    seq_len: int = pydantic.Field(64, ge=3, description="Length of the model's input.")
    test_examples: int = pydantic.Field(500, ge=1, description="Sequences in the test split.")
    test_seed: int = pydantic.Field(0, description="Seed of the test split (not of training).")

    @pydantic.model_validator(mode="after")
    def _keys_distinct(self) -> FuzzyRecallParams:
        """The dictionary needs ``num_entries`` distinct key spans."""
        spans = self.key_vocab_size**self.key_len
        if spans < self.num_entries:
            raise ValueError(
                f"{self.num_entries} distinct keys need key_vocab_size ** key_len >= {self.num_entries}, got {spans}"
            )
        return self


def per_unit(table: torch.Tensor, stream: torch.Tensor) -> torch.Tensor:
    """Look up each stream unit's entry: ``table`` is ``(B, E, W)``, ``stream`` is ``(B, U)``
    entry indices, the result is ``(B, U, W)``."""
    return table.gather(1, stream.unsqueeze(-1).expand(-1, -1, table.shape[-1]))


class FuzzyRecall(GeneratedTask):
    """Fuzzy (multi-token) in-context recall; see the module docstring."""

    name: ClassVar[str] = "fuzzy_recall"
    Params: ClassVar[type[pydantic.BaseModel]] = FuzzyRecallParams
    metric = "accuracy"
    params: FuzzyRecallParams

    @property
    def vocab_size(self) -> int:
        return self.params.key_vocab_size + self.params.value_vocab_size

    def _dictionary(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sequence entries: key spans ``(B, E, key_len)``, padded value spans
        ``(B, E, max_value_len)`` and value lengths ``(B, E)``.

        Distinct keys are distinct integers below ``key_vocab_size ** key_len``, written as
        ``key_len`` digits in base ``key_vocab_size``.
        """
        p = self.params
        codes = distinct_choice(batch_size, p.key_vocab_size**p.key_len, p.num_entries, generator)
        place = p.key_vocab_size ** torch.arange(p.key_len - 1, -1, -1)
        keys = codes.unsqueeze(-1).div(place, rounding_mode="floor") % p.key_vocab_size
        values = p.key_vocab_size + torch.randint(
            0, p.value_vocab_size, (batch_size, p.num_entries, p.max_value_len), generator=generator
        )
        lengths = torch.randint(1, p.max_value_len + 1, (batch_size, p.num_entries), generator=generator)
        return keys, values, lengths

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        p = self.params
        full_len = p.seq_len + 1
        keys, values, lengths = self._dictionary(batch_size, generator)
        units = math.ceil(full_len / (p.key_len + 1))
        stream = torch.randint(0, p.num_entries, (batch_size, units), generator=generator)

        tokens = torch.cat([per_unit(keys, stream), per_unit(values, stream)], dim=2)
        value_valid = torch.arange(p.max_value_len) < lengths.gather(1, stream).unsqueeze(-1)
        key_valid = torch.ones(batch_size, units, p.key_len, dtype=torch.bool)
        valid = torch.cat([key_valid, value_valid], dim=2)
        repeated = seen_before(stream, p.num_entries).unsqueeze(-1)
        answer = torch.cat([~key_valid, value_valid & repeated], dim=2)
        return shifted_batch(*self._pack(tokens, valid, answer, full_len))

    @staticmethod
    def _pack(
        tokens: torch.Tensor, valid: torch.Tensor, answer: torch.Tensor, full_len: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Drop the padding of variable-length units and cut each row to ``full_len`` tokens.

        A stable sort on "is padding" moves each row's real tokens to the front in their
        original order, for the whole batch at once.
        """
        batch_size = tokens.shape[0]
        flat_valid = valid.reshape(batch_size, -1)
        order = (~flat_valid).to(torch.uint8).argsort(dim=1, stable=True)[:, :full_len]
        full = tokens.reshape(batch_size, -1).gather(1, order)
        answers = answer.reshape(batch_size, -1).gather(1, order)
        return full, answers
