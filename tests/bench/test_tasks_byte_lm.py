"""Byte-level language modelling: the shipped corpus, and the train/test separation."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
import torch

from asiarch.bench.tasks import IGNORE_INDEX, byte_lm, make_task
from asiarch.bench.tasks.byte_lm import ByteLM, load_corpus

CORPUS_BYTES = 4_719_271
"""Size of the uncompressed corpus recorded in docs/corpus.md."""

FAKE_LEN = 200
FAKE_TEST_FRACTION = 0.1
FAKE_SEQ_LEN = 4


@pytest.fixture
def fake_corpus(monkeypatch: pytest.MonkeyPatch) -> torch.Tensor:
    """A corpus whose byte values are their positions, so a window shows where it came from."""
    corpus = torch.arange(FAKE_LEN, dtype=torch.uint8)
    monkeypatch.setattr(byte_lm, "load_corpus", lambda: corpus)
    return corpus


def test_shipped_corpus_matches_its_record() -> None:
    corpus = load_corpus()
    assert corpus.dtype == torch.uint8 and corpus.numel() == CORPUS_BYTES
    digest = hashlib.sha256(corpus.numpy().tobytes()).hexdigest()
    assert digest == byte_lm.CORPUS_SHA256
    assert load_corpus() is corpus, "the corpus should be read once per process"


def test_corpus_ships_with_its_licence() -> None:
    data = resources.files("asiarch.bench").joinpath("data")
    assert "PYTHON SOFTWARE FOUNDATION LICENSE" in data.joinpath("PYDOC-LICENSE").read_text()
    assert data.joinpath(byte_lm.CORPUS_FILE).stat().st_size < 3_000_000


def test_every_position_is_scored_and_targets_are_the_next_byte() -> None:
    task = ByteLM()
    for batch in [task.train_batch(8, torch.Generator()), *task.test_splits().values()]:
        assert (batch.targets != IGNORE_INDEX).all()
        assert torch.equal(batch.targets[:, :-1], batch.inputs[:, 1:])


def test_test_windows_are_held_out_text() -> None:
    task = ByteLM(ByteLM.Params(test_windows=16))
    text = load_corpus().numpy().tobytes()
    test = task.test_splits()["test"]
    for inputs, targets in zip(test.inputs, test.targets):
        window = bytes(inputs.tolist()) + bytes([int(targets[-1])])
        assert text.find(window, task.split_point) >= 0


def test_train_and_test_never_overlap(fake_corpus: torch.Tensor) -> None:
    params = {"seq_len": FAKE_SEQ_LEN, "test_fraction": FAKE_TEST_FRACTION, "validation_fraction": FAKE_TEST_FRACTION,
              "test_windows": 64}  # fmt: skip
    task = make_task("byte_lm", params)
    split, held_out = task.split_point, task.validation_point
    assert split == round(FAKE_LEN * (1 - FAKE_TEST_FRACTION))
    assert held_out == round(FAKE_LEN * (1 - 2 * FAKE_TEST_FRACTION))

    train = task.train_batch(5_000, torch.Generator().manual_seed(0))
    steps = train.inputs[:, 1:] - train.inputs[:, :1]
    assert (steps == torch.arange(1, FAKE_SEQ_LEN)).all(), "a crop is not contiguous"
    assert train.inputs[:, 0].min() == 0, "training crops should reach the first byte"
    assert train.targets[:, -1].max() == held_out - 1, "training crops should reach the validation part"

    validation = task.validation_splits()["test"]
    assert validation.inputs.min() >= held_out and validation.targets.max() <= split - 1
    test = task.test_splits()["test"]
    assert test.inputs.min() >= split and test.targets.max() == FAKE_LEN - 1


def test_window_that_does_not_fit_is_an_error(fake_corpus: torch.Tensor) -> None:
    task = make_task("byte_lm", {"seq_len": FAKE_LEN // 2, "test_fraction": FAKE_TEST_FRACTION})
    with pytest.raises(ValueError, match="does not fit"):
        task.test_splits()
