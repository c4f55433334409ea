"""Shared tensor operations for image noises (local RNGs, separable filters, FFT helpers)."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional

import torch
import torch.nn.functional as F

__all__ = ["generator", "gaussian_kernel", "separable_filter", "gaussian_filter", "uniform", "base_grid",
           "EIGHT_BIT_CHUNK", "is_eight_bit", "level_index", "eight_bit_index", "pointwise"]


def generator(params: Mapping[str, Any], device: torch.device) -> torch.Generator:
    """A local generator seeded from ``params["seed"]`` (never the global RNG)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(params["seed"]))
    return gen


def uniform(gen: torch.Generator, low: float, high: float, shape: tuple[int, ...] = (),
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform draws in [low, high) from ``gen``."""
    return low + (high - low) * torch.rand(shape, generator=gen, device=device)


def gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel of radius ceil(3 sigma)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def separable_filter(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Filter ``[B, C, H, W]`` with a 1-D kernel along both axes, reflect padding.

    On CPU, float32 batches are filtered by shifted multiply-adds, a few maps
    at a time (see :data:`SHIFTED_ADD_MAX`). Elsewhere the batch goes into the
    channel dimension of one depthwise convolution (30-100x faster on CPU than
    a single-channel conv2d over B*C maps).
    """
    b, c, h, w = images.shape
    n, k = b * c, kernel.numel()
    radius = k // 2
    flat = images.reshape(1, n, h, w)
    mode = "reflect" if radius < min(h, w) else "replicate"
    if images.device.type == "cpu" and images.dtype == torch.float32:
        out, taps = torch.empty_like(flat), kernel.tolist()
        per = max(1, SHIFTED_ADD_MAX // (h * w))  # maps per pass, so each pass stays in cache
        for i in range(0, n, per):
            _shifted_separable(flat[:, i:i + per], taps, mode, out[:, i:i + per])
        return out.reshape(b, c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode=mode), kernel.view(1, 1, 1, k).expand(n, 1, 1, k),
                    groups=n)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode=mode), kernel.view(1, 1, k, 1).expand(n, 1, k, 1),
                    groups=n)
    return flat.reshape(b, c, h, w)


#: On CPU, float32 batches are filtered by shifted multiply-adds, this many values (a few MB, which
#: stay in cache) at a time: 2-4x faster there than the depthwise convolution, and equal to it bit
#: for bit on the AVX-512 CPU we measured (tests/noise/test_ops.py).
SHIFTED_ADD_MAX = 1 << 20


def _shifted_separable(flat: torch.Tensor, taps: list[float], mode: str, out: torch.Tensor) -> torch.Tensor:
    """``[1, N, H, W]`` filtered along both axes by ``taps`` into ``out``: one multiply-add per tap and axis."""
    h, w = flat.shape[-2:]
    radius = len(taps) // 2
    padded = F.pad(flat, (radius,) * 4, mode=mode)  # both axes at once: rows filtered first, then columns
    rows = padded[..., 0:w] * taps[0]
    for i, tap in enumerate(taps[1:], start=1):
        rows.add_(padded[..., i:i + w], alpha=tap)
    torch.mul(rows[..., 0:h, :], taps[0], out=out)
    for i, tap in enumerate(taps[1:], start=1):
        out.add_(rows[..., i:i + h, :], alpha=tap)
    return out


def gaussian_filter(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of standard deviation ``sigma`` pixels (no clamping)."""
    return separable_filter(images, gaussian_kernel(sigma, images.dtype, images.device))


def base_grid(b: int, h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Identity sampling grid ``[B, H, W, 2]`` (x, y) in grid_sample's align_corners=False units."""
    ys = (torch.arange(h, dtype=dtype, device=device) * 2 + 1) / h - 1
    xs = (torch.arange(w, dtype=dtype, device=device) * 2 + 1) / w - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    return grid.unsqueeze(0).expand(b, h, w, 2)


_PROBE = 4096
#: Adding 2 ** 23 to a float32 in [0, 2 ** 23) rounds it to an integer held in the low mantissa bits.
_MAGIC = 8388608.0
_MAGIC_BITS = 0x4B000000


#: Values handled per pass by the 8-bit paths: temporaries this size (1 MB) stay in cache and come
#: from the heap; whole-batch temporaries of an RGB 224 batch (19 MB) cost fresh page faults per call.
EIGHT_BIT_CHUNK = 1 << 18


def level_index(part: torch.Tensor) -> torch.Tensor:
    """Int32 ``clamp(round(255 x), 0, 255)`` of flat float32 ``part``, unchecked (see :func:`is_eight_bit`).

    Read from the bits of ``255 x + 2 ** 23`` (the addition does the rounding;
    no conversion pass).
    """
    return torch.mul(part, 255.0).add_(_MAGIC).view(torch.int32).sub_(_MAGIC_BITS).clamp_(0, 255)


def _chunks(flat: torch.Tensor) -> list[torch.Tensor]:
    return list(flat.split(EIGHT_BIT_CHUNK))


def _checked_index(part: torch.Tensor) -> Optional[torch.Tensor]:
    """:func:`level_index` of ``part`` if ``part == index / 255`` exactly everywhere, else ``None``.

    Checked as ``index / 255 - x == 0`` (the same division as the level table;
    NaN fails it): 2x cheaper than gathering the levels and comparing.
    """
    index = level_index(part)
    if torch.div(index.float(), 255.0).sub_(part).abs_().max().item() != 0.0:
        return None
    return index


def is_eight_bit(images: torch.Tensor) -> bool:
    """Whether ``images`` is float32 and equals ``k / 255`` for an integer ``k`` in 0-255 everywhere.

    Decoded 8-bit images (see ``image_to_tensor``) hold only these 256 values.
    Checked exactly, chunk by chunk, after a cheap probe that most other
    inputs fail.
    """
    if images.dtype != torch.float32 or images.numel() == 0:
        return False
    flat = images.reshape(-1)
    return all(_checked_index(part) is not None for part in [flat[:_PROBE]] + _chunks(flat))


def eight_bit_index(images: torch.Tensor) -> Optional[torch.Tensor]:
    """Flat int32 ``k`` with ``images == k / 255`` exactly everywhere (float32 only), else ``None``."""
    return level_index(images.reshape(-1)) if is_eight_bit(images) else None


def pointwise(images: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(images)`` for an elementwise ``fn``; 8-bit images go through a 256-entry table of ``fn``.

    The table is ``fn`` of the 256 levels, so both paths compute the same
    function of each value (up to the last bit where a vectorised kernel and
    its scalar tail round differently); a gather is cheaper than a power or a
    logarithm. The gather runs chunk by chunk into the output (no whole-batch
    temporaries).
    """
    if images.dtype != torch.float32 or images.numel() == 0:
        return fn(images)
    flat = images.reshape(-1)
    if _checked_index(flat[:_PROBE]) is None:  # most other inputs fail this cheap probe
        return fn(images)
    table = fn(torch.arange(256, dtype=images.dtype, device=images.device) / 255.0)
    out = torch.empty(flat.numel(), dtype=images.dtype, device=images.device)
    for part, into in zip(_chunks(flat), _chunks(out)):
        index = _checked_index(part)
        if index is None:  # not 8-bit after all: the partial table output is dropped
            return fn(images)
        torch.index_select(table, 0, index, out=into)
    return out.view(images.shape)
