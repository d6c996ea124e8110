"""Discovery: the confirm stage's decision, with its family of tests declared before any data is seen.

A campaign declares its family when it starts: at most m = ``analyst.max_promotions`` candidates are ever
confirmed, each tested at α/m (α = ``analyst.discovery_alpha``), so the chance that a campaign claims any
false discovery is at most α whatever the order of promotions (Bonferroni over a family fixed in advance;
the numbers are read from the campaign's stored config, so a resumed run cannot change them).

The confirm stage trains on its own seeds and scores on its own validation and test data (``bench.stages``),
in looks: after each cumulative seed count in ``stages.confirm.looks`` the candidate is tested, and the α/m
of a candidate is spent over the looks in the shares ``stages.confirm.alpha_shares`` (union bound: whatever
the correlation between looks, the candidate's error stays ≤ α/m). At look k it is a **discovery** when all hold:

1. **Beats every compared rival on the aggregate.** The compared rivals are every rival reference that is best
   on some task of the stage by its validation mean (so no task is left without its strongest reference).
   For each, per seed i shared by both (same initialisation stream, same training data), the paired aggregate
   D_i = Σ_t w_t clip(s_t (x_{t,i} − r_{t,i}) / σ_t, ±C) / Σ_t w_t on the *test* split, with σ_t the rivals'
   pooled test spread as in fitness. One-sided one-sample t test of mean(D) > 0 for every rival; the largest p
   must be below share_k · α/m (intersection–union: beating all of them needs each test, no further correction).
2. **Non-inferior on every task.** Per task t, against the compared rival best on t: paired differences
   δ_i = s_t (x_{t,i} − r_{t,i}) in the metric's own units; one-sided test that mean(δ) > −margin_t
   (``analyst.non_inferiority_margin``), Holm-adjusted over the tasks at ``analyst.non_inferiority_alpha``.
3. **Holds the parameter budget at the width of every task run** of the stage (not only the gates' width).
4. **No task is missing**, and every side has at least two shared seeds.

At an interim look the stage **stops early, not a discovery**, when the candidate is clearly out: the upper
confidence bound (``analyst.futility_level``) of mean(D) is below 0 for some compared rival, or that of mean(δ)
is below −margin_t on some task, or a condition that more seeds cannot change (parameters, a missing task)
fails. Stopping for futility can only lower the error rate. It stops as a discovery when every condition holds;
otherwise it goes on to the next look, and after the last look it is not a discovery.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from asiarch.agents.fitness import OK, Standardiser, task_status
from asiarch.arch.zoo import ZOO
from asiarch.bench.metrics import higher_is_better
from asiarch.bench.stages import TaskSummary
from asiarch.bench.tasks.base import TEST, VALIDATION
from asiarch.config import AnalystConfig, StageConfig
from asiarch.stats import OneSampleResult, finite_or_none, holm, one_sample_t_test

BUDGET_REFERENCE = "deltanet"
"""The zoo layer whose parameter count at the same width defines the parameter budget (as in the gates)."""

DISCOVERY, NOT_A_DISCOVERY, CONTINUE = "discovery", "not a discovery", "continue"


@dataclass(frozen=True)
class Family:
    """The declared family of a campaign's discovery tests: m candidates at most, family-wise level α."""

    m: int
    alpha: float

    @classmethod
    def of(cls, rules: AnalystConfig) -> Family:
        return cls(max(1, rules.max_promotions), rules.discovery_alpha)

    @property
    def per_candidate(self) -> float:
        return self.alpha / self.m


def look_alpha(stage: StageConfig, family: Family, look: int) -> float:
    """The part of a candidate's α/m spent at look ``look`` (0-based)."""
    return stage.alpha_share(look) * family.per_candidate


def compared_rivals(
    references: Mapping[str, Mapping[str, TaskSummary]], stage: StageConfig, rules: AnalystConfig
) -> dict[str, str]:
    """Per task label, the rival with the best validation mean on it: the rivals a discovery must beat."""
    best: dict[str, str] = {}
    for label in stage.tasks:
        measured = {
            name: statistics.fmean(tasks[label].validation_values)
            for name, tasks in references.items()
            if name in rules.rivals and task_status(tasks.get(label), VALIDATION) == OK
        }
        if not measured:
            raise ValueError(f"no rival reference has results on task {label!r} at this stage; evaluate them first")
        metric = next(references[name][label].metric for name in measured)
        sign = 1.0 if higher_is_better(metric) else -1.0
        best[label] = max(measured, key=lambda name: sign * measured[name])
    return best


def budget_problems(candidate: Mapping[str, TaskSummary], stage: StageConfig, tolerance: float) -> list[str]:
    """Task runs at whose width the candidate's mixer parameters fall outside ±tolerance of DeltaNet's there.
    Runs measured before parameters were recorded (0) are not judged."""
    problems = []
    for label, run in stage.tasks.items():
        summary = candidate.get(label)
        counts = {r.mixer_parameters for r in summary.per_seed.values()} if summary is not None else set()
        counts.discard(0)
        if not counts:
            continue
        ours = max(counts)
        budget = run.model.n_layers * reference_parameters(run.model.d_model, run.model.num_heads)
        if abs(ours / budget - 1.0) > tolerance:
            problems.append(
                f"{label}: {ours:,} mixer parameters at width {run.model.d_model}, {ours / budget - 1:+.0%} from "
                f"DeltaNet's {budget:,} (budget ±{tolerance:.0%})"
            )
    return problems


def reference_parameters(d_model: int, num_heads: int) -> int:
    """Parameters of the budget reference's mixer at a width (zoo code: trusted, built in this process)."""
    return sum(p.numel() for p in ZOO[BUDGET_REFERENCE](d_model, num_heads).parameters())


@dataclass(frozen=True)
class DiscoveryVerdict:
    """The decision at one look of the confirm stage, with every number behind it and every failed condition."""

    outcome: str
    look: int
    looks: int
    seeds: int
    m: int
    alpha: float
    alpha_look: float
    rivals: list[str]
    p_value: float | None
    p_corrected: float | None
    aggregate: dict[str, dict] = field(default_factory=dict)
    non_inferiority: dict[str, dict] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def is_discovery(self) -> bool:
        return self.outcome == DISCOVERY

    @property
    def stopped(self) -> bool:
        return self.outcome != CONTINUE


def _shared_seeds(
    candidate: Mapping[str, TaskSummary], rival: Mapping[str, TaskSummary], labels: Sequence[str]
) -> list:
    seeds = set.intersection(*(set(candidate[label].per_seed) & set(rival[label].per_seed) for label in labels))
    return sorted(seeds)


def _paired_aggregate(
    yardstick: Standardiser, candidate: Mapping[str, TaskSummary], rival: Mapping[str, TaskSummary]
) -> list[float]:
    """Per shared seed, the weighted clipped standardised difference over the stage's tasks (test split)."""
    labels = list(yardstick.scales)
    weight = sum(scale.weight for scale in yardstick.scales.values())
    return [
        sum(
            scale.weight
            * yardstick.clip(
                scale.sign * (candidate[label].value_of(seed, TEST) - rival[label].value_of(seed, TEST)) / scale.sigma
            )
            for label, scale in yardstick.scales.items()
        )
        / weight
        for seed in _shared_seeds(candidate, rival, labels)
    ]


def _summary(result: OneSampleResult | None, level: float, n: int) -> dict:
    if result is None:
        return {"n": n, "note": "fewer than two shared seeds, no test"}
    return {"n": n, "mean": result.mean, "t": finite_or_none(result.t), "df": result.df, "p": result.p,
            "upper": result.upper_bound(level), "lower": result.lower_bound(level)}  # fmt: skip


def decide(
    candidate: Mapping[str, TaskSummary],
    references: Mapping[str, Mapping[str, TaskSummary]],
    stage: StageConfig,
    rules: AnalystConfig,
    family: Family,
    look: int,
    parameter_tolerance: float,
) -> DiscoveryVerdict:
    """The verdict at look ``look`` (0-based) of a sequential stage (module docstring)."""
    looks = stage.look_counts()
    last = look >= len(looks) - 1
    best_on = compared_rivals(references, stage, rules)
    rivals = list(dict.fromkeys(best_on.values()))
    yardstick = Standardiser(stage, references, rules, TEST)
    alpha_look = look_alpha(stage, family, look)
    failed: list[str] = []
    fatal: list[str] = []  # conditions more seeds cannot change
    missing = [label for label in stage.tasks if task_status(candidate.get(label), TEST) != OK]
    if missing:
        fatal.append(f"missing or non-finite results on {', '.join(missing)}")
    fatal += [f"outside the parameter budget ({p})" for p in budget_problems(candidate, stage, parameter_tolerance)]
    aggregate: dict[str, dict] = {}
    non_inferiority: dict[str, dict] = {}
    p_max = None
    futile: list[str] = []
    if not missing:
        tests: dict[str, OneSampleResult | None] = {}
        for name in rivals:
            differences = _paired_aggregate(yardstick, candidate, references[name])
            tests[name] = one_sample_t_test(differences) if len(differences) >= 2 else None
            aggregate[name] = _summary(tests[name], rules.futility_level, len(differences))
            if tests[name] is not None and tests[name].upper_bound(rules.futility_level) < 0:
                futile.append(f"worse than {name} on the aggregate (upper bound {aggregate[name]['upper']:+.2f} < 0)")
        if any(test is None for test in tests.values()):
            failed.append("fewer than two seeds shared with a compared rival: no test")
        else:
            p_max = max(test.p for test in tests.values())
            if not p_max < alpha_look:
                failed.append(
                    f"aggregate not significantly better than every compared rival at this look: largest p={p_max:.3g} "
                    f"≥ {alpha_look:.3g} (α={family.alpha:g} / m={family.m} × share {stage.alpha_share(look):g})"
                )
        p_values: dict[str, float] = {}
        for label, name in best_on.items():
            margin = rules.non_inferiority_margin[candidate[label].metric]
            sign = 1.0 if higher_is_better(candidate[label].metric) else -1.0
            shared = sorted(set(candidate[label].per_seed) & set(references[name][label].per_seed))
            deltas = [sign * (candidate[label].value_of(s, TEST) - references[name][label].value_of(s, TEST))
                      for s in shared]  # fmt: skip
            result = one_sample_t_test(deltas, null=-margin) if len(deltas) >= 2 else None
            non_inferiority[label] = {
                "vs": name,
                "margin": margin,
                **_summary(result, rules.futility_level, len(deltas)),
            }
            if result is None:
                continue
            p_values[label] = result.p
            if result.upper_bound(rules.futility_level) < -margin:
                futile.append(f"beyond the margin {margin:g} behind {name} on {label}")
        held = holm(p_values, rules.non_inferiority_alpha)
        for label, entry in non_inferiority.items():
            entry["holm_ok"] = held.get(label, False)
        not_shown = [label for label in non_inferiority if not held.get(label, False)]
        if not_shown:
            failed.append(f"not shown non-inferior (Holm, α={rules.non_inferiority_alpha:g}) on {', '.join(not_shown)}")
    if fatal or (futile and not last):
        outcome = NOT_A_DISCOVERY
        reasons = fatal + [f"stopped early for futility: {why}" for why in futile]
    elif not failed:
        outcome = DISCOVERY
        reasons = []
    else:
        outcome = NOT_A_DISCOVERY if last else CONTINUE
        reasons = failed + futile
    p_corrected = None if p_max is None else min(1.0, p_max * family.m / max(stage.alpha_share(look), 1e-12))
    return DiscoveryVerdict(
        outcome=outcome,
        look=look,
        looks=len(looks),
        seeds=min((len(s.per_seed) for s in candidate.values()), default=0),
        m=family.m,
        alpha=family.alpha,
        alpha_look=alpha_look,
        rivals=rivals,
        p_value=p_max,
        p_corrected=p_corrected,
        aggregate=aggregate,
        non_inferiority=non_inferiority,
        failed=reasons,
        reason=_reason(outcome, look, len(looks), rivals, p_max, alpha_look, family, reasons),
    )


def _reason(outcome: str, look: int, looks: int, rivals: list[str], p: float | None, alpha_look: float,
            family: Family, reasons: list[str]) -> str:  # fmt: skip
    where = f"look {look + 1} of {looks}"
    if outcome == DISCOVERY:
        return (
            f"discovery at {where}: beats {', '.join(rivals)} on the paired aggregate (largest one-sided p={p:.3g} < "
            f"{alpha_look:.3g}, family m={family.m}, α={family.alpha:g}), non-inferior on every task within its margin "
            "(Holm), inside the parameter budget at every width"
        )
    head = "not a discovery" if outcome == NOT_A_DISCOVERY else "undecided, next look"
    return f"{head} at {where}: " + "; ".join(reasons)
