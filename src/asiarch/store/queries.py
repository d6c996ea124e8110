"""Every query the agents and the CLI make of the store, in one module.

Functions take an open ``Session`` (one transaction, from ``Store.session()``) so callers decide
what must commit together.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from asiarch.bench.trainer import RunResult
from asiarch.store.schema import Analysis, Campaign, Evaluation, Experiment, Insight, LedgerEntry, Lineage, utcnow

POOL_STATUSES = ("analysed", "promoted", "discovery")
"""Experiments with a fitness the pool may hold."""
POOL_OVERFETCH = 4
"""Rows fetched per pool slot, so the diversity rules can skip duplicates without a second query."""
RANK_BAND_PARENTS = 10
RANK_BAND_REFERENCES = (11, 50)
"""ASI-Arch's bands: parents from ranks 1–10, references from ranks 11–50."""
SAMPLING_STRATEGIES = ("rank_bands", "fitness_proportional", "uniform", "hill_climbing")


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def get_or_create_campaign(
    session: Session, name: str, config: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None
) -> Campaign:
    """The campaign called ``name``, created (with its config snapshot and provenance) if new."""
    found = session.scalar(select(Campaign).where(Campaign.name == name))
    if found is not None:
        return found
    campaign = Campaign(name=name, config=config or {}, provenance=provenance or {})
    session.add(campaign)
    session.flush()
    return campaign


def add_experiment(
    session: Session,
    campaign: Campaign,
    name: str,
    code: str,
    parents: Sequence[int] = (),
    references: Sequence[int] = (),
    **fields: Any,
) -> Experiment:
    """Record a proposed experiment with its lineage edges; returns it with its id assigned."""
    experiment = Experiment(campaign_id=campaign.id, name=name, code=code, code_hash=code_hash(code), **fields)
    session.add(experiment)
    session.flush()
    for role, ids in (("parent", parents), ("reference", references)):
        for position, parent_id in enumerate(ids):
            session.add(Lineage(child_id=experiment.id, parent_id=parent_id, role=role, position=position))
    return experiment


def count_experiments(session: Session, campaign: Campaign, status: str | None = None) -> int:
    query = select(func.count(Experiment.id)).where(Experiment.campaign_id == campaign.id)
    if status is not None:
        query = query.where(Experiment.status == status)
    return session.scalar(query) or 0


def parent_ids(session: Session, experiment_id: int, role: str = "parent") -> list[int]:
    """The experiment's parents (or references), in the order they were given."""
    query = (
        select(Lineage.parent_id)
        .where(Lineage.child_id == experiment_id, Lineage.role == role)
        .order_by(Lineage.position)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class PoolMember:
    id: int
    name: str
    fitness: float
    parent_id: int | None


def candidate_pool(session: Session, campaign: Campaign, size: int, max_per_parent: int = 3) -> list[PoolMember]:
    """The ``size`` fittest analysed experiments, best first, with two diversity rules: one experiment
    per distinct code, and at most ``max_per_parent`` children of any one parent, so that a burst of
    near-copies of one good design cannot fill the pool."""
    best = session.execute(
        select(Experiment.id, Experiment.name, Experiment.fitness, Experiment.code_hash)
        .where(
            Experiment.campaign_id == campaign.id,
            Experiment.status.in_(POOL_STATUSES),
            Experiment.fitness.is_not(None),
        )
        .order_by(Experiment.fitness.desc(), Experiment.id)
        .limit(size * POOL_OVERFETCH)
    ).all()
    first_parents = dict(
        session.execute(
            select(Lineage.child_id, Lineage.parent_id).where(
                Lineage.child_id.in_([row[0] for row in best]), Lineage.role == "parent", Lineage.position == 0
            )
        ).all()
    )
    rows = [(*row, first_parents.get(row[0])) for row in best]
    pool: list[PoolMember] = []
    seen_code: set[str] = set()
    per_parent: dict[int, int] = {}
    for experiment_id, name, fitness, digest, parent in rows:
        if digest in seen_code or (parent is not None and per_parent.get(parent, 0) >= max_per_parent):
            continue
        seen_code.add(digest)
        if parent is not None:
            per_parent[parent] = per_parent.get(parent, 0) + 1
        pool.append(PoolMember(experiment_id, name, fitness, parent))
        if len(pool) == size:
            break
    return pool


def children_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """How many experiments name each of ``ids`` as their (first or other) parent."""
    rows = session.execute(
        select(Lineage.parent_id, func.count(Lineage.id))
        .where(Lineage.parent_id.in_(ids), Lineage.role == "parent")
        .group_by(Lineage.parent_id)
    )
    return {parent: count for parent, count in rows}


@dataclass(frozen=True)
class ParentChoice:
    parent: int
    references: list[int]


def sample_parents(
    session: Session,
    campaign: Campaign,
    strategy: str,
    rng: random.Random,
    references: int = 4,
    temperature: float = 1.0,
) -> ParentChoice | None:
    """Choose a parent and references from the pool; None while the pool is empty.

    - ``rank_bands``: ASI-Arch's rule — parent uniformly from ranks 1–10, references from 11–50;
    - ``fitness_proportional``: weight exp((f - f_best) / temperature) / (1 + children), so a design
      that has already had many children gives others their turn;
    - ``uniform``: any pool member (the random-search baseline);
    - ``hill_climbing``: always the best (the greedy baseline).
    """
    pool = candidate_pool(session, campaign, RANK_BAND_REFERENCES[1])
    if not pool:
        return None
    if strategy == "rank_bands":
        parent = rng.choice(pool[:RANK_BAND_PARENTS])
        band = pool[RANK_BAND_REFERENCES[0] - 1 :] or [m for m in pool if m is not parent]
    elif strategy == "fitness_proportional":
        offspring = children_counts(session, [m.id for m in pool])
        best = pool[0].fitness
        weights = [math.exp((m.fitness - best) / temperature) / (1 + offspring.get(m.id, 0)) for m in pool]
        parent = rng.choices(pool, weights)[0]
        band = [m for m in pool if m is not parent]
    elif strategy == "uniform":
        parent = rng.choice(pool)
        band = [m for m in pool if m is not parent]
    elif strategy == "hill_climbing":
        parent, band = pool[0], pool[1:]
    else:
        raise ValueError(
            f"unknown parent sampling strategy {strategy!r}; choose one of {', '.join(SAMPLING_STRATEGIES)}"
        )
    chosen = rng.sample(band, min(references, len(band)))
    return ParentChoice(parent.id, [m.id for m in chosen])


def _descendant_ids(session: Session, root: int) -> list[int]:
    tree = select(Lineage.child_id.label("id")).where(Lineage.parent_id == root, Lineage.role == "parent")
    tree = tree.cte("descendants", recursive=True)
    tree = tree.union(select(Lineage.child_id).where(Lineage.parent_id == tree.c.id, Lineage.role == "parent"))
    return list(session.scalars(select(tree.c.id)))


def ancestors(session: Session, experiment_id: int) -> list[int]:
    """Every experiment this one descends from through parent edges (nearest first by discovery order)."""
    tree = select(Lineage.parent_id.label("id")).where(Lineage.child_id == experiment_id, Lineage.role == "parent")
    tree = tree.cte("ancestors", recursive=True)
    tree = tree.union(select(Lineage.parent_id).where(Lineage.child_id == tree.c.id, Lineage.role == "parent"))
    return list(session.scalars(select(tree.c.id)))


def children(session: Session, experiment_id: int) -> list[int]:
    query = select(Lineage.child_id).where(Lineage.parent_id == experiment_id, Lineage.role == "parent")
    return sorted(session.scalars(query))


def siblings(session: Session, experiment_id: int) -> list[int]:
    """Other children of this experiment's parents."""
    mine = parent_ids(session, experiment_id)
    query = select(Lineage.child_id).where(
        Lineage.parent_id.in_(mine), Lineage.role == "parent", Lineage.child_id != experiment_id
    )
    return sorted(set(session.scalars(query)))


def subtree(session: Session, experiment_id: int) -> list[int]:
    """The experiment and all its descendants."""
    return sorted({experiment_id, *_descendant_ids(session, experiment_id)})


def failure_neighbourhood(session: Session, experiment_id: int, limit: int = 5) -> list[Experiment]:
    """The most recent failed or rejected descendants of a parent: what was tried near it and broke."""
    query = (
        select(Experiment)
        .where(
            Experiment.id.in_(_descendant_ids(session, experiment_id)), Experiment.status.in_(("failed", "rejected"))
        )
        .order_by(Experiment.created_at.desc(), Experiment.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def leaderboard(session: Session, campaign: Campaign, top: int = 20, status: str | None = None) -> list[Experiment]:
    """Experiments with a fitness, best first (optionally of one status)."""
    query = select(Experiment).where(Experiment.campaign_id == campaign.id, Experiment.fitness.is_not(None))
    if status is not None:
        query = query.where(Experiment.status == status)
    return list(session.scalars(query.order_by(Experiment.fitness.desc(), Experiment.id).limit(top)))


def compute_totals(session: Session, campaign: Campaign) -> dict[str, dict[str, float]]:
    """CPU, GPU and wall seconds spent, by stage."""
    rows = session.execute(
        select(
            LedgerEntry.stage, func.sum(LedgerEntry.cpu_s), func.sum(LedgerEntry.gpu_s), func.sum(LedgerEntry.wall_s)
        )
        .where(LedgerEntry.campaign_id == campaign.id)
        .group_by(LedgerEntry.stage)
    )
    return {stage: {"cpu_s": cpu or 0.0, "gpu_s": gpu or 0.0, "wall_s": wall or 0.0} for stage, cpu, gpu, wall in rows}


def find_campaign(session: Session, name: str) -> Campaign | None:
    return session.scalar(select(Campaign).where(Campaign.name == name))


def campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.started_at, Campaign.id)))


def status_counts(session: Session, campaign: Campaign) -> dict[str, int]:
    rows = session.execute(
        select(Experiment.status, func.count(Experiment.id))
        .where(Experiment.campaign_id == campaign.id)
        .group_by(Experiment.status)
    )
    return {status: count for status, count in rows}


def evaluations_of(session: Session, experiment_id: int) -> list[Evaluation]:
    query = select(Evaluation).where(Evaluation.experiment_id == experiment_id)
    return list(session.scalars(query.order_by(Evaluation.stage, Evaluation.task, Evaluation.seed)))


def analyses_of(session: Session, experiment_id: int) -> list[Analysis]:
    query = select(Analysis).where(Analysis.experiment_id == experiment_id).order_by(Analysis.created_at, Analysis.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    name: str
    motivation: str
    code: str
    status: str


def proposal_history(session: Session, campaign: Campaign, skip_statuses: Sequence[str] = ()) -> list[ProposalRecord]:
    """Every experiment proposed in the campaign, oldest first, except those with a status in
    ``skip_statuses``: what the novelty filter compares a new proposal with."""
    query = select(Experiment.id, Experiment.name, Experiment.motivation, Experiment.code, Experiment.status).where(
        Experiment.campaign_id == campaign.id
    )
    if skip_statuses:
        query = query.where(Experiment.status.not_in(skip_statuses))
    return [ProposalRecord(*row) for row in session.execute(query.order_by(Experiment.id))]


def recent_insights(session: Session, campaign: Campaign, limit: int = 5) -> list[Insight]:
    """The campaign's best-supported insights, newest first among equals: what later proposals read."""
    query = (
        select(Insight)
        .where(Insight.campaign_id == campaign.id)
        .order_by(Insight.support.desc(), Insight.created_at.desc(), Insight.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


CAMPAIGN_STATES = ("running", "paused", "stopping", "finished")
"""What a campaign's loop does at its next check: go on, wait, wind down, or nothing (it has ended)."""


def set_campaign_state(session: Session, campaign: Campaign, state: str) -> Campaign:
    """Set what the campaign's loop does between steps. It is a plain row, so a loop polling the store from another
    process or machine sees it as soon as this session commits; ``ended_at`` is set exactly while finished."""
    if state not in CAMPAIGN_STATES:
        raise ValueError(f"unknown campaign state {state!r}; choose one of {', '.join(CAMPAIGN_STATES)}")
    campaign.state = state
    if state == "finished":
        campaign.ended_at = campaign.ended_at or utcnow()
    else:
        campaign.ended_at = None
    session.flush()
    return campaign


@dataclass(frozen=True)
class TimelineRow:
    """One experiment as the discovery curve sees it: proposal order, outcome and fitness."""

    id: int
    name: str
    status: str
    fitness: float | None


def experiment_timeline(session: Session, campaign: Campaign) -> list[TimelineRow]:
    """Every experiment of the campaign in the order it was proposed."""
    query = select(Experiment.id, Experiment.name, Experiment.status, Experiment.fitness).where(
        Experiment.campaign_id == campaign.id
    )
    return [TimelineRow(*row) for row in session.execute(query.order_by(Experiment.id))]


def ledger_entries(session: Session, campaign: Campaign) -> list[Row]:
    """The campaign's compute ledger in the order it was written (row order is spending order): experiment id,
    stage and CPU/GPU/wall seconds per row (plain rows: a long campaign has one per job)."""
    query = select(
        LedgerEntry.experiment_id, LedgerEntry.stage, LedgerEntry.cpu_s, LedgerEntry.gpu_s, LedgerEntry.wall_s
    ).where(LedgerEntry.campaign_id == campaign.id)
    return list(session.execute(query.order_by(LedgerEntry.id)))


def add_evaluation_rows(
    session: Session, experiment_id: int, stage: str, rows: Sequence[tuple[str, RunResult]], device: str = "cpu"
) -> list[Evaluation]:
    """Store (task label, ``RunResult``) pairs as evaluation rows of one experiment at ``stage``."""
    added = [
        Evaluation(experiment_id=experiment_id, stage=stage, task=label, seed=r.seed, lr=r.lr, metric=r.metric,
                   value=r.value, splits=r.splits, curve=[list(point) for point in r.curve], wall_s=r.wall_s,
                   cpu_s=r.cpu_s, device=device, validation_value=r.validation_value, validation=r.validation,
                   mixer_parameters=r.mixer_parameters)  # fmt: skip
        for label, r in rows
    ]
    session.add_all(added)
    session.flush()
    return added


def run_result(row: Evaluation) -> RunResult:
    """An evaluation row as the ``RunResult`` it was stored from (fields the row does not keep are zero)."""
    return RunResult(task=row.task, seed=row.seed, lr=row.lr, metric=row.metric, splits=row.splits, value=row.value,
                     curve=[tuple(point) for point in row.curve], steps_done=0, diverged=not math.isfinite(row.value),
                     wall_s=row.wall_s, cpu_s=row.cpu_s, parameters=0, mixer_parameters=row.mixer_parameters or 0,
                     validation=row.validation or {}, validation_value=row.validation_value)  # fmt: skip


def stored_runs(session: Session, experiment_id: int, stage: str) -> list[tuple[str, RunResult]]:
    """(task label, result) pairs of an experiment at a stage, ready for ``bench.stages.summarise``."""
    return [(row.task, run_result(row)) for row in evaluations_of(session, experiment_id) if row.stage == stage]


CREDIT_TAG = "credit:"
"""First tag of an insight distilled from an edit's credit, followed by ``stage:edit key``: one per edit and stage."""


def credit_key(operator: str) -> str:
    """The edit an operator made, without the operator's name: ``mutate:add:local:sliding_window`` →
    ``add:local:sliding_window``; an operator without parts (``llm-rewrite``) is its own key."""
    head, _, rest = operator.partition(":")
    return rest or head


def edit_deltas(session: Session, campaign: Campaign, stage: str = "screen") -> dict[str, list[tuple[int, float]]]:
    """For each edit key, (child id, child fitness − parent fitness) over the children analysed at ``stage``.

    The latest analysis of each experiment at the stage counts. The parent is the first lineage parent and
    its fitness its latest analysis at the same stage; a child without a lineage parent was derived from a
    reference of the zoo (which has no experiment row), and then the parent fitness the Analyst recorded in
    ``fields["parent"]["fitness"]`` (the reference's own fitness at the stage) is used. Children whose
    parent has no fitness at the stage are skipped."""
    rows = session.execute(
        select(Analysis.experiment_id, Analysis.fitness, Analysis.fields, Experiment.operator)
        .join(Experiment, Experiment.id == Analysis.experiment_id)
        .where(Experiment.campaign_id == campaign.id, Analysis.stage == stage)
        .order_by(Analysis.id)
    ).all()
    latest = {experiment_id: (fitness, fields or {}, operator) for experiment_id, fitness, fields, operator in rows}
    first_parents = dict(
        session.execute(
            select(Lineage.child_id, Lineage.parent_id)
            .join(Experiment, Experiment.id == Lineage.child_id)
            .where(Experiment.campaign_id == campaign.id, Lineage.role == "parent", Lineage.position == 0)
        ).all()
    )
    deltas: dict[str, list[tuple[int, float]]] = {}
    for experiment_id in sorted(latest):
        fitness, fields, operator = latest[experiment_id]
        parent = first_parents.get(experiment_id)
        if parent is None:
            recorded = fields.get("parent")
            parent_fitness = recorded.get("fitness") if isinstance(recorded, dict) else None
        else:
            parent_fitness = latest[parent][0] if parent in latest else None
        if fitness is None or parent_fitness is None or not math.isfinite(fitness - parent_fitness):
            continue
        deltas.setdefault(credit_key(operator), []).append((experiment_id, fitness - parent_fitness))
    return deltas


def edit_credit(session: Session, campaign: Campaign, stage: str = "screen") -> dict[str, tuple[float, int]]:
    """For each edit key, the mean fitness change it caused and over how many children (see ``edit_deltas``)."""
    return {
        key: (math.fsum(delta for _, delta in pairs) / len(pairs), len(pairs))
        for key, pairs in edit_deltas(session, campaign, stage).items()
    }


def credit_insights(session: Session, campaign: Campaign, stage: str = "screen") -> dict[str, Insight]:
    """The campaign's insights distilled from credit at ``stage``, keyed by their first tag
    (``credit:STAGE:EDIT_KEY``); tags are a JSON list, so the match is made here rather than in SQL."""
    prefix = f"{CREDIT_TAG}{stage}:"
    found = session.scalars(select(Insight).where(Insight.campaign_id == campaign.id).order_by(Insight.id))
    return {i.tags[0]: i for i in found if i.tags and str(i.tags[0]).startswith(prefix)}
