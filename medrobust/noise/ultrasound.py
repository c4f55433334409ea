"""Ultrasound noises: fully developed speckle and acoustic shadowing (beam travels top to bottom)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from ._ops import generator
from .base import ImageNoise

__all__ = ["SPECKLE", "ACOUSTIC_SHADOWING", "NOISES", "speckle_field", "reflectors"]

#: Reflector depths are drawn in this fraction of the image height (shallow to mid-field).
DEPTH_RANGE = (0.15, 0.6)
#: Reflector lateral centres are drawn in this fraction of the image width.
LATERAL_RANGE = (0.1, 0.9)
#: Soft lateral shadow edge (beam width) and the depth over which the shadow sets in, in pixels.
EDGE_PX = 1.5
#: Thickness of the bright echo drawn at the reflector, as a fraction of the image height.
ECHO_FRACTION = 0.03


def speckle_field(shape: tuple[int, int, int], params: Mapping[str, Any], device: torch.device,
                  dtype: torch.dtype) -> torch.Tensor:
    """Multiplicative speckle ``[B, 1, H, W]`` of mean 1.

    A complex circular Gaussian field (two independent real fields) is smoothed by
    a Gaussian of ``correlation_px`` (the resolution cell, applied in the Fourier
    domain), so its magnitude is a spatially correlated Rayleigh field ``R`` of
    unit scale; the field returned is
    ``R ** exponent / E[R ** exponent]`` (exponent 1: fully developed speckle,
    contrast 0.52; smaller exponents: compressed display, weaker speckle).
    """
    b, h, w = shape
    gen = generator(params, device)
    white = torch.randn((b, 2, h, w), generator=gen, device=device, dtype=torch.float32)
    # Gaussian point-spread function of sigma correlation_px applied as its transfer
    # function (periodic, so the field is stationary up to the borders)
    sigma = float(params["correlation_px"])
    ky = torch.fft.fftfreq(h, device=device).view(-1, 1)
    kx = torch.fft.fftfreq(w, device=device).view(1, -1)
    transfer = torch.exp(-2.0 * (math.pi * sigma) ** 2 * (ky ** 2 + kx ** 2))
    transfer = transfer / transfer.pow(2).mean().sqrt()  # keeps unit variance per component
    field = torch.fft.ifft2(torch.fft.fft2(torch.complex(white[:, 0], white[:, 1])) * transfer)
    magnitude = field.abs().unsqueeze(1)  # Rayleigh, scale 1
    exponent = float(params["exponent"])
    mean = 2.0 ** (exponent / 2.0) * math.gamma(1.0 + exponent / 2.0)  # E[R^k], R ~ Rayleigh(1)
    return (magnitude ** exponent / mean).to(dtype)


def speckle(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Multiply by a seeded, correlated Rayleigh speckle field shared by all channels."""
    b, _, h, w = images.shape
    field = speckle_field((b, h, w), params, images.device, images.dtype)
    return (images * field).clamp_(0.0, 1.0)


def reflectors(params: Mapping[str, Any], batch: int, device: torch.device) -> torch.Tensor:
    """Seeded reflector geometry ``[n, B, 2]``: (depth, lateral centre) as image fractions.

    Reflector ``i`` is drawn the same whatever ``n_reflectors`` is, so severities nest.
    """
    gen = generator(params, device)
    u = torch.rand((int(params["n_reflectors"]), batch, 2), generator=gen, device=device,
                   dtype=torch.float64)
    depth = DEPTH_RANGE[0] + (DEPTH_RANGE[1] - DEPTH_RANGE[0]) * u[..., 0]
    centre = LATERAL_RANGE[0] + (LATERAL_RANGE[1] - LATERAL_RANGE[0]) * u[..., 1]
    return torch.stack([depth, centre], dim=-1)


def acoustic_shadowing(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Strong reflectors (calcification, gas, bone) with an attenuated band beneath each.

    Each reflector gets a bright echo of intensity ``echo`` at its depth; below it,
    across ``width_fraction`` of the image width (soft edges), the signal is
    multiplied by ``10 ** (-attenuation_db / 20)``. Rows above the echo are untouched.
    """
    b, _, h, w = images.shape
    geometry = reflectors(params, b, images.device)
    y = torch.arange(h, device=images.device, dtype=torch.float64).view(1, 1, h, 1)
    x = torch.arange(w, device=images.device, dtype=torch.float64).view(1, 1, 1, w)
    half = 0.5 * float(params["width_fraction"]) * w
    thick = max(1.0, ECHO_FRACTION * h)
    loss = 1.0 - 10.0 ** (-float(params["attenuation_db"]) / 20.0)
    transmission = torch.ones((b, 1, h, w), device=images.device, dtype=torch.float64)
    echo = torch.zeros_like(transmission)
    for depth, centre in (g.unbind(-1) for g in geometry):  # a few reflectors, batched over B
        y0 = torch.round(depth * (h - 1)).view(b, 1, 1, 1)  # the echo sits on a pixel row
        x0 = (centre * (w - 1)).view(b, 1, 1, 1)
        lateral = ((half - (x - x0).abs()) / EDGE_PX + 0.5).clamp(0.0, 1.0)
        onset = ((y - y0) / EDGE_PX).clamp(0.0, 1.0)
        transmission = transmission * (1.0 - loss * lateral * onset)
        echo = torch.maximum(echo, lateral * (1.0 - (y - y0).abs() / thick).clamp(min=0.0))
    out = images * transmission.to(images.dtype)
    bright = float(params["echo"]) * echo.to(images.dtype)
    return torch.maximum(out, bright).clamp_(0.0, 1.0)


SPECKLE = ImageNoise(
    name="ultrasound_speckle", family="ultrasound",
    description=("Ultrasound speckle: the grainy interference texture of "
                 "coherent echoes that masks fine detail."),
    rationale=("Every ultrasound image carries speckle from coherent echoes of sub-resolution scatterers; its "
               "strength varies with probe, frequency and gain settings."),
    table=[{"exponent": e, "correlation_px": c}
           for e, c in ((0.04, 0.8), (0.08, 0.9), (0.15, 1.0), (0.35, 1.1), (1.0, 1.2))],
    fn=speckle,
)
ACOUSTIC_SHADOWING = ImageNoise(
    name="acoustic_shadowing", family="ultrasound",
    description=("Acoustic shadowing: dark bands beneath strongly reflecting "
                 "structures (stones, gas, bone) hide anatomy."),
    rationale=("Strong reflectors (gallstones, bowel gas, bone, calcifications) stop the beam and leave dark "
               "bands that hide the anatomy beneath them."),
    table=[{"n_reflectors": n, "width_fraction": wf, "attenuation_db": db, "echo": 0.9}
           for n, wf, db in ((1, 0.1, 4.0), (1, 0.14, 8.0), (2, 0.16, 12.0), (2, 0.2, 18.0),
                             (3, 0.24, 24.0))],
    fn=acoustic_shadowing,
)

NOISES = (SPECKLE, ACOUSTIC_SHADOWING)
