import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from asiarch.stats import (
    bonferroni,
    difference_ci,
    kendall_tau,
    mean_ci,
    separation,
    t_quantile,
    t_sf,
    welch_t_test,
)


@pytest.mark.parametrize(
    "a,b",
    [
        ([1, 2, 3, 4], [1, 2, 3, 4]),
        ([1, 2, 3, 4], [4, 3, 2, 1]),
        ([1, 2, 3, 4, 5], [2, 1, 3, 5, 4]),
        ([1, 1, 2, 3], [1, 2, 2, 3]),
        ([0.3, 0.9, 0.1, 0.5, 0.7], [0.2, 0.8, 0.3, 0.9, 0.1]),
    ],
)
def test_kendall_tau_matches_scipy(a, b):
    assert kendall_tau(a, b) == pytest.approx(scipy_stats.kendalltau(a, b).statistic)


def test_kendall_tau_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_separation_in_units_of_pooled_spread():
    assert separation([2.0, 4.0], [0.0, 2.0]) == pytest.approx(2.0 / math.sqrt(2.0))
    assert separation([1.0, 1.0], [0.0, 0.0]) == math.inf
    assert separation([1.0, 1.0], [1.0, 1.0]) == 0.0


SAMPLES = [
    ([0.912, 0.934, 0.921, 0.945, 0.918], [0.901, 0.897, 0.915, 0.889, 0.908]),
    ([2.05, 2.11, 1.98], [2.31, 2.27, 2.40, 2.25, 2.36, 2.29]),
    ([1.0, 4.0], [2.0, 2.5, 3.0]),
    ([0.3, -1.2, 0.8, 2.2, -0.4, 1.1, 0.0], [5.0, -3.0, 9.0]),
]


@pytest.mark.parametrize("a,b", SAMPLES)
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_welch_t_test_matches_scipy(a, b, alternative):
    ours = welch_t_test(a, b, alternative)
    theirs = scipy_stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    assert ours.t == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.df == pytest.approx(theirs.df, rel=1e-12)
    assert ours.p == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("values", [a for a, _ in SAMPLES])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_mean_ci_matches_scipys_t_interval(values, level):
    expected = scipy_stats.t.interval(level, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert mean_ci(values, level) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("a,b", SAMPLES)
def test_difference_ci_matches_scipys_welch_interval(a, b):
    expected = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert difference_ci(a, b) == pytest.approx((expected.low, expected.high), rel=1e-9)


@pytest.mark.parametrize("df", [1.0, 2.5, 4.0, 12.7, 200.0])
def test_student_t_tail_and_quantile_match_scipy(df):
    for t in (-6.0, -1.3, 0.0, 0.7, 2.1, 9.0):
        assert t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-15)
    for q in (0.6, 0.9, 0.975, 0.995, 0.025):
        assert t_quantile(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-9)


def test_welch_edge_cases_and_errors():
    certain = welch_t_test([1.0, 1.0], [0.0, 0.0], "greater")
    assert certain.t == math.inf and certain.p == 0.0
    assert welch_t_test([1.0, 1.0], [1.0, 1.0]).p == 1.0
    with pytest.raises(ValueError, match="at least two values"):
        welch_t_test([1.0], [0.0, 2.0])
    with pytest.raises(ValueError, match="alternative"):
        welch_t_test([1.0, 2.0], [0.0, 2.0], "bigger")
    with pytest.raises(ValueError, match="at least two values"):
        mean_ci([3.0])


def test_bonferroni_multiplies_and_caps():
    assert bonferroni(0.03, 2) == pytest.approx(0.06)
    assert bonferroni(0.4, 5) == 1.0
    assert bonferroni(0.01, 1) == 0.01
    with pytest.raises(ValueError):
        bonferroni(0.01, 0)
