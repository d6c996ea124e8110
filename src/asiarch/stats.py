"""Small statistics used to judge evaluation signal and candidates.

Kept dependency-free (no scipy at run time) and exact for the handful of values we compare: the
Student t distribution comes from the regularised incomplete beta function, which converges to
machine precision in a few dozen continued-fraction steps for the sample sizes we see (2–10 seeds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def finite_or_none(value: float | None) -> float | None:
    """The value where it is a finite number, else None: how statistics travel into JSON and the store."""
    return value if value is not None and math.isfinite(value) else None


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two scorings of the same items (ties counted as in tau-b)."""
    if len(a) != len(b):
        raise ValueError("kendall_tau needs two sequences of equal length")
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else 0.0


def separation(a: Sequence[float], b: Sequence[float]) -> float:
    """Difference of means in units of the pooled seed-to-seed standard deviation."""
    spread = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    difference = statistics.fmean(a) - statistics.fmean(b)
    if spread == 0:
        return math.inf if difference else 0.0
    return difference / spread


CONTINUED_FRACTION_STEPS = 300
CONTINUED_FRACTION_TOLERANCE = 1e-15
TINY = 1e-300
QUANTILE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance t statistic, its Welch–Satterthwaite degrees of freedom and the p-value."""

    t: float
    df: float
    p: float


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function, evaluated by the modified Lentz method."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > TINY else TINY)
    fraction = d
    for m in range(1, CONTINUED_FRACTION_STEPS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > TINY else TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > TINY else TINY
            step = c * d
            fraction *= step
        if abs(step - 1.0) < CONTINUED_FRACTION_TOLERANCE:
            break
    return fraction


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function (the CDF of a Beta(a, b) variable at x)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    # The fraction converges fast only on one side of the mean; use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a).
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (real, > 0) degrees of freedom; the normal tail when df is infinite."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_quantile(q: float, df: float) -> float:
    """The t value below which a fraction ``q`` of Student's t(df) lies (bisection on the tail: exact enough
    for intervals, and it needs no special-function approximations of its own)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"t_quantile needs 0 < q < 1, got {q}")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    tail = 1.0 - q
    low, high = 0.0, 1.0
    while t_sf(high, df) > tail:
        low, high = high, 2.0 * high
    while high - low > QUANTILE_TOLERANCE * max(1.0, high):
        middle = 0.5 * (low + high)
        if t_sf(middle, df) > tail:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _moments(values: Sequence[float], name: str) -> tuple[float, float, int]:
    if len(values) < 2:
        raise ValueError(f"{name} needs at least two values per sample (got {len(values)}): one run has no spread")
    return statistics.fmean(values), statistics.variance(values), len(values)


def _welch_parts(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Difference of means, its standard error and the Welch–Satterthwaite degrees of freedom."""
    mean_a, var_a, n_a = _moments(a, "a Welch comparison")
    mean_b, var_b, n_b = _moments(b, "a Welch comparison")
    share_a, share_b = var_a / n_a, var_b / n_b
    se2 = share_a + share_b
    df = se2 * se2 / (share_a**2 / (n_a - 1) + share_b**2 / (n_b - 1)) if se2 > 0 else math.inf
    return mean_a - mean_b, math.sqrt(se2), df


def welch_t_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> WelchResult:
    """Welch's t-test of mean(a) against mean(b) without assuming equal variances.

    ``alternative`` is what is tested for: "greater" (mean a > mean b), "less", or "two-sided". When
    both samples have no spread at all, a difference is certain (t = ±inf) and no difference is no
    evidence (t = 0, p = 1 two-sided)."""
    difference, se, df = _welch_parts(a, b)
    if se > 0:
        t = difference / se
    else:
        t = math.copysign(math.inf, difference) if difference else 0.0
    if alternative == "greater":
        p = t_sf(t, df)
    elif alternative == "less":
        p = t_sf(-t, df)
    elif alternative == "two-sided":
        p = min(1.0, 2.0 * t_sf(abs(t), df))
    else:
        raise ValueError(f"unknown alternative {alternative!r}; use 'two-sided', 'greater' or 'less'")
    return WelchResult(t, df, p)


def bonferroni(p: float, m: int) -> float:
    """A p-value corrected for ``m`` comparisons: the chance that any of m null results looks this good."""
    if m < 1:
        raise ValueError(f"bonferroni needs m >= 1 comparisons, got {m}")
    return min(1.0, p * m)


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (needs at least two values)."""
    mean, variance, n = _moments(values, "mean_ci")
    half = t_quantile(0.5 + level / 2.0, n - 1) * math.sqrt(variance / n)
    return mean - half, mean + half


def difference_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Welch confidence interval of mean(a) − mean(b) (needs at least two values in each sample)."""
    difference, se, df = _welch_parts(a, b)
    half = t_quantile(0.5 + level / 2.0, df) * se
    return difference - half, difference + half


@dataclass(frozen=True)
class OneSampleResult:
    """A one-sample t test of mean(values) > ``null``: the mean, its standard error, t, df and the p-value."""

    mean: float
    se: float
    t: float
    df: float
    p: float

    def upper_bound(self, level: float) -> float:
        """One-sided upper confidence bound of the mean at ``level`` (e.g. 0.9)."""
        return self.mean + t_quantile(level, self.df) * self.se if self.se > 0 else self.mean

    def lower_bound(self, level: float) -> float:
        """One-sided lower confidence bound of the mean at ``level`` (e.g. 0.95)."""
        return self.mean - t_quantile(level, self.df) * self.se if self.se > 0 else self.mean


def one_sample_t_test(values: Sequence[float], null: float = 0.0) -> OneSampleResult:
    """One-sided t test that the mean of ``values`` exceeds ``null`` (paired comparisons pass the per-pair
    differences). With no spread at all, a mean above ``null`` is certain (p = 0) and one at or below it is no
    evidence (p = 1 below, 0.5 at it)."""
    mean, variance, n = _moments(values, "a one-sample t test")
    se = math.sqrt(variance / n)
    if se > 0:
        t = (mean - null) / se
    else:
        t = math.copysign(math.inf, mean - null) if mean != null else 0.0
    return OneSampleResult(mean, se, t, float(n - 1), t_sf(t, n - 1))


def holm(p_values: dict[str, float], alpha: float) -> dict[str, bool]:
    """Holm's step-down procedure: which of the hypotheses are rejected at family-wise level ``alpha``."""
    ordered = sorted(p_values, key=lambda name: p_values[name])
    rejected = {name: False for name in p_values}
    for rank, name in enumerate(ordered):
        if not p_values[name] < alpha / (len(ordered) - rank):
            break
        rejected[name] = True
    return rejected
