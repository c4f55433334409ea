"""The calibrated severity scale: solve each level's parameters for a target SSIM or edit similarity.

A declared table says what a noise does at levels 1-5 in its own units (sigma,
quality, rate). Calibration makes "severity 3" mean the same change across
noises, modalities and image sizes: for each level it solves, by bisection
over a continuous level between the table's rows, the parameters whose mean
SSIM (images) or edit similarity (text) on reference samples hits a target.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

from .base import SEVERITY_LEVELS, Noise, derive_seed
from .similarity import mean_change

__all__ = ["DEFAULT_TARGETS", "interpolate_params", "solve_level", "calibrate_noise", "Calibration",
           "CalibratedNoises"]

#: Target mean similarity per level: SSIM for image noises, edit similarity for text noises.
DEFAULT_TARGETS: dict[str, tuple[float, ...]] = {
    "image": (0.95, 0.90, 0.80, 0.70, 0.55),
    "text": (0.97, 0.94, 0.90, 0.85, 0.78),
}


def interpolate_params(noise: Noise, level: float) -> dict[str, Any]:
    """Parameters at a continuous ``level`` in [1, 5]: numbers interpolate linearly between
    adjacent table rows (integers round), other values come from the lower row."""
    if not 1.0 <= level <= 5.0:
        raise ValueError(f"level must lie in [1, 5], got {level}")
    low = min(int(math.floor(level)), 4)
    t = level - low
    a, b = noise.table[low - 1], noise.table[low]
    out: dict[str, Any] = {}
    for key, value in a.items():
        other = b.get(key, value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(other, (int, float)):
            out[key] = value
        elif isinstance(value, int) and isinstance(other, int):
            out[key] = int(round(value + t * (other - value)))
        else:
            out[key] = round(float(value) + t * (float(other) - float(value)), 6)
    return out


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The solved level of one target."""

    target: float
    level: float
    params: Mapping[str, Any]
    achieved: float
    clamped: bool


def _measure(noise: Noise, samples: Sequence[Any], params: Mapping[str, Any], seed: int) -> float:
    if noise.modality == "text":  # cheap: one seed per sample
        return mean_change(noise, samples, lambda s: {**params, **(
            {"seed": derive_seed(seed, s.id, "calibration", noise.name)} if noise.random else {})})
    # images: one batched application with one seed
    shared = {**params, **({"seed": derive_seed(seed, "calibration", noise.name)} if noise.random else {})}
    return mean_change(noise, samples, shared)


def solve_level(noise: Noise, target: float, samples: Sequence[Any], seed: int = 0,
                iterations: int = 12) -> Calibration:
    """Bisection for the level whose mean similarity on ``samples`` equals ``target``.

    Similarity falls with the level (the catalogue's tests hold every noise to
    that). Targets outside what levels 1-5 reach are clamped and flagged.
    """
    lo, hi = 1.0, 5.0
    at_lo = _measure(noise, samples, interpolate_params(noise, lo), seed)
    at_hi = _measure(noise, samples, interpolate_params(noise, hi), seed)
    if target >= at_lo:
        return Calibration(target, lo, interpolate_params(noise, lo), at_lo, target > at_lo)
    if target <= at_hi:
        return Calibration(target, hi, interpolate_params(noise, hi), at_hi, target < at_hi)
    achieved = at_lo
    for _ in range(iterations):
        mid = (lo + hi) / 2
        achieved = _measure(noise, samples, interpolate_params(noise, mid), seed)
        if achieved > target:
            lo = mid
        else:
            hi = mid
    level = (lo + hi) / 2
    params = interpolate_params(noise, level)
    return Calibration(target, round(level, 4), params, _measure(noise, samples, params, seed), False)


def calibrate_noise(noise: Noise, samples: Sequence[Any], targets: Sequence[float] | None = None,
                    seed: int = 0) -> tuple[Noise, list[Calibration]]:
    """A copy of ``noise`` whose table is solved for ``targets`` (one per level) on ``samples``."""
    targets = tuple(targets or DEFAULT_TARGETS[noise.modality])
    if len(targets) != len(SEVERITY_LEVELS) or any(b > a for a, b in zip(targets, targets[1:])):
        raise ValueError(f"need {len(SEVERITY_LEVELS)} non-increasing similarity targets, got {targets}")
    solved = [solve_level(noise, t, samples, seed) for t in targets]
    table = tuple(dict(c.params) for c in solved)
    return dataclasses.replace(noise, table=table), solved


class CalibratedNoises(Mapping[str, Noise]):
    """A noise registry view whose noises are calibrated on first use.

    Args:
        noises: The declared noises (name -> noise).
        samples: Reference samples to calibrate on (never the test samples).
        targets: Per modality, five similarity targets (defaults: :data:`DEFAULT_TARGETS`).
        seed: Seed of the calibration draws.
    """

    def __init__(self, noises: Mapping[str, Noise], samples: Sequence[Any],
                 targets: Mapping[str, Sequence[float]] | None = None, seed: int = 0) -> None:
        self._noises = noises
        self._samples = list(samples)
        self._targets = {**DEFAULT_TARGETS, **(targets or {})}
        self._seed = seed
        self._done: dict[str, tuple[Noise, list[Calibration]]] = {}

    def __getitem__(self, name: str) -> Noise:
        if name not in self._done:
            noise = self._noises[name]
            self._done[name] = calibrate_noise(noise, self._samples, self._targets[noise.modality], self._seed)
        return self._done[name][0]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._noises)

    def __len__(self) -> int:
        return len(self._noises)

    def calibration(self, name: str) -> list[Calibration]:
        """The solved levels of a noise (calibrating it if needed)."""
        self[name]
        return self._done[name][1]
