"""What each task's examples mean: every scored answer is correct and recoverable, and the
layouts promised in the task docstrings hold. Checks run over whole batches, with plain
Python loops where that reads more clearly than tensor code (batches are small)."""

from __future__ import annotations

import pytest
import torch

from asiarch.bench.tasks import IGNORE_INDEX, TASKS, Batch, make_task
from asiarch.bench.tasks.fuzzy_recall import FuzzyRecall
from asiarch.bench.tasks.memorization import Memorization
from asiarch.bench.tasks.mqar import MQAR
from asiarch.bench.tasks.noisy_recall import NoisyRecall
from asiarch.bench.tasks.selective_copy import SelectiveCopy

ROWS = 64


def batches(task, rows: int = ROWS) -> list[Batch]:
    """A training batch and every test split, so both generators are checked."""
    return [task.train_batch(rows, torch.Generator().manual_seed(0)), *task.test_splits().values()]


def scored_positions(targets: torch.Tensor) -> list[int]:
    return (targets != IGNORE_INDEX).nonzero().squeeze(1).tolist()


# --- MQAR -------------------------------------------------------------------------------


def mqar_pairs(batch: Batch) -> int:
    """Pairs per sequence = scored positions per sequence (every key is queried once)."""
    counts = (batch.targets != IGNORE_INDEX).sum(dim=1)
    assert (counts == counts[0]).all()
    return int(counts[0])


@pytest.fixture
def mqar() -> MQAR:
    return MQAR(MQAR.Params(vocab_size=256, test_examples=ROWS))


def test_mqar_scores_one_query_per_pair(mqar: MQAR) -> None:
    assert mqar_pairs(mqar.train_batch(ROWS, torch.Generator())) == mqar.params.num_kv_pairs
    for name, batch in mqar.test_splits().items():
        assert mqar_pairs(batch) == int(name.removeprefix("kv"))
    assert list(mqar.test_splits()) == ["kv4", "kv8", "kv16"]


def test_mqar_context_keys_and_values_are_disjoint_halves(mqar: MQAR) -> None:
    half = mqar.vocab_size // 2
    for batch in batches(mqar):
        pairs = mqar_pairs(batch)
        keys = batch.inputs[:, 0 : 2 * pairs : 2]
        values = batch.inputs[:, 1 : 2 * pairs : 2]
        assert (keys < half).all() and (values >= half).all()
        assert (keys.sort(dim=1).values.diff(dim=1) > 0).all(), "keys repeat within a sequence"


def test_mqar_answers_are_values_of_queried_keys(mqar: MQAR) -> None:
    for batch in batches(mqar):
        pairs = mqar_pairs(batch)
        for inputs, targets in zip(batch.inputs.tolist(), batch.targets.tolist()):
            bindings = dict(zip(inputs[0 : 2 * pairs : 2], inputs[1 : 2 * pairs : 2]))
            queries = scored_positions(torch.tensor(targets))
            assert min(queries) >= 2 * pairs, "a query sits inside the context"
            queried = [inputs[t] for t in queries]
            assert sorted(queried) == sorted(bindings), "not every key queried exactly once"
            assert all(targets[t] == bindings[inputs[t]] for t in queries)
            assert all(inputs[t + 1] == targets[t] for t in queries if t + 1 < len(inputs))


def test_mqar_power_law_favours_short_gaps() -> None:
    def mean_query_position(power_a: float) -> float:
        task = MQAR(MQAR.Params(vocab_size=256, seq_len=128, num_kv_pairs=4, power_a=power_a))
        batch = task.train_batch(512, torch.Generator().manual_seed(0))
        return (batch.targets != IGNORE_INDEX).nonzero()[:, 1].double().mean().item()

    assert mean_query_position(0.01) < mean_query_position(1.0) - 10


def test_mqar_sixteen_pairs_fit_at_length_64_but_not_shorter() -> None:
    assert make_task("mqar", {"seq_len": 64, "test_kv_pairs": [16]}).test_splits()
    with pytest.raises(ValueError, match="16 kv pairs need seq_len >= 63"):
        make_task("mqar", {"seq_len": 62})
    with pytest.raises(ValueError, match="repeats an entry"):
        make_task("mqar", {"test_kv_pairs": [4, 4]})


# --- selective copy -----------------------------------------------------------------------


def test_selective_copy_targets_are_the_content_in_order() -> None:
    task = SelectiveCopy(SelectiveCopy.Params(noise_vocab_size=3, test_examples=ROWS))
    content_ids = task.params.content_vocab_size
    n = task.params.num_tokens_to_copy
    for batch in batches(task):
        assert (batch.inputs[:, task.context_len] == task.separator).all()
        context = batch.inputs[:, : task.context_len]
        assert (context != task.separator).all()
        scored = batch.targets != IGNORE_INDEX
        assert scored[:, -n:].all() and not scored[:, :-n].any()
        content = context[context < content_ids].view(-1, n)
        assert torch.equal(content, batch.targets[:, -n:])
        assert torch.equal(batch.inputs[:, -n + 1 :], content[:, :-1])


# --- noisy recall ---------------------------------------------------------------------------


def check_recall_rows(batch: Batch, is_key, is_value) -> int:
    """Every key followed by a value is scored iff that key appeared earlier, and its target
    is the value that followed the key's earlier occurrence; returns the number scored."""
    scored_total = 0
    for inputs, targets in zip(batch.inputs.tolist(), batch.targets.tolist()):
        last_value: dict[int, int] = {}
        for t, token in enumerate(inputs):
            if not is_key(token):
                assert targets[t] == IGNORE_INDEX
                continue
            follower = inputs[t + 1] if t + 1 < len(inputs) else targets[t]
            if token in last_value:
                assert targets[t] == last_value[token]
                scored_total += 1
            else:
                assert targets[t] == IGNORE_INDEX
            if follower != IGNORE_INDEX and is_value(follower):
                assert last_value.setdefault(token, follower) == follower, "binding changed"
    return scored_total


def test_noisy_recall_answers_are_recoverable_and_noise_is_interleaved() -> None:
    task = NoisyRecall(NoisyRecall.Params(test_examples=ROWS))
    p = task.params
    keys, noise_start = p.num_keys, p.num_keys + p.num_values
    for batch in batches(task):
        scored = check_recall_rows(batch, lambda x: x < keys, lambda x: keys <= x < noise_start)
        assert scored > 0
        noise = (batch.inputs >= noise_start).sum(dim=1)
        assert noise.min() > 0
        is_key = batch.inputs[:, :-1] < keys
        following = batch.inputs[:, 1:][is_key]
        assert ((following >= keys) & (following < noise_start)).all(), "noise split a pair"


# --- fuzzy recall ---------------------------------------------------------------------------


def units(inputs: list[int], key_ids: int) -> list[tuple[int, tuple[int, ...], list[int]]]:
    """Split a row into (key start, key span, value tokens) units by vocabulary class."""
    found: list[tuple[int, tuple[int, ...], list[int]]] = []
    t = 0
    while t < len(inputs):
        start = t
        while t < len(inputs) and inputs[t] < key_ids:
            t += 1
        key = tuple(inputs[start:t])
        value_start = t
        while t < len(inputs) and inputs[t] >= key_ids:
            t += 1
        found.append((start, key, inputs[value_start:t]))
    return found


def test_fuzzy_recall_scores_whole_value_spans_of_repeated_keys() -> None:
    task = FuzzyRecall(FuzzyRecall.Params(test_examples=ROWS, max_value_len=3, key_len=3))
    p = task.params
    for batch in batches(task):
        scored_total = 0
        for inputs, targets in zip(batch.inputs.tolist(), batch.targets.tolist()):
            expected = [IGNORE_INDEX] * len(inputs)
            dictionary: dict[tuple[int, ...], list[int]] = {}
            row_units = units(inputs, p.key_vocab_size)
            for index, (start, key, value) in enumerate(row_units):
                complete = index < len(row_units) - 1
                if not complete and len(key) < p.key_len:
                    continue
                assert len(key) == p.key_len and len(value) <= p.max_value_len
                assert value or not complete
                if key in dictionary:
                    known = dictionary[key]
                    assert value == known[: len(value)] and (not complete or value == known)
                    for offset, token in enumerate(known):
                        if start + p.key_len - 1 + offset < len(inputs):
                            expected[start + p.key_len - 1 + offset] = token
                elif complete:
                    dictionary[key] = value
            assert targets == expected
            scored_total += sum(target != IGNORE_INDEX for target in targets)
        assert scored_total > 0


def test_fuzzy_recall_keys_need_every_token() -> None:
    """Keys share tokens, so no single position identifies a key."""
    task = FuzzyRecall(FuzzyRecall.Params(key_vocab_size=2, key_len=3, num_entries=8))
    batch = task.train_batch(ROWS, torch.Generator().manual_seed(0))
    spans = {key for row in batch.inputs.tolist() for _, key, _ in units(row, 2) if len(key) == 3}
    assert len(spans) == 8


def test_fuzzy_recall_rejects_too_few_key_spans() -> None:
    with pytest.raises(ValueError, match="distinct keys"):
        make_task("fuzzy_recall", {"key_vocab_size": 2, "key_len": 2, "num_entries": 5})


# --- memorization -------------------------------------------------------------------------


def test_memorization_answers_follow_one_fixed_mapping() -> None:
    task = Memorization(Memorization.Params(test_examples=ROWS))
    again = Memorization(Memorization.Params(test_examples=ROWS))
    assert torch.equal(task.mapping, again.mapping)
    keys = task.params.num_keys
    for batch in batches(task):
        scored = batch.targets != IGNORE_INDEX
        assert torch.equal(scored, batch.inputs < keys)
        key_tokens = batch.inputs[scored]
        assert torch.equal(batch.targets[scored], keys + task.mapping[key_tokens])
        row_keys = batch.inputs[:, ::2]
        assert (row_keys.sort(dim=1).values.diff(dim=1) > 0).all(), "a key repeats in context"


def test_memorization_mapping_depends_on_test_seed() -> None:
    first = Memorization(Memorization.Params(test_seed=0)).mapping
    assert not torch.equal(first, Memorization(Memorization.Params(test_seed=1)).mapping)


@pytest.mark.parametrize("name", ["noisy_recall", "fuzzy_recall", "selective_copy", "memorization"])
def test_small_task_vocabularies(name: str) -> None:
    assert TASKS[name]().vocab_size <= 512
