"""False-discovery rate of the confirm stage's whole decision pipeline under the null (issue 17), and its cost.

A Monte-Carlo simulation that feeds synthetic training results to the *implemented* rule: every look of every
candidate goes through ``asiarch.bench.stages.summarise`` (the learning rate chosen on validation over the search
seeds) and ``asiarch.agents.discovery.decide`` (compared rivals chosen on validation, the Standardiser's pooled
spreads, the paired aggregate t tests, Holm's non-inferiority tests, futility stops, α spent over the looks), with
the default confirm stage (``default_stages()["confirm"]``) and the default ``AnalystConfig`` (6 rivals, m = 3,
α = 0.05). Nothing of the rule is re-implemented here.

The simulated world (``RIVALS`` below): per task, each rival has a true mean and seed SD (accuracy tasks: means
0.80–0.965, SDs 0.008–0.02; lm: 1.88–2.15 nats, SDs 0.025–0.05), with two rivals close at the top of every task
(0.4–0.7 points, 0.008 nats apart). The strongest rival, gated_deltanet, is best on three tasks and within the
non-inferiority margin of the best on the other two, so an exact copy of it passes every condition of the rule but
the aggregate test against itself: the null that the level α/m is spent on. (If the strongest rival trailed the
best beyond the margin somewhere, a copy of it would never be a discovery and 'identical' would test nothing.)
One run's value is

    mean + lr offset + sd · (√ρ · c[task, seed] + √(1 − ρ) · e[arch, task, seed, lr])

where c is the seed effect (same seed = same data stream) that every architecture on that seed shares (ρ =
``--rho``), and e is the run's own noise. Its validation value is the test value plus independent noise of
``--validation-noise`` of its SD, so choices made on validation are close to, not the same as, choices on test.
Both learning rates are equally good by default (``--lr-gap 0``): the most room for the validation choice of a
learning rate to flatter the two search seeds, the worst case for a noisy candidate.

A *campaign* draws every rival's 6 confirm seeds once (a machine's baseline cache) and confirms m candidates
against them, each look by look until ``decide`` stops it; the campaign makes a false discovery when any of its m
candidates is a discovery. Null scenarios (the candidate is no better than the rivals):

- ``identical``: distributed exactly as the strongest rival on every task (its mean, SD and lr offsets);
- ``noisier``: the strongest rival's means with twice its SD (a noisy candidate is the classic false positive);
- ``best-of-each``: on each task, the best rival on that task. Read this one with care: the rule claims "better on
  the aggregate than every compared rival, and non-inferior to the best one on each task", and such a candidate
  *is* better on the aggregate than each single rival (no rival is best everywhere). So it is a null only for the
  stronger claim "better than the per-task envelope", which the rule does not make; a rate above α here measures
  how far apart the two claims are, not an error of the tests;
- ``fixed-rivals``: the conditional error. The rivals' runs are drawn once and reused by every campaign (what a
  machine's baseline cache does), for ``--draws`` independent rival draws of ``--campaigns-per-draw`` campaigns
  each, with an ``identical`` candidate. This is the error rate that matters in practice: the confirm seeds are
  fixed (1000–1005) and training is deterministic, so a machine's cache is one draw, reused by every campaign it
  ever runs. Printed: the mean, median, 90th and 99th percentiles of the per-draw rate, next to the same
  percentiles for pure binomial noise at the pooled rate (if the two agree, the rate hardly depends on which
  baseline a machine happened to cache), how many draws exceed α, and how that goes with the luck of the
  strongest rival's cached runs (how far its cached test means fell from its true means through its own noise).

Cost and power: mean candidate seeds and training jobs per candidate (2 lrs on the 2 search seeds, 1 afterwards,
5 tasks: 20 jobs at look 1, 30 at look 2, 40 at look 3), and the stop look, under each null and for a candidate
that is genuinely better (``better``: the best rival on each task + ``--better`` pooled rival spreads) and a clear
loser (``loser``: the best rival on each task − ``--loser`` spreads), next to the old fixed design's 50 jobs
(5 seeds × 5 tasks × 2 lrs).

Learning rates (measured with this script): an architecture's learning rate is one choice per task, shared by all
its later seeds, so an unlucky choice is an offset the paired t test across seeds reads as a real difference. When
the rivals chose theirs on the two search seeds too, 'identical' exceeded α wherever the two learning rates
differ by about 0.5–1 SD and seeds are strongly shared: ``--lr-gap 1 --rho 0.8`` gave 0.12 [0.11, 0.14] and
``--lr-gap 0.5 --rho 0.8`` 0.10. The references are therefore measured under ``reference_protocol`` (every learning
rate on every seed, chosen on all of them), as the simulation now does: ``--lr-gap 1 --rho 0.8`` gives 0.037
[0.030, 0.044] (3,000 campaigns). A candidate's own unlucky choice can only make it look worse.

How to read it: the first table is the check. Each null row's 95% interval (Clopper–Pearson) should lie at or
below α = 0.05 (PASS: the upper end of the interval ≤ α; FAIL: even the lower end is above α; UNCLEAR between).
Bonferroni over m and the union bound over the looks make the rule conservative, so rates well below α are the
expected result; best-of-each is explained above.

Speed: ``decide`` costs ~13 ms as written: ~75% in ``t_quantile``'s bisection, most of the rest in
``statistics.variance``'s exact Fraction arithmetic, and it rebuilds the Standardiser and the compared rivals at
every call. By default the benchmark swaps the module globals it looks up for bit-identical versions of those pure
functions (``set_fast``): ``t_quantile`` memoised by (q, df), the Standardiser and ``compared_rivals`` memoised for
the last arguments by identity, and ``statistics.variance`` of floats computed as the same exact rational on
integers with one correctly rounded division. A call then costs ~1 ms. ``--verify`` campaigns are first run both
ways and every verdict (outcome, p-value, reasons) must agree exactly, as must the two variances on 10,000 random
samples; ``--plain`` runs everything as written (~10× slower). The null campaigns share each rival draw across the
scenarios (common random numbers). A default run needs ~360 CPU-seconds: ~3 minutes on 2 idle cores (measured
441 s wall on this 2-core machine while other work kept its load average near 5); ``--quick`` ~50 CPU-seconds.
The last line prints the run's wall and CPU time.

Usage: python benchmarks/null_rate.py [--campaigns 10000] [--draws 200] [--campaigns-per-draw 50] [--quick]
       [--rho 0.3] [--validation-noise 0.5] [--lr-gap 0] [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
from rich.console import Console
from rich.table import Table

import asiarch.agents.discovery as discovery
import asiarch.agents.fitness as fitness
import asiarch.stats as stats
from asiarch.bench.metrics import higher_is_better
from asiarch.bench.stages import TaskSummary, chosen_lrs, jobs_per_seed, reference_protocol, stage_seeds, summarise
from asiarch.bench.trainer import RunResult
from asiarch.config import AnalystConfig, GatesConfig, StageConfig
from asiarch.config.harness import default_stages

RIVALS: dict[str, dict[str, tuple[float, float]]] = {
    "mqar": {"deltanet": (0.955, 0.010), "gated_deltanet": (0.960, 0.008), "gla": (0.900, 0.015),
             "mamba2": (0.930, 0.012), "retnet": (0.870, 0.018), "linear_elu": (0.800, 0.020)},
    "selective_copy": {"deltanet": (0.940, 0.010), "gated_deltanet": (0.958, 0.008), "gla": (0.925, 0.012),
                       "mamba2": (0.965, 0.008), "retnet": (0.905, 0.015), "linear_elu": (0.850, 0.020)},
    "noisy_recall": {"deltanet": (0.936, 0.012), "gated_deltanet": (0.940, 0.010), "gla": (0.905, 0.014),
                     "mamba2": (0.915, 0.012), "retnet": (0.880, 0.016), "linear_elu": (0.820, 0.020)},
    "fuzzy_recall": {"deltanet": (0.900, 0.015), "gated_deltanet": (0.895, 0.015), "gla": (0.860, 0.016),
                     "mamba2": (0.870, 0.014), "retnet": (0.840, 0.018), "linear_elu": (0.800, 0.020)},
    "lm": {"deltanet": (1.900, 0.030), "gated_deltanet": (1.880, 0.025), "gla": (1.910, 0.030),
           "mamba2": (1.888, 0.030), "retnet": (1.960, 0.035), "linear_elu": (2.150, 0.050)},
}  # fmt: skip
"""Per task label, per rival: (true mean, seed SD) at the best learning rate, in the metric's own units."""

METRICS = {"mqar": "accuracy", "selective_copy": "accuracy", "noisy_recall": "accuracy",
           "fuzzy_recall": "accuracy", "lm": "nats_per_token"}  # fmt: skip
FIXED_DESIGN_JOBS = 5 * 5 * 2
"""The old fixed confirm design: 5 seeds × 5 tasks × 2 learning rates, no looks."""
NULLS = ("identical", "noisier", "best-of-each")
POWER = ("better", "loser")
CHUNK = 250
"""Campaigns per unit of parallel work: small enough to spread over the workers, large enough to amortise."""


# ---------------------------------------------------------------------------------------------------------------
# The simulated world


@dataclass(frozen=True)
class Arm:
    """One architecture's true behaviour per task: mean at its best lr, seed SD, and per-lr offsets (metric units,
    already signed so that an offset ≤ 0 is never better)."""

    means: Mapping[str, float]
    sds: Mapping[str, float]
    lr_offsets: Mapping[str, tuple[float, ...]]


@dataclass(frozen=True)
class World:
    """Everything a campaign needs that does not change between campaigns."""

    stage: StageConfig
    rules: AnalystConfig
    family: discovery.Family
    tolerance: float
    rivals: dict[str, Arm]
    rho: float
    validation_noise: float

    @property
    def labels(self) -> list[str]:
        return list(self.stage.tasks)

    @property
    def seeds(self) -> list[int]:
        return stage_seeds(self.stage, self.stage.reference_seeds)


def sign_of(label: str) -> float:
    return 1.0 if higher_is_better(METRICS[label]) else -1.0


def make_world(rho: float, validation_noise: float, lr_gap: float) -> World:
    """The default confirm stage and analyst rules, with the rivals of ``RIVALS`` (both lrs equally good when
    ``lr_gap`` is 0; otherwise the second is ``lr_gap`` of the architecture's SD worse)."""
    stage = default_stages()["confirm"]
    rules = AnalystConfig()
    if set(stage.tasks) != set(RIVALS) or set(rules.rivals) != set(RIVALS["mqar"]):
        raise SystemExit(f"the default confirm stage ({list(stage.tasks)}) or rivals ({rules.rivals}) changed; "
                         "update RIVALS in this benchmark")  # fmt: skip
    arms = {}
    for name in rules.rivals:
        sds = {label: RIVALS[label][name][1] for label in stage.tasks}
        offsets = {label: tuple(-sign_of(label) * lr_gap * sds[label] * i
                                for i in range(len(stage.tasks[label].train.lrs))) for label in stage.tasks}  # fmt: skip
        arms[name] = Arm({label: RIVALS[label][name][0] for label in stage.tasks}, sds, offsets)
    return World(stage, rules, discovery.Family.of(rules), GatesConfig().parameter_tolerance, arms, rho,
                 validation_noise)  # fmt: skip


def pooled_sd(world: World, label: str) -> float:
    """The rivals' true pooled seed SD on a task: the unit of 'a rival spread' for the power scenarios."""
    return math.sqrt(statistics.fmean(arm.sds[label] ** 2 for arm in world.rivals.values()))


def best_rival(world: World, label: str) -> str:
    return max(world.rivals, key=lambda name: sign_of(label) * world.rivals[name].means[label])


def strongest_rival(world: World) -> str:
    """The rival with the best weighted, clipped standardised mean against the per-task envelope (true values):
    which architecture the 'identical' candidate copies."""

    def score(name: str) -> float:
        total = 0.0
        for label, run in world.stage.tasks.items():
            envelope = world.rivals[best_rival(world, label)].means[label]
            z = sign_of(label) * (world.rivals[name].means[label] - envelope) / pooled_sd(world, label)
            total += run.weight * max(-world.rules.z_clip, min(world.rules.z_clip, z))
        return total

    return max(world.rivals, key=score)


def candidate_arm(world: World, scenario: str, better: float, loser: float) -> Arm:
    """The candidate's true behaviour in a scenario (module docstring)."""
    strongest = world.rivals[strongest_rival(world)]
    if scenario == "identical":
        return strongest
    if scenario == "noisier":
        return replace(strongest, sds={label: 2.0 * sd for label, sd in strongest.sds.items()})
    per_task = {label: world.rivals[best_rival(world, label)] for label in world.labels}
    shift = {"best-of-each": 0.0, "better": better, "loser": -loser}[scenario]
    return Arm(
        {label: arm.means[label] + sign_of(label) * shift * pooled_sd(world, label) for label, arm in per_task.items()},
        {label: arm.sds[label] for label, arm in per_task.items()},
        {label: arm.lr_offsets[label] for label, arm in per_task.items()},
    )


# ---------------------------------------------------------------------------------------------------------------
# Synthetic runs, as the trainer would return them


def run_result(label: str, seed: int, lr: float, value: float, validation: float, world: World) -> RunResult:
    """A result with only the fields the rule reads; parameters 0 = 'not recorded', so no budget is judged."""
    return RunResult(task=world.stage.tasks[label].task, seed=seed, lr=lr, metric=METRICS[label],
                     splits={"test": value}, value=value, curve=[], steps_done=1, diverged=False, wall_s=0.0,
                     cpu_s=0.0, parameters=0, mixer_parameters=0, validation={"test": validation},
                     validation_value=validation)  # fmt: skip


Grid = dict[str, list[list[RunResult]]]
"""Per task label, per seed index, per learning-rate index: every run an architecture could train at the stage."""


def draw(arm: Arm, world: World, effects: Mapping[str, np.ndarray], rng: np.random.Generator) -> Grid:
    """All runs an architecture could train at the stage (which are used is decided by the lr choice), built once
    so that every look reuses the same result objects."""
    grid: Grid = {}
    for label in world.labels:
        lrs = world.stage.tasks[label].train.lrs
        own = rng.standard_normal((len(world.seeds), len(lrs)))
        noise = math.sqrt(world.rho) * effects[label][:, None] + math.sqrt(1.0 - world.rho) * own
        test = arm.means[label] + np.asarray(arm.lr_offsets[label])[None, :] + arm.sds[label] * noise
        validation = test + world.validation_noise * arm.sds[label] * rng.standard_normal(test.shape)
        grid[label] = [
            [run_result(label, seed, lr, v, vv, world) for lr, v, vv in zip(lrs, test_row, validation_row)]
            for seed, test_row, validation_row in zip(world.seeds, test.tolist(), validation.tolist())
        ]
    return grid


def rows_of(
    grid: Grid, count: int, search: int, chosen: Mapping[str, float] | None
) -> list[tuple[str, RunResult]]:
    """The stored (label, result) rows after ``count`` seeds: every lr on the first ``search`` seeds, the chosen one
    after."""
    return [(label, run) for label in grid for index, runs in enumerate(grid[label][:count]) for run in runs
            if index < search or (chosen is not None and run.lr == chosen[label])]  # fmt: skip


def evaluation(grid: Grid, stage: StageConfig) -> Callable[[int], dict[str, TaskSummary]]:
    """Summaries after ``count`` seeds, as the loop builds them: ``summarise`` of the stored runs, the later seeds
    trained at the lr ``chosen_lrs`` picked on the search seeds' validation values (``stage.lr_search_seeds``; a
    reference is measured under ``reference_protocol``, every lr on every seed)."""
    search = stage.lr_search_seeds
    chosen = chosen_lrs(rows_of(grid, search, search, None))
    return lambda count: summarise(rows_of(grid, count, search, chosen))


def seed_effects(world: World, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {label: rng.standard_normal(len(world.seeds)) for label in world.labels}


Rivals = tuple[dict[str, np.ndarray], dict[str, dict[str, TaskSummary]]]
"""One draw of the rivals: the seed effects and every rival's confirm evaluation on all reference seeds."""


def draw_rivals(world: World, rng: np.random.Generator) -> Rivals:
    """What a machine's baseline cache holds for the confirm stage: every rival on all reference seeds."""
    effects = seed_effects(world, rng)
    protocol = reference_protocol(world.stage)
    references = {name: evaluation(draw(arm, world, effects, rng), protocol)(world.stage.reference_seeds)
                  for name, arm in world.rivals.items()}  # fmt: skip
    return effects, references


# ---------------------------------------------------------------------------------------------------------------
# The rule, look by look


@dataclass(frozen=True)
class Confirmed:
    """One candidate's confirm stage: its outcome, where it stopped and what it cost."""

    discovery: bool
    look: int
    seeds: int
    jobs: int
    trace: tuple = ()


def confirm(candidate: Arm, rivals: Rivals, world: World, rng: np.random.Generator,
            keep_trace: bool = False) -> Confirmed:  # fmt: skip
    """Run one candidate through the looks with the real ``decide``, stopping when it says so."""
    effects, references = rivals
    summaries = evaluation(draw(candidate, world, effects, rng), world.stage)
    trace = []
    for look, count in enumerate(world.stage.look_counts()):
        verdict = discovery.decide(summaries(count), references, world.stage, world.rules, world.family, look,
                                   world.tolerance)  # fmt: skip
        if keep_trace:
            trace.append((verdict.outcome, verdict.p_value, tuple(verdict.failed)))
        if verdict.stopped:
            break
    jobs = sum(jobs_per_seed(world.stage, seed) for seed in stage_seeds(world.stage, count))
    return Confirmed(verdict.is_discovery, look, count, jobs, tuple(trace))


@dataclass
class Tally:
    """What a batch of campaigns found for one scenario; adds up across batches."""

    campaigns: int = 0
    false: int = 0
    candidates: int = 0
    discoveries: int = 0
    seeds: int = 0
    jobs: int = 0
    stops: tuple[int, ...] = ()
    """Candidates that stopped at each look."""

    def add(self, other: Tally) -> Tally:
        stops = (
            tuple(a + b for a, b in zip(self.stops, other.stops))
            if self.stops and other.stops
            else self.stops or other.stops
        )
        return Tally(self.campaigns + other.campaigns, self.false + other.false, self.candidates + other.candidates,
                     self.discoveries + other.discoveries, self.seeds + other.seeds, self.jobs + other.jobs,
                     stops)  # fmt: skip


def campaign(candidate: Arm, rivals: Rivals, world: World, rng: np.random.Generator) -> Tally:
    """m candidates confirmed against one draw of the rivals; a false discovery if any of them is a discovery."""
    results = [confirm(candidate, rivals, world, rng) for _ in range(world.family.m)]
    stops = [0] * len(world.stage.look_counts())
    for result in results:
        stops[result.look] += 1
    return Tally(1, int(any(r.discovery for r in results)), len(results), sum(r.discovery for r in results),
                 sum(r.seeds for r in results), sum(r.jobs for r in results), tuple(stops))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Fast, bit-identical helpers under the rule (``--plain`` turns them off)


_ORIGINALS = {"t_quantile": stats.t_quantile, "Standardiser": discovery.Standardiser,
              "compared_rivals": discovery.compared_rivals, "stats.statistics": stats.statistics,
              "fitness.statistics": fitness.statistics}  # fmt: skip


def _last_only(build: Callable) -> Callable:
    """A one-entry cache keyed by the identity of every argument (a campaign passes one references mapping, stage
    and rules to all its calls; the cache holds them, so no other object can take their identity meanwhile)."""
    last: list = [(), None]

    def cached(*args):
        if len(args) != len(last[0]) or any(a is not b for a, b in zip(args, last[0])):
            last[:] = [args, build(*args)]
        return last[1]

    return cached


def exact_variance(data: Sequence[float], xbar: float | None = None) -> float:
    """``statistics.variance`` of finite floats, bit for bit, without its Fractions: the same exact rational
    (n Σx² − (Σx)²) / (n (n − 1)) computed on integers (every float is an integer over a power of two), then one
    correctly rounded int/int division, as ``float(Fraction)`` does. Anything else goes to the original."""
    values = list(data)
    if xbar is not None or len(values) < 2 or not all(type(v) is float and math.isfinite(v) for v in values):
        return statistics.variance(values, xbar)
    ratios = [v.as_integer_ratio() for v in values]
    scale = max(d for _, d in ratios)
    ints = [n * (scale // d) for n, d in ratios]
    total = sum(ints)
    count = len(ints)
    return (count * sum(i * i for i in ints) - total * total) / (count * (count - 1) * scale * scale)


class _Statistics:
    """The ``statistics`` module as ``asiarch.stats`` and ``asiarch.agents.fitness`` see it, with ``variance``
    swapped for ``exact_variance``."""

    variance = staticmethod(exact_variance)

    def __getattr__(self, name: str):
        return getattr(statistics, name)


def set_fast(on: bool) -> None:
    """Swap the module globals ``decide`` looks up for memoised or exact-integer versions of the same pure
    functions (or back): ``t_quantile`` by (q, df), the Standardiser and ``compared_rivals`` for the last
    arguments by identity, and ``statistics.variance``. Verdicts are bit-identical (``verify_fast``)."""
    if on:
        stats.t_quantile = functools.lru_cache(maxsize=4096)(_ORIGINALS["t_quantile"])
        discovery.Standardiser = _last_only(_ORIGINALS["Standardiser"])
        discovery.compared_rivals = _last_only(_ORIGINALS["compared_rivals"])
        stats.statistics = fitness.statistics = _Statistics()
    else:
        stats.t_quantile = _ORIGINALS["t_quantile"]
        discovery.Standardiser = _ORIGINALS["Standardiser"]
        discovery.compared_rivals = _ORIGINALS["compared_rivals"]
        stats.statistics = _ORIGINALS["stats.statistics"]
        fitness.statistics = _ORIGINALS["fitness.statistics"]


@contextmanager
def fast(on: bool) -> Iterator[None]:
    set_fast(on)
    try:
        yield
    finally:
        set_fast(False)


def verify_fast(world: World, arms: Sequence[Arm], campaigns: int, seed: int) -> int:
    """Run the same campaigns with and without the fast helpers; every look's outcome, p-value and reasons must
    agree exactly, and so must ``exact_variance`` and ``statistics.variance`` on random samples. Returns the number
    of verdicts compared."""
    rng = np.random.default_rng([seed, 98])
    for size in (2, 3, 4, 6, 36):
        for sample in rng.normal(rng.uniform(-3, 3), rng.uniform(1e-3, 1), (2000, size)).tolist():
            if exact_variance(sample) != statistics.variance(sample):
                raise SystemExit(f"exact_variance differs from statistics.variance on {sample}; use --plain")
    traces = []
    for on in (False, True):
        with fast(on):
            found = []
            for index in range(campaigns):
                rng = np.random.default_rng([seed, 99, index])
                rivals = draw_rivals(world, rng)
                found += [confirm(arm, rivals, world, rng, keep_trace=True).trace for arm in arms]
            traces.append(found)
    if traces[0] != traces[1]:
        raise SystemExit("decide with and without the fast helpers disagrees; rerun with --plain")
    return sum(len(t) for t in traces[0])


# ---------------------------------------------------------------------------------------------------------------
# Parallel batches


_WORKER: dict = {}


def _init(world: World, arms: dict[str, Arm], fast_helpers: bool) -> None:
    _WORKER.update(world=world, arms=arms)
    set_fast(fast_helpers)


def _batch(job: tuple) -> dict[str, Tally] | tuple[list[int], float]:
    """One unit of work, from its own seed (so results do not depend on the number of workers):

    - ``("draws", names, count, seed)``: ``count`` campaigns, each drawing the rivals afresh and confirming m
      candidates of every scenario in ``names`` against them (common random numbers: the scenarios share rival
      draws, which keeps each one's estimate unbiased and lets them share the Standardiser);
    - ``("fixed", name, count, seed)``: one draw of the rivals, then ``count`` campaigns of ``name`` against it;
      returns each campaign's false-discovery flag and how lucky the strongest rival's cached runs were."""
    kind, names, count, seed = job
    world, arms = _WORKER["world"], _WORKER["arms"]
    rng = np.random.default_rng(seed)
    if kind == "fixed":
        rivals = draw_rivals(world, rng)
        flags = [campaign(arms[names], rivals, world, rng).false for _ in range(count)]
        return flags, luck(world, rivals, strongest_rival(world))
    totals = {name: Tally() for name in names}
    for _ in range(count):
        rivals = draw_rivals(world, rng)
        for name in names:
            totals[name] = totals[name].add(campaign(arms[name], rivals, world, rng))
    return totals


def run_all(jobs: list[tuple], world: World, arms: dict[str, Arm], workers: int, fast_helpers: bool) -> list:
    if workers <= 1:
        _init(world, arms, fast_helpers)
        try:
            return [_batch(job) for job in jobs]
        finally:
            set_fast(False)
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(world, arms, fast_helpers)) as pool:
        return list(pool.map(_batch, jobs))


def campaign_jobs(campaigns: int, power_campaigns: int, seed: int) -> list[tuple]:
    """Chunks of shared-rival campaigns: the null scenarios in the first ``campaigns``, the power scenarios in the
    first ``power_campaigns``."""
    shared = min(campaigns, power_campaigns)
    rest = (shared, campaigns, NULLS) if campaigns > power_campaigns else (shared, power_campaigns, POWER)
    return [("draws", names, min(CHUNK, high - begin), [seed, 0, begin])
            for low, high, names in ((0, shared, NULLS + POWER), rest) for begin in range(low, high, CHUNK)]  # fmt: skip


def luck(world: World, rivals: Rivals, name: str) -> float:
    """How far a rival's cached test means came out from its true means through its own noise (the seed effects,
    which a candidate on the same seeds shares, taken out), in pooled rival spreads, averaged over the tasks;
    signed, > 0 = the cache flatters it. A copy of that rival faces a harder or easier bar accordingly."""
    effects, references = rivals
    arm = world.rivals[name]
    return statistics.fmean(
        sign_of(label) * (statistics.fmean(references[name][label].values) - arm.means[label]
                          - arm.sds[label] * math.sqrt(world.rho) * float(np.mean(effects[label])))
        / pooled_sd(world, label)
        for label in world.labels
    )  # fmt: skip


def fixed_jobs(draws: int, per_draw: int, seed: int) -> list[tuple]:
    return [("fixed", "identical", per_draw, [seed, 1, index]) for index in range(draws)]


# ---------------------------------------------------------------------------------------------------------------
# Intervals and percentiles


def beta_quantile(q: float, a: float, b: float) -> float:
    """The q-quantile of Beta(a, b), by bisection on the project's regularised incomplete beta."""
    low, high = 0.0, 1.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        if stats.regularized_beta(a, b, middle) < q:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def clopper_pearson(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval: never narrower than it should be, which is what a pass/fail needs."""
    tail = (1.0 - level) / 2.0
    lower = 0.0 if x == 0 else beta_quantile(tail, x, n - x + 1)
    upper = 1.0 if x == n else beta_quantile(1.0 - tail, x + 1, n - x)
    return lower, upper


def verdict(lower: float, upper: float, alpha: float) -> str:
    return "PASS" if upper <= alpha else "FAIL" if lower > alpha else "UNCLEAR"


def binomial_quantile(q: float, n: int, p: float) -> float:
    """The q-quantile of Binomial(n, p) / n: the spread of per-draw rates if every draw had the same rate p."""
    cumulative = 0.0
    for k in range(n + 1):
        cumulative += math.comb(n, k) * p**k * (1.0 - p) ** (n - k)
        if cumulative >= q:
            return k / n
    return 1.0


def binomial_tail(n: int, p: float, threshold: float) -> float:
    """P(Binomial(n, p) / n > threshold)."""
    return sum(math.comb(n, k) * p**k * (1.0 - p) ** (n - k) for k in range(n + 1) if k / n > threshold)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


# ---------------------------------------------------------------------------------------------------------------
# Report


def null_table(tallies: dict[str, Tally], fixed: list[int], per_draw: int, alpha: float) -> Table:
    table = Table(title=f"family-wise false-discovery rate under the null (m candidates per campaign, α = {alpha:g})",
                  title_justify="left")  # fmt: skip
    for column in ("scenario", "campaigns", "false discoveries", "rate", "95% interval", "target", "verdict"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    rows = [(name, tally.campaigns, tally.false) for name, tally in tallies.items() if tally.campaigns]
    if fixed:
        rows.append(("fixed-rivals (pooled)", len(fixed) * per_draw, sum(fixed)))
    for name, n, x in rows:
        lower, upper = clopper_pearson(x, n)
        target = f"≤ α = {alpha:g}" + (" (envelope null)" if name == "best-of-each" else "")
        table.add_row(name, f"{n:,}", f"{x:,}", f"{x / n:.4f}", f"[{lower:.4f}, {upper:.4f}]", target,
                      verdict(lower, upper, alpha))  # fmt: skip
    return table


def fixed_table(fixed: list[int], per_draw: int) -> Table:
    rates = [x / per_draw for x in fixed]
    pooled = sum(fixed) / (len(fixed) * per_draw)
    table = Table(title=f"fixed-rivals: conditional rate over {len(fixed)} rival draws × {per_draw} campaigns each",
                  title_justify="left")  # fmt: skip
    for column in ("", "mean", "median", "90th pct", "99th pct", "max"):
        table.add_column(column, justify="right")
    table.add_row("per-draw rate", f"{statistics.fmean(rates):.4f}", f"{percentile(rates, 0.5):.4f}",
                  f"{percentile(rates, 0.9):.4f}", f"{percentile(rates, 0.99):.4f}", f"{max(rates):.4f}")  # fmt: skip
    table.add_row("binomial noise alone", f"{pooled:.4f}", f"{binomial_quantile(0.5, per_draw, pooled):.4f}",
                  f"{binomial_quantile(0.9, per_draw, pooled):.4f}", f"{binomial_quantile(0.99, per_draw, pooled):.4f}",
                  "")  # fmt: skip
    return table


def luck_line(fixed: list[int], lucks: list[float], per_draw: int, alpha: float, strongest: str) -> str:
    """Which cached draws give a high conditional rate: those where the strongest rival's runs came out unlucky."""
    rates = [x / per_draw for x in fixed]
    above = [value for rate, value in zip(rates, lucks) if rate > alpha]
    rest = [value for rate, value in zip(rates, lucks) if rate <= alpha]
    correlation = float(np.corrcoef(rates, lucks)[0, 1]) if len(set(rates)) > 1 else float("nan")
    pooled = sum(fixed) / (len(fixed) * per_draw)
    noise = len(fixed) * binomial_tail(per_draw, pooled, alpha)
    text = (f"draws with a per-draw rate above α: {len(above)} of {len(rates)} ({noise:.1f} expected from binomial "
            f"noise alone at the pooled rate); luck of the cached {strongest} runs (mean standardised error of its "
            "test means, > 0 = flattering): ")  # fmt: skip
    if above:
        text += f"{statistics.fmean(above):+.2f} in those draws, "
    if rest:
        text += f"{statistics.fmean(rest):+.2f} in the others; "
    return text + f"correlation of rate and luck {correlation:+.2f}"


def cost_table(tallies: dict[str, Tally], world: World) -> Table:
    looks = world.stage.look_counts()
    jobs = [sum(jobs_per_seed(world.stage, seed) for seed in stage_seeds(world.stage, count)) for count in looks]
    table = Table(title=f"cost per candidate: {'/'.join(map(str, jobs))} jobs after {'/'.join(map(str, looks))} seeds; "
                        f"the old fixed design took {FIXED_DESIGN_JOBS}", title_justify="left")  # fmt: skip
    for column in ("scenario", "candidates", "discovery rate", "mean seeds", "mean jobs", "vs fixed 50",
                   *(f"stop @{c}" for c in looks)):  # fmt: skip
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, tally in tallies.items():
        n = tally.candidates
        if not n:
            continue
        table.add_row(name, f"{n:,}", f"{tally.discoveries / n:.4f}", f"{tally.seeds / n:.2f}",
                      f"{tally.jobs / n:.1f}", f"{tally.jobs / n / FIXED_DESIGN_JOBS:.0%}",
                      *(f"{s / n:.0%}" for s in tally.stops))  # fmt: skip
    return table


def describe_world(world: World, arms: Mapping[str, Arm], console: Console) -> None:
    strongest = strongest_rival(world)
    bests = ", ".join(f"{label} {best_rival(world, label)}" for label in world.labels)
    console.print(f"confirm stage: seeds {world.seeds[0]}..{world.seeds[-1]}, looks {world.stage.looks}, α shares "
                  f"{world.stage.alpha_shares}; family m={world.family.m}, α={world.family.alpha:g} "
                  f"(α/m = {world.family.per_candidate:.4f}); rivals: {', '.join(world.rivals)}")  # fmt: skip
    console.print(f"strongest rival (true means): {strongest}; best per task: {bests}; ρ={world.rho:g}, validation "
                  f"noise {world.validation_noise:g} SD")  # fmt: skip
    for name, arm in arms.items():
        cells = ", ".join(f"{label} {arm.means[label]:.3f}±{arm.sds[label]:.3f}" for label in world.labels)
        console.print(f"  candidate {name}: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=10_000, help="Campaigns per null scenario (identical, "
                        "noisier, best-of-each).")  # fmt: skip
    parser.add_argument("--draws", type=int, default=200, help="Independent rival draws for fixed-rivals (0 = skip).")
    parser.add_argument("--campaigns-per-draw", type=int, default=50, help="Campaigns per fixed rival draw.")
    parser.add_argument("--power-campaigns", type=int, default=1000, help="Campaigns for each power scenario.")
    parser.add_argument("--better", type=float, default=1.5, help="Spreads above the best rival per task (power).")
    parser.add_argument("--loser", type=float, default=2.0, help="Spreads below the best rival per task (power).")
    parser.add_argument("--rho", type=float, default=0.3, help="Share of a run's variance that is the seed effect "
                        "shared by every architecture on that seed.")  # fmt: skip
    parser.add_argument("--validation-noise", type=float, default=0.5, help="SD of validation − test, in units of the "
                        "architecture's seed SD.")  # fmt: skip
    parser.add_argument("--lr-gap", type=float, default=0.0, help="How much worse the second lr is, in SDs (0 = the "
                        "lrs are equally good: the largest selection effect).")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1,000 campaigns per null, 40 draws × 50, 300 per power "
                        "scenario: a smoke run in well under a minute.")  # fmt: skip
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="Worker processes.")
    parser.add_argument("--plain", action="store_true", help="Call decide's helpers as written (~10× slower).")
    parser.add_argument("--verify", type=int, default=10, help="Campaigns run both with and without the fast helpers "
                        "first, whose verdicts must agree (0 = skip).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.campaigns, args.draws, args.campaigns_per_draw, args.power_campaigns = 1000, 40, 50, 300
    if not 0.0 <= args.rho < 1.0:
        parser.error("--rho must be in [0, 1)")

    started = time.perf_counter()
    console = Console(width=140)
    world = make_world(args.rho, args.validation_noise, args.lr_gap)
    arms = {name: candidate_arm(world, name, args.better, args.loser) for name in NULLS + POWER}
    describe_world(world, arms, console)
    fast_helpers = not args.plain
    if fast_helpers and args.verify:
        compared = verify_fast(world, list(arms.values()), args.verify, args.seed)
        console.print(f"fast-helper check: {compared} verdicts identical with and without them")

    jobs = campaign_jobs(args.campaigns, args.power_campaigns, args.seed)
    fixed_plan = fixed_jobs(args.draws, args.campaigns_per_draw, args.seed)
    results = run_all(jobs + fixed_plan, world, arms, args.workers, fast_helpers)
    tallies: dict[str, Tally] = {name: Tally() for name in NULLS + POWER}
    for totals in results[: len(jobs)]:
        for name, tally in totals.items():
            tallies[name] = tallies[name].add(tally)
    fixed = [sum(flags) for flags, _ in results[len(jobs) :]]
    lucks = [value for _, value in results[len(jobs) :]]

    alpha = world.family.alpha
    if args.campaigns or fixed:
        console.print(null_table({name: tallies[name] for name in NULLS}, fixed, args.campaigns_per_draw, alpha))
    if fixed:
        console.print(fixed_table(fixed, args.campaigns_per_draw))
        console.print(luck_line(fixed, lucks, args.campaigns_per_draw, alpha, strongest_rival(world)))
    console.print(cost_table(tallies, world))
    cpu = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for field in ("ru_utime", "ru_stime"))  # fmt: skip
    console.print(f"wall time {time.perf_counter() - started:.0f} s, CPU time {cpu:.0f} s ({args.workers} workers, "
                  f"{'fast' if fast_helpers else 'plain'} helpers, seed {args.seed})")  # fmt: skip


if __name__ == "__main__":
    main()
