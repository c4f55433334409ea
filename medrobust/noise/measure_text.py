"""How much a text noise changes text: the mean Levenshtein edit rate per severity (textdistance)."""

from __future__ import annotations

from typing import Sequence

import textdistance

from .base import SEVERITY_LEVELS, TextNoise

__all__ = ["edit_rate", "edit_rates"]


def edit_rate(noise: TextNoise, texts: Sequence[str], severity: int, seed: int = 0) -> float:
    """Mean normalised Levenshtein distance between each text and its noisy version.

    Text ``i`` is noised with seed ``seed + i`` (the convention of the generic noise tests), so the
    figure is reproducible; ``0.0`` means untouched, ``1.0`` entirely rewritten.
    """
    if not texts:
        raise ValueError("edit_rate needs at least one text")
    distances = [textdistance.levenshtein.normalized_distance(text, noise.apply(text, noise.params(severity, seed + i)))
                 for i, text in enumerate(texts)]
    return float(sum(distances) / len(distances))


def edit_rates(noise: TextNoise, texts: Sequence[str], seed: int = 0) -> list[float]:
    """:func:`edit_rate` at every severity, level 1 to 5."""
    return [edit_rate(noise, texts, level, seed) for level in SEVERITY_LEVELS]
