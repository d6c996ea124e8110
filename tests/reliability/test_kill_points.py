"""SIGKILL the orchestrator at random points of a real campaign, again and again: resume must lose nothing,
duplicate nothing, and leave a ledger that adds up."""

import os
import random
import signal
import subprocess
from collections import Counter

import pytest
from sqlalchemy import select

from asiarch.store.db import open_store
from asiarch.store.queries import find_campaign
from asiarch.store.schema import Analysis, Evaluation, GateAttempt, LedgerEntry, Orchestrator
from tests.campaigns import experiments_of, start_run, tiny_config, write_config

KILLS = 20
KILL_AFTER_S = (5.0, 10.0)
"""When each run is killed: from about when its loop starts (imports and the cached references take ~5 s) to
well into a batch."""
TERMINAL = {"rejected", "failed", "analysed", "promoted", "discovery"}


@pytest.mark.reliability
@pytest.mark.slow
def test_twenty_kill_9s_at_random_points_lose_and_duplicate_nothing(tmp_path):
    config = tiny_config(tmp_path, max_experiments=40)
    path = write_config(config, tmp_path / "tiny.yaml")
    warm_up = start_run(path, "killed", "--max-experiments", "2")  # measures and caches the references
    output, _ = warm_up.communicate(timeout=900)
    assert warm_up.returncode == 0, output
    rng = random.Random(20261129)
    seen = sorted(e.id for e in experiments_of(config, "killed"))
    caught_in = Counter()
    for _ in range(KILLS):
        process = start_run(path, "killed")
        try:
            process.wait(timeout=rng.uniform(*KILL_AFTER_S))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL, "the campaign ended before all its kills"
        experiments = experiments_of(config, "killed")
        ids = {e.id for e in experiments}
        assert set(seen) <= ids, "an experiment stored before a kill is gone"
        seen = sorted(ids)
        caught_in.update(e.status for e in experiments if e.status not in TERMINAL)
    final = start_run(path, "killed", "--max-experiments", str(len(seen) + 2))
    output, _ = final.communicate(timeout=900)
    assert final.returncode == 0, output
    print(f"in flight at the kills: {dict(caught_in)}")

    experiments = experiments_of(config, "killed")
    assert set(seen) <= {e.id for e in experiments}
    assert all(e.status in TERMINAL for e in experiments), Counter(e.status for e in experiments)
    assert sorted(e.decision["index"] for e in experiments) == list(range(len(experiments)))
    kept = [e for e in experiments if e.status != "rejected" and e.code]
    assert len({e.code_hash for e in kept}) == len(kept), "the same code was evaluated twice"
    store = open_store(config.store)
    with store.session() as session:
        campaign = find_campaign(session, "killed")
        for experiment in experiments:
            stages = session.scalars(select(Analysis.stage).where(Analysis.experiment_id == experiment.id)).all()
            assert len(stages) == len(set(stages)), (experiment.name, stages)
            runs = session.execute(select(Evaluation.stage, Evaluation.task, Evaluation.seed).where(
                Evaluation.experiment_id == experiment.id)).all()  # fmt: skip
            assert len(runs) == len(set(runs)), experiment.name
            charged = set(session.scalars(select(LedgerEntry.stage).where(LedgerEntry.experiment_id == experiment.id)))
            assert {stage for stage, _, _ in runs} <= charged, f"{experiment.name}: training not in the ledger"
            if experiment.status in ("analysed", "promoted", "discovery"):
                assert "screen" in stages and session.scalar(
                    select(GateAttempt.id).where(GateAttempt.experiment_id == experiment.id).limit(1))  # fmt: skip
        batches = session.scalars(select(LedgerEntry.wall_s).where(
            LedgerEntry.campaign_id == campaign.id, LedgerEntry.stage == "campaign")).all()  # fmt: skip
        assert batches and all(wall >= 0 for wall in batches)
        orchestrators = session.scalars(select(Orchestrator).where(Orchestrator.campaign_id == campaign.id)).all()
        assert len(orchestrators) >= KILLS and orchestrators[-1].ended_at is not None  # most kills hit a running loop
        assert sum(o.ended_at is None for o in orchestrators) >= KILLS - 2
    store.close()
