"""The research context is built from a real store and the real cognition base."""

from __future__ import annotations

import pytest

from asiarch.agents.researcher.context import TASK_SYMPTOMS, build_context, zoo_brief
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS
from asiarch.cognition.entries import load_base
from asiarch.cognition.retrieval import CognitionIndex
from asiarch.config import Config
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, get_or_create_campaign
from asiarch.store.schema import Analysis, Evaluation, Insight


@pytest.fixture
def memory(tmp_path):
    """A parent with screen results on two tasks and seeds, an analysis naming a weakness, a failed child."""
    store = open_store(tmp_path / "memory.db")
    with store.session() as session:
        campaign = get_or_create_campaign(session, "ctx")
        parent = add_experiment(session, campaign, "parent", "class Mixer: ...", status="analysed", fitness=0.4,
                                stage_reached="screen", motivation="why the parent exists")
        for seed, (recall, loss) in enumerate([(90.0, 2.1), (92.0, 2.3)]):
            session.add(Evaluation(experiment_id=parent.id, stage="screen", task="mqar", seed=seed, lr=0.01,
                                   metric="accuracy", value=recall))
            session.add(Evaluation(experiment_id=parent.id, stage="screen", task="lm", seed=seed, lr=0.01,
                                   metric="nats_per_byte", value=loss))
        session.add(Analysis(experiment_id=parent.id, stage="screen", fitness=0.4, text="lags on noisy recall",
                             fields={"weaknesses": ["noisy_recall"]}))
        add_experiment(session, campaign, "broken-child", "x", parents=[parent.id], status="failed",
                       failure_gate="causality", failure_reason="output at t moved when t+1 changed")
        session.add(Insight(campaign_id=campaign.id, text="delta rules help recall", support=3))
        session.add(Insight(campaign_id=campaign.id, text="a weak one", support=1))
        ids = {"campaign": campaign.id, "parent": parent.id}
    yield store, ids
    store.close()


def test_context_carries_results_analysis_failures_insights_and_cognition(memory, tmp_path):
    store, ids = memory
    index = CognitionIndex.open(load_base(), tmp_path / "cache")
    with store.session() as session:
        campaign = get_or_create_campaign(session, "ctx")
        context = build_context(
            session, campaign, ids["parent"], ["zoo:gla"], retrieve=lambda q: index.search_many(q, 5), seed=9
        )
    assert context.parent.results == {"mqar": 91.0, "lm": 2.2}
    assert context.parent.analysis == "lags on noisy recall" and context.parent.fitness == 0.4
    assert context.weaknesses == ("noisy_recall",)
    assert [f.name for f in context.failures] == ["broken-child"]
    assert context.failures[0].failure.startswith("causality: output at t moved")
    assert context.insights == ("delta rules help recall", "a weak one")
    assert context.references[0].name == "zoo:gla" and context.references[0].spec is not None
    assert context.cognition and all(hit.query == TASK_SYMPTOMS["noisy_recall"] for hit in context.cognition)
    assert context.seed == 9


def test_a_reference_parent_has_its_generated_code_and_no_weaknesses(memory):
    store, _ = memory
    with store.session() as session:
        context = build_context(session, get_or_create_campaign(session, "ctx"), "zoo:mamba2")
    assert context.parent.code == zoo_brief("mamba2").code and "class Mixer" in context.parent.code
    assert context.weaknesses == () and context.cognition == () and context.failures == ()


def test_unknown_parents_are_named_in_the_error(memory):
    store, _ = memory
    with store.session() as session:
        campaign = get_or_create_campaign(session, "ctx")
        with pytest.raises(KeyError, match="no experiment 999"):
            build_context(session, campaign, 999)
        with pytest.raises(KeyError, match="unknown reference 'nope'"):
            build_context(session, campaign, "zoo:nope")


def test_every_task_of_the_default_stages_has_a_symptom_phrase():
    tasks = {run.task for stage in Config().stages.values() for run in stage.tasks.values()}
    assert tasks <= set(TASK_SYMPTOMS), tasks - set(TASK_SYMPTOMS)
    assert set(ZOO_SPECS) == set(Config().references)
