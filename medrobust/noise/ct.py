"""CT acquisition artifacts, simulated in the sinogram.

A small batched parallel-beam CT model in torch:

* :func:`radon` projects ``[B, H, W]`` attenuation maps to sinograms
  ``[B, angles, detectors]``: each pixel splats onto its two nearest detector
  bins at each angle (linear weights), computed a chunk of angles at a time, so
  memory is O(B x H x W x chunk) and no system matrix is built. :func:`fbp`
  filters with the Ram-Lak ramp (Kak & Slaney's spatial-domain kernel) and
  back-projects with the adjoint (the same weights, gathered).
* Artifacts are simulated on a grid of at most :data:`MAX_GRID` pixels a side:
  a larger image's attenuation is area-averaged down to it and the artifact
  upsampled back (CT is reconstructed on about 512 px anyway). Table parameters
  in pixels (the metal's radius) are pixels of that grid, i.e. a fixed share of
  the field of view, whatever the image's size.
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
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import torch
import torch.nn.functional as F

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
MAX_GRID = 256
"""Longest side, in pixels, of the grid the artifact is simulated on; a larger image's attenuation is
area-averaged down to it and the artifact (a difference image) upsampled back, bilinearly."""
CHUNK_ELEMENTS = 1 << 22
"""Angle x pixel pairs projected at once (about 100 MB of temporaries in float32)."""


class Geometry(NamedTuple):
    """Cached parallel-beam geometry for one image size, device and dtype (no system matrix)."""

    height: int
    width: int
    angles: int
    detectors: int
    cos: torch.Tensor           # [angles], float64
    sin: torch.Tensor           # [angles], float64
    ramp: torch.Tensor          # rfft of the Ram-Lak kernel, [padded // 2 + 1]
    padded: int


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


@functools.lru_cache(maxsize=16)
def geometry(height: int, width: int, device: torch.device, dtype: torch.dtype,
             angles: int | None = None) -> Geometry:
    """Angles, detector bins and ramp filter for ``height x width`` images (cached).

    ``angles`` defaults to ``round(ANGLES_PER_PIXEL * max(height, width))``.
    """
    angles = angles or max(9, round(ANGLES_PER_PIXEL * max(height, width)))
    angles += 1 - angles % 2  # odd: over a full turn, the angles modulo pi interleave evenly
    detectors = 2 * math.ceil(math.hypot(height, width) / 2) + 3
    theta = torch.arange(angles, dtype=torch.float64) * 2.0 * math.pi / angles
    # Ram-Lak kernel sampled in space (Kak & Slaney eq. 61), unit detector spacing
    padded = 1 << (2 * detectors - 1).bit_length()
    n = torch.arange(padded, dtype=torch.float64)
    n = torch.where(n > padded // 2, n - padded, n)
    kernel = torch.where(n.remainder(2) == 1, -1.0 / (math.pi * n) ** 2, torch.zeros_like(n))
    kernel[0] = 0.25
    ramp = torch.fft.rfft(kernel).real.to(dtype).to(device)
    return Geometry(height, width, angles, detectors, theta.cos().to(device), theta.sin().to(device), ramp, padded)


def _geometry_for(images: torch.Tensor) -> Geometry:
    h, w = images.shape[-2:]
    return geometry(h, w, images.device, _compute_dtype(images.dtype))


def _angle_chunks(geo: Geometry, batch: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` angle ranges whose temporaries stay near :data:`CHUNK_ELEMENTS` values."""
    step = max(1, CHUNK_ELEMENTS // (max(1, batch) * geo.height * geo.width))
    for start in range(0, geo.angles, step):
        yield start, min(geo.angles, start + step)


def _bins(geo: Geometry, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's lower detector bin (flat index into ``[angles * detectors]``) and its weight on the
    next bin, for angles ``start:stop``: ``[stop - start, H * W]`` each (linear, pixel-driven)."""
    device, dtype = geo.cos.device, geo.ramp.dtype  # within the grid, float32 resolves 1e-4 of a bin
    y = ((geo.height - 1) / 2 - torch.arange(geo.height, device=device, dtype=dtype)).view(-1, 1)
    x = (torch.arange(geo.width, device=device, dtype=dtype) - (geo.width - 1) / 2).view(1, -1)
    y, x = y.expand(geo.height, geo.width).reshape(1, -1), x.expand(geo.height, geo.width).reshape(1, -1)
    cos, sin = geo.cos[start:stop, None].to(dtype), geo.sin[start:stop, None].to(dtype)
    u = x * cos + y * sin + (geo.detectors - 1) / 2
    low = u.floor()
    rows = torch.arange(start, stop, device=device).view(-1, 1) * geo.detectors
    return rows + low.long(), u - low


def radon(images: torch.Tensor) -> torch.Tensor:
    """Parallel-beam projections of ``[B, H, W]`` maps: sinograms ``[B, angles, detectors]``.

    Each pixel splats onto its two nearest detector bins at each angle (linear weights), a chunk of
    angles at a time, so memory stays O(B x H x W x chunk) and no system matrix is built.
    """
    geo = _geometry_for(images)
    b = images.shape[0]
    flat = images.to(geo.ramp.dtype).reshape(b, 1, -1)
    sino = torch.zeros((b, geo.angles * geo.detectors), dtype=geo.ramp.dtype, device=images.device)
    for start, stop in _angle_chunks(geo, b):
        low, frac = _bins(geo, start, stop)
        index = low.reshape(-1)
        sino.index_add_(1, index, (flat * (1 - frac)).reshape(b, -1))
        sino.index_add_(1, index + 1, (flat * frac).reshape(b, -1))
    return sino.view(b, geo.angles, geo.detectors)


def fbp(sinograms: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Filtered back-projection (Ram-Lak) of ``[B, angles, detectors]`` to ``[B, H, W]``.

    The back-projection is the adjoint of :func:`radon`: each pixel gathers the filtered values of
    its two bins at each angle with the same linear weights, a chunk of angles at a time.
    """
    geo = geometry(height, width, sinograms.device, _compute_dtype(sinograms.dtype))
    b = sinograms.shape[0]
    spectrum = torch.fft.rfft(sinograms.to(geo.ramp.dtype), n=geo.padded, dim=-1) * geo.ramp
    filtered = torch.fft.irfft(spectrum, n=geo.padded, dim=-1)[..., :geo.detectors]
    # one zero bin past the last, so that index + 1 never leaves the array
    flat = F.pad(filtered.reshape(b, -1), (0, 1))
    image = torch.zeros((b, height * width), dtype=geo.ramp.dtype, device=sinograms.device)
    for start, stop in _angle_chunks(geo, b):
        low, frac = _bins(geo, start, stop)
        index = low.reshape(-1)
        lower = flat.index_select(1, index).view(b, stop - start, -1)
        upper = flat.index_select(1, index + 1).view(b, stop - start, -1)
        image += (lower + (upper - lower) * frac).sum(dim=1)
    return (image * (math.pi / geo.angles)).reshape(b, height, width)


def attenuation_scale(height: int, width: int) -> float:
    """Attenuation per pixel of grey level 1 (see :data:`FIELD_ATTENUATION`)."""
    return FIELD_ATTENUATION / max(height, width)


def _artifact(images: torch.Tensor, delta_sinograms: torch.Tensor,
              extra: torch.Tensor | None = None) -> torch.Tensor:
    """The artifact ``FBP(delta) (+ extra)`` in grey levels, ``[B, H, W]`` (the same on every channel)."""
    h, w = images.shape[-2:]
    delta = fbp(delta_sinograms, h, w) / attenuation_scale(h, w)
    return delta if extra is None else delta + extra


def _on_grid(images: torch.Tensor, params: Mapping[str, Any],
             artifact: Callable[[torch.Tensor, Mapping[str, Any]], torch.Tensor]) -> torch.Tensor:
    """``images + artifact``, the artifact simulated on a grid of at most :data:`MAX_GRID` pixels a side.

    Clinical CT is reconstructed on a matrix of about 512 pixels; a larger image (a 1024 or 3072 px
    export) gets the artifact of its area-averaged copy on the grid, upsampled bilinearly, so that its
    cost stays that of the grid. Images within the grid are simulated at their own size.
    """
    h, w = images.shape[-2:]
    scale = MAX_GRID / max(h, w)
    grid = images
    if scale < 1:
        grid = F.interpolate(images, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    delta = artifact(grid, params)
    if grid is not images:
        delta = F.interpolate(delta[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
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


def _low_dose_artifact(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    sino = radon(_attenuation(images))
    return _artifact(images, low_dose_sinogram(sino, params) - sino)


def ct_low_dose(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Quantum noise of a low-dose scan: Poisson counts in the sinogram, then FBP."""
    return _on_grid(images, params, _low_dose_artifact)


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
    return _on_grid(images, params, _metal_artifact)


def _metal_artifact(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    measured, true, metal = metal_sinograms(images, params)
    return _artifact(images, measured - true, extra=metal * float(params["density"]))


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
    return _on_grid(images, params, _ring_artifact)


def _ring_artifact(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    b = images.shape[0]
    geo = _geometry_for(images)
    gains = ring_gains(b, geo.detectors, params, images.device, geo.ramp.dtype)
    delta = (-gains.log())[:, None, :].expand(b, geo.angles, geo.detectors)
    return _artifact(images, delta)


# --- declarations -----------------------------------------------------------------------------

CT_LOW_DOSE = ImageNoise(
    name="ct_low_dose", family="ct",
    description="Low-dose CT: fewer X-ray photons give grainy, streaky quantum noise, "
                "strongest behind dense or thick anatomy.",
    rationale=("Dose reduction for screening, paediatric and repeated CT lowers photon counts, giving grainy, "
               "streaky noise that is worst through thick or dense anatomy. Above 256 px the artifact "
               "is simulated at 256 px and upsampled."),
    table=[{"i0": i} for i in (1.0e5, 4.0e4, 1.5e4, 6.0e3, 2.5e3)],
    fn=ct_low_dose, version="2",  # 2: matrix-free projection (other rounding), artifact on a grid of <= 256 px
)
CT_METAL_STREAKS = ImageNoise(
    name="ct_metal_streaks", family="ct",
    description="CT metal artifact: a metal implant or filling blocks the X-rays and throws "
                "dark and bright streaks across the image.",
    rationale=("Hip and knee prostheses, dental fillings, spinal hardware and surgical clips block X-rays and "
               "throw dark and bright streaks over adjacent anatomy. Above 256 px the artifact "
               "is simulated at 256 px and upsampled."),
    table=[{"objects": n, "radius": r, "density": d, "i0": 1.0e5}
           for n, r, d in ((1, 2.0, 16.5), (1, 2.0, 18.5), (1, 2.0, 21.0), (2, 2.0, 21.0), (2, 2.0, 23.5))],
    fn=ct_metal_streaks, version="2",  # 2: matrix-free projection (other rounding), artifact on a grid of <= 256 px
)
CT_RINGS = ImageNoise(
    name="ct_rings", family="ct",
    description="CT ring artifact: miscalibrated or failing detector elements draw "
                "concentric rings around the centre of the image.",
    rationale=("A miscalibrated or failing detector element records a consistent error at every angle, which "
               "reconstruction turns into rings centred on the rotation axis. Above 256 px the artifact "
               "is simulated at 256 px and upsampled."),
    table=[{"gain_std": g} for g in (0.008, 0.012, 0.018, 0.028, 0.045)],
    fn=ct_rings, version="2",  # 2: matrix-free projection (other rounding), artifact on a grid of <= 256 px
)

NOISES = (CT_LOW_DOSE, CT_METAL_STREAKS, CT_RINGS)
