"""Multi-query associative recall (MQAR), with the semantics of Zoology (Arora et al. 2023).

Why this task: recall of many key-value bindings from context is where sub-quadratic mixers
most often fall behind attention, and it is cheap to generate at any difficulty.

Layout of one full sequence (``seq_len + 1`` tokens; inputs drop the last, targets the first):

* a context of ``num_kv_pairs`` pairs ``k1 v1 k2 v2 ...``; keys are distinct within a
  sequence and drawn from the lower half of the vocabulary, values from the upper half, so
  keys and values never share an id;
* a query region cut into two-token slots. Every context key is queried exactly once: its
  slot holds ``k v`` again, and ``v`` is the only scored token, so the target at the query
  key's input position is the key's value. All other query-region tokens are random filler
  from the whole vocabulary and are not scored.

Slots are chosen without replacement with probability proportional to ``(g + 1) ** (a - 1)``
for slot index ``g`` (0 = right after the context): the power law favours short gaps, as in
Zoology, whose default ``a = 0.01`` gives weights close to ``1 / (g + 1)``. Which key goes to
which chosen slot is an independent random permutation, so the query order carries no
information about the context order.
"""

from __future__ import annotations

from typing import ClassVar

import pydantic
import torch

from asiarch.bench.tasks.base import (
    Batch,
    HeldOut,
    Task,
    TaskParams,
    distinct_choice,
    held_out_generator,
    random_permutations,
    shifted_batch,
)

SLOT_LEN = 2
"""Tokens per context pair and per query slot (key, value)."""


def query_slots(seq_len: int, num_kv_pairs: int) -> int:
    """Number of two-token query slots after a context of ``num_kv_pairs`` pairs."""
    return (seq_len + 1 - SLOT_LEN * num_kv_pairs) // SLOT_LEN


class MQARParams(TaskParams):
    """Parameters of :class:`MQAR`."""

    vocab_size: int = pydantic.Field(
        8192, ge=4, description="Token ids; keys use the lower half, values the upper half."
    )
    seq_len: int = pydantic.Field(64, ge=3, description="Length of the model's input.")
    num_kv_pairs: int = pydantic.Field(8, ge=1, description="Key-value pairs per training sequence.")
    test_kv_pairs: tuple[int, ...] = pydantic.Field(
        (4, 8, 16),
        min_length=1,
        description="One test split per entry, named 'kv<N>', with N pairs per sequence.",
    )
    test_examples: int = pydantic.Field(500, ge=1, description="Sequences per test split.")
    test_seed: int = pydantic.Field(0, description="Seed of the test splits (not of training).")
    power_a: float = pydantic.Field(
        0.01,
        gt=0.0,
        le=1.0,
        description=(
            "Power-law exponent a: query slot g is weighted (g + 1) ** (a - 1); "
            "small a favours queries close to the context, a = 1 is uniform (Zoology: 0.01)."
        ),
    )

    @pydantic.model_validator(mode="after")
    def _queries_fit(self) -> MQARParams:
        """Every key is queried once, so each pair count needs as many slots as pairs."""
        if len(set(self.test_kv_pairs)) != len(self.test_kv_pairs):
            raise ValueError(f"test_kv_pairs repeats an entry: {list(self.test_kv_pairs)}")
        for pairs in (self.num_kv_pairs, *self.test_kv_pairs):
            if pairs < 1:
                raise ValueError(f"kv pair counts must be >= 1, got {pairs}")
            if pairs > self.vocab_size // 2:
                raise ValueError(
                    f"{pairs} distinct keys do not fit in vocab_size={self.vocab_size} "
                    f"(keys use {self.vocab_size // 2} ids)"
                )
            slots = query_slots(self.seq_len, pairs)
            if slots < pairs:
                raise ValueError(
                    f"{pairs} kv pairs need seq_len >= {2 * SLOT_LEN * pairs - 1} "
                    f"to query every key, got seq_len={self.seq_len}"
                )
        return self


class MQAR(Task):
    """Multi-query associative recall; see the module docstring."""

    name: ClassVar[str] = "mqar"
    Params: ClassVar[type[pydantic.BaseModel]] = MQARParams
    metric = "accuracy"
    params: MQARParams

    @property
    def vocab_size(self) -> int:
        return self.params.vocab_size

    @property
    def _key_ids(self) -> int:
        return self.params.vocab_size // 2

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._generate(batch_size, self.params.num_kv_pairs, generator)

    def _build_splits(self, purpose: HeldOut) -> dict[str, Batch]:
        return {
            f"kv{pairs}": self._generate(
                self.params.test_examples, pairs, held_out_generator(self.params.test_seed, purpose, pairs)
            )
            for pairs in self.params.test_kv_pairs
        }

    def _generate(self, batch_size: int, pairs: int, generator: torch.Generator) -> Batch:
        """Build ``batch_size`` sequences with ``pairs`` key-value pairs each."""
        full_len = self.params.seq_len + 1
        keys = distinct_choice(batch_size, self._key_ids, pairs, generator)
        value_ids = self.params.vocab_size - self._key_ids
        values = distinct_choice(batch_size, value_ids, pairs, generator) + self._key_ids

        full = torch.randint(0, self.params.vocab_size, (batch_size, full_len), generator=generator)
        answers = torch.zeros(batch_size, full_len, dtype=torch.bool)
        context_keys = torch.arange(pairs) * SLOT_LEN
        full[:, context_keys] = keys
        full[:, context_keys + 1] = values

        query_keys = SLOT_LEN * pairs + SLOT_LEN * self._pick_slots(batch_size, pairs, generator)
        which_pair = random_permutations(batch_size, pairs, generator)
        full.scatter_(1, query_keys, keys.gather(1, which_pair))
        full.scatter_(1, query_keys + 1, values.gather(1, which_pair))
        answers.scatter_(1, query_keys + 1, True)
        return shifted_batch(full, answers)

    def _pick_slots(self, batch_size: int, pairs: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch_size, pairs)`` distinct slot indices drawn with power-law weights.

        Gumbel top-k: adding Gumbel noise to log-weights and keeping the top ``pairs`` draws
        without replacement proportionally to the weights, for the whole batch at once.
        """
        slots = query_slots(self.params.seq_len, pairs)
        gaps = torch.arange(slots, dtype=torch.float32)
        log_weights = (self.params.power_a - 1.0) * torch.log1p(gaps)
        uniform = torch.rand(batch_size, slots, generator=generator)
        gumbel = -torch.log(-torch.log(uniform.clamp_min(torch.finfo(torch.float32).tiny)))
        return (log_weights + gumbel).topk(pairs, dim=1).indices
