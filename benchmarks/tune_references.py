"""Tune each reference's knobs on validation data: is the zoo's setting the best one this harness allows?

For every reference (or ``--only``), a greedy search over its ``KNOBS`` (``asiarch.arch.zoo``): from the zoo's
setting, train every one-knob change under the references' protocol (the stage's tasks on the references' seeds,
every learning rate on every seed), score each against the current setting on the **validation** split —
Σ_t w_t·s_t·(mean_t(change) − mean_t(current))/σ_t over the weights' sum, σ_t the pooled seed spread of the
settings tried in that round (floored as fitness floors it) — and move to the best change if it scores above
``--min-gain``; repeat until no change does. Prints every round and the chosen setting, and writes the search to
``<cache_dir>/tuning/<stage>.json``. Every setting's runs land in the baseline cache, so a stopped search resumes.

    python benchmarks/tune_references.py [--stage screen] [--only deltanet,gla] [--min-gain 0.5] [--config FILE]

The zoo's defaults are then set to the chosen settings by hand (the zoo code says why); ``docs/reference-tuning.md``
holds the last search. Choosing on validation keeps the test split for what is reported.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from rich.console import Console

from asiarch.arch.zoo import ZOO, parse_reference, reference_settings
from asiarch.bench.baselines import BaselineCache
from asiarch.bench.metrics import higher_is_better
from asiarch.bench.stages import TaskSummary
from asiarch.bench.tasks.base import VALIDATION
from asiarch.config import Config, StageConfig, load_config
from asiarch.execute.evaluate import reference_evaluations
from asiarch.execute.local import LocalExecutor
from asiarch.terminal import job_progress


def spec_of(name: str, knobs: dict[str, object]) -> str:
    """The reference spec for a setting, naming only the knobs that differ from the zoo's defaults."""
    defaults = reference_settings(name)
    changed = {key: value for key, value in knobs.items() if defaults[key] != value}
    return name if not changed else f"{name}[{','.join(f'{k}={v!r}' for k, v in sorted(changed.items()))}]"


def neighbours(name: str, current: dict[str, object]) -> list[dict[str, object]]:
    """Every setting that changes exactly one knob of ``current`` to another allowed value, leaving out knobs
    that cannot act in ``current`` (``KNOB_NEEDS``: their change would train the same layer again)."""
    needs = ZOO[name].KNOB_NEEDS
    return [
        {**current, key: value}
        for key, values in ZOO[name].KNOBS.items()
        for value in values
        if value != current[key] and (key not in needs or current[needs[key][0]] == needs[key][1])
    ]


def scores(stage: StageConfig, cfg: Config, tried: dict[str, dict[str, TaskSummary]], current: str) -> dict[str, float]:
    """Each setting against ``current`` on validation, in pooled seed spreads per task, weighted over tasks."""
    result = {}
    total = sum(run.weight for run in stage.tasks.values())
    sigmas = {}
    for label in stage.tasks:
        groups = [summary.values_on(VALIDATION) for summary in (t[label] for t in tried.values())]
        dof = sum(len(g) - 1 for g in groups)
        pooled = math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups if len(g) > 1) / dof) if dof else 0
        sigmas[label] = max(cfg.analyst.spread_floor[tried[current][label].metric], pooled)
    for spec, tasks in tried.items():
        gain = 0.0
        for label, run in stage.tasks.items():
            sign = 1.0 if higher_is_better(tasks[label].metric) else -1.0
            mean = statistics.fmean(tasks[label].values_on(VALIDATION))
            base = statistics.fmean(tried[current][label].values_on(VALIDATION))
            gain += run.weight * sign * (mean - base) / sigmas[label]
        result[spec] = gain / total
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="screen")
    parser.add_argument("--only", default=None, help="comma-separated zoo names (default: every configured one)")
    parser.add_argument("--min-gain", type=float, default=0.5, help="least validation gain (spreads) to move")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    args = parser.parse_args()

    console = Console()
    cfg = load_config(args.config, args.overrides)
    stage = cfg.stage(args.stage)
    names = args.only.split(",") if args.only else [parse_reference(r)[0] for r in cfg.references]
    executor = LocalExecutor(cfg.execution)
    cache = BaselineCache(cfg.cache_dir)
    record: dict[str, object] = {"stage": args.stage, "min_gain": args.min_gain, "searches": {}}
    for name in names:
        current = reference_settings(name)
        rounds = []
        while True:
            settings = [current, *neighbours(name, current)]
            specs = [spec_of(name, s) for s in settings]
            found = reference_evaluations(specs, args.stage, stage, executor, cache,
                                          job_progress(console, f"tuning {name}", executor.workers))  # fmt: skip
            tried = {spec: found[spec].tasks for spec in specs}
            gains = scores(stage, cfg, tried, specs[0])
            rounds.append({"from": specs[0], "gains": gains})
            console.print(f"{name} from {specs[0]}:", highlight=False, markup=False, soft_wrap=True)
            for spec, gain in sorted(gains.items(), key=lambda item: -item[1]):
                means = ", ".join(f"{label} {statistics.fmean(t.values_on(VALIDATION)):.4f}"
                                  for label, t in tried[spec].items())  # fmt: skip
                console.print(f"  {spec:<60} {gain:+.2f}  ({means})", highlight=False, markup=False, soft_wrap=True)
            best = max(specs[1:], key=lambda spec: gains[spec], default=None)
            if best is None or gains[best] <= args.min_gain:
                break
            current = settings[specs.index(best)]
        chosen = spec_of(name, current)
        console.print(f"chosen {chosen}", highlight=False, markup=False, soft_wrap=True)
        record["searches"][name] = {"chosen": chosen, "settings": current, "rounds": rounds}
    path = Path(cfg.cache_dir) / "tuning" / f"{args.stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    console.print(f"search written to {path}")


if __name__ == "__main__":
    main()
