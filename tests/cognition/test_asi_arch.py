"""Importing ASI-Arch's cognition records (fixture written in their format, with our own text)."""

import json
from pathlib import Path

import pytest

from asiarch.cognition.asi_arch import CognitionImportError, import_asi_arch
from asiarch.cognition.entries import load_entries, write_entry

FIXTURE = Path(__file__).parent / "fixtures" / "arxiv.org_abs_2406.06484.json"
TITLE = "Parallelizing Linear Transformers with the Delta Rule over Sequence Length"


def test_records_become_entries_with_inferred_tasks_and_motifs():
    imported = import_asi_arch(FIXTURE)
    first, second = imported.entries
    assert first.source == "asi-arch-parallelizing-linear-transformers-delta-2024"
    assert second.source == "asi-arch-parallelizing-linear-transformers-delta-2024-2"
    assert first.title == TITLE and first.year == 2024 and first.venue == "arXiv"
    assert first.url == "https://arxiv.org/abs/2406.06484"
    assert first.key_idea == "Overwrite, do not accumulate: the delta rule as a linear-attention memory update."
    assert [(s.task, s.effect.split()[0]) for s in first.symptoms] == [
        ("mqar", "Associative"),
        ("byte_lm", "Perplexity"),
        ("stability", "Training"),
    ]
    assert first.motifs == ("rule:delta", "feature:l2", "conv:short")
    assert first.mechanism.startswith("Core algorithm: Read the value") and "**" not in first.mechanism
    assert "k_t^T; o_t = S_t q_t" in first.mechanism
    assert second.key_idea.startswith("Chunkwise training form of the delta rule. The sequential update")
    assert [s.task for s in second.symptoms] == ["speed", "byte_lm"]


def test_record_about_no_mixer_motif_is_skipped_with_its_headline():
    skipped = import_asi_arch(FIXTURE).skipped
    assert skipped == ["record 3 (Learning-rate warm-up length): names no sequence-mixer motif"]


def test_imported_entries_are_written_and_load_back(tmp_path):
    for item in import_asi_arch(FIXTURE).entries:
        write_entry(item, tmp_path)
    assert [e.source for e in load_entries(tmp_path)] == [
        "asi-arch-parallelizing-linear-transformers-delta-2024",
        "asi-arch-parallelizing-linear-transformers-delta-2024-2",
    ]


def test_year_comes_from_the_url_when_it_is_not_arxiv(tmp_path):
    records = json.loads(FIXTURE.read_text())[:1]
    blog = tmp_path / "example.org_blog_2023_delta_.json"
    blog.write_text(json.dumps(records))
    (found,) = import_asi_arch(blog).entries
    assert found.year == 2023 and found.venue == "example.org" and found.url == "https://example.org/blog/2023/delta/"


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        ("{not json", "arxiv.org_abs_2406.06484.json", "not valid JSON"),
        ('{"DESIGN_INSIGHT": "x"}', "arxiv.org_abs_2406.06484.json", "expected a JSON list"),
        ('["text"]', "arxiv.org_abs_2406.06484.json", "record 1 is not an object"),
        (None, "arxiv.org_abs_2406.06484.json", "record 2 has no text in 'IMPLEMENTATION_GUIDANCE'"),
        (None, "example.org_notes.json", "cannot tell the paper's year"),
    ],
)
def test_bad_file_is_one_line_naming_it(tmp_path, content, name, expected):
    if content is None:
        records = json.loads(FIXTURE.read_text())
        records[1]["IMPLEMENTATION_GUIDANCE"] = " "
        records[0]["BACKGROUND"] = "**Title**: No Year Here"
        content = json.dumps(records)
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CognitionImportError) as info:
        import_asi_arch(path)
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message, message
