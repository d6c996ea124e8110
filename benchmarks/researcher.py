"""How good are the offline researcher's proposals? Gate pass rates, novelty and proposal time.

Proposes N designs in a row with the zoo's references as parents (round robin, the next reference as
crossover partner), runs every one through the real gates in sandboxed workers, repairs the failures
with the researcher's own `repair` through the Engineer, and judges each proposal with the novelty
filter against the zoo and all earlier proposals. Prints:

* proposal time (mean and worst, ms; the issue's target is <= 1 s),
* gate pass rate on the first try and after repair (targets >= 90% and >= 95%),
* the share judged new by the novelty filter (target >= 80%),
* failing gates, and the operators used.

    python benchmarks/researcher.py [--proposals 200] [--seed 0] [--workers N]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from pathlib import Path

from asiarch.agents.engineer import Engineer, write_candidate
from asiarch.agents.novelty import NoveltyFilter
from asiarch.agents.researcher.context import zoo_brief
from asiarch.agents.researcher.offline.researcher import OfflineResearcher
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS
from asiarch.config import Config
from asiarch.execute.gate_job import GateJob, gates_for, outcome_verdicts, run_gate_job
from asiarch.execute.local import LocalExecutor
from asiarch.protocols import Proposal, ResearchContext


def propose_all(researcher: OfflineResearcher, count: int) -> tuple[list[Proposal], list[float]]:
    names = list(ZOO_SPECS)
    proposals, seconds = [], []
    for index in range(count):
        parent = zoo_brief(names[index % len(names)])
        partner = zoo_brief(names[(index + 1) % len(names)])
        start = time.perf_counter()
        proposals.append(researcher.propose(ResearchContext(parent=parent, references=(partner,), seed=index)))
        seconds.append(time.perf_counter() - start)
    return proposals, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    config = Config()
    if args.workers:
        config.execution.workers = args.workers
    researcher = OfflineResearcher(config.researcher, config.gates, seed=args.seed)
    proposals, seconds = propose_all(researcher, args.proposals)
    print(f"proposal time: mean {1000 * statistics.mean(seconds):.2f} ms, worst {1000 * max(seconds):.2f} ms")

    novelty = NoveltyFilter(config.novelty)
    for name in ZOO_SPECS:
        brief = zoo_brief(name)
        novelty.remember(brief.name, Proposal(brief.name, f"The reference architecture {name}.", brief.code))
    novel = 0
    for index, proposal in enumerate(proposals):
        verdict = novelty.judge(proposal)
        novel += verdict.novel
        novelty.remember(index, proposal)
    print(f"judged new by the novelty filter: {novel}/{len(proposals)} = {novel / len(proposals):.1%}")

    with tempfile.TemporaryDirectory() as tmp, LocalExecutor(config.execution) as executor:
        directory = Path(tmp)
        paths = [write_candidate(p, directory) for p in proposals]
        start = time.perf_counter()
        outcomes = executor.run([GateJob(str(p), gates_for(config)) for p in paths], runner=run_gate_job)
        first = [outcome_verdicts(o, config.execution.gate_timeout_s) for o in outcomes]
        failed = [(p, v) for p, v in zip(proposals, first) if not v[-1].passed]
        gate_seconds = time.perf_counter() - start
        print(
            f"gates, first try: {len(proposals) - len(failed)}/{len(proposals)} = "
            f"{1 - len(failed) / len(proposals):.1%} ({gate_seconds / len(proposals):.1f} s wall per candidate)"
        )
        print("failing gates:", dict(collections.Counter(v[-1].gate for _, v in failed)))
        for proposal, verdicts in failed[:10]:
            print(f"  {proposal.name} [{proposal.operator}]: {verdicts[-1].gate}: {verdicts[-1].reason}")
        engineer = Engineer(config, executor, repairer=researcher)
        repaired = 0
        for proposal, verdicts in failed:
            repair = researcher.repair(proposal, f"gate {verdicts[-1].gate} failed: {verdicts[-1].reason}")
            realization = engineer.realize(repair, directory)
            repaired += realization.candidate is not None
    passed = len(proposals) - len(failed) + repaired
    print(f"gates, after repair: {passed}/{len(proposals)} = {passed / len(proposals):.1%}")
    print("operators:", dict(collections.Counter(p.operator.split(":")[0] for p in proposals)))


if __name__ == "__main__":
    main()
