"""Every query the agents and the CLI make of the store, in one module.

Functions take an open ``Session`` (one transaction, from ``Store.session()``) so callers decide
what must commit together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from asiarch.store.schema import Campaign, Experiment, Lineage


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
    edges = [("parent", ids) for ids in [parents]] + [("reference", ids) for ids in [references]]
    for role, ids in edges:
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
