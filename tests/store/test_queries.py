"""Pool, parent sampling, lineage and totals over a small real family tree, on both backends."""

import random
from collections import Counter

import pytest

from asiarch.store.queries import (
    add_experiment,
    ancestors,
    candidate_pool,
    children,
    compute_totals,
    failure_neighbourhood,
    get_or_create_campaign,
    leaderboard,
    proposal_history,
    sample_parents,
    siblings,
    subtree,
)
from asiarch.store.schema import LedgerEntry


@pytest.fixture
def family(store):
    """seed → a, b, c(failed); a → a1..a4 and a copy of a1's code; b → b1(rejected)."""
    with store.session() as session:
        campaign = get_or_create_campaign(session, "family")
        ids = {}

        def add(name, code, fitness=None, status="analysed", parent=None):
            parents = [ids[parent]] if parent else []
            ids[name] = add_experiment(
                session, campaign, name, code, parents=parents, fitness=fitness, status=status
            ).id

        add("seed", "s", 0.1)
        add("a", "a", 0.5, parent="seed")
        add("b", "b", 0.3, parent="seed")
        add("c", "c", status="failed", parent="seed")
        for rank, fitness in enumerate((0.9, 0.8, 0.7, 0.6), start=1):
            add(f"a{rank}", f"a{rank}", fitness, parent="a")
        add("a1_copy", "a1", 0.95, parent="a")
        add("b1", "b1", status="rejected", parent="b")
        session.add(LedgerEntry(campaign_id=campaign.id, stage="screen", cpu_s=100.0, wall_s=60.0))
        session.add(LedgerEntry(campaign_id=campaign.id, stage="screen", cpu_s=50.0, wall_s=30.0))
        session.add(LedgerEntry(campaign_id=campaign.id, stage="gates", cpu_s=2.0, wall_s=2.0))
    return store, ids


def names(ids, found):
    by_id = {v: k for k, v in ids.items()}
    return [by_id[i] for i in found]


def test_pool_is_best_first_without_code_copies_or_one_family_flooding_it(family):
    store, ids = family
    with store.session() as session:
        campaign = get_or_create_campaign(session, "family")
        pool = candidate_pool(session, campaign, size=10, max_per_parent=3)
        assert names(ids, [m.id for m in pool]) == ["a1_copy", "a2", "a3", "a", "b", "seed"]
        assert [m.fitness for m in pool] == sorted((m.fitness for m in pool), reverse=True)
        assert len(candidate_pool(session, campaign, size=2)) == 2


def test_lineage_queries_follow_the_parent_edges(family):
    store, ids = family
    with store.session() as session:
        assert set(names(ids, ancestors(session, ids["a1"]))) == {"a", "seed"}
        assert names(ids, children(session, ids["a"])) == ["a1", "a2", "a3", "a4", "a1_copy"]
        assert names(ids, siblings(session, ids["a"])) == ["b", "c"]
        assert len(subtree(session, ids["seed"])) == len(ids) and names(ids, subtree(session, ids["b"])) == ["b", "b1"]


def test_failure_neighbourhood_lists_failed_and_rejected_descendants_newest_first(family):
    store, ids = family
    with store.session() as session:
        assert names(ids, [e.id for e in failure_neighbourhood(session, ids["seed"])]) == ["b1", "c"]
        assert failure_neighbourhood(session, ids["a"]) == []


def test_leaderboard_and_compute_totals(family):
    store, ids = family
    with store.session() as session:
        campaign = get_or_create_campaign(session, "family")
        assert names(ids, [e.id for e in leaderboard(session, campaign, top=3)]) == ["a1_copy", "a1", "a2"]
        totals = compute_totals(session, campaign)
        assert totals["screen"] == {"cpu_s": 150.0, "gpu_s": 0.0, "wall_s": 90.0} and totals["gates"]["cpu_s"] == 2.0


def test_parent_sampling_strategies(family):
    store, ids = family
    with store.session() as session:
        campaign = get_or_create_campaign(session, "family")
        rng = random.Random(0)
        best = sample_parents(session, campaign, "hill_climbing", rng, references=2)
        assert best.parent == ids["a1_copy"] and len(best.references) == 2 and best.parent not in best.references
        for strategy in ("rank_bands", "uniform", "fitness_proportional"):
            choice = sample_parents(session, campaign, strategy, rng, references=3)
            assert choice.parent not in choice.references and len(choice.references) == 3
        with pytest.raises(ValueError, match="unknown parent sampling strategy"):
            sample_parents(session, campaign, "annealing", rng)
        assert sample_parents(session, get_or_create_campaign(session, "empty"), "uniform", rng) is None


def test_fitness_proportional_sampling_favours_designs_with_fewer_children(family):
    store, ids = family
    with store.session() as session:
        campaign = get_or_create_campaign(session, "family")
        rng = random.Random(1)
        picks = Counter(
            sample_parents(session, campaign, "fitness_proportional", rng, temperature=1e6).parent for _ in range(3000)
        )
    # With fitness made irrelevant, 'a' (5 children) must be picked far less often than childless a2.
    assert picks[ids["a"]] < picks[ids["a2"]] / 3


def test_proposal_history_lists_a_campaigns_experiments_oldest_first_without_skipped_statuses(family):
    store, ids = family
    with store.session() as session:
        campaign = get_or_create_campaign(session, "family")
        add_experiment(session, get_or_create_campaign(session, "other"), "stranger", "x", motivation="elsewhere")
        history = proposal_history(session, campaign)
        assert [r.id for r in history] == sorted(ids.values())
        assert {r.name for r in history} == set(ids) and history[0].code == "s" and history[0].status == "analysed"
        kept = proposal_history(session, campaign, skip_statuses=("rejected", "failed"))
        assert {r.name for r in kept} == set(ids) - {"b1", "c"}
