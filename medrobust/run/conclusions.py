"""Conclusions with uncertainty: pass, fail or inconclusive from a 95 % interval against a threshold.

pytest's pass/fail stays on the point estimate; these conclusions are what the
certificate's verdict rests on. A ``max_drop`` check looks at the paired
paired interval of the drop (clean minus noisy, per sample; see :func:`medrobust.run.stats.paired_difference`); a ``min`` check
at the interval of the noisy estimate.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

from .._format import rounded
from .metrics import Estimate, estimate
from .stats import paired_difference

__all__ = ["CONCLUSIONS", "conclude", "worst", "stratify", "STRATA"]

CONCLUSIONS = ("pass", "inconclusive", "fail")
"""Ordered from best to worst."""

STRATA = ("modality", "organ", "answer_type")

_EPS = 1e-12


def worst(conclusions: Iterable[str]) -> Optional[str]:
    """The worst of some conclusions (fail > inconclusive > pass), None for none."""
    ranked = [CONCLUSIONS.index(c) for c in conclusions]
    return CONCLUSIONS[max(ranked)] if ranked else None


def conclude(threshold: Mapping[str, float], clean_scores: Sequence[Optional[float]],
             noisy_scores: Sequence[Optional[float]], noisy: Estimate, seed: int) -> tuple[str, dict[str, Any]]:
    """The conclusion of one check and the interval it rests on.

    Args:
        threshold: ``max_drop`` and/or ``min``.
        clean_scores: Per-sample scores on clean inputs (None where the metric does not apply).
        noisy_scores: Per-sample scores on noisy inputs, in the same order.
        noisy: The noisy estimate with its 95 % interval.
        seed: Seed of the bootstrap (the run seed).

    Returns:
        ``(conclusion, interval)``: the interval is ``{"of": "drop"|"noisy", "low", "high"}``;
        with both thresholds it is that of the worse-concluding one.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    if "max_drop" in threshold:
        # paired_difference gives b - a: with a = noisy, b = clean that is the drop
        drop = paired_difference(noisy_scores, clean_scores, seed)
        found.append((_against_ceiling(drop.low, drop.high, threshold["max_drop"]),
                      {"of": "drop", "low": rounded(drop.low), "high": rounded(drop.high)}))
    if "min" in threshold:
        found.append((_against_floor(noisy.low, noisy.high, threshold["min"]),
                      {"of": "noisy", "low": rounded(noisy.low), "high": rounded(noisy.high)}))
    if not found:
        raise ValueError("a check needs a threshold: max_drop and/or min")
    return max(found, key=lambda f: CONCLUSIONS.index(f[0]))


def _against_ceiling(low: float, high: float, ceiling: float) -> str:
    """The drop must stay at or below ``ceiling``."""
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    if high <= ceiling + _EPS:
        return "pass"
    if low > ceiling + _EPS:
        return "fail"
    return "inconclusive"


def _against_floor(low: float, high: float, floor: float) -> str:
    """The value must stay at or above ``floor``."""
    if math.isnan(low) or math.isnan(high):
        return "fail"  # the metric applied to no sample: nothing supports the claim
    if low >= floor - _EPS:
        return "pass"
    if high < floor - _EPS:
        return "fail"
    return "inconclusive"


def stratify(samples: Sequence[Any], clean_scores: Sequence[Optional[float]],
             noisy_scores: Sequence[Optional[float]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Clean and noisy estimates per modality, organ and answer type.

    A stratum key appears when some sample states it (``metadata`` for modality
    and organ); a value appears when the metric applies to one of its samples.
    """
    groups: dict[str, dict[str, list[int]]] = {}
    for i, sample in enumerate(samples):
        for key in STRATA:
            value = sample.answer_type if key == "answer_type" else sample.metadata.get(key)
            if value is None or value == "":
                continue
            groups.setdefault(key, {}).setdefault(str(value), []).append(i)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in STRATA:
        for value, indices in sorted(groups.get(key, {}).items()):
            clean = estimate([clean_scores[i] for i in indices])
            noisy = estimate([noisy_scores[i] for i in indices])
            if clean.n == 0 and noisy.n == 0:
                continue
            out.setdefault(key, {})[value] = {"clean": clean.to_json(), "noisy": noisy.to_json()}
    return out
