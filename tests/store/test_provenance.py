"""Provenance names the versions, the commit and the machine a campaign ran on."""

import subprocess

from asiarch.store.provenance import campaign_provenance, git_commit


def test_provenance_records_versions_commit_and_machine():
    found = campaign_provenance()
    assert found["packages"]["torch"].startswith("2.") and found["packages"]["asiarch"]
    assert {"cpu", "cores", "python", "torch"} <= set(found["machine"])
    assert found["gpu"] is None or isinstance(found["gpu"], str)


def test_git_commit_marks_local_changes_and_is_none_outside_a_checkout(tmp_path):
    assert git_commit(tmp_path) is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("a")
    subprocess.run(["git", "-C", str(tmp_path), "add", "f.txt"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                   check=True)  # fmt: skip
    clean = git_commit(tmp_path)
    assert clean and len(clean) == 40
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(tmp_path) == clean + "+dirty"
