"""Experiments in flight through a stage: train a batch of them in one pool of jobs and record every run.

Shared by the campaign loop (``asiarch.loop``, the screen) and promotion (``asiarch.promotion``, confirm and
scale): the references a stage compares with, the training of the flights, and what the store holds of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import TaskSummary, stage_seeds, summarise
from asiarch.bench.trainer import RunResult
from asiarch.budget import record_runs
from asiarch.config import Config
from asiarch.execute.evaluate import Evaluation as StageEvaluation
from asiarch.execute.evaluate import OutOfTime, WatchPlan, evaluate_all, reference_evaluations
from asiarch.execute.gate_job import gates_for
from asiarch.execute.progress import View, reported
from asiarch.protocols import Executor
from asiarch.store.db import Store
from asiarch.store.queries import add_evaluation_rows, stored_runs
from asiarch.store.schema import Experiment

SCREEN, CONFIRM, SCALE = "screen", "confirm", "scale"


def silent(event: str, **details: object) -> None:
    """The default view: say nothing."""


@dataclass
class Flight:
    """An experiment in flight: its row id and what the loop knows about it between steps."""

    id: int
    status: str
    path: Path | None = None
    tasks: dict[str, TaskSummary] = field(default_factory=dict)


def reference_results(
    config: Config,
    stage: str,
    executor: Executor,
    names: list[str] | None = None,
    deadline: float | None = None,
    view: View = silent,
) -> dict[str, StageEvaluation]:
    """The references' results at a stage (all configured ones unless ``names``), computed once per machine and
    cached; a measurement is announced with its estimate and followed on ``view``."""
    chosen = list(config.references) if names is None else names
    progress = reported(view, f"measuring the references at {stage}", config.execution)
    return reference_evaluations(
        chosen,
        stage,
        config.stage(stage),
        executor,
        BaselineCache(config.cache_dir),
        progress,
        deadline=deadline,
        retries=config.execution.reference_retries,
    )


def train(
    store: Store,
    config: Config,
    executor: Executor,
    flights: list[Flight],
    stage: str,
    references: dict[str, StageEvaluation],
    view: View,
    deadline: float | None = None,
    seeds: Sequence[int] | None = None,
    prior: Sequence[tuple[str, RunResult]] = (),
    watch_leaks: bool = True,
) -> float:
    """Train every flight at ``stage`` in one pool of jobs; record results (or the failure) per experiment.

    ``seeds`` defaults to the stage's candidate seeds; ``prior`` holds a flight's earlier runs at the stage (a
    sequential stage's earlier looks), which fix its learning rates. Past the ``deadline`` the jobs are
    cancelled and the flights keep their status, to be trained again on resume; the compute of the runs that
    did finish is still charged to the ledger. ``watch_leaks=False`` trains without the watchdog's leak floor
    (divergence is still watched): for a layer whose leak stop the gates have re-checked."""
    if not flights:
        return 0.0
    stage_config = config.stage(stage)
    watch = WatchPlan.from_references(config.execution.watchdog, references)
    if not watch_leaks:
        watch = WatchPlan(watch.config, {label: None for label in watch.floors})
    chosen = list(seeds) if seeds is not None else stage_seeds(stage_config, stage_config.seeds)
    requests = {str(f.path): chosen for f in flights}
    view("training", stage=stage, ids=[f.id for f in flights])
    try:
        found, wall = evaluate_all(
            requests,
            stage_config,
            executor,
            reported(view, f"training at {stage}", config.execution),
            watch=watch,
            deadline=deadline,
            prior={str(f.path): list(prior) for f in flights},
            recheck=gates_for(config),
        )
    except OutOfTime as out:
        with store.session() as session:
            for flight in flights:
                record_runs(session, campaign_of(session, flight), flight.id, stage, out.partial[str(flight.path)].rows)
        raise
    for flight in flights:
        evaluation = found[str(flight.path)]
        with store.session() as session:
            row = session.get(Experiment, flight.id)
            record_runs(session, row.campaign_id, row.id, stage, evaluation.rows)
            if evaluation.failures or not evaluation.rows:
                failure = evaluation.failures[0] if evaluation.failures else None
                row.status, row.failure_gate = "failed", "training"
                row.failure_reason = failure.error if failure else "no training run finished"
                flight.status = "failed"
                view("failed", id=row.id, name=row.name, reason=row.failure_reason)
                continue
            flight.tasks = evaluation.tasks
            best = [(label, result) for label, summary in flight.tasks.items() for result in summary.per_seed.values()]
            add_evaluation_rows(session, row.id, stage, best)
            row.parameters = next(iter(evaluation.rows))[1].mixer_parameters
            row.stage_reached = stage
            if stage == SCREEN:
                row.status = flight.status = "trained"
            view("trained", id=row.id, name=row.name, stage=stage)
    return wall


def campaign_of(session: Session, flight: Flight) -> int:
    return session.get(Experiment, flight.id).campaign_id


def stored_tasks(session: Session, experiment_id: int, stage: str) -> dict[str, TaskSummary]:
    """Task summaries rebuilt from an experiment's evaluation rows (for relatives and resumed experiments)."""
    return summarise(stored_runs(session, experiment_id, stage))
