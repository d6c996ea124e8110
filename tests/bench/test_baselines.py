"""The reference cache: keyed by machine and harness, atomic, and never trusted when unreadable."""

from asiarch.bench.baselines import BaselineCache, harness_fingerprint, machine_profile
from asiarch.config import StageConfig
from tests.bench.test_stages import result
from tests.helpers import tiny_run


def stage(steps: int = 5) -> StageConfig:
    return StageConfig(tasks={"mqar": tiny_run(steps=steps)})


def test_fingerprint_changes_with_the_stage_and_threads():
    assert harness_fingerprint(stage(), 1) == harness_fingerprint(stage(), 1)
    assert harness_fingerprint(stage(), 1) != harness_fingerprint(stage(6), 1)
    assert harness_fingerprint(stage(), 1) != harness_fingerprint(stage(), 2)


def test_fingerprint_ignores_the_order_a_stage_was_written_in():
    """A config read from YAML (keys sorted) and the same one built in Python must share their cached references."""
    run = tiny_run(steps=5)
    written = StageConfig(tasks={"mqar": run})
    reordered = StageConfig(tasks={"mqar": run.model_copy(update={"params": dict(reversed(run.params.items()))})})
    assert list(written.tasks["mqar"].params) != list(reordered.tasks["mqar"].params)
    assert harness_fingerprint(written, 1) == harness_fingerprint(reordered, 1)


def test_profile_names_cpu_and_versions():
    assert {"cpu", "cores", "python", "torch"} <= set(machine_profile())


def test_round_trip_and_stale_harness_is_a_miss(tmp_path):
    cache = BaselineCache(tmp_path)
    rows = {"softmax": [("mqar", result("mqar", 0, 1e-2, 0.5))]}
    cache.save("screen", stage(), 1, rows)
    loaded = cache.load("screen", stage(), 1)
    assert loaded["softmax"][0][1] == rows["softmax"][0][1]
    assert cache.load("screen", stage(6), 1) == {}


def test_corrupt_file_is_ignored_with_a_warning(tmp_path, capsys):
    cache = BaselineCache(tmp_path)
    path = cache.path("screen", stage(), 1)
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "references": {"softmax": [["mqar", {"seed": ')
    assert cache.load("screen", stage(), 1) == {}
    assert "recomputed" in capsys.readouterr().err
