"""The campaign: sample → propose → novelty → gates + repair → screen → analyse → promote → confirm (→ scale) → store.

`run_campaign` is the whole loop in one function; each step it calls is a small function below it, or in
``asiarch.flights`` (training a batch of experiments at a stage) and ``asiarch.promotion`` (confirm and scale).
Every step commits what it learned before the next one starts (one transaction each), so a campaign
killed at any point — Ctrl-C, `asiarch stop`, or `kill -9` — loses nothing: on the next
`asiarch run --campaign NAME` the experiments that were in flight are picked up where their last
committed step left them (``proposing`` → proposed again from the same draw, ``proposed`` → gated and
trained again, ``trained`` → analysed, ``promoted`` without a confirm analysis → confirmed, a
``discovery`` without a scale analysis → scaled, where a scale stage is configured), never duplicated. Experiments go through the executor in
batches, so all workers train at once.

Several orchestrators (say one per machine, sharing a PostgreSQL store) may run the same campaign: each
claims the experiments it works on (``store.claims``), draws proposal slots under the campaign's row
lock so the experiment budget holds exactly, and reads the others' proposals before judging novelty.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from asiarch.agents.analyst import (
    Analyst,
    Judge,
    Relative,
    campaign_rules,
    fitness,
    record_analysis,
    summarise_edit,
    update_insights,
)
from asiarch.agents.discovery import budget_problems
from asiarch.agents.engineer import Engineer
from asiarch.agents.novelty import Judge as RepeatJudge
from asiarch.agents.novelty import NoveltyFilter
from asiarch.agents.researcher.context import Retriever, build_context, zoo_brief
from asiarch.arch.zoo import reference_settings
from asiarch.budget import (
    budget_exhausted,
    check_deadline,
    proposals_made,
    record_batch,
    record_compute,
    wall_clock_deadline,
)
from asiarch.config import Config
from asiarch.execute.evaluate import Evaluation as StageEvaluation
from asiarch.execute.evaluate import OutOfTime
from asiarch.flights import CONFIRM, SCALE, SCREEN, Flight, View, reference_results, silent, stored_tasks, train
from asiarch.promotion import advance, awaits_stage
from asiarch.protocols import Credit, Executor, Proposal, Researcher
from asiarch.store.claims import Heartbeat, claim, join_campaign, leave_campaign, lock_campaign
from asiarch.store.db import Store
from asiarch.store.provenance import campaign_provenance
from asiarch.store.queries import (
    add_experiment,
    code_hash,
    edit_credit,
    get_or_create_campaign,
    sample_parents,
    siblings,
)
from asiarch.store.schema import Campaign, Experiment, GateAttempt

IN_FLIGHT = ("proposing", "proposed", "trained", "promoted", "discovery")
"""Statuses an unfinished experiment can have (promoted and discovery ones only while a stage awaits them)."""


@dataclass
class CampaignSummary:
    """How a run of the loop ended."""

    name: str
    stop_reason: str
    experiments: int = 0
    wall_s: float = 0.0
    training_wall_s: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)


def run_campaign(
    config: Config,
    store: Store,
    name: str,
    researcher: Researcher,
    executor: Executor,
    *,
    retrieve: Retriever | None = None,
    view: View = silent,
    fitness_judge: Judge | None = None,
    repeat_judge: RepeatJudge | None = None,
) -> CampaignSummary:
    """Run (or resume) the campaign called ``name`` until its budget is used or someone stops it.

    The optional judges are LLM opinions: one adds a qualitative term to fitness (``analyst.judge_weight``),
    the other decides the novelty filter's borderline pairs."""
    campaign_id = open_campaign(store, name, config)
    engineer = Engineer(config, executor, repairer=researcher)
    analyst = Analyst(config, judge=fitness_judge)
    novelty = NoveltyFilter(config.novelty, judge=repeat_judge)
    references = reference_results(config, SCREEN, executor, view=view)
    view("references", stage=SCREEN, names=sorted(references))
    directory = Path(config.campaign.work_dir) / name
    batch_size = config.campaign.batch_size or config.execution.worker_count()
    started = time.monotonic()
    deadline = wall_clock_deadline(store, campaign_id, config, started)
    summary = CampaignSummary(name, stop_reason="")
    me = join_campaign(store, campaign_id, config.campaign.lease_s)
    batch_started: float | None = None
    try:
        with Heartbeat(store, me, config.campaign.heartbeat_s):
            while True:
                batch_started = time.monotonic()
                if wait_while_paused(store, campaign_id, config, view) == "stopping":
                    summary.stop_reason = "stopped by `asiarch stop`"
                    break
                check_deadline(deadline)
                batch = claim_in_flight(store, campaign_id, me, config)[:batch_size]  # resumed work comes first
                if not batch:
                    summary.stop_reason = budget_exhausted(store, campaign_id, config) or ""
                    if summary.stop_reason:
                        break
                    batch = reserve(store, campaign_id, me, config, batch_size)
                for flight in batch:
                    if flight.status == "proposing":
                        propose(store, config, researcher, novelty, flight, retrieve, view, deadline)
                to_train = [flight for flight in batch
                            if flight.status == "proposed" and gate(store, engineer, flight, directory, view, deadline)]
                summary.training_wall_s += train(store, config, executor, to_train, SCREEN, references, view, deadline)
                for flight in batch:
                    analyse(store, config, analyst, flight, references, retrieve, view)
                    if flight.status == "promoted":
                        summary.training_wall_s += advance(store, config, executor, engineer, analyst, flight,
                                                           CONFIRM, directory, view, deadline)
                    if flight.status == "discovery" and SCALE in config.stages:
                        summary.training_wall_s += advance(store, config, executor, engineer, analyst, flight,
                                                           SCALE, directory, view, deadline)
                with store.session() as session:
                    update_insights(session, lock_campaign(session, campaign_id))
                record_batch(store, campaign_id, batch_started)
                batch_started = None
                view("batch", done=count_experiments(store, campaign_id), budget=config.campaign.max_experiments)
    except OutOfTime as out:
        summary.training_wall_s += out.wall_s
        record_batch(store, campaign_id, batch_started)
        summary.stop_reason = (budget_exhausted(store, campaign_id, config) or "wall-clock budget reached") + (
            "; unfinished experiments resume with `asiarch run --campaign` and a larger --max-hours"
        )
    except KeyboardInterrupt:
        record_batch(store, campaign_id, batch_started)
        summary.stop_reason = "interrupted (Ctrl-C); experiments in flight resume with `asiarch run --campaign`"
    finally:
        leave_campaign(store, campaign_id, me, config.campaign.lease_s)
    summary.wall_s = time.monotonic() - started
    summary.experiments = count_experiments(store, campaign_id)
    summary.by_status = status_totals(store, campaign_id)
    view("finished", summary=summary)
    return summary


def open_campaign(store: Store, name: str, config: Config) -> int:
    """The campaign's id; a new one records its config and provenance (with every knob of every reference it
    compares with). Two orchestrators creating the same campaign at once both get the one created first."""
    provenance = {**campaign_provenance(), "references": {r: reference_settings(r) for r in config.references}}
    try:
        with store.session() as session:
            return get_or_create_campaign(session, name, config.model_dump(mode="json"), provenance).id
    except IntegrityError:  # the other one committed it between our look and our insert
        with store.session() as session:
            return get_or_create_campaign(session, name).id


def wait_while_paused(store: Store, campaign_id: int, config: Config, view: View) -> str:
    """The campaign's state once it is not paused (``asiarch pause`` from anywhere holds the loop here)."""
    announced = False
    while True:
        with store.session() as session:
            state = session.get(Campaign, campaign_id).state
        if state != "paused":
            return state
        if not announced:
            view("paused")
            announced = True
        time.sleep(config.campaign.poll_s)


def count_experiments(store: Store, campaign_id: int) -> int:
    with store.session() as session:
        return proposals_made(session, campaign_id)


def status_totals(store: Store, campaign_id: int) -> dict[str, int]:
    with store.session() as session:
        totals: dict[str, int] = {}
        for status in session.scalars(select(Experiment.status).where(Experiment.campaign_id == campaign_id)):
            totals[status] = totals.get(status, 0) + 1
        return totals


def claim_in_flight(store: Store, campaign_id: int, orchestrator_id: int, config: Config) -> list[Flight]:
    """Experiments whose last committed step was not their last and that no other live orchestrator holds,
    claimed for this one: what a resumed campaign finishes first."""
    with store.session() as session:
        lock_campaign(session, campaign_id)
        rows = session.scalars(
            select(Experiment)
            .where(Experiment.campaign_id == campaign_id, Experiment.status.in_(IN_FLIGHT))
            .order_by(Experiment.id)
        )
        unfinished = [row for row in rows if row.status not in ("promoted", "discovery")
                      or awaits_stage(session, row, config)]  # fmt: skip
        mine = claim(session, campaign_id, orchestrator_id, unfinished, config.campaign.lease_s)
        return [Flight(row.id, row.status) for row in mine]


def choose_parents(session: Session, campaign: Campaign, config: Config, index: int) -> tuple[object, list, dict]:
    """Parent and references for the index-th proposal, with the draw recorded (seed, strategy, choice)."""
    settings = config.campaign
    draw_seed = f"{settings.seed}:{index}"
    rng = random.Random(draw_seed)
    zoo = list(config.references)
    choice = None
    if settings.strategy != "zoo-only" and index >= settings.cold_start:
        sampler = "uniform" if settings.strategy == "random" else settings.sampler
        choice = sample_parents(session, campaign, sampler, rng, settings.references_per_proposal)
    if choice is None:
        parent: object = f"zoo:{zoo[index % len(zoo)]}"
        others = [f"zoo:{name}" for name in zoo if f"zoo:{name}" != parent]
        references: list = rng.sample(others, min(settings.references_per_proposal, len(others)))
        sampler = "cold start" if settings.strategy != "zoo-only" else "zoo-only"
    else:
        parent, references = choice.parent, list(choice.references)
    draw = {"strategy": settings.strategy, "sampler": sampler, "seed": draw_seed, "parent": parent,
            "references": references}
    return parent, references, draw


def reserve(store: Store, campaign_id: int, orchestrator_id: int, config: Config, count: int) -> list[Flight]:
    """Up to ``count`` numbered slots for new proposals, each with its parent and references drawn and recorded
    (``proposing``), taken under the campaign's lock: orchestrators sharing the campaign never exceed the
    experiment budget nor draw the same slot, and a slot whose proposal was cut short is proposed again, from the
    same draw, on resume."""
    with store.session() as session:
        campaign = lock_campaign(session, campaign_id)
        first = proposals_made(session, campaign_id)
        flights = []
        for index in range(first, min(first + count, config.campaign.max_experiments)):
            parent, references, draw = choose_parents(session, campaign, config, index)
            experiment = add_experiment(
                session, campaign, f"proposal-{index}", "",
                parents=[parent] if isinstance(parent, int) else [],
                references=[r for r in references if isinstance(r, int)],
                status="proposing", decision={**draw, "index": index}, claimed_by=orchestrator_id,
            )  # fmt: skip
            flights.append(Flight(experiment.id, "proposing"))
        return flights


def propose(
    store: Store,
    config: Config,
    researcher: Researcher,
    novelty: NoveltyFilter,
    flight: Flight,
    retrieve: Retriever | None,
    view: View,
    deadline: float | None = None,
) -> None:
    """The researcher's proposal for a reserved slot, recorded: ``proposed`` when new, ``rejected`` (with what it
    repeats) otherwise, ``failed`` when the researcher fails. Novelty is judged against every proposal the
    campaign has stored, other orchestrators' included."""
    check_deadline(deadline)
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        campaign = row.campaign
        draw = dict(row.decision)
        index, parent, references = draw["index"], draw["parent"], draw["references"]
        credit = {key: Credit(mean, count) for key, (mean, count) in edit_credit(session, campaign, SCREEN).items()}
        context = build_context(
            session, campaign, parent, references, retrieve=retrieve, credit=credit, seed=config.campaign.seed + index
        )
        novelty.load_history(session, campaign)
    try:
        proposal = researcher.propose(context)
    except Exception as exc:  # noqa: BLE001 - a researcher failure is recorded like any other failure
        proposal = Proposal(name=f"proposal-{index}", motivation="", code="", parents=(str(parent),))
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        _record(store, flight, proposal, draw, researcher.kind, "failed", "researcher", reason, view)
        return
    verdict = novelty.judge(proposal)
    draw["novelty"] = {"novel": verdict.novel, "repeats": verdict.repeats, "reason": verdict.reason,
                       "structure": verdict.structure_similarity, "motivation": verdict.motivation_similarity}
    if not verdict.novel:
        _record(store, flight, proposal, draw, researcher.kind, "rejected", "novelty", verdict.reason, view)
        return
    _record(store, flight, proposal, draw, researcher.kind, "proposed", None, None, view)
    novelty.remember(flight.id, proposal)


def _record(
    store: Store,
    flight: Flight,
    proposal: Proposal,
    draw: dict,
    kind: str,
    status: str,
    gate: str | None,
    reason: str | None,
    view: View,
) -> None:
    with store.session() as session:
        experiment = session.get(Experiment, flight.id)
        experiment.name, experiment.code, experiment.code_hash = proposal.name, proposal.code, code_hash(proposal.code)
        experiment.spec, experiment.motivation, experiment.operator = proposal.spec, proposal.motivation, proposal.operator
        experiment.researcher, experiment.status, experiment.decision = kind, status, draw
        experiment.failure_gate, experiment.failure_reason = gate, reason
        flight.status = status
        view(status, id=experiment.id, name=proposal.name, reason=reason)


def gate(
    store: Store, engineer: Engineer, flight: Flight, directory: Path, view: View, deadline: float | None = None
) -> bool:
    """Gates and repairs in a sandboxed worker; every attempt is kept, the passing version becomes the experiment."""
    check_deadline(deadline)
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        proposal = Proposal(row.name, row.motivation, row.code, operator=row.operator, spec=row.spec)
    started = time.monotonic()
    realization = engineer.realize(proposal, directory)
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        record_compute(session, row.campaign_id, row.id, "gates", 0.0, time.monotonic() - started)
        for round_, attempt in enumerate(realization.attempts):
            session.add(
                GateAttempt(
                    experiment_id=row.id,
                    round=round_,
                    operator=attempt.proposal.operator,
                    code=attempt.proposal.code,
                    spec=attempt.proposal.spec,
                    verdicts=[asdict(v) for v in attempt.verdicts],
                    passed=attempt.passed,
                )
            )
        last = realization.attempts[-1]
        if realization.candidate is None:
            verdict = last.verdicts[-1] if last.verdicts else None
            row.status = "failed"
            row.failure_gate = verdict.gate if verdict else "gates"
            row.failure_reason = (verdict.reason if verdict else "no verdict") + (
                f" (repair stopped: {realization.repair_error})" if realization.repair_error else ""
            )
            flight.status = "failed"
            view("failed", id=row.id, name=row.name, reason=row.failure_reason)
            return False
        row.name, row.code, row.spec = last.proposal.name, last.proposal.code, last.proposal.spec
        row.stage_reached = "gates"
        flight.path = last.path
        view("gated", id=row.id, name=row.name, repairs=len(realization.attempts) - 1)
        return True


def _relative(session: Session, key: object, stage: str, config: Config,
              references: dict[str, StageEvaluation]) -> Relative | None:
    if isinstance(key, str) and key.startswith("zoo:"):
        name = key.removeprefix("zoo:")
        if name not in references:
            return None
        tasks = references[name].tasks
        ref_tasks = {n: e.tasks for n, e in references.items()}
        return Relative(key, fitness(config.stage(stage), tasks, ref_tasks, config.analyst).value, tasks)
    row = session.get(Experiment, int(key))
    return Relative(row.name, row.fitness, stored_tasks(session, row.id, stage)) if row is not None else None


def analyse(
    store: Store,
    config: Config,
    analyst: Analyst,
    flight: Flight,
    references: dict[str, StageEvaluation],
    retrieve: Retriever | None,
    view: View,
) -> None:
    """Score a trained experiment against references, parent and siblings; store the analysis; maybe promote."""
    if flight.status != "trained":
        return
    with store.session() as session:
        row = session.get(Experiment, flight.id)
        tasks = flight.tasks or stored_tasks(session, row.id, SCREEN)
        parent_key = row.decision.get("parent")
        parent = _relative(session, parent_key, SCREEN, config, references) if parent_key is not None else None
        parent_row = session.get(Experiment, parent_key) if isinstance(parent_key, int) else None
        zoo_parent = zoo_brief(parent_key.removeprefix("zoo:")) if str(parent_key).startswith("zoo:") else None
        parent_code = parent_row.code if parent_row else (zoo_parent.code if zoo_parent else "")
        parent_spec = parent_row.spec if parent_row else (zoo_parent.spec if zoo_parent else None)
        kin = [session.get(Experiment, i) for i in (siblings(session, row.id) if parent_row else [])]
        relatives = [Relative(k.name, k.fitness, stored_tasks(session, k.id, SCREEN)) for k in kin
                     if k.status in ("analysed", "promoted", "discovery")]
        result = analyst.analyse(
            stage_name=SCREEN,
            candidate=tasks,
            references={name: e.tasks for name, e in references.items()},
            parent=parent,
            siblings=relatives,
            edit=summarise_edit(parent_code, parent_spec, row.code, row.spec, row.operator),
            retrieve=retrieve,
            name=row.name,
            code=row.code,
        )
        over_budget = budget_problems(tasks, config.stage(SCREEN), config.gates.parameter_tolerance)
        if over_budget:
            result.fields["parameter_budget"] = over_budget
        record_analysis(session, row, SCREEN, result)
        row.fitness = result.fitness
        lock_campaign(session, row.campaign_id)  # orchestrators sharing the campaign count promotions in turn
        promoted = session.scalars(
            select(Experiment.id).where(Experiment.campaign_id == row.campaign_id,
                                        Experiment.status.in_(("promoted", "discovery")))
        )
        count = len(list(promoted))
        declared = campaign_rules(row.campaign).max_promotions  # the family m fixed at the start, not a later --set
        promote = not over_budget and count < declared and analyst.should_promote(result, SCREEN, count)
        row.status = flight.status = "promoted" if promote else "analysed"
        view("analysed", id=row.id, name=row.name, fitness=result.fitness, promoted=promote)
