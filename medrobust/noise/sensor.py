"""Sensor noise: additive Gaussian, Poisson (shot), salt-and-pepper (impulse) and speckle noise.

Part of the generic image corruptions of the ImageNet-C family (Hendrycks &
Dietterich, the ``imagecorruptions`` package), adapted to small grayscale
medical images: the severity tables are rescaled for 64x64 images and start
milder than ImageNet-C's level 1. Every random draw comes from the seeded local
generator, so any output can be replayed.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ._ops import generator
from ._poisson import poisson_8bit
from .base import ImageNoise

__all__ = ["GAUSSIAN_NOISE", "SHOT_NOISE", "IMPULSE_NOISE", "SPECKLE_NOISE", "NOISES", "SALT_FRACTION"]

# Share of impulse-corrupted pixels that turn white (salt); the rest turn black (pepper).
SALT_FRACTION = 0.5


def gaussian_noise(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Additive zero-mean Gaussian noise of standard deviation ``sigma``, clipped to [0, 1]."""
    gen = generator(params, images.device)
    noise = torch.randn(images.shape, generator=gen, device=images.device, dtype=images.dtype)
    # in place on the fresh noise: the same arithmetic as images + sigma * noise, no temporaries
    return noise.mul_(float(params["sigma"])).add_(images).clamp_(0.0, 1.0)


def _distinct_positions(gen: torch.Generator, rows: int, size: int, count: int,
                        device: torch.device) -> torch.Tensor:
    """``[rows, count]`` positions in ``range(size)``, distinct within each row, drawn from ``gen``.

    Each row is a uniformly random subset in random order: the first ``count``
    distinct values of a sequence of uniform draws (sampling without
    replacement, one draw at a time). A sparse pick draws a few more than
    ``count`` positions at once, so its cost grows with ``count``, not with the
    image; a dense pick (over a quarter of ``size``) takes the ``count``
    largest of one uniform score per position.
    """
    if 4 * count > size:
        return torch.rand((rows, size), generator=gen, device=device).topk(count, dim=1).indices
    # expected repeats among d draws are about d^2 / (2 size): draw enough that a row rarely runs short
    extra = 2 * count * count // size + 8
    draws = torch.randint(size, (rows, count + extra), generator=gen, device=device)
    while True:
        values, order = draws.sort(dim=1, stable=True)  # equal positions keep their draw order
        first = torch.ones_like(draws, dtype=torch.bool)
        first.scatter_(1, order[:, 1:], values[:, 1:] != values[:, :-1])
        kept = first.cumsum(dim=1)
        if bool((kept[:, -1] >= count).all()):
            return draws[first & (kept <= count)].view(rows, count)
        more = torch.randint(size, (rows, count + extra), generator=gen, device=device)
        draws = torch.cat([draws, more], dim=1)


def shot_noise(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Poisson photon noise: ``Poisson(x * photons) / photons`` (variance ``x / photons``)."""
    photons = float(params["photons"])
    gen = generator(params, images.device)
    counts = poisson_8bit(images, photons, gen)  # 8-bit images: table inversion, ~1.5x torch.poisson
    if counts is None:
        counts = torch.poisson(images.clamp(0.0, 1.0) * photons, generator=gen)
    return (counts / photons).clamp_(0.0, 1.0)


def impulse_noise(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Salt-and-pepper: exactly ``round(amount * H * W)`` pixels per image set to 0 or 1 (all channels)."""
    b, c, h, w = images.shape
    count = int(round(float(params["amount"]) * h * w))
    if count == 0:
        return images.clone()
    gen = generator(params, images.device)
    picked = _distinct_positions(gen, b, h * w, count, images.device)
    salt = round(count * SALT_FRACTION)
    values = torch.zeros((b, count), dtype=images.dtype, device=images.device)
    values[:, :salt] = 1.0
    out = images.reshape(b, c, h * w).clone()
    out.scatter_(2, picked.unsqueeze(1).expand(b, c, count), values.unsqueeze(1).expand(b, c, count))
    return out.reshape(b, c, h, w)


def speckle_noise(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Multiplicative Gaussian noise: ``x * (1 + sigma * N(0, 1))``, clipped to [0, 1]."""
    gen = generator(params, images.device)
    noise = torch.randn(images.shape, generator=gen, device=images.device, dtype=images.dtype)
    # in place on the fresh noise: the same arithmetic as images * (1 + sigma * noise), no temporaries
    return noise.mul_(float(params["sigma"])).add_(1.0).mul_(images).clamp_(0.0, 1.0)


GAUSSIAN_NOISE = ImageNoise(
    name="gaussian_noise", family="noise",
    description="Additive Gaussian sensor noise (electronic read-out noise, low signal).",
    rationale=("Electronic read-out noise dominates when the signal is weak: low-dose or short exposures, small "
               "pixels, and images photographed off a monitor in a dim room."),
    table=[{"sigma": s} for s in (0.02, 0.05, 0.1, 0.2, 0.35)],
    fn=gaussian_noise,
)
SHOT_NOISE = ImageNoise(
    name="shot_noise", family="noise",
    description="Photon-counting (Poisson) noise of a low-dose or short-exposure acquisition.",
    rationale=("Photon counting is Poisson-limited: low-dose radiography and CT, fluoroscopy, nuclear medicine "
               "and short-exposure microscopy all show signal-dependent grain."),
    table=[{"photons": p} for p in (1500.0, 500.0, 150.0, 40.0, 10.0)],
    fn=shot_noise, version="2",  # 2: 8-bit inputs drawn by table inversion (same law, other draws)
)
IMPULSE_NOISE = ImageNoise(
    name="impulse_noise", family="noise",
    description="Salt-and-pepper specks from dead or saturated detector pixels and transmission bit errors.",
    rationale=("Isolated black or white pixels come from dead or hot detector elements, dust on scanned film and "
               "bit errors in image transmission."),
    table=[{"amount": a} for a in (0.005, 0.01, 0.025, 0.05, 0.1)],
    fn=impulse_noise, version="2",  # 2: positions drawn without replacement (was: top-k of one score per pixel)
)
SPECKLE_NOISE = ImageNoise(
    name="speckle_noise", family="noise",
    description="Multiplicative grain whose strength grows with brightness (coherent speckle, film grain).",
    rationale=("Multiplicative, brightness-dependent grain appears in coherent imaging (ultrasound, OCT) and in "
               "film grain of digitised analogue studies."),
    table=[{"sigma": s} for s in (0.03, 0.06, 0.1, 0.2, 0.35)],
    fn=speckle_noise,
)

NOISES = (GAUSSIAN_NOISE, SHOT_NOISE, IMPULSE_NOISE, SPECKLE_NOISE)
