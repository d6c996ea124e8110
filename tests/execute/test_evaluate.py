"""Stage evaluation on real workers: results that finished are kept even when other jobs fail."""

import pytest

from asiarch.bench.baselines import BaselineCache
from asiarch.config import ExecutionConfig, SandboxConfig, StageConfig
from asiarch.execute.evaluate import ReferenceJobError, _whole_seeds, reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.execute.progress import reported
from tests.bench.test_stages import result
from tests.helpers import tiny_run


def test_cached_reference_results_survive_a_run_whose_jobs_fail(tmp_path):
    stage = StageConfig(reference_seeds=2, tasks={"mqar": tiny_run()})
    cache = BaselineCache(tmp_path)
    kept = [("mqar", result("mqar", 0, 3e-3, 0.5))]
    cache.save("screen", stage, 1, {"deltanet": kept})
    starved = LocalExecutor(ExecutionConfig(workers=1, sandbox=SandboxConfig(memory_limit_gb=0.25)))
    with pytest.raises(ReferenceJobError, match="reference job failed"):
        reference_evaluations(["deltanet"], "screen", stage, starved, cache)
    assert cache.load("screen", stage, 1) == {"deltanet": kept}


def test_a_seed_cut_off_by_the_deadline_is_not_cached_half_done():
    stage = StageConfig(reference_seeds=3, tasks={"mqar": tiny_run(lrs=(1e-3, 3e-3)), "copy": tiny_run("copy")})
    search = [("mqar", result("mqar", 0, 1e-3, 0.5)), ("mqar", result("mqar", 0, 3e-3, 0.6)),
              ("copy", result("copy", 0, 3e-3, 0.7))]  # fmt: skip
    later = [("mqar", result("mqar", 1, 3e-3, 0.5)), ("copy", result("copy", 1, 3e-3, 0.7))]  # the chosen lr only
    half = [("mqar", result("mqar", 2, 3e-3, 0.5))]  # copy never finished on seed 2
    assert _whole_seeds(search + later + half, stage) == search + later
    stage = stage.model_copy(update={"lr_search_seeds": 3, "seeds": 3})
    assert _whole_seeds(search + later, stage) == search, "a search seed is whole only with every lr"


def test_each_whole_reference_seed_is_cached_as_soon_as_it_finishes(tmp_path):
    """A measurement killed after an hour resumes from the seeds it finished, not from nothing."""
    stage = StageConfig(reference_seeds=3, tasks={"mqar": tiny_run(steps=4)})
    cache = BaselineCache(tmp_path)
    cached_when_done = []

    def view(event, **details):
        if event == "job_done":  # told before the job's own row is kept: the cache holds the seeds before it
            cached_when_done.append(sorted(r.seed for _, r in cache.load("screen", stage, 1).get("deltanet", [])))

    execution = ExecutionConfig(workers=1)
    with LocalExecutor(execution) as executor:
        reference_evaluations(["deltanet"], "screen", stage, executor, cache, reported(view, "refs", execution))
    assert cached_when_done == [[], [0], [0, 1]]
    assert sorted(r.seed for _, r in cache.load("screen", stage, 1)["deltanet"]) == [0, 1, 2]
