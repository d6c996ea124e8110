"""Builds what a researcher reads from memory: the parent, references, cognition, insights and failures nearby.

Both researchers get the same context. A parent is an experiment id or ``zoo:NAME`` (cold start: the
reference's grammar spec and generated code). Weaknesses are the tasks the Analyst found the parent
lagging on (``analysis.fields["weaknesses"]``); each becomes a cognition query phrased as the symptom
it is, so the retrieval matches the entries' symptom descriptions.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from asiarch.agents.researcher.offline.codegen import generate
from asiarch.agents.researcher.offline.grammar import spec_tree
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS
from asiarch.protocols import CognitionHit, Credit, ExperimentBrief, ResearchContext
from asiarch.store.queries import analyses_of, evaluations_of, failure_neighbourhood, recent_insights
from asiarch.store.schema import Campaign, Experiment

ZOO_PREFIX = "zoo:"

TASK_SYMPTOMS: dict[str, str] = {
    "mqar": "recall of many key-value bindings from context collapses as the number of pairs grows",
    "selective_copy": "cannot select content tokens among noise tokens and carry them to the end",
    "noisy_recall": "recall fails when distractor tokens are interleaved between key-value pairs",
    "fuzzy_recall": "cannot bind multi-token keys to multi-token values in context",
    "memorization": "stores too little of a fixed key-value mapping in its weights",
    "byte_lm": "language-modelling loss on byte-level natural text stays high",
    "speed": "training step is slow on long sequences",
    "stability": "training diverges or produces non-finite values",
    "parameters": "uses too many parameters for its quality",
}
"""A weakness on a task, phrased as the symptom a cognition entry describes."""

Retriever = Callable[[list[str]], Sequence[CognitionHit]]
"""Cognition retrieval for a list of symptom queries (e.g. ``CognitionIndex.search_many``)."""


def zoo_brief(name: str) -> ExperimentBrief:
    """A reference as a parent: its grammar spec and the code generated from it."""
    if name not in ZOO_SPECS:
        raise KeyError(f"unknown reference {name!r}; the zoo has: {', '.join(ZOO_SPECS)}")
    spec = ZOO_SPECS[name]
    return ExperimentBrief(name=f"{ZOO_PREFIX}{name}", code=generate(spec, name), spec=spec_tree(spec))


def experiment_brief(session: Session, experiment: Experiment) -> ExperimentBrief:
    """An experiment as the researcher sees it: code, spec, mean result per task at its last stage, analysis."""
    evaluations = evaluations_of(session, experiment.id)
    stage = experiment.stage_reached or (evaluations[-1].stage if evaluations else None)
    values: dict[str, list[float]] = defaultdict(list)
    for row in evaluations:
        if row.stage == stage:
            values[row.task].append(row.value)
    analyses = analyses_of(session, experiment.id)
    failure = f"{experiment.failure_gate}: {experiment.failure_reason}" if experiment.failure_gate else ""
    return ExperimentBrief(
        name=experiment.name,
        code=experiment.code,
        id=experiment.id,
        spec=experiment.spec,
        motivation=experiment.motivation,
        results={task: statistics.fmean(v) for task, v in values.items()},
        fitness=experiment.fitness,
        analysis=analyses[-1].text if analyses else "",
        failure=failure,
    )


def _brief(session: Session, key: int | str) -> ExperimentBrief:
    if isinstance(key, str) and key.startswith(ZOO_PREFIX):
        return zoo_brief(key.removeprefix(ZOO_PREFIX))
    experiment = session.get(Experiment, int(key))
    if experiment is None:
        raise KeyError(f"no experiment {key} in the store")
    return experiment_brief(session, experiment)


def weaknesses_of(session: Session, key: int | str) -> tuple[str, ...]:
    """The tasks the latest analysis of an experiment found it lagging on (none for a reference)."""
    if isinstance(key, str) and key.startswith(ZOO_PREFIX):
        return ()
    analyses = analyses_of(session, int(key))
    return tuple(analyses[-1].fields.get("weaknesses", ())) if analyses else ()


def build_context(
    session: Session,
    campaign: Campaign,
    parent: int | str,
    references: Sequence[int | str] = (),
    *,
    retrieve: Retriever | None = None,
    credit: dict[str, Credit] | None = None,
    seed: int = 0,
    insight_limit: int = 5,
    failure_limit: int = 5,
) -> ResearchContext:
    """The context for one proposal; ``retrieve`` is asked for entries addressing the parent's weaknesses."""
    weaknesses = weaknesses_of(session, parent)
    queries = [TASK_SYMPTOMS.get(task, task) for task in weaknesses]
    failures: tuple[ExperimentBrief, ...] = ()
    if not (isinstance(parent, str) and parent.startswith(ZOO_PREFIX)):
        failures = tuple(experiment_brief(session, e) for e in failure_neighbourhood(session, int(parent), failure_limit))
    return ResearchContext(
        parent=_brief(session, parent),
        references=tuple(_brief(session, r) for r in references),
        cognition=tuple(retrieve(queries)) if retrieve is not None and queries else (),
        insights=tuple(i.text for i in recent_insights(session, campaign, insight_limit)),
        failures=failures,
        credit=dict(credit or {}),
        weaknesses=weaknesses,
        seed=seed,
    )
