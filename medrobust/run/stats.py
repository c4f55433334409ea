"""Paired statistics for A/B comparisons on the same inputs."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

__all__ = ["PairedDifference", "paired_difference", "mcnemar_exact", "agresti_min"]


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """Mean of ``b - a`` over samples where both apply, with a 95 % interval.

    For binary scores ``b_only``/``a_only`` count the discordant pairs and
    ``p_value`` is McNemar's exact two-sided test; otherwise the p-value is
    that of the bootstrap interval's sign (None).
    """

    diff: float
    low: float
    high: float
    n: int
    method: str
    a_only: Optional[int] = None
    b_only: Optional[int] = None
    p_value: Optional[float] = None

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


_Z95 = 1.959963984540054


def agresti_min(a_only: int, b_only: int, n: int) -> tuple[float, float]:
    """95 % interval of the paired difference of proportions ``(b_only - a_only) / n``.

    Agresti & Min (2005): the Wald interval after adding 0.5 to each of the four
    cells of the paired 2x2 table. Unlike a bootstrap it never collapses to zero
    width when no pair is discordant (few samples say little), and it costs nothing.
    """
    m = n + 2.0
    p_a, p_b = (a_only + 0.5) / m, (b_only + 0.5) / m
    centre = p_b - p_a
    half = _Z95 * math.sqrt(max(0.0, p_a + p_b - centre ** 2) / m)
    return max(-1.0, centre - half), min(1.0, centre + half)


def paired_difference(a: Sequence[Optional[float]], b: Sequence[Optional[float]], seed: int = 0,
                      resamples: int = 2000) -> PairedDifference:
    """Paired difference ``b - a`` with a 95 % interval.

    Binary scores: Agresti-Min interval and McNemar's exact test. Graded scores:
    percentile bootstrap (seeded).
    """
    pairs = [(float(x), float(y)) for x, y in zip(a, b) if x is not None and y is not None]
    n = len(pairs)
    if n == 0:
        return PairedDifference(float("nan"), float("nan"), float("nan"), 0, "none")
    diffs = [y - x for x, y in pairs]
    mean = sum(diffs) / n
    if all(x in (0.0, 1.0) and y in (0.0, 1.0) for x, y in pairs):
        a_only = sum(1 for x, y in pairs if x > y)
        b_only = sum(1 for x, y in pairs if y > x)
        low, high = agresti_min(a_only, b_only, n)
        return PairedDifference(mean, low, high, n, "agresti-min+mcnemar", a_only, b_only,
                                mcnemar_exact(a_only, b_only))
    rng = np.random.default_rng(seed)
    values = np.asarray(diffs)
    means = np.sort(values[rng.integers(0, n, size=(resamples, n))].mean(axis=1))
    low, high = float(means[int(0.025 * resamples)]), float(means[int(0.975 * resamples) - 1])
    return PairedDifference(mean, low, high, n, "bootstrap")
