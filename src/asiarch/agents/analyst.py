"""The Analyst: what a trained candidate's numbers mean, written down for the store and the next proposals.

For one candidate at one stage it computes fitness against the strongest rival (``agents.fitness``),
compares it task by task with its parent, its siblings and that rival (differences with 95% Welch
intervals from the per-seed values — none is invented where a side has a single seed), summarises the
edit that made it (motifs added and removed for grammar candidates, a diff summary for code), names the
tasks it lags on and retrieves cognition for them, and writes a plain-language account of all that from
the numbers alone. Credit for edits and the insights distilled from it are queries over the stored
analyses (``store.queries.edit_credit``), so they survive restarts and are shared by every process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from asiarch.agents.discovery import DiscoveryVerdict, Family, decide
from asiarch.agents.edits import EditSummary, summarise_edit
from asiarch.agents.fitness import FitnessReport, Standardiser, TaskScore, fitness
from asiarch.agents.researcher.context import TASK_SYMPTOMS, Retriever
from asiarch.arch.zoo import ZOO
from asiarch.bench.metrics import ACCURACY
from asiarch.bench.stages import TaskSummary
from asiarch.bench.tasks.base import TEST, VALIDATION, HeldOut
from asiarch.cognition.motifs import MOTIFS
from asiarch.config import AnalystConfig, Config, ConfigError
from asiarch.stats import difference_ci, finite_or_none, welch_t_test
from asiarch.store.queries import CREDIT_TAG, credit_insights, edit_deltas
from asiarch.store.schema import Analysis, Campaign, Experiment, Insight

__all__ = [
    "AnalysisResult",
    "Analyst",
    "DiscoveryVerdict",
    "EditSummary",
    "FitnessReport",
    "Judge",
    "Relative",
    "TaskScore",
    "decide",
    "Family",
    "fitness",
    "record_analysis",
    "summarise_edit",
    "update_insights",
]

CI_LEVEL = 0.95
NO_INTERVAL = "no interval"
NEXT_STAGE = {"screen": "confirm", "confirm": "scale"}
"""Where a candidate that clears the promotion bar goes next; a stage missing from the config (scale needs a
GPU executor) is recorded as pending instead."""
CITED_PER_WEAKNESS = 2

Judge = Callable[[str, str], float]
"""An optional qualitative judge: given the candidate's code and the analysis text, a score in [-1, 1]
(clipped); ``asiarch.agents.researcher.llm.LLMAssessor`` is the LLM one."""


@dataclass(frozen=True)
class Relative:
    """A parent or sibling as the Analyst compares with it: its fitness at the stage and its results."""

    name: str
    fitness: float | None
    tasks: dict[str, TaskSummary]


@dataclass
class AnalysisResult:
    fitness: float
    report: FitnessReport
    deltas: dict
    significance: dict
    fields: dict
    text: str
    weaknesses: tuple[str, ...] = ()


def _values(summary: TaskSummary | None) -> list[float]:
    return [v for v in summary.values if math.isfinite(v)] if summary is not None else []


def _comparison(ours: list[float], theirs: list[float], **about: object) -> dict:
    """Difference of means with its 95% Welch interval, or the reason there is none."""
    if not ours or not theirs:
        return {**about, "mean": None, "delta": None, "ci": None, "n": len(theirs), "note": "no results"}
    delta = math.fsum(ours) / len(ours) - math.fsum(theirs) / len(theirs)
    entry = {**about, "mean": math.fsum(theirs) / len(theirs), "delta": delta, "n": len(theirs)}
    if len(ours) < 2 or len(theirs) < 2:
        return {**entry, "ci": None, "note": f"n={min(len(ours), len(theirs))}, {NO_INTERVAL}"}
    return {**entry, "ci": list(difference_ci(ours, theirs, CI_LEVEL)), "note": ""}


def _format_delta(label: str, metric: str, entry: dict) -> str:
    if entry["delta"] is None:
        return f"{label} (no results)"
    scale, unit, head = (100.0, "points", label) if metric == ACCURACY else (1.0, "nats", f"{label} loss")
    digits = 1 if metric == ACCURACY else 3
    text = f"{head} {entry['delta'] * scale:+.{digits}f} {unit}"
    if entry["ci"] is None:
        return f"{text} ({entry['note']})"
    low, high = (bound * scale for bound in entry["ci"])
    return f"{text} [{low:+.{digits}f}, {high:+.{digits}f}]"


class Analyst:
    """Scores and explains candidates with the configured rules (``config.analyst``)."""

    def __init__(self, config: Config, judge: Judge | None = None) -> None:
        # A rival left out of `references` is simply not evaluated (a trimmed preset); one that names no
        # architecture at all is a typo and would silently change what fitness 0 means.
        unknown = [name for name in config.analyst.rivals if name not in ZOO and name not in config.references]
        if unknown:
            raise ConfigError(
                f"analyst.rivals names {', '.join(unknown)}, which is neither a zoo architecture "
                f"({', '.join(ZOO)}) nor a configured reference; fix the name in analyst.rivals"
            )
        self.config = config
        self.judge = judge

    @property
    def rules(self) -> AnalystConfig:
        return self.config.analyst

    def analyse(
        self,
        *,
        stage_name: str,
        candidate: dict[str, TaskSummary],
        references: Mapping[str, Mapping[str, TaskSummary]],
        parent: Relative | None,
        siblings: Sequence[Relative],
        edit: EditSummary,
        retrieve: Retriever | None,
        name: str = "the candidate",
        code: str = "",
        split: HeldOut = VALIDATION,
    ) -> AnalysisResult:
        """Fitness, comparisons, edit, weaknesses with cognition, and a readable account, at one stage.

        Fitness is computed on ``split``: validation where it decides (promotion, the pool), test where it is the
        claim; the comparisons with parent, siblings and rival always report test values, and the fitness on the
        test split is recorded beside the deciding one (``fields["test_fitness"]``)."""
        stage = self.config.stage(stage_name)
        yardstick = Standardiser(stage, references, self.rules, split)
        report = yardstick.report(candidate)
        test_report = report if split == TEST else Standardiser(stage, references, self.rules, TEST).report(candidate)
        parent_fitness = None if parent is None else parent.fitness
        if parent is not None and parent_fitness is None and parent.tasks:
            parent_fitness = yardstick.report(parent.tasks).value
        deltas = self._deltas(report, candidate, references[report.strongest], parent, siblings)
        significance = self._significance(report, references, candidate)
        weaknesses = self._weaknesses(report)
        cited = self._cognition(weaknesses, retrieve)
        next_stage = self._next_stage(stage_name, report.value)
        text = self._text(
            name, stage_name, report, deltas, parent, parent_fitness, siblings, edit, weaknesses, cited, next_stage
        )
        value = report.value
        fields: dict = {
            "strongest": report.strongest,
            "split": split,
            "test_fitness": finite_or_none(test_report.value),
            "per_task": {
                label: {"task": s.task, "z": s.z, "sigma": s.sigma, "weight": s.weight, "status": s.status}
                for label, s in report.per_task.items()
            },
            "weaknesses": list(weaknesses),
            "edit": asdict(edit),
            "credit_key": edit.credit_key,
            "cognition": [source for source, _, _ in cited],
            "parent": None if parent is None else {"name": parent.name, "fitness": finite_or_none(parent_fitness)},
            "siblings": {
                "count": len(siblings),
                "mean_fitness": finite_or_none(_mean([s.fitness for s in siblings if s.fitness is not None])),
            },
            "next_stage": next_stage,
        }
        if self.rules.judge_weight > 0 and self.judge is not None:
            try:
                score = max(-1.0, min(1.0, float(self.judge(code, text))))
            except Exception as exc:  # noqa: BLE001 - a judge's failure must not lose the measured analysis
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                fields["judge"] = {"error": reason, "weight": self.rules.judge_weight}
                text += f" The qualitative judge gave no score ({reason}); fitness is the measured part alone."
            else:
                fields["judge"] = {"score": score, "weight": self.rules.judge_weight}
                value += self.rules.judge_weight * score
                text += f" A qualitative judge scored it {score:+.2f} (weight {self.rules.judge_weight:g})."
        return AnalysisResult(value, report, deltas, significance, fields, text, weaknesses)

    def _deltas(
        self,
        report: FitnessReport,
        candidate: Mapping[str, TaskSummary],
        strongest: Mapping[str, TaskSummary],
        parent: Relative | None,
        siblings: Sequence[Relative],
    ) -> dict:
        deltas = {}
        for label, score in report.per_task.items():
            summary = candidate.get(label)
            ours = _values(summary)
            entry: dict = {
                "task": score.task,
                "metric": score.metric,
                "candidate": {
                    "seeds": sorted(summary.per_seed) if summary is not None else [],
                    "values": [finite_or_none(v) for v in summary.values] if summary is not None else [],
                    "mean": finite_or_none(_mean(ours)) if len(ours) == score.n else None,  # test values, as reported
                    "n": score.n,
                },
                "reference": _comparison(ours, _values(strongest.get(label)), name=report.strongest),
            }
            if parent is not None:
                entry["parent"] = _comparison(ours, _values(parent.tasks.get(label)), name=parent.name)
            if siblings:
                pooled = [v for s in siblings for v in _values(s.tasks.get(label))]
                entry["siblings"] = _comparison(ours, pooled, count=len(siblings))
            deltas[label] = entry
        return deltas

    def _significance(
        self,
        report: FitnessReport,
        references: Mapping[str, Mapping[str, TaskSummary]],
        candidate: Mapping[str, TaskSummary],
    ) -> dict:
        """Per task, the two-sided Welch test of the test values against the strongest rival's (descriptive: the
        discovery test is ``agents.discovery``'s, at the confirm stage)."""
        tests: dict = {}
        for label in report.per_task:
            ours, theirs = _values(candidate.get(label)), _values(references[report.strongest].get(label))
            if len(ours) < 2 or len(theirs) < 2:
                tests[label] = {"vs": report.strongest, "note": f"n={min(len(ours), len(theirs))}, no test"}
                continue
            result = welch_t_test(ours, theirs)
            tests[label] = {
                "vs": report.strongest,
                "t": finite_or_none(result.t),
                "df": finite_or_none(result.df),
                "p": result.p,
            }
        return tests

    def _weaknesses(self, report: FitnessReport) -> tuple[str, ...]:
        """Task names (not stage labels: cognition symptoms are phrased per task) scoring below weakness_z,
        and ``stability`` when a result was non-finite (a diverged run)."""
        found = [s.task for s in report.per_task.values() if s.z < self.rules.weakness_z]
        if any(s.status == "non-finite" for s in report.per_task.values()):
            found.append("stability")
        return tuple(dict.fromkeys(found))

    def _cognition(self, weaknesses: Sequence[str], retrieve: Retriever | None) -> list[tuple[str, str, str]]:
        """(source, title, weakness) of the entries cited: the best few retrieved for each weakness."""
        if retrieve is None or not weaknesses:
            return []
        symptom_of = {TASK_SYMPTOMS.get(w, w): w for w in weaknesses}
        hits = sorted(retrieve(list(symptom_of)), key=lambda hit: -hit.score)
        cited: list[tuple[str, str, str]] = []
        for symptom, weakness in symptom_of.items():
            mine = [h for h in hits if h.query == symptom and h.source not in {c[0] for c in cited}]
            cited += [(h.source, h.title, weakness) for h in mine[:CITED_PER_WEAKNESS]]
        return cited

    def _next_stage(self, stage_name: str, value: float) -> str | None:
        following = NEXT_STAGE.get(stage_name)
        if following is None or value < self.rules.promote_min_fitness:
            return None
        return following if following in self.config.stages else f"{following} (pending: no GPU executor)"

    def should_promote(self, result: AnalysisResult, stage_name: str, promoted_so_far: int) -> bool:
        """Promote to the next configured stage when fitness clears ``promote_min_fitness`` and the campaign
        has promoted fewer than ``max_promotions`` so far. A next stage that is not configured (scale,
        which needs a GPU executor) is never promoted to: ``fields["next_stage"]`` records it as pending."""
        following = NEXT_STAGE.get(stage_name)
        return (
            following in self.config.stages
            and result.fitness >= self.rules.promote_min_fitness
            and promoted_so_far < self.rules.max_promotions
        )

    def _text(
        self,
        name: str,
        stage_name: str,
        report: FitnessReport,
        deltas: dict,
        parent: Relative | None,
        parent_fitness: float | None,
        siblings: Sequence[Relative],
        edit: EditSummary,
        weaknesses: Sequence[str],
        cited: list[tuple[str, str, str]],
        next_stage: str | None,
    ) -> str:
        scores = ", ".join(
            f"{label} {s.status if s.missing else f'z={s.z:+.2f}'}" for label, s in report.per_task.items()
        )
        sentences = [
            f"{name} scores fitness {report.value:+.2f} ({report.split}) at {stage_name} against the strongest rival, "
            f"{report.strongest} ({scores}; z in units of the references' seed spread)."
        ]

        def compared(role: str) -> str:
            return ", ".join(_format_delta(label, e["metric"], e[role]) for label, e in deltas.items())

        if parent is not None:
            standing = f" (fitness {parent_fitness:+.2f})" if finite_or_none(parent_fitness) is not None else ""
            sentences.append(f"Against its parent {parent.name}{standing}: {compared('parent')}.")
        if siblings:
            sentences.append(f"Against {len(siblings)} sibling(s), all their runs pooled: {compared('siblings')}.")
        sentences.append(f"Against {report.strongest}: {compared('reference')}.")
        sentences.append(f"The edit: {edit.describe()}.")
        if weaknesses:
            lagging = [f"{label} (z={s.z:+.2f})" for label, s in report.per_task.items() if s.z < self.rules.weakness_z]
            lag = ", ".join(lagging + (["stability (non-finite results)"] if "stability" in weaknesses else []))
            sources = ", ".join(f"[{source}] {title}" for source, title, _ in cited)
            sentences.append(f"Weak on {lag}" + (f" → see {sources}." if sources else "."))
        else:
            sentences.append(f"No task below z={self.rules.weakness_z:+g}.")
        if next_stage is not None:
            sentences.append(
                f"Clears the promotion bar (fitness ≥ {self.rules.promote_min_fitness:+.2f}): next {next_stage}."
            )
        return " ".join(sentences)


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def record_analysis(session: Session, experiment: Experiment, stage_name: str, result: AnalysisResult) -> Analysis:
    """Store the analysis of ``experiment`` at a stage (its status and fitness are the caller's to set)."""
    row = Analysis(
        experiment_id=experiment.id,
        stage=stage_name,
        fitness=result.fitness,
        significance=result.significance,
        deltas=result.deltas,
        fields=result.fields,
        text=result.text,
    )
    session.add(row)
    session.flush()
    return row


def campaign_rules(campaign: Campaign) -> AnalystConfig:
    """The analyst rules a campaign was started with (its stored config): a resumed campaign keeps its rules and
    its declared family of discovery tests. Keys this version no longer knows are ignored; new ones take their
    defaults."""
    stored = dict((campaign.config or {}).get("analyst", {}))
    return AnalystConfig.model_validate(
        {key: value for key, value in stored.items() if key in AnalystConfig.model_fields}
    )


def _motif_of(key: str) -> list[str]:
    motif = key.partition(":")[2]
    return [motif] if motif in MOTIFS else []


def update_insights(
    session: Session, campaign: Campaign, config: AnalystConfig | None = None, stage: str = "screen"
) -> int:
    """Turn the campaign's edit credit at ``stage`` into insights; returns how many were written or removed.

    An edit with at least ``insight_min_support`` analysed children and a mean fitness change of at least
    ``insight_min_effect`` in size becomes one insight (support = the count, sources = the children), updated
    in place as evidence grows; one whose credit no longer clears the bar is removed, so the insights
    researchers read are the credit that holds now. Without ``config`` the thresholds are those the
    campaign was started with (its stored config), so a resumed campaign keeps its rules."""
    rules = config or campaign_rules(campaign)
    existing = credit_insights(session, campaign, stage)
    changed = 0
    for key, pairs in edit_deltas(session, campaign, stage).items():
        tag = f"{CREDIT_TAG}{stage}:{key}"
        mean = math.fsum(delta for _, delta in pairs) / len(pairs)
        holds = len(pairs) >= rules.insight_min_support and abs(mean) >= rules.insight_min_effect
        insight = existing.pop(tag, None)
        if not holds:
            if insight is not None:
                session.delete(insight)
                changed += 1
            continue
        verb = "raised" if mean > 0 else "lowered"
        text = f"{key} {verb} {stage} fitness by {abs(mean):.2f} on average over {len(pairs)} experiments"
        fields = {
            "text": text,
            "tags": [tag, *_motif_of(key)],
            "source_ids": [i for i, _ in pairs],
            "support": len(pairs),
        }
        if insight is None:
            session.add(Insight(campaign_id=campaign.id, **fields))
            changed += 1
        elif any(getattr(insight, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(insight, k, v)
            changed += 1
    for stale in existing.values():
        session.delete(stale)
        changed += 1
    session.flush()
    return changed
