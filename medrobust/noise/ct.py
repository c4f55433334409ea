"""CT acquisition artifacts, simulated in the sinogram.

A small batched parallel-beam CT model in torch:

* :func:`radon` projects ``[B, H, W]`` attenuation maps to sinograms
  ``[B, angles, detectors]`` with a pixel-driven sparse projection matrix
  (each pixel splats onto its two nearest detector bins at each angle, linear
  weights). :func:`fbp` filters with the Ram-Lak ramp (Kak & Slaney's
  spatial-domain kernel) and back-projects with the transpose of that matrix.
  Matrices and filters are cached per ``(height, width, device, dtype)``.
  The source makes a full turn (as a clinical scanner does): an odd number of
  angles, about ``pi / 2 * max(H, W)``, over ``[0, 2 pi)``, so that modulo
  ``pi`` they interleave into an even half-turn sampling and a detector error
  constant over the turn gives full rings, not half rings. Bins are one pixel
  wide and cover the image diagonal.
* Grey levels are attenuation: intensity 1 across the whole field of view is
  a line integral of :data:`FIELD_ATTENUATION` (about 30 cm of water).
* Colour images are projected through their channel mean and the same artifact
  is added to every channel (CT is a grey-level modality).

**Artifact as a difference.** FBP of a discrete sinogram is close to, but not
exactly, the input image (a little blur). So that a severity measures the
artifact and not the reconstruction error, every noise returns
``image + (FBP(corrupted sinogram) - FBP(clean sinogram))``; since FBP is
linear this is ``image + FBP(corrupted - clean)``, converted back to grey levels.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Mapping, NamedTuple

import torch

from ._ops import generator
from .base import ImageNoise

__all__ = ["CT_LOW_DOSE", "CT_METAL_STREAKS", "CT_RINGS", "NOISES", "FIELD_ATTENUATION",
           "Geometry", "geometry", "radon", "fbp", "attenuation_scale", "low_dose_sinogram",
           "metal_mask", "metal_sinograms", "ring_gains"]

FIELD_ATTENUATION = 6.0
"""Line integral across the full field of view of an image of intensity 1 (~30 cm of water)."""
ANGLES_PER_PIXEL = math.pi / 2
"""Projection angles (over a full turn, rounded up to an odd number) per pixel of the larger side."""
MAX_METAL_OBJECTS = 4
"""Metal objects drawn per image; a severity uses the first ``objects`` of them."""


class Geometry(NamedTuple):
    """Cached parallel-beam geometry for one image size, device and dtype."""

    height: int
    width: int
    angles: int
    detectors: int
    project: torch.Tensor       # sparse CSR [angles * detectors, height * width]
    backproject: torch.Tensor   # sparse CSR [height * width, angles * detectors]
    ramp: torch.Tensor          # rfft of the Ram-Lak kernel, [padded // 2 + 1]
    padded: int


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


@functools.lru_cache(maxsize=16)
def geometry(height: int, width: int, device: torch.device, dtype: torch.dtype,
             angles: int | None = None) -> Geometry:
    """Projection matrices and ramp filter for ``height x width`` images (cached).

    ``angles`` defaults to ``round(ANGLES_PER_PIXEL * max(height, width))``.
    """
    angles = angles or max(9, round(ANGLES_PER_PIXEL * max(height, width)))
    angles += 1 - angles % 2  # odd: over a full turn, the angles modulo pi interleave evenly
    detectors = 2 * math.ceil(math.hypot(height, width) / 2) + 3
    theta = torch.arange(angles, dtype=torch.float64) * 2.0 * math.pi / angles
    y = ((height - 1) / 2 - torch.arange(height, dtype=torch.float64)).view(-1, 1).expand(height, width)
    x = (torch.arange(width, dtype=torch.float64) - (width - 1) / 2).view(1, -1).expand(height, width)
    t = x.reshape(1, -1) * theta.cos().view(-1, 1) + y.reshape(1, -1) * theta.sin().view(-1, 1)
    u = t + (detectors - 1) / 2                                    # [angles, pixels]
    low = u.floor()
    frac = u - low
    # back-projection matrix built directly in CSR: one row per pixel, two bins per angle
    bins = torch.arange(angles).view(-1, 1) * detectors + low.long()      # [angles, pixels]
    columns = torch.stack([bins, bins + 1], dim=-1).permute(1, 0, 2).reshape(-1)
    values = torch.stack([1 - frac, frac], dim=-1).permute(1, 0, 2).reshape(-1)
    crow = torch.arange(0, 2 * angles * height * width + 1, 2 * angles)
    shape = (height * width, angles * detectors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        back = torch.sparse_csr_tensor(crow, columns, values.to(dtype), shape)
        csc = back.to_sparse_csc()  # the CSC of A^T holds the arrays of the CSR of A
        project = torch.sparse_csr_tensor(csc.ccol_indices(), csc.row_indices(), csc.values(),
                                          shape[::-1]).to(device)
        backproject = back.to(device)
    # Ram-Lak kernel sampled in space (Kak & Slaney eq. 61), unit detector spacing
    padded = 1 << (2 * detectors - 1).bit_length()
    n = torch.arange(padded, dtype=torch.float64)
    n = torch.where(n > padded // 2, n - padded, n)
    kernel = torch.where(n.remainder(2) == 1, -1.0 / (math.pi * n) ** 2, torch.zeros_like(n))
    kernel[0] = 0.25
    ramp = torch.fft.rfft(kernel).real.to(dtype).to(device)
    return Geometry(height, width, angles, detectors, project, backproject, ramp, padded)


def _geometry_for(images: torch.Tensor) -> Geometry:
    h, w = images.shape[-2:]
    return geometry(h, w, images.device, _compute_dtype(images.dtype))


def radon(images: torch.Tensor) -> torch.Tensor:
    """Parallel-beam projections of ``[B, H, W]`` maps: sinograms ``[B, angles, detectors]``."""
    geo = _geometry_for(images)
    b = images.shape[0]
    flat = images.to(geo.ramp.dtype).reshape(b, -1).t()
    return (geo.project @ flat).t().reshape(b, geo.angles, geo.detectors)


def fbp(sinograms: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Filtered back-projection (Ram-Lak) of ``[B, angles, detectors]`` to ``[B, H, W]``."""
    geo = geometry(height, width, sinograms.device, _compute_dtype(sinograms.dtype))
    b = sinograms.shape[0]
    spectrum = torch.fft.rfft(sinograms.to(geo.ramp.dtype), n=geo.padded, dim=-1) * geo.ramp
    filtered = torch.fft.irfft(spectrum, n=geo.padded, dim=-1)[..., :geo.detectors]
    image = geo.backproject @ filtered.reshape(b, -1).t()
    return (image.t() * (math.pi / geo.angles)).reshape(b, height, width)


def attenuation_scale(height: int, width: int) -> float:
    """Attenuation per pixel of grey level 1 (see :data:`FIELD_ATTENUATION`)."""
    return FIELD_ATTENUATION / max(height, width)


def _with_artifact(images: torch.Tensor, delta_sinograms: torch.Tensor,
                   extra: torch.Tensor | None = None) -> torch.Tensor:
    """``images + FBP(delta) (+ extra)`` in grey levels, same artifact on every channel."""
    h, w = images.shape[-2:]
    delta = fbp(delta_sinograms, h, w) / attenuation_scale(h, w)
    if extra is not None:
        delta = delta + extra
    return (images + delta.to(images.dtype)[:, None]).clamp_(0.0, 1.0)


def _attenuation(images: torch.Tensor) -> torch.Tensor:
    """Attenuation map ``[B, H, W]`` (per pixel) from the channel-mean grey level."""
    h, w = images.shape[-2:]
    return images.mean(dim=1).to(_compute_dtype(images.dtype)) * attenuation_scale(h, w)


# --- low dose ---------------------------------------------------------------------------------

def low_dose_sinogram(sinograms: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Measured line integrals at ``i0`` incident photons per detector bin.

    Counts are Poisson with mean ``i0 * exp(-p)``; at least one count is
    kept (photon starvation) before ``-log(counts / i0)``. The variance of the
    result is about ``exp(p) / i0``: larger behind more attenuation.
    """
    gen = generator(params, sinograms.device)
    i0 = float(params["i0"])
    counts = torch.poisson(i0 * torch.exp(-sinograms), generator=gen)
    return -torch.log(counts.clamp_(min=1.0) / i0)


def ct_low_dose(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Quantum noise of a low-dose scan: Poisson counts in the sinogram, then FBP."""
    sino = radon(_attenuation(images))
    return _with_artifact(images, low_dose_sinogram(sino, params) - sino)


# --- metal streaks ----------------------------------------------------------------------------

def metal_mask(batch: int, height: int, width: int, params: Mapping[str, Any],
               device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Discs of metal ``[B, H, W]`` (1 inside): ``objects`` of radius ``radius`` pixels.

    Centres are uniform in the central 60% of the image.
    """
    gen = generator(params, device)
    draws = torch.rand((batch, MAX_METAL_OBJECTS, 2), generator=gen, device=device, dtype=torch.float64)
    centres = 0.2 + 0.6 * draws[:, :int(params["objects"])]                   # [B, n, 2] (row, col)
    rows = torch.arange(height, device=device, dtype=torch.float64).view(1, 1, -1, 1)
    cols = torch.arange(width, device=device, dtype=torch.float64).view(1, 1, 1, -1)
    dist2 = ((rows - centres[..., 0, None, None] * (height - 1)) ** 2
             + (cols - centres[..., 1, None, None] * (width - 1)) ** 2)
    inside = dist2 <= float(params["radius"]) ** 2
    return inside.any(dim=1).to(dtype)


def metal_sinograms(images: torch.Tensor, params: Mapping[str, Any]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(measured, true, metal)``: clipped and exact sinograms of the object with its metal.

    The metal (``density`` times the attenuation of grey level 1) is added to
    the object; every line integral is clipped at ``log(i0)``, the most a
    detector with ``i0`` incident photons can measure (photon starvation).
    """
    b, _, h, w = images.shape
    metal = metal_mask(b, h, w, params, images.device, _compute_dtype(images.dtype))
    true = radon(_attenuation(images) + metal * float(params["density"]) * attenuation_scale(h, w))
    return true.clamp(max=math.log(float(params["i0"]))), true, metal


def ct_metal_streaks(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Metal implant: photon starvation behind it saturates the projections, streaks after FBP.

    See :func:`metal_sinograms`. The metal itself is added to the image (it
    saturates to white) and the error of the clipped rays appears as dark and
    bright streaks along lines through it.
    """
    measured, true, metal = metal_sinograms(images, params)
    return _with_artifact(images, measured - true, extra=metal * float(params["density"]))


# --- rings ------------------------------------------------------------------------------------

def ring_gains(batch: int, detectors: int, params: Mapping[str, Any], device: torch.device,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Per-channel detector gains ``[B, detectors]``: ``exp(gain_std * N(0, 1))``."""
    gen = generator(params, device)
    noise = torch.randn((batch, detectors), generator=gen, device=device, dtype=torch.float64)
    return torch.exp(float(params["gain_std"]) * noise).to(dtype)


def ct_rings(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Miscalibrated detector channels: a gain error constant over angles gives concentric rings.

    Measured counts ``g_d * I0 * exp(-p)`` are logged with the nominal
    ``I0``, so channel ``d`` reads ``p - log(g_d)`` at every angle; the
    artifact does not depend on the object.
    """
    b, _, h, w = images.shape
    geo = _geometry_for(images)
    gains = ring_gains(b, geo.detectors, params, images.device, geo.ramp.dtype)
    delta = (-gains.log())[:, None, :].expand(b, geo.angles, geo.detectors)
    return _with_artifact(images, delta)


# --- declarations -----------------------------------------------------------------------------

CT_LOW_DOSE = ImageNoise(
    name="ct_low_dose", family="ct",
    description="Low-dose CT: fewer X-ray photons give grainy, streaky quantum noise, "
                "strongest behind dense or thick anatomy.",
    rationale=("Dose reduction for screening, paediatric and repeated CT lowers photon counts, giving grainy, "
               "streaky noise that is worst through thick or dense anatomy."),
    table=[{"i0": i} for i in (1.0e5, 4.0e4, 1.5e4, 6.0e3, 2.5e3)],
    fn=ct_low_dose,
)
CT_METAL_STREAKS = ImageNoise(
    name="ct_metal_streaks", family="ct",
    description="CT metal artifact: a metal implant or filling blocks the X-rays and throws "
                "dark and bright streaks across the image.",
    rationale=("Hip and knee prostheses, dental fillings, spinal hardware and surgical clips block X-rays and "
               "throw dark and bright streaks over adjacent anatomy."),
    table=[{"objects": n, "radius": r, "density": d, "i0": 1.0e5}
           for n, r, d in ((1, 2.0, 16.5), (1, 2.0, 18.5), (1, 2.0, 21.0), (2, 2.0, 21.0), (2, 2.0, 23.5))],
    fn=ct_metal_streaks,
)
CT_RINGS = ImageNoise(
    name="ct_rings", family="ct",
    description="CT ring artifact: miscalibrated or failing detector elements draw "
                "concentric rings around the centre of the image.",
    rationale=("A miscalibrated or failing detector element records a consistent error at every angle, which "
               "reconstruction turns into rings centred on the rotation axis."),
    table=[{"gain_std": g} for g in (0.008, 0.012, 0.018, 0.028, 0.045)],
    fn=ct_rings,
)

NOISES = (CT_LOW_DOSE, CT_METAL_STREAKS, CT_RINGS)
