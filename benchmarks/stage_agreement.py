"""Does the screen predict confirm? Kendall τ between screen and confirm fitness, the premise of promotion.

Takes the seven references and the candidates of a campaign that were analysed at screen, evaluates every one
of them at the confirm stage (the candidates on the stage's seeds, all at once, no early stop; the references
from the baseline cache), and prints each one's screen fitness (validation split, as promotion uses it) beside
its confirm fitness (test split, as a claim uses it), both against the strongest rival of their stage, and
Kendall's τ-b between the two rankings with a bootstrap 95% interval over the items.

    python benchmarks/stage_agreement.py --store asiarch.db --campaign default [--limit 8] [--steps-scale 1.0]
                                         [--seeds N] [--reference-seeds N] [--cache-dir DIR]

Target: τ ≥ 0.6. ``--steps-scale`` shortens every confirm task's training (the printout says so); the screen is
always the configured one; ``--seeds`` cuts confirm's seeds for candidates and references alike. Confirm runs
of the candidates are not stored; the references' are cached.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from confirm_settings import shorten_confirm

from asiarch.agents.engineer import write_candidate
from asiarch.agents.fitness import fitness
from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import stage_seeds
from asiarch.bench.tasks.base import TEST, VALIDATION
from asiarch.config import Config, load_config
from asiarch.execute.evaluate import evaluate_all, reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.loop import stored_tasks
from asiarch.protocols import Proposal
from asiarch.stats import kendall_tau
from asiarch.store.db import open_store
from asiarch.store.queries import find_campaign
from asiarch.store.schema import Experiment

BOOTSTRAP = 2000
SCREEN, CONFIRM = "screen", "confirm"


def shortened(
    config: Config, steps_scale: float, seeds: int | None, reference_seeds: int | None, cache_dir: Path | None
) -> Config:
    tree = shorten_confirm(config.model_dump(mode="json"), steps_scale, seeds, reference_seeds)
    if cache_dir is not None:
        tree["cache_dir"] = str(cache_dir)
    return Config.model_validate(tree)


def tau_interval(a: list[float], b: list[float], seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of τ-b, resampling the items with replacement."""
    rng = random.Random(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        picks = [rng.randrange(len(a)) for _ in a]
        draws.append(kendall_tau([a[i] for i in picks], [b[i] for i in picks]))
    draws.sort()
    return draws[int(0.025 * BOOTSTRAP)], draws[int(0.975 * BOOTSTRAP) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--limit", type=int, default=8, help="Candidates, spread evenly over the screen ranking.")
    parser.add_argument("--steps-scale", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=None, help="Confirm seeds per architecture.")
    parser.add_argument("--reference-seeds", type=int, default=None, help="Confirm seeds per reference (>= 2).")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None, help="Baseline cache (default: the config's).")
    args = parser.parse_args()

    config = shortened(load_config(args.config), args.steps_scale, args.seeds, args.reference_seeds, args.cache_dir)
    screen, confirm = config.stage(SCREEN), config.stage(CONFIRM)
    store = open_store(args.store)
    with store.session() as session:
        campaign = find_campaign(session, args.campaign)
        rows = [e for e in session.query(Experiment).filter_by(campaign_id=campaign.id) if e.fitness is not None]
        rows.sort(key=lambda e: e.fitness)
        step = max(1, len(rows) // max(1, args.limit))
        chosen = rows[::step][: args.limit]
        screened = {e.name: stored_tasks(session, e.id, SCREEN) for e in chosen}
        codes = {e.name: e.code for e in chosen}
    directory = Path(config.campaign.work_dir) / "stage-agreement"
    with LocalExecutor(config.execution) as executor:
        cache = BaselineCache(config.cache_dir)
        refs_screen = reference_evaluations(config.references, SCREEN, screen, executor, cache)
        refs_confirm = reference_evaluations(config.references, CONFIRM, confirm, executor, cache)
        paths = {name: str(write_candidate(Proposal(name, "", code), directory)) for name, code in codes.items()}
        found, wall = evaluate_all({path: stage_seeds(confirm, confirm.seeds) for path in paths.values()}, confirm,
                                   executor)  # fmt: skip
    screen_refs = {n: e.tasks for n, e in refs_screen.items()}
    confirm_refs = {n: e.tasks for n, e in refs_confirm.items()}
    items = [(f"zoo:{n}", screen_refs[n], confirm_refs[n]) for n in config.references]
    items += [(name, screened[name], found[paths[name]].tasks) for name in codes]
    print(f"confirm steps: {', '.join(str(r.train.steps) for r in confirm.tasks.values())} "
          f"(scale {args.steps_scale:g}); candidates' confirm runs took {wall / 60:.1f} min wall")  # fmt: skip
    print(f"{'architecture':<40} {'screen (validation)':>20} {'confirm (test)':>15}")
    a, b = [], []
    for name, at_screen, at_confirm in items:
        s = fitness(screen, at_screen, screen_refs, config.analyst, VALIDATION).value
        c = fitness(confirm, at_confirm, confirm_refs, config.analyst, TEST).value
        a.append(s)
        b.append(c)
        print(f"{name:<40} {s:>+20.2f} {c:>+15.2f}")
    low, high = tau_interval(a, b)
    tau = kendall_tau(a, b)
    print(f"\nKendall tau-b over {len(items)} architectures: {tau:+.2f} [95% bootstrap {low:+.2f}, {high:+.2f}] "
          f"(target >= 0.6: {'PASS' if tau >= 0.6 else 'FAIL'})")  # fmt: skip


if __name__ == "__main__":
    main()
