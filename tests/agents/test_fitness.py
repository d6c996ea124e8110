"""Fitness and discovery on hand-built results, against values computed by hand (and scipy for p-values)."""

import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats as scipy_stats

from asiarch.agents.fitness import discovery, fitness
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
    # A real but dreadful result is clipped at the same floor: failing to report is never the better option.
    dreadful = fitness(stage, results([0.95], [50.0]), references, RULES)
    assert dreadful.per_task["lm"].z == -10.0 and no_lm.value <= dreadful.value
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


# Discovery: five seeds a side. The rivals' spreads: mqar sd 0.0158 (both), lm sd 0.0632 (both).
STRONG_MQAR = [0.90, 0.91, 0.92, 0.93, 0.94]
STRONG_LM = [2.00, 2.04, 2.08, 2.12, 2.16]
CONFIRMED = {
    "strong": results(STRONG_MQAR, STRONG_LM),
    "weak": results([v - 0.05 for v in STRONG_MQAR], [v + 0.02 for v in STRONG_LM]),
}
SLIGHTLY_BETTER_MQAR = [0.942, 0.922, 0.962, 0.932, 0.952]  # strong's seeds shuffled, +2.2 points each


def _expected_p(mqar: list[float], lm: list[float]) -> float:
    """The discovery test written out independently: per-seed standardised aggregates, scipy's Welch test."""
    sd_mqar, sd_lm = np.std(STRONG_MQAR, ddof=1), np.std(STRONG_LM, ddof=1)

    def aggregate(m, lo):
        return ((np.array(m) - np.mean(STRONG_MQAR)) / sd_mqar - (np.array(lo) - np.mean(STRONG_LM)) / sd_lm) / 2

    return scipy_stats.ttest_ind(
        aggregate(mqar, lm), aggregate(STRONG_MQAR, STRONG_LM), equal_var=False, alternative="greater"
    ).pvalue


def test_a_clear_improvement_is_a_discovery_with_scipys_p_value():
    stage = two_task_stage(seeds=5)
    better = [v + 0.05 for v in SLIGHTLY_BETTER_MQAR]
    verdict = discovery(results(better, STRONG_LM), CONFIRMED, stage, 3, True, RULES)
    assert verdict.is_discovery, verdict.reason
    assert verdict.p_value == pytest.approx(_expected_p(better, STRONG_LM), rel=1e-9)
    assert verdict.p_corrected == pytest.approx(3 * verdict.p_value) and verdict.comparisons == 3
    assert verdict.strongest == "strong" and verdict.inferior_tasks == []


def test_bonferroni_turns_p_003_into_no_discovery_when_two_were_confirmed():
    stage = two_task_stage(seeds=5)
    candidate = results(SLIGHTLY_BETTER_MQAR, STRONG_LM)
    p = _expected_p(SLIGHTLY_BETTER_MQAR, STRONG_LM)
    assert 0.025 < p < 0.05  # the premise: significant alone, not after doubling
    alone = discovery(candidate, CONFIRMED, stage, 1, True, RULES)
    assert alone.is_discovery and alone.p_value == pytest.approx(p, rel=1e-9)
    two = discovery(candidate, CONFIRMED, stage, 2, True, RULES)
    assert not two.is_discovery and two.p_corrected == pytest.approx(2 * p)
    assert "not significantly better" in two.reason


def test_one_task_worse_beyond_the_tolerance_vetoes_a_significant_aggregate():
    stage = two_task_stage(seeds=5)
    much_better_recall = [v + 0.10 for v in SLIGHTLY_BETTER_MQAR]
    worse_bytes = [v + 0.10 for v in STRONG_LM]  # 0.10 / 0.0632 = 1.58 spreads worse on lm
    verdict = discovery(results(much_better_recall, worse_bytes), CONFIRMED, stage, 1, True, RULES)
    assert verdict.p_value < 1e-3
    assert not verdict.is_discovery and verdict.inferior_tasks == ["lm"]
    tolerant = AnalystConfig(rivals=["strong", "weak"], non_inferiority_sd=2.0)
    assert discovery(results(much_better_recall, worse_bytes), CONFIRMED, stage, 1, True, tolerant).is_discovery


def test_no_discovery_outside_the_parameter_budget_with_one_seed_or_with_a_missing_task():
    stage = two_task_stage(seeds=5)
    better = results([v + 0.05 for v in SLIGHTLY_BETTER_MQAR], STRONG_LM)
    assert "parameter budget" in discovery(better, CONFIRMED, stage, 1, False, RULES).reason
    single = discovery(results([0.99], [1.5]), CONFIRMED, stage, 1, True, RULES)
    assert not single.is_discovery and single.p_value is None and "two complete seeds" in single.reason
    missing = discovery({"mqar": better["mqar"]}, CONFIRMED, stage, 1, True, RULES)
    assert not missing.is_discovery and "missing" in missing.reason
