"""Real campaigns on a tiny preset: every attempt stored, analyses match evaluations, stop, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from asiarch.agents.researcher.context import zoo_brief
from asiarch.budget import covered_seconds
from asiarch.cli import app
from asiarch.config import Config, StageConfig
from asiarch.loop import open_campaign
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, analyses_of, evaluations_of, find_campaign, get_or_create_campaign
from asiarch.store.schema import Analysis, Campaign, Evaluation, Experiment, GateAttempt, LedgerEntry, Orchestrator
from tests.campaigns import BUDGET, experiments_of, run_in_process, start_run, tiny_config, wait_for, write_config
from tests.helpers import tiny_run
from tests.postgres import fresh_postgres_database


def test_a_short_campaign_stores_every_attempt_and_analyses_match_the_evaluations(tmp_path):
    config = tiny_config(tmp_path)
    store, summary = run_in_process(config)
    assert summary.experiments == BUDGET and summary.stop_reason.startswith("experiment budget reached")
    with store.session() as session:
        campaign = find_campaign(session, "tiny")
        experiments = session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id)).all()
        assert len(experiments) == BUDGET
        assert all(e.status in ("rejected", "failed", "analysed", "promoted", "discovery") for e in experiments)
        assert all(e.decision["seed"] and "parent" in e.decision for e in experiments)
        trained = [e for e in experiments if e.status in ("analysed", "promoted", "discovery")]
        assert trained, [(e.name, e.status, e.failure_reason) for e in experiments]
        for experiment in trained:
            screen = [a for a in analyses_of(session, experiment.id) if a.stage == "screen"]
            assert len(screen) == 1 and screen[0].fitness == experiment.fitness
            rows = [r for r in evaluations_of(session, experiment.id) if r.stage == "screen"]
            assert rows and screen[0].deltas["mqar"]["candidate"]["mean"] == pytest.approx(
                statistics.fmean(r.value for r in rows)
            )
            assert session.scalar(select(func.count()).where(GateAttempt.experiment_id == experiment.id)) >= 1
        promoted = [e for e in experiments if e.status in ("promoted", "discovery")]
        assert len(promoted) == 1
        confirm = [a for a in analyses_of(session, promoted[0].id) if a.stage == "confirm"]
        assert len(confirm) == 1 and "p_corrected" in confirm[0].significance
        assert session.scalar(select(func.sum(LedgerEntry.cpu_s)).where(LedgerEntry.campaign_id == campaign.id)) > 0
        assert session.get(Campaign, campaign.id).state == "finished"


@pytest.mark.slow
def test_stop_from_another_process_ends_the_run_and_resume_finishes_it(tmp_path):
    config = tiny_config(tmp_path)
    path = write_config(config, tmp_path / "tiny.yaml")
    process = start_run(path, "stoppable")
    wait_for(lambda: any(e.status == "analysed" for e in experiments_of(config, "stoppable")))
    stop = subprocess.run(
        [sys.executable, "-m", "asiarch", "stop", "stoppable", "--config", str(path)], capture_output=True, text=True
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert "stopped by `asiarch stop`" in output
    announced = "measuring the references at screen: 4 training jobs on"
    assert announced in output and "measuring the references at screen: 4/4 jobs done" in output, output
    assert "training at screen: 1/" in output, "a pipe gets a line for every finished job"
    stopped_at = len(experiments_of(config, "stoppable"))
    assert stopped_at < BUDGET
    resumed = start_run(path, "stoppable")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    experiments = experiments_of(config, "stoppable")
    assert len(experiments) == BUDGET
    assert not [e for e in experiments if e.status in ("proposed", "trained")]


@pytest.mark.slow
def test_kill_9_in_the_middle_then_resume_loses_and_duplicates_nothing(tmp_path):
    config = tiny_config(tmp_path)
    path = write_config(config, tmp_path / "tiny.yaml")
    process = start_run(path, "killed")
    wait_for(lambda: len(experiments_of(config, "killed")) >= 3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = {e.id: e.status for e in experiments_of(config, "killed")}
    resumed = start_run(path, "killed")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    experiments = experiments_of(config, "killed")
    assert len(experiments) == BUDGET and set(before) <= {e.id for e in experiments}
    assert not [e for e in experiments if e.status in ("proposed", "trained")]
    kept = [e for e in experiments if e.status not in ("rejected",)]
    assert len({e.code_hash for e in kept}) == len(kept)
    store = open_store(config.store)
    with store.session() as session:
        for experiment in experiments:
            stages = [a.stage for a in session.scalars(select(Analysis).where(Analysis.experiment_id == experiment.id))]
            assert len(stages) == len(set(stages)), (experiment.name, stages)
            seeds = session.execute(
                select(Evaluation.stage, Evaluation.task, Evaluation.seed).where(
                    Evaluation.experiment_id == experiment.id
                )
            ).all()
            assert len(seeds) == len(set(seeds)), experiment.name


@pytest.mark.slow
def test_the_wall_clock_budget_stops_a_confirm_stage_mid_way_and_resume_confirms_it(tmp_path):
    max_hours = 60 / 3600
    slow_confirm = StageConfig(seeds=2, reference_seeds=2, seed_base=1000, tasks={"mqar": tiny_run(steps=20_000)})
    config = tiny_config(tmp_path, max_hours=max_hours).model_copy(
        update={"stages": {**tiny_config(tmp_path).stages, "confirm": slow_confirm}}
    )
    started = time.monotonic()
    store, summary = run_in_process(config, "timed")
    before_the_clock = time.monotonic() - started - summary.wall_s
    assert summary.stop_reason.startswith("wall-clock hours budget reached"), summary.stop_reason
    assert summary.wall_s < max_hours * 3600 + 15  # cancelled mid-stage, not after the 20,000-step runs
    with store.session() as session:
        campaign = find_campaign(session, "timed")
        charged = session.scalar(select(func.sum(LedgerEntry.wall_s)).where(
            LedgerEntry.campaign_id == campaign.id, LedgerEntry.stage == "campaign"))  # fmt: skip
        assert max_hours * 3600 <= charged < max_hours * 3600 + 15
        waiting = [e for e in session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id))
                   if e.status == "promoted"]  # fmt: skip
        assert len(waiting) == 1
        assert [a.stage for a in analyses_of(session, waiting[0].id)] == ["screen"]
    assert before_the_clock < 30  # the screen references are computed before the budget's clock starts

    resumed = tiny_config(tmp_path, max_hours=1.0, max_experiments=summary.experiments)
    store, summary = run_in_process(resumed, "timed")
    with store.session() as session:
        stages = [a.stage for a in analyses_of(session, waiting[0].id)]
        assert stages == ["screen", "confirm"]


def _promoted_at_width(tmp_path, code: str, name: str):
    """A campaign whose one experiment is already promoted, with a confirm stage 32 wide (the gates probe 64) and
    a watchdog whose leak floor every run falls under (5x the best reference's final loss)."""
    config = tiny_config(tmp_path, max_experiments=1)
    wide = tiny_run(steps=30)
    wide = wide.model_copy(update={"model": wide.model.model_copy(update={"d_model": 32})})
    tree = config.model_dump(mode="json")
    tree["stages"]["confirm"] = StageConfig(
        seeds=2, reference_seeds=2, seed_base=1000, tasks={"mqar": wide}
    ).model_dump()
    tree["execution"]["watchdog"]["leak_floor_fraction"] = 5.0
    config = Config.model_validate(tree)
    store = open_store(config.store)
    with store.session() as session:
        campaign = get_or_create_campaign(session, name, config.model_dump(mode="json"))
        found = add_experiment(session, campaign, "promoted", code, status="promoted", fitness=1.0,
                               decision={"index": 0, "parent": "zoo:deltanet", "references": []})  # fmt: skip
    run_in_process(config, name)
    return store, found.id


def test_a_leak_stop_at_confirm_is_rechecked_and_an_honest_layer_is_trained_again_without_the_floor(tmp_path):
    store, experiment_id = _promoted_at_width(tmp_path, zoo_brief("deltanet").code, "recheck")
    with store.session() as session:
        experiment = session.get(Experiment, experiment_id)
        assert experiment.status in ("promoted", "discovery"), experiment.failure_reason
        assert "leak floor" in experiment.decision["leak_stop_rechecked"]["stop"]
        assert experiment.decision["leak_stop_rechecked"]["widths"] == [32]
        assert [a.stage for a in analyses_of(session, experiment_id)] == ["confirm"]
        assert sorted(r.seed for r in evaluations_of(session, experiment_id) if r.stage == "confirm") == [1000, 1001]


def test_a_layer_that_leaks_only_at_a_later_stages_width_is_caught_by_the_recheck(tmp_path):
    code = (Path(__file__).parent / "reliability" / "adversarial" / "leak_at_one_width.py").read_text()
    store, experiment_id = _promoted_at_width(tmp_path, code, "leaky")
    with store.session() as session:
        experiment = session.get(Experiment, experiment_id)
        assert experiment.status == "failed" and "leak floor" in experiment.failure_reason
        assert "the causality gate at width 32 agrees" in experiment.failure_reason


def test_a_discovery_waiting_for_the_scale_stage_is_measured_there_on_resume(tmp_path):
    config = tiny_config(tmp_path, max_experiments=1)
    bigger = tiny_run(steps=10)
    bigger = bigger.model_copy(update={"model": bigger.model.model_copy(update={"d_model": 32})})
    scale = StageConfig(seeds=2, reference_seeds=2, seed_base=2000, tasks={"mqar": bigger})
    config = config.model_copy(update={"stages": {**config.stages, "scale": scale}})
    store = open_store(config.store)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "scaled", config.model_dump(mode="json"))
        brief = zoo_brief("gated_deltanet")
        found = add_experiment(session, campaign, "gdn-copy", brief.code, status="discovery", fitness=1.0,
                               decision={"index": 0, "parent": "zoo:deltanet", "references": []})  # fmt: skip
    store, summary = run_in_process(config, "scaled")
    assert summary.stop_reason.startswith("experiment budget reached")
    with store.session() as session:
        analysis = [a for a in analyses_of(session, found.id) if a.stage == "scale"]
        assert len(analysis) == 1 and "p_corrected" in analysis[0].significance
        rows = [r for r in evaluations_of(session, found.id) if r.stage == "scale"]
        assert sorted(r.seed for r in rows) == [2000, 2001]  # the scale stage's own seeds
        experiment = session.get(Experiment, found.id)
        assert experiment.status == "discovery" and experiment.stage_reached == "scale"
    _, again = run_in_process(config, "scaled")  # measured once: nothing is in flight any more
    with store.session() as session:
        assert len([a for a in analyses_of(session, found.id) if a.stage == "scale"]) == 1


@pytest.mark.pg
@pytest.mark.slow
def test_two_orchestrators_on_one_postgresql_campaign_share_the_work_and_the_budget(tmp_path, postgres_server):
    budget = 8
    config = tiny_config(tmp_path, max_experiments=budget)
    config = config.model_copy(update={"store": fresh_postgres_database(postgres_server),
                                       "execution": config.execution.model_copy(update={"workers": 1})})  # fmt: skip
    path = write_config(config, tmp_path / "shared.yaml")
    runs = [start_run(path, "shared"), start_run(path, "shared")]
    for run in runs:
        output, _ = run.communicate(timeout=900)
        assert run.returncode == 0, output
    experiments = experiments_of(config, "shared")
    assert len(experiments) == budget  # the budget holds across both
    assert sorted(e.decision["index"] for e in experiments) == list(range(budget))  # no slot drawn twice
    assert not [e for e in experiments if e.status in ("proposing", "proposed", "trained")]
    store = open_store(config.store)
    with store.session() as session:
        orchestrators = session.scalars(select(Orchestrator)).all()
        assert len(orchestrators) == 2 and all(o.ended_at is not None for o in orchestrators)
        assert {e.claimed_by for e in experiments} == {o.id for o in orchestrators}  # both did work
        for experiment in experiments:
            stages = [a.stage for a in session.scalars(select(Analysis).where(Analysis.experiment_id == experiment.id))]
            assert len(stages) == len(set(stages)), (experiment.name, stages)
            runs_of = session.execute(select(Evaluation.stage, Evaluation.task, Evaluation.seed).where(
                Evaluation.experiment_id == experiment.id)).all()  # fmt: skip
            assert len(runs_of) == len(set(runs_of)), experiment.name
            trained = session.scalars(select(LedgerEntry.stage).where(
                LedgerEntry.experiment_id == experiment.id, LedgerEntry.stage == "screen")).all()  # fmt: skip
            assert len(trained) <= 1, experiment.name  # screened once, by one of them
        assert session.scalar(select(Campaign.state).where(Campaign.name == "shared")) == "finished"
    store.close()


def test_campaign_hours_count_overlapping_batches_of_several_orchestrators_once():
    assert covered_seconds([]) == 0.0
    assert covered_seconds([(0.0, 10.0), (20.0, 25.0)]) == 15.0  # one orchestrator: the sum
    assert covered_seconds([(0.0, 10.0), (5.0, 12.0), (11.0, 13.0), (30.0, 31.0)]) == 14.0
    assert covered_seconds([(0.0, 100.0), (10.0, 20.0)]) == 100.0


@pytest.mark.parametrize(
    "option,words",
    [
        (["--strategy", "best"], "config key campaign.strategy"),
        (["--researcher", "oracle"], "config key researcher.kind"),
        (["--executor", "slurm"], "--executor must be local or ray"),
        (["--set", "researcher.windows=[64]"], "researcher.windows=[64] reaches past 8 tokens"),
    ],
)
def test_bad_run_options_are_one_line_and_write_nothing(tmp_path, option, words):
    result = CliRunner().invoke(app, ["run", "--db", str(tmp_path / "x.db"), *option])
    assert result.exit_code == 2 and words in result.output
    assert not (tmp_path / "x.db").exists()


def test_a_new_campaign_records_every_knob_of_the_references_it_compares_with(tmp_path):
    config = tiny_config(tmp_path).model_copy(update={"references": ["deltanet", "gla[short_conv=False]"]})
    store = open_store(config.store)
    campaign_id = open_campaign(store, "knobs", config)
    with store.session() as session:
        recorded = session.get(Campaign, campaign_id).provenance["references"]
    assert recorded["deltanet"] == {"output_norm": True, "short_conv": True, "conv_activation": True, "q_scale": True}
    assert recorded["gla[short_conv=False]"]["short_conv"] is False
    store.close()
