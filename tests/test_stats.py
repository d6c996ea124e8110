import math

import pytest
from scipy import stats as scipy_stats

from asiarch.stats import kendall_tau, separation


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
