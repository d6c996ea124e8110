"""Small statistics used to judge evaluation signal and, later, candidates.

Kept dependency-free (no scipy at run time) and exact for the handful of values we compare.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


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
