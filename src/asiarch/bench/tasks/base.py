"""The contract every evaluation task honours, and the sampling helpers the tasks share.

A task is a seeded data generator: the trainer asks it for fresh training batches (driven
entirely by a ``torch.Generator`` the trainer owns) and for two fixed held-out sets, driven by the
task's own ``test_seed`` so every candidate in every process is scored on the same examples:
``validation`` splits, on which choices are made (learning rate, promotion, the pool), and ``test``
splits, which only report and decide claims. They are drawn from separate streams, so nothing chosen on
validation has seen the test examples.

All tasks are next-token problems. A generator builds a *full* sequence of ``seq_len + 1``
tokens and marks which of its tokens are answers; :func:`shifted_batch` turns that into
``inputs = full[:, :-1]`` and ``targets = full[:, 1:]`` with every non-answer target set to
:data:`IGNORE_INDEX`. Keeping the shift in one place means no task can get it off by one.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import ClassVar, Literal

import pydantic
import torch

IGNORE_INDEX = -100
"""Target value for positions that are not supervised (PyTorch's cross-entropy default)."""

Metric = Literal["accuracy", "nats_per_token"]
HeldOut = Literal["test", "validation"]
TEST: HeldOut = "test"
VALIDATION: HeldOut = "validation"
VALIDATION_STREAM = -1
"""Salt that sets the validation stream apart from the test stream of the same ``test_seed`` (no test salt is
negative)."""


@dataclass(frozen=True)
class Batch:
    """One batch of next-token examples.

    ``inputs`` and ``targets`` are ``(B, T)`` int64; ``targets[b, t]`` is the token that should
    follow ``inputs[b, :t + 1]``, or :data:`IGNORE_INDEX` where position ``t`` is not scored.
    """

    inputs: torch.Tensor
    targets: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        """The batch on ``device`` (itself when it is there already)."""
        if self.inputs.device == device:
            return self
        return Batch(self.inputs.to(device), self.targets.to(device))


class TaskParams(pydantic.BaseModel):
    """Base for every task's parameters: unknown keys are errors, and values are immutable so
    a task cannot drift from the parameters it was built (and recorded) with."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Task(abc.ABC):
    """A seeded data generator with a metric; see the module docstring for the contract."""

    name: ClassVar[str]
    Params: ClassVar[type[pydantic.BaseModel]]
    metric: ClassVar[Metric]

    def __init__(self, params: pydantic.BaseModel | None = None) -> None:
        if params is None:
            params = self.Params()
        if not isinstance(params, self.Params):
            raise TypeError(f"task {self.name!r} needs {self.Params.__name__}, got {type(params).__name__}")
        self.params = params
        self._held_out: dict[HeldOut, dict[str, Batch]] = {}

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct token ids; every id in inputs and targets is below it."""

    @property
    def seq_len(self) -> int:
        """Length ``T`` of ``inputs`` (and ``targets``); every task's Params has ``seq_len``."""
        return self.params.seq_len

    @abc.abstractmethod
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Fresh training examples, determined entirely by the state of ``generator``."""

    @abc.abstractmethod
    def _build_splits(self, purpose: HeldOut) -> dict[str, Batch]:
        """Build the test or validation splits from ``test_seed`` alone (called once per instance and purpose);
        both have the same split names, drawn from different streams (:func:`held_out_generator`)."""

    def test_splits(self) -> dict[str, Batch]:
        """Fixed test sets, identical in every call and every process for the same params: what is reported.

        Built once and cached; the tensors are shared, so callers must not modify them.
        """
        return self.held_out_splits(TEST)

    def validation_splits(self) -> dict[str, Batch]:
        """Fixed validation sets (same names and sizes as the test splits, other examples): what is chosen on."""
        return self.held_out_splits(VALIDATION)

    def held_out_splits(self, purpose: HeldOut) -> dict[str, Batch]:
        if purpose not in self._held_out:
            self._held_out[purpose] = self._build_splits(purpose)
        return dict(self._held_out[purpose])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


class GeneratedTask(Task):
    """A task whose training batches and single ``test`` split come from one generator function.

    Subclasses implement ``_generate``; the test (validation) split is ``test_examples`` sequences drawn from
    ``held_out_generator(test_seed, purpose, *test_salt)``.
    """

    test_salt: ClassVar[tuple[int, ...]] = ()

    @abc.abstractmethod
    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` examples drawn from ``generator``."""

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._generate(batch_size, generator)

    def _build_splits(self, purpose: HeldOut) -> dict[str, Batch]:
        generator = held_out_generator(self.params.test_seed, purpose, *self.test_salt)
        return {"test": self._generate(self.params.test_examples, generator)}


def seeded_generator(seed: int, *salt: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and ``salt`` through a stable hash.

    Test splits use this so that each split (e.g. each number of key-value pairs) draws from
    its own stream: changing one split's size never changes another split's examples, and
    Python's per-process ``hash`` randomisation never leaks in.
    """
    key = ",".join(str(part) for part in (seed, *salt)).encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def held_out_generator(seed: int, purpose: HeldOut, *salt: int) -> torch.Generator:
    """The generator of a held-out split: the test stream is ``seeded_generator(seed, *salt)`` as it always was,
    the validation stream the same with :data:`VALIDATION_STREAM` in front of the salt."""
    return seeded_generator(seed, *salt) if purpose == TEST else seeded_generator(seed, VALIDATION_STREAM, *salt)


REJECTION_MAX_COLLIDING_PAIRS = 0.5
"""Largest expected number of colliding pairs, ``k (k - 1) / (2 n)``, for which
:func:`distinct_choice` redraws rows with repeats; beyond it most rows would need redrawing
and scoring the whole population is cheaper."""


def distinct_choice(batch_size: int, population: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``(batch_size, k)`` int64: per row, ``k`` distinct ids drawn uniformly from
    ``range(population)``, in random order.

    Two exact methods, chosen by cost. When repeats are rare (a few keys from thousands of
    ids) rows are drawn with replacement and rows with a repeat are redrawn: rejection keeps
    the result uniform over ordered distinct tuples and never touches the whole population,
    which matters at ``vocab_size = 8192``. Otherwise the top-``k`` of i.i.d. uniform scores
    over the population gives a uniformly random ordered ``k``-subset in one batched call.
    """
    if k > population:
        raise ValueError(f"cannot draw {k} distinct ids from {population}")
    if k * (k - 1) > 2 * population * REJECTION_MAX_COLLIDING_PAIRS:
        scores = torch.rand(batch_size, population, generator=generator)
        return scores.topk(k, dim=1).indices
    draws = torch.randint(0, population, (batch_size, k), generator=generator)
    redraw = has_repeats(draws).nonzero().squeeze(1)
    while redraw.numel():
        fresh = torch.randint(0, population, (redraw.numel(), k), generator=generator)
        draws[redraw] = fresh
        redraw = redraw[has_repeats(fresh)]
    return draws


def has_repeats(rows: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: whether each row of ``rows`` contains some id twice."""
    ordered = rows.sort(dim=1).values
    return (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)


def random_permutations(batch_size: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``(batch_size, n)`` int64: an independent uniform permutation of ``range(n)`` per row."""
    return torch.rand(batch_size, n, generator=generator).argsort(dim=1)


def shifted_batch(full: torch.Tensor, answers: torch.Tensor) -> Batch:
    """Turn a ``(B, T + 1)`` token sequence into a next-token :class:`Batch`.

    ``answers`` is a boolean mask over ``full``: ``answers[b, i]`` means token ``full[b, i]``
    is scored, i.e. the model must predict it at input position ``i - 1``. Position 0 can
    never be an answer because nothing precedes it.
    """
    if answers[:, 0].any():
        raise ValueError("the first token of a sequence cannot be an answer")
    targets = torch.where(answers[:, 1:], full[:, 1:], IGNORE_INDEX)
    return Batch(inputs=full[:, :-1].contiguous(), targets=targets)


def seen_before(keys: torch.Tensor, num_keys: int) -> torch.Tensor:
    """``(B, P)`` bool: whether ``keys[b, i]`` occurs in ``keys[b, :i]``.

    Recall tasks score an answer only when its key was seen before, so that every scored
    answer is recoverable from the context; ids must lie in ``range(num_keys)``.
    """
    one_hot = torch.nn.functional.one_hot(keys, num_keys)
    earlier = one_hot.cumsum(dim=1) - one_hot
    return earlier.gather(2, keys.unsqueeze(-1)).squeeze(-1) > 0
