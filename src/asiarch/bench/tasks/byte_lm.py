"""Byte-level language modelling on real text shipped with the project.

Why this task: synthetic tasks probe single mechanisms; a mixer must also model natural
data. Bytes need no tokenizer, so the vocabulary (256) and the data are fixed forever and
results stay comparable across machines and versions.

The corpus is the reStructuredText sources of the Python 3.11 documentation (provenance,
rule and licence in ``docs/corpus.md``; rebuilt by ``scripts/build_corpus.py``). The last
``test_fraction`` of its bytes is held out for test and the ``validation_fraction`` before it for
validation: training windows are random crops of the part before both, each held-out split is
``test_windows`` fixed windows inside its own region, so no held-out byte is ever trained on and
nothing chosen on validation has seen a test byte. Every position is scored; the metric is nats per byte.
"""

from __future__ import annotations

import functools
import hashlib
import lzma
from importlib import resources
from typing import ClassVar

import pydantic
import torch

from asiarch.bench.tasks.base import TEST, Batch, HeldOut, Task, TaskParams, held_out_generator

VOCAB_SIZE = 256
"""One token per byte value."""

CORPUS_FILE = "pydoc.txt.xz"
"""xz-compressed corpus inside the ``asiarch.bench`` package's ``data`` folder."""

CORPUS_SHA256 = "a2a6b2a56043aaa160b394c241d69f0994d79acc51455a2748251d27b08409ec"
"""sha256 of the uncompressed corpus; checked on load so every result is on the same text."""


@functools.lru_cache(maxsize=1)
def load_corpus() -> torch.Tensor:
    """The whole corpus as a 1-D uint8 tensor, read once per process on first use.

    The tensor is shared by every caller and must not be modified.
    """
    compressed = resources.files("asiarch.bench").joinpath("data", CORPUS_FILE).read_bytes()
    text = lzma.decompress(compressed)
    digest = hashlib.sha256(text).hexdigest()
    if digest != CORPUS_SHA256:
        raise RuntimeError(
            f"corpus {CORPUS_FILE} has sha256 {digest}, expected {CORPUS_SHA256}; "
            "rebuild it with scripts/build_corpus.py"
        )
    return torch.frombuffer(bytearray(text), dtype=torch.uint8)


class ByteLMParams(TaskParams):
    """Parameters of :class:`ByteLM`."""

    seq_len: int = pydantic.Field(128, ge=1, description="Bytes of model input per window.")
    test_windows: int = pydantic.Field(
        256, ge=1, description="Fixed windows in each held-out split (test and validation)."
    )
    test_fraction: float = pydantic.Field(
        0.05, gt=0.0, lt=1.0, description="Fraction of the corpus (its end) held out for test."
    )
    validation_fraction: float = pydantic.Field(
        0.05, gt=0.0, lt=1.0, description="Fraction of the corpus just before the test part held out for validation."
    )

    @pydantic.model_validator(mode="after")
    def _training_text_remains(self) -> ByteLMParams:
        if self.test_fraction + self.validation_fraction >= 1.0:
            raise ValueError(
                f"test_fraction + validation_fraction = {self.test_fraction + self.validation_fraction:g} leaves "
                "no training text; keep their sum below 1"
            )
        return self
    test_seed: int = pydantic.Field(0, description="Seed of the test windows' positions.")


class ByteLM(Task):
    """Byte-level language modelling; see the module docstring."""

    name: ClassVar[str] = "byte_lm"
    Params: ClassVar[type[pydantic.BaseModel]] = ByteLMParams
    metric = "nats_per_token"
    params: ByteLMParams

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    @property
    def split_point(self) -> int:
        """Index of the first test byte: validation lies before it."""
        return round(len(load_corpus()) * (1.0 - self.params.test_fraction))

    @property
    def validation_point(self) -> int:
        """Index of the first held-out byte: training uses ``corpus[:validation_point]`` only."""
        return round(len(load_corpus()) * (1.0 - self.params.test_fraction - self.params.validation_fraction))

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._windows(batch_size, 0, self.validation_point, generator)

    def _build_splits(self, purpose: HeldOut) -> dict[str, Batch]:
        generator = held_out_generator(self.params.test_seed, purpose)
        start, stop = (
            (self.split_point, len(load_corpus())) if purpose == TEST else (self.validation_point, self.split_point)
        )
        return {"test": self._windows(self.params.test_windows, start, stop, generator)}

    def _windows(self, count: int, start: int, stop: int, generator: torch.Generator) -> Batch:
        """``count`` random windows of ``seq_len + 1`` bytes lying inside ``[start, stop)``."""
        full_len = self.params.seq_len + 1
        if stop - start < full_len:
            raise ValueError(
                f"byte_lm: a window of {full_len} bytes does not fit in [{start}, {stop}); "
                "lower seq_len or change test_fraction"
            )
        offsets = torch.randint(start, stop - full_len + 1, (count, 1), generator=generator)
        full = load_corpus()[offsets + torch.arange(full_len)].long()
        return Batch(inputs=full[:, :-1], targets=full[:, 1:])
