"""The confirm stage's sequential discovery rule on hand-built results, against p-values computed by scipy."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from asiarch.agents.discovery import CONTINUE, DISCOVERY, NOT_A_DISCOVERY, Family, decide, reference_parameters
from asiarch.config import AnalystConfig, StageConfig
from tests.agents.results import ACC, NATS, summary
from tests.helpers import tiny_run

RULES = AnalystConfig(rivals=["strong", "weak"], max_promotions=1)
SEEDS = 6
STRONG_MQAR = [0.90, 0.91, 0.92, 0.93, 0.94, 0.92]
STRONG_LM = [2.00, 2.04, 2.08, 2.12, 2.16, 2.08]
REFERENCES = {
    "strong": {"mqar": summary("mqar", ACC, STRONG_MQAR), "lm": summary("lm", NATS, STRONG_LM)},
    "weak": {"mqar": summary("mqar", ACC, [v - 0.05 for v in STRONG_MQAR]),
             "lm": summary("lm", NATS, [v + 0.02 for v in STRONG_LM])},
}  # fmt: skip
NOISE = [0.004, -0.006, 0.002, -0.001, 0.005, -0.003]  # seed-to-seed wobble of a candidate's improvement


def stage(shares: list[float] | None = None) -> StageConfig:
    return StageConfig(
        seeds=SEEDS, reference_seeds=SEEDS, lr_search_seeds=2, looks=[2, 4, 6],
        alpha_shares=shares or [0.0, 0.25, 0.75],
        tasks={"mqar": tiny_run("mqar"), "lm": tiny_run("byte_lm")},
    )  # fmt: skip


def candidate(mqar: list[float], lm: list[float], seeds: int = SEEDS, parameters: int = 0) -> dict:
    return {"mqar": summary("mqar", ACC, mqar[:seeds], mixer_parameters=parameters),
            "lm": summary("lm", NATS, lm[:seeds], mixer_parameters=parameters)}  # fmt: skip


def expected_p(mqar: list[float], lm: list[float], rival: dict) -> float:
    """The aggregate test written out independently: paired standardised differences, scipy's one-sample test."""
    sd_mqar = np.sqrt((np.var(STRONG_MQAR, ddof=1) + np.var([v - 0.05 for v in STRONG_MQAR], ddof=1)) / 2)
    sd_lm = np.sqrt((np.var(STRONG_LM, ddof=1) + np.var([v + 0.02 for v in STRONG_LM], ddof=1)) / 2)
    d_mqar = np.clip((np.array(mqar) - rival["mqar"].values) / sd_mqar, -5, 5)
    d_lm = np.clip(-(np.array(lm) - rival["lm"].values) / sd_lm, -5, 5)
    return scipy_stats.ttest_1samp((d_mqar + d_lm) / 2, 0.0, alternative="greater").pvalue


def test_a_clear_improvement_is_a_discovery_at_the_last_look_with_scipys_p_value():
    better = [v + 0.02 + n for v, n in zip(STRONG_MQAR, NOISE)]
    verdict = decide(candidate(better, STRONG_LM), REFERENCES, stage(), RULES, Family(1, 0.05), 2, 0.1)
    assert verdict.outcome == DISCOVERY, verdict.reason
    assert verdict.rivals == ["strong"]  # strong is best on both tasks by validation: the only compared rival
    assert verdict.p_value == pytest.approx(expected_p(better, STRONG_LM, REFERENCES["strong"]), rel=1e-9)
    assert verdict.alpha_look == pytest.approx(0.05 * 0.75) and verdict.m == 1
    assert verdict.non_inferiority["mqar"]["holm_ok"] and verdict.non_inferiority["lm"]["holm_ok"]


def test_the_declared_family_divides_alpha_whatever_the_order_of_promotions():
    slightly = [v + 0.0045 + n for v, n in zip(STRONG_MQAR, NOISE)]
    p = expected_p(slightly, STRONG_LM, REFERENCES["strong"])
    assert 0.05 * 0.75 / 3 < p < 0.05 * 0.75  # the premise: significant in a family of one, not of three
    one = decide(candidate(slightly, STRONG_LM), REFERENCES, stage(), RULES, Family(1, 0.05), 2, 0.1)
    three = decide(candidate(slightly, STRONG_LM), REFERENCES, stage(), RULES, Family(3, 0.05), 2, 0.1)
    assert one.is_discovery and not three.is_discovery
    assert three.p_corrected == pytest.approx(p * 3 / 0.75) and "m=3" in three.reason


def test_the_first_look_spends_nothing_and_a_clear_loser_stops_there():
    better = [v + 0.05 + n for v, n in zip(STRONG_MQAR, NOISE)]
    first = decide(candidate(better, STRONG_LM, seeds=2), REFERENCES, stage(), RULES, Family(1, 0.05), 0, 0.1)
    assert first.outcome == CONTINUE and not first.stopped
    loser = [v - 0.08 + n for v, n in zip(STRONG_MQAR, NOISE)]
    out = decide(candidate(loser, STRONG_LM, seeds=2), REFERENCES, stage(), RULES, Family(1, 0.05), 0, 0.1)
    assert out.outcome == NOT_A_DISCOVERY and "futility" in out.reason


def test_every_rival_best_on_some_task_must_be_beaten():
    # weak becomes the best on lm: the candidate beats strong overall but not weak's bytes.
    references = {**REFERENCES, "weak": {**REFERENCES["weak"], "lm": summary("lm", NATS, [v - 0.2 for v in STRONG_LM])}}
    much_better_recall = [v + 0.05 + n for v, n in zip(STRONG_MQAR, NOISE)]
    verdict = decide(candidate(much_better_recall, STRONG_LM), references, stage(), RULES, Family(1, 0.05), 2, 0.1)
    assert set(verdict.rivals) == {"strong", "weak"}
    assert not verdict.is_discovery and verdict.non_inferiority["lm"]["vs"] == "weak"
    assert "non-inferior" in verdict.reason and "lm" in verdict.reason


def test_a_task_beyond_its_margin_vetoes_a_significant_aggregate_and_a_wider_margin_lifts_it():
    much_better_recall = [v + 0.10 + n for v, n in zip(STRONG_MQAR, NOISE)]
    worse_bytes = [v + 0.04 for v in STRONG_LM]  # 0.04 nats behind: outside the default 0.03 margin
    verdict = decide(candidate(much_better_recall, worse_bytes), REFERENCES, stage(), RULES, Family(1, 0.05), 2, 0.1)
    assert verdict.p_value < 0.01 and not verdict.is_discovery and not verdict.non_inferiority["lm"]["holm_ok"]
    wide = AnalystConfig(rivals=["strong", "weak"], non_inferiority_margin={ACC: 0.02, NATS: 0.1})
    assert decide(
        candidate(much_better_recall, worse_bytes), REFERENCES, stage(), wide, Family(1, 0.05), 2, 0.1
    ).is_discovery


def test_the_budget_is_held_at_every_task_width_and_missing_tasks_stop_at_once():
    better = [v + 0.05 + n for v, n in zip(STRONG_MQAR, NOISE)]
    budget = reference_parameters(16, 2)  # tiny_run: width 16, one layer
    inside = decide(
        candidate(better, STRONG_LM, parameters=budget), REFERENCES, stage(), RULES, Family(1, 0.05), 2, 0.1
    )
    assert inside.is_discovery
    bloated = candidate(better, STRONG_LM, parameters=int(budget * 1.5))
    verdict = decide(bloated, REFERENCES, stage(), RULES, Family(1, 0.05), 0, 0.1)
    assert verdict.outcome == NOT_A_DISCOVERY and "parameter budget" in verdict.reason and "+50%" in verdict.reason
    missing = decide(
        {"mqar": candidate(better, STRONG_LM)["mqar"]}, REFERENCES, stage(), RULES, Family(1, 0.05), 0, 0.1
    )
    assert missing.outcome == NOT_A_DISCOVERY and "missing" in missing.reason


def test_an_exact_copy_of_the_rival_is_never_a_discovery():
    verdict = decide(candidate(STRONG_MQAR, STRONG_LM), REFERENCES, stage(), RULES, Family(1, 0.05), 2, 0.1)
    assert not verdict.is_discovery and verdict.p_value == pytest.approx(0.5)
