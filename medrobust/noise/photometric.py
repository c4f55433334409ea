"""Photometric corruptions: brightness shift, contrast reduction and a wrong gamma curve.

Part of the generic image corruptions of the ImageNet-C family (Hendrycks &
Dietterich, the ``imagecorruptions`` package), adapted to small grayscale
medical images (``gamma`` is ours). All three are deterministic point operations.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ._ops import pointwise
from .base import ImageNoise

__all__ = ["BRIGHTNESS", "CONTRAST", "GAMMA", "NOISES"]


def brightness(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Additive intensity shift by ``shift`` (ImageNet-C adds it to HSV value), clipped to [0, 1]."""
    return (images + float(params["shift"])).clamp_(0.0, 1.0)


def contrast(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Shrink intensities towards each channel's mean by ``factor`` (the means are kept, as in ImageNet-C)."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    # mean + factor * (images - mean) in one kernel, then clamped in place: one new tensor, two passes
    return torch.lerp(mean.expand_as(images), images, float(params["factor"])).clamp_(0.0, 1.0)


def gamma(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Power-law intensity mapping ``x ** gamma`` (0 and 1 fixed, monotone)."""
    exponent = float(params["gamma"])
    return pointwise(images, lambda x: x.clamp(0.0, 1.0).pow(exponent))


BRIGHTNESS = ImageNoise(
    name="brightness", family="intensity",
    description="Uniformly brighter image (over-exposure, wrong window level, a bright display).",
    rationale=("Over-exposure, a wrong window level or a bright display raise all intensities, as in images "
               "photographed from a monitor or exported with the wrong settings."),
    table=[{"shift": s} for s in (0.05, 0.1, 0.2, 0.3, 0.45)],
    random=False, fn=brightness,
)
CONTRAST = ImageNoise(
    name="contrast", family="intensity",
    description="Washed-out, low-contrast image (too wide a window, glare on a screen, faded film).",
    rationale=("Too wide a display window, glare on a screen and faded or poorly developed film compress the "
               "grey-level range in which findings must be seen."),
    table=[{"factor": f} for f in (0.85, 0.7, 0.5, 0.3, 0.15)],
    random=False, fn=contrast, version="2",  # 2: one torch.lerp (last bits)
)
GAMMA = ImageNoise(
    name="gamma", family="intensity",
    description="Mid-tones darkened by a wrong gamma curve (uncalibrated display or export).",
    rationale=("Uncalibrated monitors, phone cameras and exports that ignore the DICOM grayscale display "
               "function change mid-tone brightness while keeping black and white."),
    table=[{"gamma": g} for g in (1.2, 1.4, 1.7, 2.2, 3.0)],
    random=False, fn=gamma, version="2",  # 2: 8-bit inputs through a lookup table (last-bit differences)
)

NOISES = (BRIGHTNESS, CONTRAST, GAMMA)
