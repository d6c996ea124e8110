"""The Analyst on hand-built results, the real cognition base and a real SQLite store."""

import math

import pytest
from scipy import stats as scipy_stats

from asiarch.agents.analyst import Analyst, Relative, record_analysis, summarise_edit, update_insights
from asiarch.agents.researcher.context import TASK_SYMPTOMS
from asiarch.agents.researcher.offline.grammar import WindowPath, spec_tree
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS
from asiarch.cognition.entries import load_base
from asiarch.cognition.retrieval import CognitionIndex
from asiarch.config import AnalystConfig, Config, ConfigError
from asiarch.store.db import open_store
from asiarch.store.queries import (
    add_experiment,
    analyses_of,
    edit_credit,
    evaluations_of,
    get_or_create_campaign,
    recent_insights,
)
from asiarch.store.schema import Evaluation
from tests.agents.results import results, two_task_stage

REFERENCES = {
    "softmax": results([1.0, 1.0, 1.0], [1.5, 1.6, 1.7]),
    "strong": results([0.90, 0.92, 0.94], [2.00, 2.10, 2.20]),
    "weak": results([0.80, 0.82, 0.84], [1.90, 1.95, 2.00]),
}
LM_SPREAD = math.sqrt(0.00625)  # pooled over the rivals (see test_fitness)


def _config(**rules) -> Config:
    return Config(
        stages={"screen": two_task_stage(), "confirm": two_task_stage(seeds=3)},
        references=["softmax", "strong", "weak"],
        analyst=AnalystConfig(rivals=["strong", "weak"], **rules),
    )


def _deltanet_edit():
    parent = ZOO_SPECS["deltanet"]
    child = parent.model_copy(update={"paths": (*parent.paths, WindowPath(window=32))})
    return summarise_edit("", spec_tree(parent), "", spec_tree(child), "mutate:add:local:sliding_window")


@pytest.fixture(scope="module")
def retrieve(tmp_path_factory):
    index = CognitionIndex.open(load_base(), tmp_path_factory.mktemp("cognition"))
    return lambda queries: index.search_many(queries, 3)


def test_the_analysis_is_specific_and_built_from_the_numbers(retrieve):
    analyst = Analyst(_config())
    parent = Relative("zoo:strong", None, REFERENCES["strong"])
    siblings = [Relative("sib-a", -1.0, results([0.93], [2.3])), Relative("sib-b", -0.5, results([0.91], [2.25]))]
    result = analyst.analyse(
        stage_name="screen",
        candidate=results([0.95], [2.3]),
        references=REFERENCES,
        parent=parent,
        siblings=siblings,
        edit=_deltanet_edit(),
        retrieve=retrieve,
        name="delta+swa32",
    )
    z_mqar, z_lm = (0.95 - 0.92) / 0.02, -(2.3 - 2.10) / LM_SPREAD
    assert result.fitness == pytest.approx((z_mqar + z_lm) / 2)
    # The parent is a reference: its own fitness at the stage (0: it is the strongest rival) is recorded.
    assert result.fields["parent"] == {"name": "zoo:strong", "fitness": pytest.approx(0.0)}
    assert result.deltas["mqar"]["parent"]["delta"] == pytest.approx(0.03)
    assert result.deltas["mqar"]["siblings"]["delta"] == pytest.approx(0.95 - 0.92)
    assert (
        result.deltas["lm"]["reference"]["note"] == "n=1, no interval" and result.deltas["lm"]["parent"]["ci"] is None
    )
    # Weak on bytes (z = -2.5): the weakness is the task's name, cognition is retrieved for its symptom.
    assert result.weaknesses == ("byte_lm",) and result.fields["weaknesses"] == ["byte_lm"]
    cited = result.fields["cognition"]
    assert 1 <= len(cited) <= 2 and all(source in result.text for source in cited)
    assert set(cited) <= {hit.source for hit in retrieve([TASK_SYMPTOMS["byte_lm"]])}
    text = result.text
    for fragment in (
        f"delta+swa32 scores fitness {result.fitness:+.2f} (validation) at screen",
        "strongest rival, strong",
        f"mqar z=+{z_mqar:.2f}",
        f"lm z={z_lm:+.2f}",
        "Against its parent zoo:strong (fitness +0.00)",
        "mqar +3.0 points (n=1, no interval)",
        "lm loss +0.200 nats",
        "Against 2 sibling(s)",
        "adds local:sliding_window",
        "Weak on lm (z=-2.53)",
    ):
        assert fragment in text, fragment
    assert result.fields["credit_key"] == "add:local:sliding_window" and result.fields["next_stage"] is None


def test_intervals_come_from_the_per_seed_values_when_both_sides_have_seeds():
    result = Analyst(_config()).analyse(
        stage_name="confirm",
        candidate=results([0.95, 0.97, 0.96], [2.0, 2.05, 2.1]),
        references=REFERENCES,
        parent=None,
        siblings=[],
        edit=summarise_edit("", None, "", None, "seed"),
        retrieve=None,
    )
    expected = scipy_stats.ttest_ind([0.95, 0.97, 0.96], [0.90, 0.92, 0.94], equal_var=False).confidence_interval()
    assert result.deltas["mqar"]["reference"]["ci"] == pytest.approx([expected.low, expected.high])
    assert "mqar +4.0 points [-0.2, +8.2]" in result.text  # in points, rounded: scipy's interval
    test = scipy_stats.ttest_ind([0.95, 0.97, 0.96], [0.90, 0.92, 0.94], equal_var=False)
    assert result.significance["mqar"]["p"] == pytest.approx(test.pvalue)
    assert "aggregate" not in result.significance, "the discovery test is agents.discovery's, not a per-task one"
    assert result.weaknesses == () and "No task below" in result.text
    # Fitness clears the bar at confirm, but scale needs a GPU executor: recorded as pending, never promoted.
    assert result.fields["next_stage"] == "scale (pending: no GPU executor)"
    assert not Analyst(_config()).should_promote(result, "confirm", 0)


def test_promotion_needs_the_fitness_bar_and_budget_left():
    analyst = Analyst(_config(promote_min_fitness=0.5, max_promotions=2))

    def screened(mqar: float):
        return analyst.analyse(
            stage_name="screen",
            candidate=results([mqar], [2.1]),
            references=REFERENCES,
            parent=None,
            siblings=[],
            edit=summarise_edit("", None, "", None, "seed"),
            retrieve=None,
        )

    good, poor = screened(0.96), screened(0.92)  # fitness +1.0 and 0.0
    assert good.fields["next_stage"] == "confirm" and "next confirm" in good.text
    assert analyst.should_promote(good, "screen", 1)
    assert not analyst.should_promote(good, "screen", 2)  # the campaign's confirm budget is spent
    assert not analyst.should_promote(poor, "screen", 0) and poor.fields["next_stage"] is None


def test_a_diverged_run_is_a_stability_weakness_and_the_judge_term_is_off_unless_weighted():
    calls = []

    def judge(code: str, text: str) -> float:
        calls.append((code, text))
        return 3.0  # out of range: clipped to 1

    args = dict(
        stage_name="screen",
        candidate=results([0.92], [math.inf]),
        references=REFERENCES,
        parent=None,
        siblings=[],
        edit=summarise_edit("", None, "", None, "seed"),
        retrieve=None,
    )
    off = Analyst(_config(), judge=judge).analyse(**args)
    assert calls == [] and "judge" not in off.fields
    assert off.weaknesses == ("byte_lm", "stability") and off.fitness == pytest.approx(-5.0)
    assert off.deltas["lm"]["candidate"]["values"] == [None]  # JSON-safe: no inf in the record
    on = Analyst(_config(judge_weight=0.5), judge=judge).analyse(**args, code="class Mixer: ...")
    assert on.fitness == pytest.approx(off.fitness + 0.5) and on.fields["judge"] == {"score": 1.0, "weight": 0.5}
    assert calls[0][0] == "class Mixer: ..." and "Weak on lm" in calls[0][1]


def test_a_failing_judge_leaves_the_measured_fitness_and_says_why():
    def judge(code: str, text: str) -> float:
        raise RuntimeError("the assessor's answer was unusable twice\nsecond line")

    args = dict(
        stage_name="screen",
        candidate=results([0.96], [2.0]),
        references=REFERENCES,
        parent=None,
        siblings=[],
        edit=summarise_edit("", None, "", None, "seed"),
        retrieve=None,
    )
    measured = Analyst(_config()).analyse(**args)
    judged = Analyst(_config(judge_weight=0.5), judge=judge).analyse(**args)
    assert judged.fitness == measured.fitness
    assert judged.fields["judge"] == {"error": "RuntimeError: the assessor's answer was unusable twice", "weight": 0.5}
    assert "gave no score (RuntimeError: the assessor's answer was unusable twice)" in judged.text


def test_a_misspelt_rival_is_a_configuration_error_but_an_unevaluated_one_is_not():
    with pytest.raises(ConfigError, match="analyst.rivals names mamba3, which is neither a zoo architecture"):
        Analyst(Config(analyst=AnalystConfig(rivals=["mamba3"])))
    trimmed = Analyst(Config(references=["softmax", "retnet"]))  # default rivals, most of them not evaluated
    only_retnet = {"softmax": REFERENCES["softmax"], "retnet": REFERENCES["weak"]}
    result = trimmed.analyse(
        stage_name="screen",
        candidate=results([0.9], [2.0]),
        references=only_retnet,
        parent=None,
        siblings=[],
        edit=summarise_edit("", None, "", None, "seed"),
        retrieve=None,
    )
    assert result.report.strongest == "retnet"


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "x.db")
    yield opened
    opened.close()


def _analysed(session, analyst, campaign, name, operator, mqar, parents=(), parent=None):
    """An experiment with screen evaluation rows and its analysis, as the loop would store them."""
    row = add_experiment(session, campaign, name, f"# {name}", parents=parents, operator=operator, status="analysed")
    tasks = results([mqar], [2.1])
    for label, summary in tasks.items():
        for seed, run in summary.per_seed.items():
            session.add(
                Evaluation(
                    experiment_id=row.id,
                    stage="screen",
                    task=label,
                    seed=seed,
                    lr=run.lr,
                    metric=run.metric,
                    value=run.value,
                )
            )
    result = analyst.analyse(
        stage_name="screen",
        candidate=tasks,
        references=REFERENCES,
        parent=parent,
        siblings=[],
        edit=summarise_edit("", None, row.code, None, operator),
        retrieve=None,
    )
    record_analysis(session, row, "screen", result)
    row.fitness = result.fitness
    return row


def test_the_stored_analysis_matches_the_evaluation_rows(store):
    analyst = Analyst(_config())
    with store.session() as session:
        campaign = get_or_create_campaign(session, "c")
        row = _analysed(session, analyst, campaign, "one", "seed", 0.935)
        stored = analyses_of(session, row.id)[0]
        for evaluation in evaluations_of(session, row.id):
            delta = stored.deltas[evaluation.task]
            assert delta["candidate"]["values"] == [evaluation.value]
            assert delta["candidate"]["seeds"] == [evaluation.seed] and delta["metric"] == evaluation.metric
        assert stored.fitness == row.fitness and stored.text.startswith("the candidate scores fitness")


def test_credit_and_insights_from_a_real_store(store):
    """With lm at the strongest rival's mean, mqar 0.92 is fitness 0 and each point of recall above it adds 0.25
    (z = 0.01 / 0.02 on one of two equally weighted tasks)."""
    analyst = Analyst(_config())
    rules = AnalystConfig(rivals=["strong", "weak"], insight_min_support=3, insight_min_effect=0.5)
    swa = "mutate:add:local:sliding_window"
    with store.session() as session:
        campaign = get_or_create_campaign(session, "credit", config=Config().model_dump(mode="json"))
        base = _analysed(session, analyst, campaign, "base", "seed", 0.92)  # fitness 0
        for i, mqar in enumerate((0.93, 0.94, 0.96)):  # fitness +0.25, +0.5, +1.0
            _analysed(session, analyst, campaign, f"swa{i}", swa, mqar, parents=[base.id])
        # A child of a zoo reference (no lineage row): its parent's fitness is the one the Analyst recorded.
        _analysed(
            session,
            analyst,
            campaign,
            "from-zoo",
            "mutate:swap:rule:gated_delta",
            0.92,
            parent=Relative("zoo:weak", None, REFERENCES["weak"]),
        )
        orphan = add_experiment(session, campaign, "unscored-parent", "x", status="failed")
        _analysed(session, analyst, campaign, "skipped", "mutate:tune:window", 0.99, parents=[orphan.id])

        credit = edit_credit(session, campaign)
        assert credit["add:local:sliding_window"] == (pytest.approx((0.25 + 0.5 + 1.0) / 3), 3)
        weak_fitness = analyst.analyse(
            stage_name="screen",
            candidate=REFERENCES["weak"],
            references=REFERENCES,
            parent=None,
            siblings=[],
            edit=summarise_edit("", None, "", None, "seed"),
            retrieve=None,
        ).fitness
        assert credit["swap:rule:gated_delta"] == (pytest.approx(0.0 - weak_fitness), 1)
        assert "tune:window" not in credit and "seed" not in credit

        assert update_insights(session, campaign, rules) == 1
        (insight,) = recent_insights(session, campaign)
        assert insight.text == "add:local:sliding_window raised screen fitness by 0.58 on average over 3 experiments"
        assert insight.tags == ["credit:screen:add:local:sliding_window", "local:sliding_window"]
        assert insight.support == 3 and len(insight.source_ids) == 3
        first_id = insight.id

        # More evidence updates the same insight (support grows); nothing changes when nothing new arrived.
        _analysed(session, analyst, campaign, "swa3", swa, 0.96, parents=[base.id])
        assert update_insights(session, campaign, rules) == 1
        assert update_insights(session, campaign, rules) == 0
        (insight,) = recent_insights(session, campaign)
        assert insight.id == first_id and insight.support == 4 and "by 0.69" in insight.text

        # Without explicit rules, the campaign's stored config decides (defaults here: support 3, effect 0.5).
        for i in range(4):  # four children that hurt: the credit falls under the bar and the insight goes
            _analysed(session, analyst, campaign, f"swa-bad{i}", swa, 0.90, parents=[base.id])
        assert update_insights(session, campaign) == 1
        assert recent_insights(session, campaign) == []
