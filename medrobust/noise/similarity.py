"""How much a noise changes its input: SSIM and SNR for images, edit similarity and edit rate for text.

:func:`mean_change` is the one figure the severity scale and the catalogue
report use: mean SSIM for an image noise, mean edit similarity for a text noise.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
from rapidfuzz.distance import Levenshtein

from ._image_tensor import image_to_tensor
from ._ops import gaussian_kernel, separable_filter
from .base import SEVERITY_LEVELS, TextNoise

__all__ = ["ssim", "snr_db", "edit_similarity", "edit_rate", "edit_rates", "mean_change"]

_C1 = 0.01 ** 2
_C2 = 0.03 ** 2


def ssim(clean: torch.Tensor, noisy: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Per-image structural similarity (Wang et al. 2004; Gaussian window sigma 1.5, data range 1).

    Args:
        clean: ``[B, C, H, W]`` in [0, 1].
        noisy: Same shape.

    Returns:
        ``[B]`` mean SSIM over pixels and channels.
    """
    if clean.shape != noisy.shape:
        raise ValueError(f"ssim needs equal shapes, got {tuple(clean.shape)} and {tuple(noisy.shape)}")
    x, y = clean.double(), noisy.double()
    kernel = gaussian_kernel(sigma, torch.float64, x.device)
    if kernel.numel() > min(x.shape[-2:]):
        kernel = gaussian_kernel(max(0.5, min(x.shape[-2:]) / 7), torch.float64, x.device)
    mu_x, mu_y = separable_filter(x, kernel), separable_filter(y, kernel)
    var_x = separable_filter(x * x, kernel) - mu_x ** 2
    var_y = separable_filter(y * y, kernel) - mu_y ** 2
    cov = separable_filter(x * y, kernel) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    den = (mu_x ** 2 + mu_y ** 2 + _C1) * (var_x + var_y + _C2)
    return (num / den).flatten(1).mean(1).to(clean.dtype)


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Per-image signal-to-noise ratio in dB: signal power over the power of the change."""
    signal = clean.double().flatten(1).pow(2).mean(1)
    change = (noisy.double() - clean.double()).flatten(1).pow(2).mean(1)
    return (10 * torch.log10(signal / change.clamp_min(1e-20))).to(clean.dtype)


def edit_similarity(clean: Sequence[str], noisy: Sequence[str]) -> list[float]:
    """Normalised Levenshtein similarity (rapidfuzz's, in C++) of each noisy text to its clean text."""
    return [float(Levenshtein.normalized_similarity(a, b)) for a, b in zip(clean, noisy)]


def edit_rate(noise: TextNoise, texts: Sequence[str], severity: int, seed: int = 0) -> float:
    """Mean normalised Levenshtein distance between each text and its noisy version.

    Text ``i`` is noised with seed ``seed + i`` (the convention of the generic noise tests), so the
    figure is reproducible; ``0.0`` means untouched, ``1.0`` entirely rewritten.
    """
    if not texts:
        raise ValueError("edit_rate needs at least one text")
    distances = [Levenshtein.normalized_distance(text, noise.apply(text, noise.params(severity, seed + i)))
                 for i, text in enumerate(texts)]
    return float(sum(distances) / len(distances))


def edit_rates(noise: TextNoise, texts: Sequence[str], seed: int = 0) -> list[float]:
    """:func:`edit_rate` at every severity, level 1 to 5."""
    return [edit_rate(noise, texts, level, seed) for level in SEVERITY_LEVELS]


def mean_change(noise: Any, samples: Sequence[Any],
                params_for: Callable[[Any], Mapping[str, Any]] | Mapping[str, Any]) -> float:
    """Mean SSIM (image noise) or edit similarity (text noise) of ``samples`` under ``noise``.

    ``params_for(sample)`` gives each sample's resolved parameters; a plain
    mapping applies the same parameters (and seed) to a whole batch at once.
    Images go through the 8-bit round trip a run applies, so the figure is
    what a model sees.
    """
    if not callable(params_for):
        shared = params_for
        params_for = lambda _s: shared  # noqa: E731
    if noise.modality == "text":
        questions = [s.question for s in samples]
        values = edit_similarity(questions, [noise.apply(q, params_for(s)) for q, s in zip(questions, samples)])
        return sum(values) / len(values)
    total, count = 0.0, 0
    groups: dict[tuple, list[Any]] = {}
    for s in samples:  # batch images of one mode and size together
        groups.setdefault((s.image.mode, s.image.size), []).append(s)
    for group in groups.values():
        clean = torch.cat([image_to_tensor(s.image) for s in group])
        if "shared" in locals():
            noisy = noise.apply(clean.clone(), shared)
        else:
            noisy = torch.cat([noise.apply(clean[i:i + 1].clone(), params_for(s)) for i, s in enumerate(group)])
        noisy = (noisy.clamp(0, 1) * 255).round() / 255
        values = ssim(clean, noisy)
        total += float(values.sum())
        count += len(group)
    return total / count
