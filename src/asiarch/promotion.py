"""Promoted experiments at the confirm stage, discoveries at the scale stage: the sequential discovery test.

The campaign loop (``asiarch.loop``) hands each promoted experiment here; its looks train fresh seeds against
the rivals measured at the stage, and ``agents.discovery`` decides after each look whether to stop.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.orm import Session

from asiarch.agents.analyst import (
    Analyst,
    Family,
    campaign_rules,
    decide,
    record_analysis,
    summarise_edit,
)
from asiarch.agents.engineer import Engineer, write_candidate
from asiarch.bench.stages import stage_seeds, summarise
from asiarch.bench.tasks.base import TEST
from asiarch.budget import check_deadline
from asiarch.config import Config, StageConfig
from asiarch.execute.watchdog import LEAK_STOP
from asiarch.flights import CONFIRM, SCALE, Flight, View, reference_results, train
from asiarch.protocols import Executor, Proposal
from asiarch.store.db import Store
from asiarch.store.queries import analyses_of, stored_runs
from asiarch.store.schema import Experiment


def advance(
    store: Store,
    config: Config,
    executor: Executor,
    engineer: Engineer,
    analyst: Analyst,
    flight: Flight,
    stage: str,
    directory: Path,
    view: View,
    deadline: float | None = None,
) -> float:
    """A promoted experiment at the confirm stage, or a discovery at the scale stage (the GPU preset's bigger
    models): fresh seeds and data, every rival reference measured there, and the sequential discovery test of
    ``agents.discovery`` after each look, stopping as soon as the answer is clear. Returns the seconds spent
    training, the rivals' runs included. A run the watchdog stops for a suspected leak is not believed blindly
    here (a layer that genuinely halves a rival's loss would look like one): the gates re-check the layer at
    every width the stage trains at, and if it passes the look is trained again without the leak floor.

    Past the ``deadline`` the experiment keeps its status without an analysis at ``stage``: in flight, so a
    resumed campaign goes on from the runs it has stored."""
    check_deadline(deadline)
    began = time.monotonic()
    rivals = [name for name in config.analyst.rivals if name in config.references]
    references = reference_results(config, stage, executor, rivals, deadline, view)
    wall = time.monotonic() - began  # the rivals' runs at this stage (the first time only, then cached) are training
    stage_config = config.stage(stage)
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        proposal = Proposal(row.name, row.motivation, row.code, spec=row.spec)
        family = Family.of(campaign_rules(row.campaign))
        runs = stored_runs(session, row.id, stage)
    if flight.path is None:
        flight.path = write_candidate(proposal, directory)
    ref_tasks = {name: e.tasks for name, e in references.items()}
    watch_leaks = True
    for look, count in enumerate(stage_config.look_counts()):
        have = {result.seed for _, result in runs}
        missing = [seed for seed in stage_seeds(stage_config, count) if seed not in have]
        if missing:
            status = flight.status
            wall += train(store, config, executor, [flight], stage, references, view, deadline, missing, runs,
                          watch_leaks)  # fmt: skip
            if flight.status == "failed" and watch_leaks and leak_stop_cleared(store, engineer, flight, stage_config,
                                                                                status):  # fmt: skip
                watch_leaks = False
                wall += train(store, config, executor, [flight], stage, references, view, deadline, missing, runs,
                              watch_leaks)  # fmt: skip
            if flight.status == "failed":
                return wall
            with store.session() as session:
                runs = stored_runs(session, flight.id, stage)
        verdict = decide(summarise(runs), ref_tasks, stage_config, config.analyst, family, look,
                         config.gates.parameter_tolerance)  # fmt: skip
        if verdict.stopped:
            break
    flight.tasks = summarise(runs)
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        result = analyst.analyse(stage_name=stage, candidate=flight.tasks, references=ref_tasks, parent=None,
                                 siblings=[], edit=summarise_edit("", None, row.code, row.spec, row.operator),
                                 retrieve=None, name=row.name, code=row.code, split=TEST)  # fmt: skip
        result.significance.update(asdict(verdict))
        result.text += f" Discovery test: {verdict.reason}."
        record_analysis(session, row, stage, result)
        if stage == CONFIRM and verdict.is_discovery:
            row.status = flight.status = "discovery"
        view(
            "confirmed",
            id=row.id,
            name=row.name,
            stage=stage,
            fitness=result.fitness,
            discovery=verdict.is_discovery,
            p=verdict.p_corrected,
        )
    return wall


def leak_stop_cleared(store: Store, engineer: Engineer, flight: Flight, stage: StageConfig, status: str) -> bool:
    """After a watchdog leak stop past the screen: gate the layer at each of the stage's widths. When every gate
    passes, the experiment returns to ``status`` with the stop and the re-check recorded in its decision (True);
    otherwise it stays failed and its reason names the gate that confirmed the leak (False)."""
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        stop = row.failure_reason or ""
        if row.failure_gate != "training" or LEAK_STOP not in stop:
            return False
    widths = sorted({(run.model.d_model, run.model.num_heads) for run in stage.tasks.values()})
    for width in widths:
        verdict = engineer.check(flight.path, width)[-1]
        if not verdict.passed:
            with store.session() as session:
                row = session.get(Experiment, flight.id)
                row.failure_reason = f"{stop}; the {verdict.gate} gate at width {width[0]} agrees: {verdict.reason}"
            return False
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        row.status = flight.status = status
        row.failure_gate = row.failure_reason = None
        row.decision = {**row.decision, "leak_stop_rechecked": {"stop": stop, "widths": [w for w, _ in widths]}}
    return True


def awaits_stage(session: Session, row: Experiment, config: Config) -> bool:
    """Is this experiment waiting for its confirm stage (promoted) or, where the config has one, its scale stage
    (a discovery)? Such an experiment is still in flight."""
    stage = {"promoted": CONFIRM, "discovery": SCALE}.get(row.status)
    if stage is None or stage not in config.stages:
        return False
    return not any(a.stage == stage for a in analyses_of(session, row.id))
