"""Cognition entries: the shipped base validates, bad files fail on one line, the store records entries."""

import typing

import pytest
import yaml
from sqlalchemy import func, select

from asiarch.bench.tasks import TASKS
from asiarch.cognition.entries import (
    BENCH_TASKS,
    ENTRIES_DIR,
    PSEUDO_TASKS,
    Entry,
    EntryError,
    TaskName,
    content_hash,
    load_base,
    load_entries,
    read_entry,
    record_entries,
    write_entry,
)
from asiarch.cognition.motifs import MOTIFS
from asiarch.store.db import open_store
from asiarch.store.schema import CognitionEntry

MIN_SHIPPED_ENTRIES = 60

GOOD = {
    "source": "toy-2024",
    "title": "A Toy Paper",
    "authors": "A. Author, B. Author",
    "year": 2024,
    "venue": "arXiv",
    "url": "https://arxiv.org/abs/2401.00001",
    "key_idea": "Overwrite the value stored under a key instead of adding to it.",
    "symptoms": [{"task": "mqar", "effect": "recall fades as more key-value pairs are stored"}],
    "mechanism": "S_t = S_{t-1} - beta_t (S_{t-1} k_t - v_t) k_t^T",
    "guidance": "Use asiarch.ops.delta_rule with L2-normalised keys.",
    "motifs": ["rule:delta", "feature:l2"],
}


def entry(**changes) -> Entry:
    return Entry.model_validate({**GOOD, **changes})


def test_shipped_entries_validate_and_cover_the_literature():
    entries = load_entries()
    assert len(entries) >= MIN_SHIPPED_ENTRIES, f"only {len(entries)} entries in {ENTRIES_DIR}"
    assert len({e.source for e in entries}) == len(entries)
    assert {s.task for e in entries for s in e.symptoms} >= {"mqar", "byte_lm", "speed"}


def test_task_names_are_the_benchmark_tasks_plus_the_cost_pseudo_tasks():
    assert set(BENCH_TASKS) == set(TASKS)
    assert set(typing.get_args(TaskName)) == set(BENCH_TASKS) | set(PSEUDO_TASKS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        (yaml.safe_dump({**GOOD, "motifs": ["rule:delta", "rule:delat"]}), "key motifs: unknown motif 'rule:delat'"),
        (yaml.safe_dump({**GOOD, "motifs": ["rule:delta", "rule:delta"]}), "a motif is listed twice"),
        (yaml.safe_dump({**GOOD, "motifs": []}), "key motifs"),
        (yaml.safe_dump({**GOOD, "symptoms": [{"task": "mqr", "effect": "x"}]}), "key symptoms.0.task"),
        (yaml.safe_dump({**GOOD, "symptoms": []}), "key symptoms"),
        (yaml.safe_dump({k: v for k, v in GOOD.items() if k != "guidance"}), "key guidance: Field required"),
        (yaml.safe_dump({**GOOD, "notes": "extra"}), "key notes: Extra inputs are not permitted"),
        (yaml.safe_dump({**GOOD, "url": "arxiv.org/abs/1"}), "key url"),
        (yaml.safe_dump({**GOOD, "source": "Toy 2024"}), "key source"),
        (yaml.safe_dump({**GOOD, "source": "other-2024"}), "rename the file to other-2024.yaml"),
    ],
)
def test_bad_entry_file_is_one_line_naming_file_and_problem(tmp_path, text, expected):
    path = tmp_path / "toy-2024.yaml"
    path.write_text(text)
    with pytest.raises(EntryError) as info:
        load_entries(tmp_path)
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message, message


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(EntryError, match="no such directory"):
        load_entries(tmp_path / "absent")


def test_written_entry_reads_back_equal_with_folded_prose(tmp_path):
    original = entry(key_idea="A long key idea. " * 12)
    path = write_entry(original, tmp_path / "new")
    assert path.name == "toy-2024.yaml"
    assert "key_idea: >" in path.read_text()
    assert read_entry(path) == original


def test_insight_carries_key_idea_and_guidance():
    assert entry().insight == f"{GOOD['key_idea']} {GOOD['guidance']}"


def test_search_text_spells_out_motif_meanings():
    text = entry().search_text()
    assert MOTIFS["rule:delta"] in text and "recall fades" in text


def test_content_hash_ignores_order_and_sees_every_change():
    a, b = entry(), entry(source="other-2024")
    assert content_hash([a, b]) == content_hash([b, a])
    assert content_hash([a, b]) != content_hash([a, entry(source="other-2024", year=2023)])
    assert content_hash([a]) != content_hash([a, b])


def test_extra_directories_join_the_base_and_may_not_redefine_a_source(tmp_path):
    write_entry(entry(), tmp_path / "mine")
    base = load_base([tmp_path / "mine"])
    assert "toy-2024" in {e.source for e in base} and len(base) == len(load_entries()) + 1
    shipped = load_entries()[0]
    write_entry(shipped, tmp_path / "clash")
    with pytest.raises(EntryError, match=f"source '{shipped.source}' is already defined"):
        load_base([tmp_path / "clash"])


def test_record_entries_upserts_by_source_and_is_idempotent(tmp_path):
    store = open_store(tmp_path / "memory.db")
    try:
        with store.session() as session:
            assert record_entries(session, [entry(), entry(source="other-2024")]) == 2
        with store.session() as session:
            assert record_entries(session, [entry(), entry(source="other-2024")]) == 0
            assert record_entries(session, [entry(title="A Renamed Paper")]) == 1
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(CognitionEntry)) == 2
            row = session.scalar(select(CognitionEntry).where(CognitionEntry.source == "toy-2024"))
            assert row.title == "A Renamed Paper"
            assert row.fields["key_idea"] == GOOD["key_idea"] and row.fields["motifs"] == GOOD["motifs"]
    finally:
        store.close()
