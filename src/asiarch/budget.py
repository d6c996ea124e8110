"""What a campaign spends and may spend: the compute ledger it writes, the budgets it reads back from it, and the
wall-clock deadline that long steps check while they run.

Budgets are read from the store, not from the orchestrator's memory, so they hold across resumes and across
several orchestrators sharing a campaign (their overlapping batches count once towards wall-clock hours).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from asiarch.bench.trainer import RunResult
from asiarch.config import CampaignConfig, Config
from asiarch.execute.evaluate import OutOfTime
from asiarch.llm.ledger import spend
from asiarch.store.db import Store
from asiarch.store.schema import Experiment, LedgerEntry

SECONDS_PER_HOUR = 3600.0


def wall_clock_deadline(store: Store, campaign_id: int, config: Config, now: float) -> float | None:
    """The ``time.monotonic()`` instant at which the campaign's wall-clock budget (what earlier runs used
    counted) runs out; None without one. Steps check it while they run, not only between batches."""
    if config.campaign.max_hours is None:
        return None
    with store.session() as session:
        used = budget_use(session, campaign_id).hours
    return now + (config.campaign.max_hours - used) * SECONDS_PER_HOUR


def check_deadline(deadline: float | None) -> None:
    """Raise ``OutOfTime`` once ``deadline`` has passed: called before a step that would start new work."""
    if deadline is not None and time.monotonic() >= deadline:
        raise OutOfTime


def record_batch(store: Store, campaign_id: int, batch_started: float | None) -> None:
    """Charge a batch's wall-clock (also an interrupted one) to the campaign budget; None = already charged."""
    if batch_started is None:
        return
    with store.session() as session:
        record_compute(session, campaign_id, None, "campaign", 0.0, time.monotonic() - batch_started)


def proposals_made(session: Session, campaign_id: int) -> int:
    """Proposals made by the loop (imported experiments are not the campaign's own)."""
    query = select(func.count(Experiment.id)).where(
        Experiment.campaign_id == campaign_id, Experiment.status != "imported"
    )
    return session.scalar(query) or 0


@dataclass(frozen=True)
class BudgetUse:
    """What a campaign has spent of each budget, as the budgets count it."""

    experiments: int
    hours: float
    cpu_hours: float
    gpu_hours: float
    llm_usd: float

    def against(self, budget: CampaignConfig) -> list[tuple[str, float, float | None]]:
        """(what, used, limit) per budget; a limit of None means no such budget."""
        return [
            ("experiments", self.experiments, budget.max_experiments),
            ("wall-clock hours", self.hours, budget.max_hours),
            ("CPU-hours", self.cpu_hours, budget.max_cpu_hours),
            ("GPU-hours", self.gpu_hours, budget.max_gpu_hours),
            ("LLM dollars", self.llm_usd, budget.max_llm_usd),
        ]


def budget_use(session: Session, campaign_id: int) -> BudgetUse:
    """Experiments proposed, campaign wall-clock, ledger CPU/GPU-hours and LLM dollars so far."""
    rows = session.execute(
        select(LedgerEntry.stage, LedgerEntry.cpu_s, LedgerEntry.gpu_s, LedgerEntry.wall_s, LedgerEntry.created_at)
        .where(LedgerEntry.campaign_id == campaign_id)
    ).all()
    batches = [(row.created_at.timestamp() - row.wall_s, row.created_at.timestamp()) for row in rows
               if row.stage == "campaign"]
    return BudgetUse(
        experiments=proposals_made(session, campaign_id),
        hours=covered_seconds(batches) / SECONDS_PER_HOUR,
        cpu_hours=sum(row.cpu_s for row in rows) / SECONDS_PER_HOUR,
        gpu_hours=sum(row.gpu_s for row in rows) / SECONDS_PER_HOUR,
        llm_usd=llm_dollars(session, campaign_id),
    )


def covered_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: the campaign's wall-clock when several orchestrators'
    batches overlap (one orchestrator's batches never do, so then it is their sum)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def budget_exhausted(store: Store, campaign_id: int, config: Config) -> str | None:
    """Which budget is used up, if any (experiments, wall-clock, CPU/GPU-hours, LLM dollars)."""
    with store.session() as session:
        use = budget_use(session, campaign_id)
    for what, used, limit in use.against(config.campaign):
        if limit is not None and used >= limit:
            if what == "experiments":
                return f"experiment budget reached ({limit})"
            return f"{what} budget reached ({used:.2f} of {limit:g})"
    return None


def llm_dollars(session: Session, campaign_id: int) -> float:
    return sum(agent.cost_usd for agent in spend(session, campaign_id).values())


def record_compute(session: Session, campaign_id: int, experiment_id: int | None, stage: str, cpu_s: float,
                   wall_s: float, gpu_s: float = 0.0) -> None:
    session.add(LedgerEntry(campaign_id=campaign_id, experiment_id=experiment_id, stage=stage, cpu_s=cpu_s,
                            gpu_s=gpu_s, wall_s=wall_s))


def record_runs(session: Session, campaign_id: int, experiment_id: int, stage: str,
                rows: list[tuple[str, RunResult]]) -> None:
    """Charge an experiment's training runs (CPU, GPU and wall seconds) to the ledger."""
    record_compute(session, campaign_id, experiment_id, stage, sum(r.cpu_s for _, r in rows),
                   sum(r.wall_s for _, r in rows), sum(r.gpu_s for _, r in rows))
