"""``asiarch cognition`` end to end, in process, on the shipped base and an imported fixture."""

from asiarch.cognition.entries import load_entries
from asiarch.cognition.retrieval import open_index
from asiarch.config import Config
from tests.cognition.test_asi_arch import FIXTURE
from tests.test_cli import invoke


def run(cache_dir, *args: str):
    return invoke("cognition", *args, "--set", f"cache_dir={cache_dir}")


def test_list_shows_every_shipped_entry(cache_dir):
    result = run(cache_dir, "list")
    assert result.exit_code == 0, result.output
    assert f"cognition base: {len(load_entries())} entries" in result.output


def test_search_prints_ranked_hits(cache_dir):
    query = "recall fails when many key-value pairs are stored"
    result = run(cache_dir, "search", query, "--k", "3")
    assert result.exit_code == 0, result.output
    expected = open_index(Config(cache_dir=cache_dir)).search(query, k=3)
    rows = [line for line in result.output.splitlines() if line.startswith("│ ") and line[2].isdigit()]
    assert [row.split("│")[1].strip() for row in rows] == ["1", "2", "3"]
    assert [row.split("│")[4].strip() for row in rows] == [f"{hit.score:.3f}" for hit in expected]


def test_imported_entries_join_the_base_when_configured(cache_dir, tmp_path):
    out = tmp_path / "imported"
    result = run(cache_dir, "import", str(FIXTURE), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote 2 entries to {out}" in result.output and "skipped arxiv.org_abs_2406.06484.json record 3" in (
        result.output
    )
    assert "cognition.entry_dirs" in result.output
    extra = ("--set", f"cognition.entry_dirs=[{out}]")
    listed = run(cache_dir, "list", *extra)
    assert f"cognition base: {len(load_entries()) + 2} entries" in listed.output
    query = ("search", "regroup the sequential update into chunks of matrix multiplications", "--motif", "rule:delta")
    found = run(cache_dir, *query, *extra)
    assert found.exit_code == 0 and "asi-arch-" in found.output, found.output
    assert "asi-arch-" not in run(cache_dir, *query).output


def test_cognition_commands_fail_with_one_line(cache_dir, tmp_path):
    bad, out = tmp_path / "bad.json", tmp_path / "imported"
    bad.write_text("{")
    for args, expected in [
        (("search", "memory", "--motif", "rule:nope"), "unknown motif 'rule:nope'"),
        (("import", str(FIXTURE), "--format", "zoology", "--out", str(out)), "unknown --format 'zoology'"),
        (("import", str(FIXTURE), str(bad), "--out", str(out)), "not valid JSON"),
        (("list", "--set", f"cognition.entry_dirs=[{tmp_path / 'absent'}]"), "no such directory"),
    ]:
        result = run(cache_dir, *args)
        assert result.exit_code == 2 and expected in result.output, (args, result.output)
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    assert not out.exists()
