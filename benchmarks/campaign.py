"""A fixed-seed offline campaign under a wall-clock budget, and the figures that say how the loop performs.

Prints experiments per hour, the share passing the gates, the share promoted, discoveries with their
p-values, the best fitness over time, and the share of wall time spent outside training (target ≤ 10%).

    python benchmarks/campaign.py [--hours 2] [--store bench-campaign.db] [--name bench] [--seed 0]

Not part of the test run: it trains for hours. Run it again with the same --store and --name to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select

from asiarch.agents.researcher.offline.researcher import OfflineResearcher
from asiarch.cognition.retrieval import open_index
from asiarch.config import load_config
from asiarch.execute.local import LocalExecutor
from asiarch.loop import run_campaign
from asiarch.store.db import open_store
from asiarch.store.queries import analyses_of, find_campaign
from asiarch.store.schema import Experiment, GateAttempt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--store", type=Path, default=Path("bench-campaign.db"))
    parser.add_argument("--name", default="bench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()

    config = load_config(
        args.config,
        [f"campaign.max_hours={args.hours}", "campaign.max_experiments=100000", f"campaign.seed={args.seed}",
         f"store={args.store}"],
    )  # fmt: skip
    store = open_store(config.store)
    researcher = OfflineResearcher.from_config(config)
    with LocalExecutor(config.execution) as executor:
        summary = run_campaign(config, store, args.name, researcher, executor, retrieve=open_index(config).search_many)

    with store.session() as session:
        campaign = find_campaign(session, args.name)
        experiments = list(
            session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id).order_by(Experiment.id))
        )
        gated = [e for e in experiments if session.scalar(select(GateAttempt.id).where(
            GateAttempt.experiment_id == e.id).limit(1)) is not None]  # fmt: skip
        passed = [e for e in gated if e.status not in ("failed",) or e.failure_gate == "training"]
        promoted = [e for e in experiments if e.status in ("promoted", "discovery")]
        discoveries = [e for e in experiments if e.status == "discovery"]
        hours = summary.wall_s / 3600
        print(f"stop: {summary.stop_reason}")
        print(f"experiments: {len(experiments)} in {hours:.2f} h = {len(experiments) / max(hours, 1e-9):.1f} per hour")
        print(f"by status: {summary.by_status}")
        print(f"passing the gates: {len(passed)}/{len(gated)} = {len(passed) / max(len(gated), 1):.1%}")
        print(f"promoted to confirm: {len(promoted)}/{len(experiments)} = {len(promoted) / max(len(experiments), 1):.1%}")
        for experiment in discoveries:
            confirm = [a for a in analyses_of(session, experiment.id) if a.stage == "confirm"]
            p = confirm[-1].significance.get("p_corrected") if confirm else None
            print(f"discovery #{experiment.id} {experiment.name}: fitness {experiment.fitness:+.3f}, p_corrected {p}")
        print("best screen fitness over time (experiment index: best so far):")
        best = None
        for index, experiment in enumerate(experiments, start=1):
            if experiment.fitness is not None and (best is None or experiment.fitness > best):
                best = experiment.fitness
                print(f"  {index}: {best:+.3f} ({experiment.name})")
        outside = 1 - summary.training_wall_s / summary.wall_s if summary.wall_s else 0.0
        print(f"wall time outside training: {outside:.1%} (target <= 10%)")


if __name__ == "__main__":
    main()
