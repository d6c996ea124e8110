"""The discovery curve's numbers: discoveries and promotions as compute and experiments accumulate.

DESIGN §5 defines the discovery rate as discoveries per 100 experiments and per compute-hour, plotted
cumulatively against compute: our version of ASI-Arch's "scaling law for scientific discovery", except that a
discovery here is a statistically tested claim, not a single-run win. An experiment counts (as promoted or as a
discovery) at its place in proposal order, which is how it is plotted against the experiment count. Compute at
experiment *i* is everything the ledger recorded up to the last entry written for experiments 1..*i* — work on
the first *i* experiments, plus whatever else (reference runs, later experiments in flight) was spent meanwhile;
the last point holds the whole ledger. Compute-hours are CPU-hours plus GPU-hours.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from asiarch.store.queries import analyses_of, experiment_timeline, ledger_entries, status_counts
from asiarch.store.schema import Campaign

PROMOTED_STATUSES = ("promoted", "discovery")
"""A discovery was promoted on its way, so it counts among the promoted too."""
DISCOVERY_STATUS = "discovery"
SECONDS_PER_HOUR = 3600.0
PER_EXPERIMENTS = 100
"""The discovery rate is given per this many experiments."""
CSV_COLUMNS = ("experiments", "experiment_id", "name", "status", "cpu_hours", "gpu_hours", "compute_hours",
               "promoted", "discoveries", "best_fitness")  # fmt: skip


@dataclass(frozen=True)
class CurvePoint:
    """The campaign after its ``experiments``-th proposal (the one with ``experiment_id``)."""

    experiments: int
    experiment_id: int
    name: str
    status: str
    cpu_hours: float
    gpu_hours: float
    promoted: int
    discoveries: int
    best_fitness: float | None

    @property
    def compute_hours(self) -> float:
        return self.cpu_hours + self.gpu_hours


@dataclass(frozen=True)
class Discovery:
    """A discovery and the evidence for it, as its latest analysis with a test recorded it."""

    experiment_id: int
    name: str
    fitness: float | None
    stage: str | None
    p_value: float | None
    p_corrected: float | None


@dataclass(frozen=True)
class DiscoveryCurve:
    campaign: str
    state: str
    points: list[CurvePoint]
    by_status: dict[str, int]
    discoveries: list[Discovery]
    cpu_hours: float
    gpu_hours: float
    wall_hours: float

    @property
    def compute_hours(self) -> float:
        return self.cpu_hours + self.gpu_hours

    def summary(self) -> dict[str, Any]:
        """The headline numbers, as ``summary.json`` holds them."""
        count = len(self.points)
        found = len(self.discoveries)
        return {
            "campaign": self.campaign,
            "state": self.state,
            "experiments": count,
            "by_status": self.by_status,
            "promoted": self.points[-1].promoted if self.points else 0,
            "discovery_count": found,
            "discoveries": [asdict(d) for d in self.discoveries],
            "best_fitness": self.points[-1].best_fitness if self.points else None,
            "best_fitness_over_time": _improvements(self.points),
            "compute_hours": {"cpu": self.cpu_hours, "gpu": self.gpu_hours, "total": self.compute_hours,
                              "wall": self.wall_hours},  # fmt: skip
            "discovery_rate": {
                f"per_{PER_EXPERIMENTS}_experiments": PER_EXPERIMENTS * found / count if count else None,
                "per_compute_hour": found / self.compute_hours if self.compute_hours else None,
            },
        }


def discovery_curve(session: Session, campaign: Campaign) -> DiscoveryCurve:
    """The campaign's discovery curve, from its experiments, their analyses and its compute ledger."""
    timeline = experiment_timeline(session, campaign)
    ledger = ledger_entries(session, campaign)
    cpu, gpu = _running_sums([e.cpu_s for e in ledger]), _running_sums([e.gpu_s for e in ledger])
    last_entry = {entry.experiment_id: index for index, entry in enumerate(ledger) if entry.experiment_id is not None}
    points: list[CurvePoint] = []
    reached = promoted = found = 0
    best: float | None = None
    for position, row in enumerate(timeline, start=1):
        reached = max(reached, last_entry.get(row.id, -1) + 1)
        if position == len(timeline):
            reached = len(ledger)
        promoted += row.status in PROMOTED_STATUSES
        found += row.status == DISCOVERY_STATUS
        if row.fitness is not None and math.isfinite(row.fitness):
            best = row.fitness if best is None else max(best, row.fitness)
        points.append(CurvePoint(position, row.id, row.name, row.status, cpu[reached] / SECONDS_PER_HOUR,
                                 gpu[reached] / SECONDS_PER_HOUR, promoted, found, best))  # fmt: skip
    discoveries = [_discovery(session, row.id, row.name, row.fitness) for row in timeline
                   if row.status == DISCOVERY_STATUS]  # fmt: skip
    return DiscoveryCurve(
        campaign=campaign.name,
        state=campaign.state,
        points=points,
        by_status=dict(sorted(status_counts(session, campaign).items())),
        discoveries=discoveries,
        cpu_hours=cpu[-1] / SECONDS_PER_HOUR,
        gpu_hours=gpu[-1] / SECONDS_PER_HOUR,
        wall_hours=sum(e.wall_s for e in ledger) / SECONDS_PER_HOUR,
    )


def _running_sums(values: list[float]) -> list[float]:
    """``sums[k]`` is the total of the first ``k`` values."""
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    return sums


def _discovery(session: Session, experiment_id: int, name: str, fitness: float | None) -> Discovery:
    tested = [a for a in analyses_of(session, experiment_id) if _p(a.significance, "p_value") is not None]
    latest = tested[-1] if tested else None
    return Discovery(
        experiment_id=experiment_id,
        name=name,
        fitness=fitness,
        stage=latest.stage if latest else None,
        p_value=_p(latest.significance, "p_value") if latest else None,
        p_corrected=_p(latest.significance, "p_corrected") if latest else None,
    )


def _p(significance: dict[str, Any], key: str) -> float | None:
    value = significance.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _improvements(points: list[CurvePoint]) -> list[dict[str, Any]]:
    """The best fitness each time it rose: when in the campaign, and by which experiment."""
    rises, best = [], None
    for point in points:
        if point.best_fitness is not None and point.best_fitness != best:
            best = point.best_fitness
            rises.append({"experiments": point.experiments, "experiment_id": point.experiment_id,
                          "compute_hours": point.compute_hours, "best_fitness": best})  # fmt: skip
    return rises


def write_csv(curve: DiscoveryCurve, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for point in curve.points:
            row = {**asdict(point), "compute_hours": point.compute_hours}
            writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])


def write_summary(curve: DiscoveryCurve, path: Path) -> None:
    path.write_text(json.dumps(curve.summary(), indent=1), encoding="utf-8")
