"""A job's worker process killed in the middle of a campaign: a reference job runs again, and a candidate's gate run
is recorded with the reason and run again (a killed training run fails its experiment with the reason, like any
training failure: tests/execute/test_local.py); the campaign goes on."""

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from asiarch.execute.sandbox import job_workers
from asiarch.store.db import open_store
from asiarch.store.schema import GateAttempt
from tests.campaigns import BUDGET, experiments_of, start_run, tiny_config, write_config

TERMINAL = {"rejected", "failed", "analysed", "promoted", "discovery"}


def _run_killing_the_first_job_worker(path: Path, name: str) -> None:
    process = start_run(path, name)
    deadline = time.monotonic() + 300
    while not (workers := job_workers(process.pid)):
        assert time.monotonic() < deadline and process.poll() is None, "no job worker appeared"
        time.sleep(0.05)
    os.kill(workers[0], signal.SIGKILL)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output


@pytest.mark.reliability
@pytest.mark.slow
def test_a_killed_worker_runs_a_reference_job_again_and_fails_only_a_candidates_experiment(tmp_path):
    config = tiny_config(tmp_path)
    path = write_config(config, tmp_path / "tiny.yaml")
    _run_killing_the_first_job_worker(path, "first")  # the references are measured first: one is run again
    experiments = experiments_of(config, "first")
    assert len(experiments) == BUDGET and all(e.status in TERMINAL for e in experiments)
    assert not [e for e in experiments if "SIGKILL" in (e.failure_reason or "")]

    _run_killing_the_first_job_worker(path, "second")  # references cached: the first job is a candidate's
    experiments = experiments_of(config, "second")
    assert len(experiments) == BUDGET and all(e.status in TERMINAL for e in experiments)
    store = open_store(config.store)
    with store.session() as session:
        ids = [e.id for e in experiments]
        attempts = session.scalars(select(GateAttempt).where(GateAttempt.experiment_id.in_(ids))).all()
    store.close()
    killed_gates = [a for a in attempts if any("killed (SIGKILL)" in v["reason"] for v in a.verdicts)]
    killed_training = [e for e in experiments if "killed (SIGKILL)" in (e.failure_reason or "")]
    # a gate run is repaired (run again) like any failed gate run; a training run fails its experiment
    assert len(killed_gates) + len(killed_training) == 1, [(e.name, e.status, e.failure_reason) for e in experiments]
    assert all(e.status == "failed" and e.failure_gate == "training" for e in killed_training)
    for attempt in killed_gates:
        later = [a for a in attempts if a.experiment_id == attempt.experiment_id and a.round > attempt.round]
        assert later, "the killed gate run was not run again"
    assert any(e.status in ("analysed", "promoted", "discovery") for e in experiments)
