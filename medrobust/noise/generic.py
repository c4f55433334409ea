"""Generic image corruptions of the ImageNet-C family, adapted to small grayscale medical images.

The corruptions and their parameterisation follow Hendrycks & Dietterich's
ImageNet-C (the ``imagecorruptions`` package) so results can be compared with
that literature:
shot, impulse and speckle noise; defocus, motion and zoom blur; brightness,
contrast (plus gamma); pixelate; elastic deformation. ``gaussian_noise``,
``gaussian_blur`` and ``jpeg`` live in :mod:`medrobust.noise.image`.

The severity tables are rescaled for 64x64 images and start milder than
ImageNet-C's level 1: lengths and radii are in pixels of the image being
corrupted, so the same level is a stronger corruption on a smaller image.
Unlike ``imagecorruptions``, every random draw (including the motion-blur
angle) comes from the seeded local generator, so any output can be replayed.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ._ops import SHIFTED_ADD_MAX, generator, pointwise
from ._poisson import poisson_8bit
from .base import ImageNoise

__all__ = [
    "SHOT_NOISE", "IMPULSE_NOISE", "SPECKLE_NOISE", "DEFOCUS_BLUR", "MOTION_BLUR", "ZOOM_BLUR",
    "BRIGHTNESS", "CONTRAST", "GAMMA", "PIXELATE", "ELASTIC", "NOISES",
    "disk_kernel", "motion_kernel", "motion_blur_angle", "elastic_displacement",
]

# Share of impulse-corrupted pixels that turn white (salt); the rest turn black (pepper).
SALT_FRACTION = 0.5
# Motion-blur directions are drawn uniformly in [0, MOTION_ANGLE_RANGE) degrees.
MOTION_ANGLE_RANGE = 180.0
# Zoom blur: largest shift, in pixels at the middle of the longer edge, between consecutive magnifications.
ZOOM_STEP_PX = 1.0


# ---------------------------------------------------------------- helpers


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
    a direct convolution up to rounding (tests/noise/test_generic.py).
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


def _base_grid(b: int, h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Identity sampling grid ``[B, H, W, 2]`` (x, y) in grid_sample's align_corners=False units."""
    ys = (torch.arange(h, dtype=dtype, device=device) * 2 + 1) / h - 1
    xs = (torch.arange(w, dtype=dtype, device=device) * 2 + 1) / w - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    return grid.unsqueeze(0).expand(b, h, w, 2)


# ---------------------------------------------------------------- noise


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


# ---------------------------------------------------------------- blur


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
    grid = _base_grid(b, h, w, images.dtype, images.device)
    out = images.clone()
    for zoom in zooms[1:]:
        out += F.grid_sample(images, grid / zoom, mode="bilinear", padding_mode="border",
                             align_corners=False)
    return (out / steps).clamp_(0.0, 1.0)


# ---------------------------------------------------------------- intensity


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


# ---------------------------------------------------------------- digital


def pixelate(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Replace each ``block`` x ``block`` tile (from the top-left corner) by its mean intensity."""
    b, c, h, w = images.shape
    block = int(params["block"])
    pad = (0, -w % block, 0, -h % block)  # partial tiles at the right and bottom edges
    sums = F.avg_pool2d(F.pad(images, pad) if any(pad) else images, block, divisor_override=1)
    if any(pad):
        ones = torch.ones((1, 1, h, w), dtype=images.dtype, device=images.device)
        counts = F.avg_pool2d(F.pad(ones, pad), block, divisor_override=1)
    else:
        counts = torch.full((1, 1) + sums.shape[2:], float(block * block), dtype=images.dtype, device=images.device)
    means = (sums / counts).clamp_(0.0, 1.0)
    hb, wb = means.shape[2:]
    # widen each mean to its block's columns (a small copy), then repeat whole rows (a contiguous copy)
    rows = means.unsqueeze(-1).expand(b, c, hb, wb, block).reshape(b, c, hb, 1, wb * block)
    out = rows.expand(b, c, hb, block, wb * block).reshape(b, c, hb * block, wb * block)
    return out[..., :h, :w].contiguous() if any(pad) else out


# ---------------------------------------------------------------- geometric


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
    grid = _base_grid(b, h, w, images.dtype, images.device) + field.permute(0, 2, 3, 1) * scale
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.clamp_(0.0, 1.0)


# ---------------------------------------------------------------- declarations

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
PIXELATE = ImageNoise(
    name="pixelate", family="digital",
    description="Blocky loss of resolution from downsampling (thumbnails, low-resolution exports).",
    rationale=("Images are downsampled for thumbnails, slide decks, web publication and low-resolution exports, "
               "losing fine detail such as calcifications or thin fracture lines."),
    table=[{"block": k} for k in (2, 3, 4, 5, 6)],
    random=False, fn=pixelate,
)
ELASTIC = ImageNoise(
    name="elastic", family="geometric",
    description="Smooth local warping of anatomy (soft-tissue motion, a bent film or a distorting lens).",
    rationale=("Soft tissue deforms between acquisitions (breathing, peristalsis, patient positioning), and "
               "curled film or wide-angle phone lenses warp scanned images."),
    table=[{"alpha": a, "sigma": 4.0} for a in (0.3, 0.6, 1.0, 2.0, 3.5)],
    fn=elastic, version="2",  # 2: the smooth field is drawn in the Fourier domain (same law, other draws)
)

NOISES = (SHOT_NOISE, IMPULSE_NOISE, SPECKLE_NOISE, DEFOCUS_BLUR, MOTION_BLUR, ZOOM_BLUR,
          BRIGHTNESS, CONTRAST, GAMMA, PIXELATE, ELASTIC)
