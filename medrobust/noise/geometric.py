"""Geometric corruption: elastic deformation by a smooth random displacement field.

Part of the generic image corruptions of the ImageNet-C family (Hendrycks &
Dietterich, the ``imagecorruptions`` package), adapted to small grayscale
medical images: displacements are in pixels of the image being corrupted. The
field is drawn from the seeded local generator, so any output can be replayed.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ._ops import base_grid, generator
from .base import ImageNoise

__all__ = ["ELASTIC", "NOISES", "elastic_displacement", "SPECTRAL_FLOOR"]

#: Fourier components of the elastic field weaker than this share of the smoothing filter's peak are
#: left out: they would move no pixel by more than a millionth of the field's size.
SPECTRAL_FLOOR = 1e-7


def _smooth_noise_spectrum(gen: torch.Generator, b: int, h: int, w: int, sigma: float,
                           device: torch.device) -> torch.Tensor:
    """``rfft2`` of ``[B, 2, H, W]`` white noise times the Gaussian transfer function, mean removed.

    Returns the low-frequency columns ``[B, 2, H, K]`` of the half spectrum
    (``K <= W // 2 + 1``); the columns above are zero.

    The transform of white noise is itself white: independent complex Gaussian
    coefficients, with the Hermitian pairs of the ``kx = 0`` column tied. Only
    the low frequencies the filter passes (above :data:`SPECTRAL_FLOOR`) are
    drawn, so a smooth field costs a fraction of the random numbers and no
    forward transform. Falls back to transforming drawn noise when the filter
    passes half the band or more (tiny ``sigma``).
    """
    if sigma > 0:
        limit = math.sqrt(math.log(1.0 / SPECTRAL_FLOOR) / (2.0 * math.pi ** 2 * sigma ** 2))  # cycles/pixel
        ky, kx = int(limit * h), int(limit * w)
    if sigma <= 0 or 2 * ky >= h or 2 * kx >= w:
        fy = torch.fft.fftfreq(h, device=device).view(-1, 1)
        fx = torch.fft.rfftfreq(w, device=device).view(1, -1)
        transfer = torch.exp(-2.0 * math.pi ** 2 * sigma ** 2 * (fy ** 2 + fx ** 2))
        transfer[0, 0] = 0.0  # no mean displacement: a warp, not a translation
        noise = torch.randn((b, 2, h, w), generator=gen, device=device, dtype=torch.float32)
        return torch.fft.rfft2(noise) * transfer
    # rows: frequencies ky, ..., 1, 0, -1, ..., -ky (over h); columns 0..kx (over w)
    block = torch.view_as_complex(torch.randn((b, 2, 2 * ky + 1, kx + 1, 2), generator=gen, device=device))
    block[..., ky + 1:, 0] = block[..., :ky, 0].flip(-1).conj()  # column kx = 0 is Hermitian
    fy = torch.arange(ky, -ky - 1, -1, device=device).view(-1, 1) / h
    fx = torch.arange(kx + 1, device=device).view(1, -1) / w
    transfer = torch.exp(-2.0 * math.pi ** 2 * sigma ** 2 * (fy ** 2 + fx ** 2))
    transfer[ky, 0] = 0.0  # no mean displacement
    block *= transfer  # the scale of the draws is irrelevant: the field is rescaled to alpha
    # only columns 0..kx are stored: the columns above are zero (see _spectrum_to_field)
    spectrum = torch.zeros((b, 2, h, kx + 1), dtype=block.dtype, device=device)
    spectrum[..., :ky + 1, :] = block[..., :ky + 1, :].flip(-2)  # frequencies 0..ky
    spectrum[..., h - ky:, :] = block[..., ky + 1:, :].flip(-2)  # frequencies -ky..-1
    return spectrum


def _spectrum_to_field(spectrum: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``irfft2(spectrum, s=(h, w))`` of a half spectrum whose missing high columns are zero.

    The inverse runs as its two 1-D passes (columns, then rows), the first one
    only over the stored low-frequency columns: the same arithmetic as
    ``irfft2`` on the zero-padded spectrum (equal bit for bit on the CPUs we
    test), at about 70 % of its cost for a 224 x 224 field.
    """
    return torch.fft.irfft(torch.fft.ifft(spectrum, dim=-2), n=w, dim=-1)


def elastic_displacement(params: Mapping[str, Any], shape: tuple[int, int, int],
                         dtype: torch.dtype = torch.float32,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """The displacement field ``[B, 2, H, W]`` (dx, dy in pixels) of :func:`elastic` for ``shape`` (B, H, W).

    White noise smoothed by a Gaussian of ``sigma`` pixels (periodic, in the
    Fourier domain, where it is drawn: see :func:`_smooth_noise_spectrum`),
    rescaled so that the root-mean-square displacement of each image is
    ``alpha`` pixels.
    """
    b, h, w = shape
    device = torch.device(device)
    gen = generator(params, device)
    spectrum = _smooth_noise_spectrum(gen, b, h, w, float(params["sigma"]), device)
    field = _spectrum_to_field(spectrum, h, w)
    rms = field.pow(2).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True).sqrt()
    return (field * (float(params["alpha"]) / rms.clamp_min(1e-12))).to(dtype)


def elastic(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Warp by a smooth random displacement field (see :func:`elastic_displacement`), bilinear."""
    b, c, h, w = images.shape
    field = elastic_displacement(params, (b, h, w), images.dtype, images.device)
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=images.dtype, device=images.device)
    grid = base_grid(b, h, w, images.dtype, images.device) + field.permute(0, 2, 3, 1) * scale
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.clamp_(0.0, 1.0)


ELASTIC = ImageNoise(
    name="elastic", family="geometric",
    description="Smooth local warping of anatomy (soft-tissue motion, a bent film or a distorting lens).",
    rationale=("Soft tissue deforms between acquisitions (breathing, peristalsis, patient positioning), and "
               "curled film or wide-angle phone lenses warp scanned images."),
    table=[{"alpha": a, "sigma": 4.0} for a in (0.3, 0.6, 1.0, 2.0, 3.5)],
    fn=elastic, version="2",  # 2: the smooth field is drawn in the Fourier domain (same law, other draws)
)

NOISES = (ELASTIC,)
