"""Does the screen predict confirm? Kendall τ between screen and confirm fitness, the premise of promotion.

Takes the seven references and the candidates of a campaign that were analysed at screen, evaluates every one
of them at the confirm stage (the candidates on the stage's seeds, all at once, no early stop; the references
from the baseline cache), and prints each one's screen fitness (validation split, as promotion uses it) beside
its confirm fitness (test split, as a claim uses it), both against the strongest rival of their stage, and
Kendall's τ-b between the two rankings with a bootstrap 95% interval over the items.

    python benchmarks/stage_agreement.py --store asiarch.db --campaign default [--limit 8] [--steps-scale 1.0]
                                         [--seeds N] [--reference-seeds N] [--cache-dir DIR] [--rows FILE]
                                         [--screen-set stages.screen.KEY=VALUE ...]

Target: τ ≥ 0.6. ``--steps-scale`` shortens every confirm task's training (the printout says so); the screen is
the configured one unless ``--screen-set`` changes it; ``--seeds`` cuts confirm's seeds for candidates and references alike. Confirm runs
of the candidates are not stored in the campaign; ``--rows FILE`` keeps them in a JSON file (read instead of
training again when it holds every chosen candidate at the same confirm settings), so the analysis can be re-run.

``--screen-set`` tries another screen against the same confirm runs (with ``--rows``, confirm is trained once):
the references and the candidates are trained at the changed screen, so screens can be compared by τ at the cost
of screening alone.

Below the headline τ, a diagnosis: each screen task's z against confirm fitness, screen fitness against each
confirm task's z, and, for a task both stages have, its screen z against its confirm z — which part of the
screen predicts confirm, and which confirm task the screen misses.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from confirm_settings import shorten_confirm

from asiarch.agents.engineer import write_candidate
from asiarch.agents.fitness import FitnessReport, fitness
from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import stage_seeds
from asiarch.bench.tasks.base import TEST, VALIDATION
from asiarch.bench.trainer import RunResult
from asiarch.config import Config, StageConfig, load_config
from asiarch.execute.evaluate import Evaluation, evaluate_all, reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.flights import stored_tasks
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


def confirm_rows(
    paths: dict[str, str], confirm: StageConfig, executor: LocalExecutor, rows_file: Path | None
) -> dict[str, list[tuple[str, RunResult]]]:
    """Each candidate's confirm rows (task label, run), from ``rows_file`` when it holds exactly these candidates at
    these confirm settings, else trained now (and written to ``rows_file``)."""
    settings = confirm.model_dump(mode="json")
    if rows_file is not None and rows_file.exists():
        saved = json.loads(rows_file.read_text())
        if saved["confirm"] == settings and set(saved["rows"]) == set(paths):
            print(f"candidates' confirm runs read from {rows_file}")
            return {name: [(label, RunResult(**run)) for label, run in rows] for name, rows in saved["rows"].items()}
    found, wall = evaluate_all({path: stage_seeds(confirm, confirm.seeds) for path in paths.values()}, confirm,
                               executor)  # fmt: skip
    print(f"candidates' confirm runs took {wall / 60:.1f} min wall")
    rows = {name: found[path].rows for name, path in paths.items()}
    if rows_file is not None:
        serialised = {name: [(label, run.to_dict()) for label, run in r] for name, r in rows.items()}
        rows_file.write_text(json.dumps({"confirm": settings, "rows": serialised}))
    return rows


def print_diagnosis(
    names: list[str], screen_reports: list[FitnessReport], confirm_reports: list[FitnessReport]
) -> None:
    """τ of each stage's per-task z against the other stage's fitness, and of a shared task's z across stages."""
    screen_fit = [r.value for r in screen_reports]
    confirm_fit = [r.value for r in confirm_reports]
    print("\nWhere agreement comes from (Kendall tau-b over the same architectures):")
    for label in screen_reports[0].per_task:
        z = [r.per_task[label].z for r in screen_reports]
        print(f"  screen {label:<16} z vs confirm fitness  {kendall_tau(z, confirm_fit):+.2f}")
    for label in confirm_reports[0].per_task:
        z = [r.per_task[label].z for r in confirm_reports]
        line = f"  confirm {label:<15} z vs screen fitness   {kendall_tau(screen_fit, z):+.2f}"
        if label in screen_reports[0].per_task:
            same = [r.per_task[label].z for r in screen_reports]
            line += f"   vs its screen z {kendall_tau(same, z):+.2f}"
        print(line)
    print(f"\n{'architecture':<40} " + " ".join(f"{label[:10]:>10}" for label in confirm_reports[0].per_task))
    for name, report in zip(names, confirm_reports):
        print(f"{name:<40} " + " ".join(f"{score.z:>+10.2f}" for score in report.per_task.values()))


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
    parser.add_argument("--rows", type=Path, default=None, help="JSON file keeping the candidates' confirm runs.")
    parser.add_argument("--screen-set", action="append", default=[], metavar="KEY=VALUE",
                        help="Try another screen (e.g. stages.screen.tasks.lm.model.d_model=128): candidates and "
                        "references are trained at it instead of read from the campaign.")  # fmt: skip
    args = parser.parse_args()

    unknown = [o for o in args.screen_set if not o.startswith(f"stages.{SCREEN}.")]
    if unknown:
        parser.error(f"--screen-set changes the screen only: {unknown[0]} does not start with stages.{SCREEN}.")
    base = load_config(args.config, args.screen_set)
    config = shortened(base, args.steps_scale, args.seeds, args.reference_seeds, args.cache_dir)
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
        found = confirm_rows(paths, confirm, executor, args.rows)
        if args.screen_set:
            print(f"screen changed: {', '.join(args.screen_set)}")
            again, _ = evaluate_all({path: stage_seeds(screen, screen.seeds) for path in paths.values()}, screen,
                                    executor)  # fmt: skip
            screened = {name: again[path].tasks for name, path in paths.items()}
    screen_refs = {n: e.tasks for n, e in refs_screen.items()}
    confirm_refs = {n: e.tasks for n, e in refs_confirm.items()}
    items = [(f"zoo:{n}", screen_refs[n], confirm_refs[n]) for n in config.references]
    items += [(name, screened[name], Evaluation(name, found[name]).tasks) for name in codes]
    print(f"confirm steps: {', '.join(str(r.train.steps) for r in confirm.tasks.values())} "
          f"(scale {args.steps_scale:g})")  # fmt: skip
    print(f"{'architecture':<40} {'screen (validation)':>20} {'confirm (test)':>15}")
    screen_reports = [fitness(screen, s, screen_refs, config.analyst, VALIDATION) for _, s, _ in items]
    confirm_reports = [fitness(confirm, c, confirm_refs, config.analyst, TEST) for _, _, c in items]
    a = [r.value for r in screen_reports]
    b = [r.value for r in confirm_reports]
    for (name, _, _), s, c in zip(items, a, b):
        print(f"{name:<40} {s:>+20.2f} {c:>+15.2f}")
    low, high = tau_interval(a, b)
    tau = kendall_tau(a, b)
    print(f"\nKendall tau-b over {len(items)} architectures: {tau:+.2f} [95% bootstrap {low:+.2f}, {high:+.2f}] "
          f"(target >= 0.6: {'PASS' if tau >= 0.6 else 'FAIL'})")  # fmt: skip
    print_diagnosis([name for name, _, _ in items], screen_reports, confirm_reports)


if __name__ == "__main__":
    main()
