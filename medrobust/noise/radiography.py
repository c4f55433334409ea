"""Projection-radiography noises, modelled in the detector (exposure) domain.

A displayed radiograph is treated as the log-response of a digital detector:
display value ``v`` in ``[0, 1]`` (bright = attenuating) corresponds to a
detector exposure ``N = N_full * exp(-LOG_RANGE * v)`` photons per pixel, and the
detector clips exposures to ``[N_full * exp(-LOG_RANGE), N_full]`` (floor ->
white, saturation -> black). Each noise converts to exposure, acts there
(photon statistics, grid absorption, dose scaling, scattered radiation), and
converts back through the same fixed log look-up table.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ._ops import gaussian_filter, generator
from .base import ImageNoise

__all__ = ["QUANTUM_MOTTLE", "GRID_LINES", "UNDER_EXPOSURE", "OVER_EXPOSURE", "SCATTER_HAZE",
           "NOISES", "LOG_RANGE", "to_exposure", "to_display"]

#: Natural-log exposure range spanned by the display: v=0 is the detector's
#: saturation exposure, v=1 its floor (transmission e^-4, about 1.8%).
LOG_RANGE = 4.0
#: Expected counts from which Poisson draws use the normal approximation
#: (mean and variance both ``lambda``, skewness below 0.19); exact Poisson below, for speed.
NORMAL_APPROX_COUNTS = 30.0
#: Blur sigmas above this are computed on a downsampled image (scatter is smooth).
_MAX_DIRECT_SIGMA = 4.0


def to_exposure(images: torch.Tensor, full_counts: float = 1.0) -> torch.Tensor:
    """Detector exposure (photons per pixel) of display values, ``full_counts`` at v=0."""
    return full_counts * torch.exp(-LOG_RANGE * images)


def to_display(exposure: torch.Tensor, full_counts: float = 1.0) -> torch.Tensor:
    """Inverse of :func:`to_exposure`, with the detector's floor and saturation clipping."""
    floor = full_counts * math.exp(-LOG_RANGE)
    return torch.log(full_counts / exposure.clamp(floor, full_counts)) / LOG_RANGE


def _gray(images: torch.Tensor) -> torch.Tensor:
    """The detector is monochrome: noise is computed on the channel mean, shared by all channels."""
    return images.mean(dim=1, keepdim=True)


def _photon_noise(images: torch.Tensor, counts: float, factor: float,
                  gen: torch.Generator) -> torch.Tensor:
    """Display image after Poisson photon counting at ``factor * counts`` full exposure."""
    gray = _gray(images)
    expected = to_exposure(gray, counts * factor)
    measured = expected + expected.sqrt() * torch.randn(
        expected.shape, generator=gen, device=expected.device, dtype=expected.dtype)
    low = expected < NORMAL_APPROX_COUNTS
    if bool(low.any()):
        measured[low] = torch.poisson(expected[low], generator=gen)
    noisy = to_display(measured, counts)
    return (images + (noisy - gray)).clamp_(0.0, 1.0)


def quantum_mottle(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Poisson photon noise at ``dose`` photons per pixel of unattenuated exposure."""
    return _photon_noise(images, float(params["dose"]), 1.0, generator(params, images.device))


def grid_lines(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Anti-scatter grid shadow: a sinusoidal transmission multiplying the exposure.

    Transmission ``T = 1 - absorption * (1 + cos(2 pi f (x cos a + y sin a) + phase)) / 2``
    with ``f`` in cycles per pixel and ``a`` the direction across the lead strips
    (0 degrees = vertical lines); the phase is seeded.
    """
    _, _, h, w = images.shape
    gen = generator(params, images.device)
    phase = 2.0 * math.pi * torch.rand((), generator=gen, device=images.device, dtype=torch.float64)
    angle = math.radians(float(params["angle_deg"]))
    freq = float(params["cycles_per_pixel"])
    y = torch.arange(h, device=images.device, dtype=torch.float64).view(-1, 1)
    x = torch.arange(w, device=images.device, dtype=torch.float64).view(1, -1)
    wave = torch.cos(2.0 * math.pi * freq * (x * math.cos(angle) + y * math.sin(angle)) + phase)
    transmission = 1.0 - float(params["absorption"]) * 0.5 * (1.0 + wave)
    # exposure * T through the log LUT: an additive -ln(T)/LOG_RANGE in display values
    shift = (-torch.log(transmission) / LOG_RANGE).to(images.dtype)
    return (images + shift).clamp_(0.0, 1.0)


def under_exposure(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Dose scaled by ``exposure_factor`` < 1: brighter image, floor clipping, more photon noise."""
    return _photon_noise(images, float(params["nominal_counts"]), float(params["exposure_factor"]),
                         generator(params, images.device))


def over_exposure(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Dose scaled by ``exposure_factor`` > 1: darker image, thin regions saturate to black."""
    factor = float(params["exposure_factor"])
    return to_display(to_exposure(images) * factor).clamp_(0.0, 1.0)


def _smooth(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur; wide kernels run on an area-downsampled copy and are upsampled back."""
    _, _, h, w = images.shape
    step = max(1, int(sigma // _MAX_DIRECT_SIGMA))
    if step == 1:
        return gaussian_filter(images, sigma)
    small = F.interpolate(images, size=(math.ceil(h / step), math.ceil(w / step)), mode="area")
    small = gaussian_filter(small, sigma / step)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def scatter_haze(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Scattered radiation: exposure plus ``spr`` times a wide blur of itself, AEC-normalised.

    ``spr`` is the scatter-to-primary ratio, the blur sigma is ``sigma_fraction``
    of the smaller image side; dividing by ``1 + spr`` models automatic exposure
    control keeping the detector dose, so the veil costs contrast, not brightness.
    """
    _, _, h, w = images.shape
    spr = float(params["spr"])
    primary = to_exposure(images)
    scatter = spr * _smooth(primary, float(params["sigma_fraction"]) * min(h, w))
    return to_display((primary + scatter) / (1.0 + spr)).clamp_(0.0, 1.0)


QUANTUM_MOTTLE = ImageNoise(
    name="quantum_mottle", family="radiography",
    description="Quantum mottle: grainy photon noise of a low-dose radiograph, worst in dense regions.",
    rationale=("Low-dose radiographs (paediatric, portable and repeated follow-up films) are limited by photon "
               "statistics, giving a grain that hides low-contrast detail."),
    table=[{"dose": d} for d in (20000.0, 6000.0, 2500.0, 1000.0, 400.0)],
    fn=quantum_mottle,
)
GRID_LINES = ImageNoise(
    name="grid_lines", family="radiography",
    description=("Anti-scatter grid lines: fine parallel stripes left by a "
                 "stationary or misaligned grid."),
    rationale=("Stationary or misaligned anti-scatter grids, common with portable bedside radiography, leave "
               "fine stripes or moire after digital sampling."),
    table=[{"cycles_per_pixel": 0.3, "angle_deg": 0.0, "absorption": a}
           for a in (0.06, 0.12, 0.2, 0.3, 0.45)],
    fn=grid_lines,
)
UNDER_EXPOSURE = ImageNoise(
    name="under_exposure", family="radiography",
    description=("Under-exposed radiograph: too little dose, so the image is "
                 "washed out bright and grainy."),
    rationale=("Too low a tube current or exposure time, frequent in portable and bedside imaging of large "
               "patients, yields a noisy, low-contrast radiograph."),
    table=[{"exposure_factor": m, "nominal_counts": 20000.0} for m in (0.8, 0.6, 0.4, 0.25, 0.12)],
    fn=under_exposure,
)
OVER_EXPOSURE = ImageNoise(
    name="over_exposure", family="radiography",
    description=("Over-exposed radiograph: too much dose darkens the image "
                 "and burns thin regions out to black."),
    rationale=("Too high an exposure, or automatic exposure control misled by positioning, burns thin regions "
               "such as lung periphery and soft tissue out to black."),
    table=[{"exposure_factor": m} for m in (1.2, 1.5, 2.0, 3.0, 5.0)],
    random=False, fn=over_exposure,
)
SCATTER_HAZE = ImageNoise(
    name="scatter_haze", family="radiography",
    description=("Scatter haze: scattered radiation (large patient, no grid) "
                 "lays a grey veil that flattens contrast."),
    rationale=("Scattered radiation from large patients or grid-less portable exams adds a grey veil that lowers "
               "contrast across the whole radiograph."),
    table=[{"spr": s, "sigma_fraction": 0.2} for s in (0.15, 0.35, 0.7, 1.2, 2.0)],
    random=False, fn=scatter_haze,
)

NOISES = (QUANTUM_MOTTLE, GRID_LINES, UNDER_EXPOSURE, OVER_EXPOSURE, SCATTER_HAZE)
