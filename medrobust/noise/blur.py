"""Blur: Gaussian, defocus (disk), motion (line) and zoom (radial) blur, with their kernels and filters.

Part of the generic image corruptions of the ImageNet-C family (Hendrycks &
Dietterich, the ``imagecorruptions`` package), adapted to small grayscale
medical images. Lengths and radii are in pixels of the image being corrupted,
so the same level is a stronger corruption on a smaller image. Unlike
``imagecorruptions``, the motion-blur angle is drawn from the seeded local
generator and recorded, so any output can be replayed.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ._ops import SHIFTED_ADD_MAX, base_grid, gaussian_filter, generator
from .base import ImageNoise

__all__ = [
    "GAUSSIAN_BLUR", "DEFOCUS_BLUR", "MOTION_BLUR", "ZOOM_BLUR", "NOISES",
    "disk_kernel", "motion_kernel", "motion_blur_angle", "MOTION_ANGLE_RANGE", "ZOOM_STEP_PX",
]

# Motion-blur directions are drawn uniformly in [0, MOTION_ANGLE_RANGE) degrees.
MOTION_ANGLE_RANGE = 180.0
# Zoom blur: largest shift, in pixels at the middle of the longer edge, between consecutive magnifications.
ZOOM_STEP_PX = 1.0


# ---------------------------------------------------------------- filters


DIRECT_KERNEL_MAX = 11
"""Kernels up to this width run as a direct depthwise convolution, larger ones by FFT."""


SPARSE_TAPS_MAX = 64
"""On CPU, float32 kernels with at most this many non-zero taps run as shifted multiply-adds."""


def _filter2d(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of ``[B, C, H, W]`` with one odd square 2-D kernel, reflect padding.

    On CPU, float32 batches and kernels with few non-zero taps (a motion
    streak, a small disk: 5-37 of 9-169 entries) are filtered by one
    multiply-add of a shifted view per non-zero tap, a cache-sized group of
    maps at a time (3-6x faster than the depthwise convolution on 32 RGB 224
    images, whose whole-batch buffers are page-faulted afresh on every call).
    Otherwise small kernels run as one depthwise convolution over the whole
    batch, larger ones by FFT on the padded image (the padding is as wide as
    the kernel's radius, so no wrap-around reaches the kept centre). All equal
    a direct convolution up to rounding (tests/noise/test_blur.py).
    """
    b, c, h, w = images.shape
    radius = kernel.shape[-1] // 2
    if radius == 0:
        return images * kernel.reshape(())
    mode = "reflect" if radius < min(h, w) else "replicate"
    taps = _nonzero_taps(kernel) if images.device.type == "cpu" and images.dtype == torch.float32 else None
    if taps is not None and len(taps) <= SPARSE_TAPS_MAX:
        flat = images.reshape(1, b * c, h, w)
        out = torch.empty_like(flat)
        per = max(1, SHIFTED_ADD_MAX // ((h + 2 * radius) * (w + 2 * radius)))  # maps per cache-sized group
        for i in range(0, b * c, per):
            _shifted_filter2d(flat[:, i:i + per], taps, radius, mode, out[:, i:i + per])
        return out.reshape(b, c, h, w)
    if kernel.shape[-1] <= DIRECT_KERNEL_MAX:
        n, size = b * c, kernel.shape[-1]
        flat = F.pad(images.reshape(1, n, h, w), (radius,) * 4, mode=mode)
        weight = kernel.to(images.dtype).flip(-1, -2).reshape(1, 1, size, size).expand(n, 1, size, size)
        return F.conv2d(flat, weight, groups=n).reshape(b, c, h, w)
    work = images.reshape(b * c, 1, h, w)
    work = work if work.dtype in (torch.float32, torch.float64) else work.float()
    padded = F.pad(work, (radius,) * 4, mode=mode)
    ph, pw = padded.shape[-2:]
    placed = torch.zeros((ph, pw), dtype=work.dtype, device=work.device)
    size = kernel.shape[-1]
    placed[:size, :size] = kernel.to(work.dtype)
    placed = torch.roll(placed, shifts=(-radius, -radius), dims=(0, 1))
    out = torch.fft.irfft2(torch.fft.rfft2(padded) * torch.fft.rfft2(placed), s=(ph, pw))
    out = out[..., radius:radius + h, radius:radius + w]
    return out.to(images.dtype).reshape(b, c, h, w)


def _nonzero_taps(kernel: torch.Tensor) -> list[tuple[int, int, float]]:
    """``(row, column, weight)`` of each non-zero entry of the flipped kernel (the correlation weights)."""
    flipped = kernel.flip(-1, -2).to(torch.float32).cpu()
    rows, cols = flipped.nonzero(as_tuple=True)
    return [(int(i), int(j), float(flipped[i, j])) for i, j in zip(rows.tolist(), cols.tolist())]


def _shifted_filter2d(flat: torch.Tensor, taps: list[tuple[int, int, float]], radius: int, mode: str,
                      out: torch.Tensor) -> torch.Tensor:
    """``[1, N, H, W]`` correlated with sparse ``taps`` into ``out``: one multiply-add per non-zero tap."""
    h, w = flat.shape[-2:]
    padded = F.pad(flat, (radius,) * 4, mode=mode)
    (i, j, weight), rest = taps[0], taps[1:]
    torch.mul(padded[..., i:i + h, j:j + w], weight, out=out)
    for i, j, weight in rest:
        out.add_(padded[..., i:i + h, j:j + w], alpha=weight)
    return out


# ---------------------------------------------------------------- blurs


def gaussian_blur(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Separable Gaussian blur of standard deviation ``sigma`` pixels, reflect padding."""
    return gaussian_filter(images, float(params["sigma"])).clamp_(0.0, 1.0)


def disk_kernel(radius: float, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Normalised anti-aliased disk (a defocused lens' point spread) of ``radius`` pixels."""
    half = int(math.ceil(radius))
    x = torch.arange(-half, half + 1, dtype=torch.float64)
    dist = torch.sqrt(x.view(-1, 1) ** 2 + x.view(1, -1) ** 2)
    kernel = (radius + 0.5 - dist).clamp(0.0, 1.0)
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def defocus_blur(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Convolution with a uniform disk of ``radius`` pixels (out-of-focus optics)."""
    kernel = disk_kernel(float(params["radius"]), images.dtype, images.device)
    return _filter2d(images, kernel).clamp_(0.0, 1.0)


def motion_blur_angle(params: Mapping[str, Any]) -> float:
    """The motion direction in degrees (counter-clockwise from the x axis) that ``params`` produce.

    Drawn from the CPU generator seeded by ``params["seed"]``, so the angle is the
    same on every device and can be written into a certificate.
    """
    gen = generator(params, torch.device("cpu"))
    return float(torch.rand((), generator=gen, dtype=torch.float64)) * MOTION_ANGLE_RANGE


def motion_kernel(length: float, angle: float, dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Normalised anti-aliased line segment of ``length`` pixels at ``angle`` degrees, centred.

    Models uniform linear motion during the exposure; rows grow downwards, so a
    positive angle points up and to the right as displayed.
    """
    half = int(math.ceil(length / 2.0)) + 1
    x = torch.arange(-half, half + 1, dtype=torch.float64)
    xx, yy = x.view(1, -1), x.view(-1, 1)
    theta = math.radians(angle)
    along = xx * math.cos(theta) - yy * math.sin(theta)
    across = xx * math.sin(theta) + yy * math.cos(theta)
    kernel = (1.0 - across.abs()).clamp(0.0, 1.0) * (length / 2.0 + 0.5 - along.abs()).clamp(0.0, 1.0)
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def motion_blur(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Linear motion blur of ``length`` pixels at ``angle`` degrees (resolved from the seed by
    :func:`motion_blur_angle` when the parameters are drawn, so the record carries it)."""
    angle = float(params["angle"]) if "angle" in params else motion_blur_angle(params)
    kernel = motion_kernel(float(params["length"]), angle, images.dtype, images.device)
    return _filter2d(images, kernel).clamp_(0.0, 1.0)


def zoom_blur(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Mean of the image magnified about its centre by factors evenly spaced in [1, ``max_zoom``].

    The number of factors follows from the image size: consecutive magnifications
    move the middle of the longer edge by at most ``ZOOM_STEP_PX`` pixels, so the
    smear is continuous rather than a few ghost copies.
    """
    b, c, h, w = images.shape
    max_zoom = float(params["max_zoom"])
    steps = max(2, int(math.ceil((max_zoom - 1.0) * max(h, w) / 2.0 / ZOOM_STEP_PX)) + 1)
    zooms = torch.linspace(1.0, max_zoom, steps, dtype=torch.float64).tolist()
    grid = base_grid(b, h, w, images.dtype, images.device)
    out = images.clone()
    for zoom in zooms[1:]:
        out += F.grid_sample(images, grid / zoom, mode="bilinear", padding_mode="border",
                             align_corners=False)
    return (out / steps).clamp_(0.0, 1.0)


# ---------------------------------------------------------------- declarations

GAUSSIAN_BLUR = ImageNoise(
    name="gaussian_blur", family="blur",
    description="Gaussian blur (defocus, patient motion smearing, low-resolution reconstruction).",
    rationale=("Images reach a model softened by resampling and smoothing: thumbnails in PACS viewers, smoothing "
               "reconstruction kernels, and down-sized exports attached to referrals."),
    table=[{"sigma": s} for s in (0.5, 0.75, 1.0, 1.5, 2.5)],
    random=False, fn=gaussian_blur,
)
DEFOCUS_BLUR = ImageNoise(
    name="defocus_blur", family="blur",
    description="Out-of-focus blur, as from a badly focused camera photographing a film or a screen.",
    rationale=("A clinician photographing a light box, a monitor or a slide with a phone often misses focus; "
               "defocused microscope and endoscope images behave alike."),
    table=[{"radius": r} for r in (0.75, 1.0, 1.5, 2.0, 3.0)],
    random=False, fn=defocus_blur,
)
MOTION_BLUR = ImageNoise(
    name="motion_blur", family="blur",
    description="Streaking along one direction from camera or patient movement during the exposure.",
    rationale=("Patient or camera movement during the exposure smears the image along one direction: breathing "
               "and restless patients in radiography, hand-held photos of screens."),
    table=[{"length": n} for n in (2.0, 3.0, 4.0, 6.0, 9.0)],
    fn=motion_blur, derive=lambda p: {"angle": round(motion_blur_angle(p), 6)},
    version="2",  # 2: 13 x 13 kernels (level 5) by shifted multiply-adds, no longer by FFT (last bits)
)
ZOOM_BLUR = ImageNoise(
    name="zoom_blur", family="blur",
    description="Radial smear from the centre outwards, as when zooming or moving the camera during the shot.",
    rationale=("Moving a hand-held camera towards or away from a screen or film during capture smears the image "
               "radially; ImageNet-C includes it so results compare with that literature."),
    table=[{"max_zoom": z} for z in (1.02, 1.04, 1.08, 1.14, 1.25)],
    random=False, fn=zoom_blur,
)

NOISES = (GAUSSIAN_BLUR, DEFOCUS_BLUR, MOTION_BLUR, ZOOM_BLUR)
