"""The observatory's data: one function per API path, returning JSON-ready dicts read from the store.

The live server and the static report call the same functions, so a mailed report shows exactly what the
dashboard showed. Everything here only reads. Strings from candidates and LLMs are returned as data; the only
HTML produced is by ``asiarch.web.render`` (escaped), in fields whose names end in ``_html``.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from asiarch.agents.researcher.context import ZOO_PREFIX, zoo_brief
from asiarch.budget import budget_use
from asiarch.cognition.entries import load_base
from asiarch.config import CampaignConfig
from asiarch.report.curve import discovery_curve
from asiarch.store.queries import analyses_of, campaigns, evaluations_of, find_campaign, status_counts
from asiarch.store.schema import Analysis, Campaign, Experiment, GateAttempt, LedgerEntry, Lineage
from asiarch.web.render import diff_html, highlight_python

SCORED = ("analysed", "promoted", "discovery")
"""Statuses whose fitness counts for 'best' (a trained candidate awaiting analysis has none yet)."""


class NotFound(LookupError):
    """An unknown campaign or experiment; the API answers 404 with this message."""


def campaign_list(session: Session) -> list[dict[str, Any]]:
    """Every campaign with its size, best fitness and number of discoveries."""
    rows = session.execute(
        select(
            Experiment.campaign_id,
            func.count(Experiment.id),
            func.max(Experiment.fitness),
            func.sum(case((Experiment.status == "discovery", 1), else_=0)),
        ).group_by(Experiment.campaign_id)
    ).all()
    stats = {cid: (count, _finite(best), found or 0) for cid, count, best, found in rows}
    listed = []
    for c in campaigns(session):
        count, best, found = stats.get(c.id, (0, None, 0))
        listed.append(
            {"name": c.name, "state": c.state, "started_at": _iso(c.started_at), "experiments": count,
             "best_fitness": best, "discoveries": found}  # fmt: skip
        )
    return listed


def campaign_overview(session: Session, name: str) -> dict[str, Any]:
    """Budget used, experiments by status, compute, the best experiment and the discoveries."""
    campaign = _campaign(session, name)
    settings = _campaign_settings(campaign)
    use = budget_use(session, campaign.id)
    curve = discovery_curve(session, campaign)
    best = session.scalar(
        select(Experiment)
        .where(Experiment.campaign_id == campaign.id, Experiment.status.in_(SCORED), Experiment.fitness.is_not(None))
        .order_by(Experiment.fitness.desc(), Experiment.id)
        .limit(1)
    )
    return {
        "name": campaign.name,
        "state": campaign.state,
        "started_at": _iso(campaign.started_at),
        "ended_at": _iso(campaign.ended_at),
        "strategy": None if settings is None else settings.strategy,
        "by_status": status_counts(session, campaign),
        "budget": [
            {"label": what, "used": used, "limit": None if settings is None else limit}
            for what, used, limit in use.against(settings or CampaignConfig())
        ],
        "compute": {
            "cpu_hours": curve.cpu_hours,
            "gpu_hours": curve.gpu_hours,
            "wall_hours": use.hours,
            "llm_usd": use.llm_usd,
        },
        "best": None if best is None else {"id": best.id, "name": best.name, "fitness": _finite(best.fitness)},
        "discoveries": [
            {"id": d.experiment_id, "name": d.name, "fitness": _finite(d.fitness), "p": _finite(d.p_corrected)}
            for d in curve.discoveries
        ],
        "curve_png": None,
        "version": campaign_version(session, name)["version"],
    }


def campaign_version(session: Session, name: str) -> dict[str, str]:
    """A token that changes whenever anything shown for the campaign changes (the page polls it)."""
    campaign = _campaign(session, name)
    experiments = session.execute(
        select(func.count(Experiment.id), func.max(Experiment.updated_at)).where(Experiment.campaign_id == campaign.id)
    ).one()
    analyses = session.scalar(
        select(func.max(Analysis.id)).join(Experiment).where(Experiment.campaign_id == campaign.id)
    )
    ledger = session.scalar(select(func.max(LedgerEntry.id)).where(LedgerEntry.campaign_id == campaign.id))
    text = f"{campaign.state}|{experiments[0]}|{experiments[1]}|{analyses}|{ledger}"
    return {"version": hashlib.sha256(text.encode()).hexdigest()[:16]}


def campaign_experiments(session: Session, name: str) -> dict[str, Any]:
    """Every experiment as a tree node and leaderboard row, with its parents and its zoo root."""
    campaign = _campaign(session, name)
    rows = session.execute(
        select(
            Experiment.id,
            Experiment.name,
            Experiment.status,
            Experiment.stage_reached,
            Experiment.fitness,
            Experiment.operator,
            Experiment.researcher,
            Experiment.parameters,
            Experiment.created_at,
            Experiment.failure_gate,
            Experiment.decision,
        )
        .where(Experiment.campaign_id == campaign.id)
        .order_by(Experiment.id)
    ).all()
    parents: dict[int, list[int]] = defaultdict(list)
    links = session.execute(
        select(Lineage.child_id, Lineage.parent_id)
        .join(Experiment, Experiment.id == Lineage.child_id)
        .where(Experiment.campaign_id == campaign.id, Lineage.role == "parent")
        .order_by(Lineage.child_id, Lineage.position)
    )
    for child, parent in links:
        parents[child].append(parent)
    experiments = []
    roots: set[str] = set()
    for row in rows:
        root = None if parents[row.id] else _zoo_root(row.decision)
        if root:
            roots.add(root)
        experiments.append(
            {
                "id": row.id,
                "name": row.name,
                "status": row.status,
                "stage": row.stage_reached,
                "fitness": _finite(row.fitness),
                "parents": parents[row.id],
                "root": root,
                "operator": row.operator,
                "researcher": row.researcher,
                "parameters": row.parameters,
                "created_at": _iso(row.created_at),
                "failure_gate": row.failure_gate,
            }
        )
    return {"references": [{"name": name} for name in sorted(roots)], "experiments": experiments}


def campaign_curve(session: Session, name: str) -> dict[str, Any]:
    """The discovery curve's points: discoveries, promotions and best fitness against compute and count."""
    curve = discovery_curve(session, _campaign(session, name))
    return {
        "points": [
            {
                "experiment": p.experiments,
                "id": p.experiment_id,
                "compute_hours": p.compute_hours,
                "discoveries": p.discoveries,
                "promoted": p.promoted,
                "best_fitness": _finite(p.best_fitness),
            }
            for p in curve.points
        ]
    }


def experiment_detail(session: Session, experiment_id: int) -> dict[str, Any]:
    """Everything about one experiment: code, diff against its parent, results, curves, analyses, gates."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id} in the store")
    parent_rows = _related(session, Lineage.child_id == experiment.id, Lineage.parent_id)
    children = _related(session, Lineage.parent_id == experiment.id, Lineage.child_id)
    root = None if parent_rows else _zoo_root(experiment.decision)
    against = _parent_code(session, parent_rows, root)
    analyses = analyses_of(session, experiment.id)
    cited = [source for analysis in analyses for source in analysis.fields.get("cognition", [])]
    return {
        "id": experiment.id,
        "name": experiment.name,
        "campaign": experiment.campaign.name,
        "status": experiment.status,
        "stage": experiment.stage_reached,
        "fitness": _finite(experiment.fitness),
        "operator": experiment.operator,
        "researcher": experiment.researcher,
        "parameters": experiment.parameters,
        "motivation": experiment.motivation,
        "created_at": _iso(experiment.created_at),
        "parents": [{"id": e.id, "name": e.name} for e in parent_rows],
        "root": root,
        "children": [{"id": e.id, "name": e.name} for e in children],
        "code_html": highlight_python(experiment.code),
        "diff": None if against is None else {"against": against[0], **diff_html(against[1], experiment.code)},
        "results": [row for analysis in analyses for row in _results(analysis)],
        "curves": [
            {"stage": e.stage, "label": e.task, "seed": e.seed, "lr": e.lr, "points": _finite_points(e.curve)}
            for e in evaluations_of(session, experiment.id)
        ],
        "analyses": [
            {
                "stage": a.stage,
                "fitness": _finite(a.fitness),
                "text": a.text,
                "weaknesses": list(a.fields.get("weaknesses", [])),
                "significance": _json_safe(a.significance),
            }
            for a in analyses
        ],
        "cognition": [{"source": s, "title": _cognition_titles().get(s, s)} for s in dict.fromkeys(cited)],
        "gates": [
            {
                "round": g.round,
                "operator": g.operator,
                "passed": g.passed,
                "verdicts": [
                    {"gate": v.get("gate"), "passed": v.get("passed"), "reason": v.get("reason")} for v in g.verdicts
                ],
            }
            for g in session.scalars(
                select(GateAttempt).where(GateAttempt.experiment_id == experiment.id).order_by(GateAttempt.round)
            )
        ],
        "failure": None
        if experiment.failure_gate is None
        else {"gate": experiment.failure_gate, "reason": experiment.failure_reason},
    }


def compare(session: Session, groups: Sequence[tuple[str, Sequence[str]]]) -> dict[str, Any]:
    """Best fitness so far against the experiment count, per group of campaigns (e.g. one per seed): the mean
    and the min–max band over the group's campaigns."""
    result = []
    for label, names in groups:
        series = [_best_so_far(session, _campaign(session, name)) for name in names]
        length = max((len(s) for s in series), default=0)
        mean, low, high = [], [], []
        for i in range(length):
            values = [s[i] for s in series if i < len(s) and s[i] is not None]
            mean.append(sum(values) / len(values) if values else None)
            low.append(min(values) if values else None)
            high.append(max(values) if values else None)
        result.append(
            {"label": label, "campaigns": list(names), "x": list(range(1, length + 1)), "mean": mean, "low": low,
             "high": high}  # fmt: skip
        )
    return {"groups": result}


def _best_so_far(session: Session, campaign: Campaign) -> list[float | None]:
    rows = session.execute(
        select(Experiment.status, Experiment.fitness)
        .where(Experiment.campaign_id == campaign.id, Experiment.status != "imported")
        .order_by(Experiment.id)
    )
    best: float | None = None
    series = []
    for status, value in rows:
        if status in SCORED and _finite(value) is not None:
            best = value if best is None else max(best, value)
        series.append(best)
    return series


def _results(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for label, delta in analysis.deltas.items():
        if not isinstance(delta, dict):  # an analysis written by hand or by an older version: no comparison to show
            continue
        rows.append(
            {
                "stage": analysis.stage,
                "label": label,
                "task": delta.get("task"),
                "metric": delta.get("metric"),
                "candidate": _json_safe(delta.get("candidate")),
                "reference": _json_safe(delta.get("reference")),
                "parent": _json_safe(delta.get("parent")),
            }
        )
    return rows


def _related(session: Session, condition: Any, column: Any) -> list[Experiment]:
    query = select(Experiment).join(Lineage, column == Experiment.id).where(condition, Lineage.role == "parent")
    return list(session.scalars(query.order_by(Lineage.position, Experiment.id)))


def _parent_code(session: Session, parents: list[Experiment], root: str | None) -> tuple[str, str] | None:
    if parents:
        return parents[0].name, parents[0].code
    if root is not None:
        try:
            return root, zoo_brief(root.removeprefix(ZOO_PREFIX)).code
        except KeyError:
            return None
    return None


def _zoo_root(decision: dict[str, Any] | None) -> str | None:
    parent = (decision or {}).get("parent")
    return parent if isinstance(parent, str) and parent.startswith(ZOO_PREFIX) else None


def _campaign_settings(campaign: Campaign) -> CampaignConfig | None:
    """The budgets the campaign was started with; None for a store written by a version with other keys."""
    try:
        return CampaignConfig.model_validate((campaign.config or {}).get("campaign", {}))
    except ValidationError:
        return None


def _campaign(session: Session, name: str) -> Campaign:
    campaign = find_campaign(session, name)
    if campaign is None:
        raise NotFound(f"no campaign {name!r} in the store")
    return campaign


@functools.cache
def _cognition_titles() -> dict[str, str]:
    return {entry.source: entry.title for entry in load_base()}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _finite_points(points: list[Any]) -> list[list[float | None]]:
    return [[step, _finite(value)] for step, value in points]


def _json_safe(value: Any) -> Any:
    """Non-finite floats become null: JSON has no infinity, and a diverged run must not break the page."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()
