"""Fitness on hand-built results, against values computed by hand."""

import math

import pytest
from pydantic import ValidationError

from asiarch.agents.fitness import fitness
from asiarch.config import AnalystConfig
from tests.agents.results import ACC, NATS, results, summary, two_task_stage

RULES = AnalystConfig(rivals=["strong", "weak"])


@pytest.fixture
def references():
    """Two rivals and a softmax that is best at everything but is no rival.

    strong: mqar mean 0.92 (sd 0.02), lm mean 2.10 (sd 0.10); weak: mqar 0.82 (sd 0.02), lm 1.95 (sd 0.05).
    Pooled spreads: mqar sqrt((2·0.0004 + 2·0.0004) / 4) = 0.02; lm sqrt((2·0.01 + 2·0.0025) / 4) = sqrt(0.00625).
    """
    return {
        "softmax": results([1.0, 1.0, 1.0], [1.5, 1.6, 1.7]),
        "strong": results([0.90, 0.92, 0.94], [2.00, 2.10, 2.20]),
        "weak": results([0.80, 0.82, 0.84], [1.90, 1.95, 2.00]),
    }


def test_fitness_matches_the_hand_computed_value(references):
    stage = two_task_stage(mqar_weight=2.0, lm_weight=1.0)
    report = fitness(stage, results([0.95], [2.0]), references, RULES)
    # strong beats weak on the weighted aggregate: (2·(+0.10/0.02) − 0.15/0.079) / 3 > 0, so strong is the zero.
    assert report.strongest == "strong"
    z_mqar = (0.95 - 0.92) / 0.02
    z_lm = -(2.0 - 2.10) / math.sqrt(0.00625)  # lower loss is better: the sign flips
    assert report.per_task["mqar"].z == pytest.approx(z_mqar)
    assert report.per_task["lm"].z == pytest.approx(z_lm)
    assert report.per_task["lm"].sigma == pytest.approx(math.sqrt(0.00625))
    assert report.value == pytest.approx((2 * z_mqar + z_lm) / 3)
    assert report.per_task["lm"].task == "byte_lm" and report.per_task["lm"].reference_mean == pytest.approx(2.10)


def test_the_strongest_rival_scores_zero_and_softmax_is_only_a_rival_when_named(references):
    stage = two_task_stage()
    assert fitness(stage, references["strong"], references, RULES).value == pytest.approx(0.0)
    with_softmax = AnalystConfig(rivals=["softmax", "strong", "weak"])
    report = fitness(stage, references["strong"], references, with_softmax)
    assert report.strongest == "softmax" and report.value < 0


def test_missing_and_non_finite_tasks_score_the_penalty_and_never_beat_a_real_result(references):
    stage = two_task_stage()
    good_mqar = (0.95 - 0.92) / 0.02
    no_lm = fitness(stage, {"mqar": summary("mqar", ACC, [0.95])}, references, RULES)
    assert no_lm.per_task["lm"].status == "missing" and no_lm.per_task["lm"].z == -10.0
    assert no_lm.value == pytest.approx((good_mqar - 10.0) / 2)
    diverged = fitness(stage, results([0.95], [math.inf]), references, RULES)
    assert diverged.per_task["lm"].status == "non-finite" and diverged.value == pytest.approx(no_lm.value)
    nan = fitness(stage, results([math.nan], [2.0]), references, RULES)
    assert nan.per_task["mqar"].status == "non-finite" and nan.per_task["mqar"].mean is None
    # A real but dreadful result is clipped at −z_clip, above the penalty: failing to report never pays.
    dreadful = fitness(stage, results([0.95], [50.0]), references, RULES)
    assert dreadful.per_task["lm"].z == -RULES.z_clip and no_lm.value < dreadful.value
    assert fitness(stage, {}, references, RULES).value == -10.0


def test_the_spread_floor_keeps_a_saturated_task_from_dominating():
    saturated = {
        "strong": results([1.0, 1.0, 1.0], [2.0, 2.1, 2.2]),
        "weak": results([1.0, 1.0, 1.0], [2.1, 2.2, 2.3]),
    }
    report = fitness(two_task_stage(), results([0.99], [2.1]), saturated, RULES)
    assert report.per_task["mqar"].sigma == 0.005  # the references agree exactly: the floor is the spread
    assert report.per_task["mqar"].z == pytest.approx(-2.0)  # one point below in half-point units, not −inf
    raised = AnalystConfig(rivals=["strong", "weak"], spread_floor={ACC: 0.02, NATS: 0.01})
    assert fitness(two_task_stage(), results([0.99], [2.1]), saturated, raised).per_task["mqar"].z == pytest.approx(
        -0.5
    )


def test_no_task_contributes_more_than_z_clip_whatever_the_margin(references):
    agreeing = {
        "strong": results([0.90, 0.90, 0.90], [2.0, 2.1, 2.2]),
        "weak": results([0.90, 0.90, 0.90], [2.1, 2.2, 2.3]),
    }
    report = fitness(two_task_stage(), results([0.99], [2.1]), agreeing, RULES)
    assert report.per_task["mqar"].z == RULES.z_clip  # 9 points over a 0.5-point floor would be z = +18
    assert report.value == pytest.approx((RULES.z_clip + 0.0) / 2)
    with pytest.raises(ValidationError, match="missing_penalty"):
        AnalystConfig(z_clip=10.0, missing_penalty=10.0)


def test_configuration_mistakes_are_named(references):
    with pytest.raises(ValidationError, match="spread_floor.accuracy must be > 0"):
        AnalystConfig(spread_floor={ACC: 0.0})
    with pytest.raises(ValueError, match="analyst.rivals"):
        fitness(two_task_stage(), results([0.9], [2.0]), references, AnalystConfig(rivals=["mamba2"]))
    with pytest.raises(ValueError, match="spread_floor"):
        fitness(
            two_task_stage(),
            results([0.9], [2.0]),
            references,
            AnalystConfig(rivals=["strong"], spread_floor={ACC: 0.01}),
        )
