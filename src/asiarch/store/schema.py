"""Tables of the store. Plain SQLAlchemy 2.x ORM; JSON columns for structured fields that are
read whole (configs, spec trees, metric dicts, curves), real columns for anything queried.

Lineage is a table of (child, parent, role) edges rather than a JSON list, so ancestors, children
and siblings are SQL joins.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STATUSES = (
    "proposing", "proposed", "rejected", "failed", "trained", "analysed", "promoted", "discovery", "imported",
    "interrupted",
)  # fmt: skip
"""An experiment's life: proposing (its slot and parents drawn, the researcher at work) → proposed → rejected
(novelty) | failed (gates, training) | trained → analysed → promoted → discovery; ``imported`` from another
system; ``interrupted`` when a campaign died mid-flight."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20), default="running", server_default="running")
    """What its orchestrators should do between steps: running, paused, stopping (set by `asiarch pause|stop`),
    or finished."""

    experiments: Mapped[list[Experiment]] = relationship(back_populates="campaign")


class Experiment(Base):
    __tablename__ = "experiment"
    __table_args__ = (
        Index("ix_experiment_pool", "campaign_id", "fitness"),
        Index("ix_experiment_status", "campaign_id", "status"),
        Index("ix_experiment_code_hash", "campaign_id", "code_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    motivation: Mapped[str] = mapped_column(Text, default="")
    operator: Mapped[str] = mapped_column(String(40), default="seed")
    researcher: Mapped[str] = mapped_column(String(40), default="offline")
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    failure_gate: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    stage_reached: Mapped[str | None] = mapped_column(String(40))
    parameters: Mapped[int | None] = mapped_column(Integer)
    fitness: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """How it came to be: the parent-sampling draw (strategy, seed, pool, choice) and the novelty verdict."""
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("orchestrator.id"))
    """The orchestrator working on it while it is in flight; another may take it over once that one is gone."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="experiments")
    evaluations: Mapped[list[Evaluation]] = relationship(back_populates="experiment")


class GateAttempt(Base):
    """One version of a proposal and the gates' verdicts on it: repairs are memory too."""

    __tablename__ = "gate_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(80))
    code: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verdicts: Mapped[list[Any]] = mapped_column(default=list)
    passed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lineage(Base):
    """One edge: ``child`` was proposed from ``parent`` (role ``parent``) or shown it (role ``reference``)."""

    __tablename__ = "lineage"
    __table_args__ = (UniqueConstraint("child_id", "parent_id", "role"), Index("ix_lineage_parent", "parent_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("experiment.id"))
    parent_id: Mapped[int] = mapped_column(ForeignKey("experiment.id"))
    role: Mapped[str] = mapped_column(String(20), default="parent")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Evaluation(Base):
    """One training run: experiment × stage × task × seed (at the task's learning rate, chosen on validation)."""

    __tablename__ = "evaluation"
    __table_args__ = (Index("ix_evaluation_experiment", "experiment_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id"))
    stage: Mapped[str] = mapped_column(String(40))
    task: Mapped[str] = mapped_column(String(60))
    seed: Mapped[int] = mapped_column(Integer)
    lr: Mapped[float] = mapped_column(Float)
    metric: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    splits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    validation_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Mean over the validation splits (what choices are made on); None for runs stored before it existed."""
    validation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mixer_parameters: Mapped[int] = mapped_column(Integer, default=0)
    curve: Mapped[list[Any]] = mapped_column(default=list)
    wall_s: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    device: Mapped[str] = mapped_column(String(60), default="cpu")
    threads: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    experiment: Mapped[Experiment] = relationship(back_populates="evaluations")


class Analysis(Base):
    __tablename__ = "analysis"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id"), index=True)
    stage: Mapped[str] = mapped_column(String(40))
    fitness: Mapped[float | None] = mapped_column(Float)
    significance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deltas: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Insight(Base):
    __tablename__ = "insight"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    source_ids: Mapped[list[Any]] = mapped_column(default=list)
    support: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CognitionEntry(Base):
    """A design insight distilled from one paper (filled by the Researcher's cognition base)."""

    __tablename__ = "cognition_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LLMCall(Base):
    __tablename__ = "llm_call"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiment.id"))
    agent: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(120))
    prompt: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerEntry(Base):
    """Compute spent: by campaign, stage and (when it was for one) experiment."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiment.id"))
    stage: Mapped[str] = mapped_column(String(40))
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    gpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    wall_s: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Orchestrator(Base):
    """One `asiarch run` process working on a campaign. Several may share a campaign (and a PostgreSQL store);
    each claims the experiments it works on, and its heartbeat tells the others whether it is still alive."""

    __tablename__ = "orchestrator"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SchemaVersion(Base):
    """The single row saying which migration the database has reached (see ``db.MIGRATIONS``)."""

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
