"""The task contract, for every registered task: shapes, ids, determinism, registry errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
import torch

from asiarch.bench.tasks import IGNORE_INDEX, TASKS, Batch, Task, make_task
from asiarch.bench.tasks.base import distinct_choice, seeded_generator

BATCH = 16
"""Loose on purpose: it catches a per-example Python loop (~100x slower), not noise."""

# Fingerprints of every task's default test splits. Reference results cached in memory are
# only comparable while these hold; change a pin only together with a deliberate change of
# a generator (and expect the cached references to be recomputed).
TEST_SPLIT_PINS = {
    "mqar": "c6fff62ccca89831b91119c8b6840a310ca7245551b7e7774b9e28db2a098a5f",
    "selective_copy": "c52be2f6fb2bd2f49104d01de239d857f3b051eba1fa7b4761f750b726008027",
    "noisy_recall": "1fc6dcdf6fafbc9507f4b3b17f334c636e3a0abe3c5618c40f5dab283aa6e465",
    "fuzzy_recall": "8bdc9e3fd5d6096e898ec75a7797395954e4f1c527eaed3b9af2c6f3833fef2b",
    "memorization": "56b28bb39071b254b38e88044f2159b96ef2c1f9a9748f143a51ed71165cdddb",
    "byte_lm": "90f333498cfc82327a631c22a44f3c0b89e4243180b5691f4dd3d72b4b207567",
}


def fingerprint(splits: dict[str, Batch]) -> str:
    """sha256 over the split names and their tensors, in name order."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        digest.update(name.encode())
        digest.update(splits[name].inputs.numpy().tobytes())
        digest.update(splits[name].targets.numpy().tobytes())
    return digest.hexdigest()


def assert_well_formed(task: Task, batch: Batch, rows: int) -> None:
    shape = (rows, task.seq_len)
    assert batch.inputs.shape == shape and batch.targets.shape == shape
    assert batch.inputs.dtype == torch.int64 and batch.targets.dtype == torch.int64
    assert 0 <= batch.inputs.min() and batch.inputs.max() < task.vocab_size
    scored = batch.targets != IGNORE_INDEX
    assert scored.any()
    assert (batch.targets[scored] >= 0).all() and (batch.targets[scored] < task.vocab_size).all()


@pytest.fixture(params=sorted(TASKS))
def task(request: pytest.FixtureRequest) -> Task:
    return TASKS[request.param]()


def test_registry_keys_match_names() -> None:
    assert TASKS and all(cls.name == name for name, cls in TASKS.items())


def test_params_are_documented_and_strict(task: Task) -> None:
    params = type(task).Params
    assert params.model_config.get("extra") == "forbid"
    for key, field in params.model_fields.items():
        assert not field.is_required(), key
        assert field.description, f"{task.name}.{key} has no description"
    assert task.metric in ("accuracy", "nats_per_token")


def test_train_batch_is_well_formed(task: Task) -> None:
    batch = task.train_batch(BATCH, torch.Generator().manual_seed(0))
    assert_well_formed(task, batch, BATCH)


def test_test_splits_are_well_formed(task: Task) -> None:
    splits = task.test_splits()
    assert splits
    for batch in splits.values():
        assert_well_formed(task, batch, batch.inputs.shape[0])


def test_validation_splits_are_well_formed_and_other_examples_than_test(task: Task) -> None:
    validation, test = task.validation_splits(), task.test_splits()
    assert set(validation) == set(test)
    for name, batch in validation.items():
        assert_well_formed(task, batch, test[name].inputs.shape[0])
        assert not torch.equal(batch.inputs, test[name].inputs), f"{task.name}: validation {name} repeats test"
    assert fingerprint(type(task)().validation_splits()) == fingerprint(validation)


def test_train_batch_is_determined_by_generator(task: Task) -> None:
    first = task.train_batch(BATCH, torch.Generator().manual_seed(7))
    again = task.train_batch(BATCH, torch.Generator().manual_seed(7))
    other = task.train_batch(BATCH, torch.Generator().manual_seed(8))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)
    assert not torch.equal(first.inputs, other.inputs)


def test_test_splits_are_fixed(task: Task) -> None:
    before = fingerprint(task.test_splits())
    task.train_batch(BATCH, torch.Generator().manual_seed(3))
    assert fingerprint(task.test_splits()) == before
    assert fingerprint(type(task)().test_splits()) == before


def test_test_seed_changes_test_splits(task: Task) -> None:
    reseeded = type(task)(type(task).Params(test_seed=1))
    assert fingerprint(reseeded.test_splits()) != fingerprint(task.test_splits())


def test_test_splits_match_pins(task: Task) -> None:
    assert fingerprint(task.test_splits()) == TEST_SPLIT_PINS[task.name], (
        f"{task.name}'s test splits changed: cached reference results are no longer comparable"
    )


def test_splits_agree_across_processes() -> None:
    """A fresh interpreter builds the same splits and has not read the corpus at import."""
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from asiarch.bench.tasks import TASKS\n"
        "from asiarch.bench.tasks.byte_lm import load_corpus\n"
        "from test_tasks import fingerprint\n"
        "loaded_at_import = load_corpus.cache_info().currsize\n"
        "prints = {name: fingerprint(cls().test_splits()) for name, cls in TASKS.items()}\n"
        "print(json.dumps({'loaded_at_import': loaded_at_import, 'prints': prints}))\n"
    )
    here = str(Path(__file__).parent)
    result = subprocess.run([sys.executable, "-c", script, here], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    assert report["loaded_at_import"] == 0
    here_prints = {name: fingerprint(cls().test_splits()) for name, cls in TASKS.items()}
    assert report["prints"] == here_prints


def test_make_task_uses_defaults_and_overrides() -> None:
    task = make_task("mqar", {"seq_len": 128, "test_kv_pairs": [4, 8]})
    assert task.seq_len == 128 and set(task.test_splits()) == {"kv4", "kv8"}
    assert make_task("selective_copy", {}).seq_len == 64


def test_make_task_rejects_unknown_key() -> None:
    with pytest.raises(ValueError) as caught:
        make_task("mqar", {"num_kv_pair": 4})
    message = str(caught.value)
    assert "\n" not in message
    assert "mqar" in message and "'num_kv_pair'" in message and "num_kv_pairs" in message


def test_make_task_rejects_bad_value() -> None:
    with pytest.raises(ValueError) as caught:
        make_task("noisy_recall", {"noise_fraction": 1.5})
    message = str(caught.value)
    assert "\n" not in message
    assert "noisy_recall" in message and "noise_fraction" in message and "1.5" in message


def test_make_task_rejects_unknown_task() -> None:
    with pytest.raises(ValueError, match="unknown task 'nope'.*mqar"):
        make_task("nope", {})


def test_task_rejects_foreign_params() -> None:
    with pytest.raises(TypeError):
        TASKS["mqar"](TASKS["selective_copy"].Params())


def test_params_are_immutable() -> None:
    with pytest.raises(pydantic.ValidationError):
        TASKS["mqar"]().params.seq_len = 3  # type: ignore[misc]


@pytest.mark.parametrize(("population", "k"), [(4096, 16), (20, 4), (10, 10), (64, 33)])
def test_distinct_choice_is_distinct_and_in_range(population: int, k: int) -> None:
    draws = distinct_choice(500, population, k, torch.Generator().manual_seed(0))
    assert draws.shape == (500, k)
    assert 0 <= draws.min() and draws.max() < population
    assert (draws.sort(dim=1).values.diff(dim=1) > 0).all()


def test_distinct_choice_is_uniform() -> None:
    draws = distinct_choice(20_000, 10, 3, torch.Generator().manual_seed(0))
    for column in draws.T:
        counts = torch.bincount(column, minlength=10).double()
        assert (counts / counts.mean() - 1).abs().max() < 0.1


def test_seeded_generator_separates_salts() -> None:
    first = torch.rand(4, generator=seeded_generator(0, 4))
    assert torch.equal(first, torch.rand(4, generator=seeded_generator(0, 4)))
    assert not torch.equal(first, torch.rand(4, generator=seeded_generator(0, 8)))
