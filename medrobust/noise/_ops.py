"""Shared tensor operations for image noises (local RNGs, separable filters, FFT helpers)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

__all__ = ["generator", "gaussian_kernel", "separable_filter", "gaussian_filter", "uniform"]


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

    The batch goes into the channel dimension of one depthwise convolution:
    on CPU that is 30-100x faster than a single-channel conv2d over B*C maps.
    """
    b, c, h, w = images.shape
    n, k = b * c, kernel.numel()
    radius = k // 2
    flat = images.reshape(1, n, h, w)
    mode = "reflect" if radius < min(h, w) else "replicate"
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode=mode), kernel.view(1, 1, 1, k).expand(n, 1, 1, k),
                    groups=n)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode=mode), kernel.view(1, 1, k, 1).expand(n, 1, k, 1),
                    groups=n)
    return flat.reshape(b, c, h, w)


def gaussian_filter(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of standard deviation ``sigma`` pixels (no clamping)."""
    return separable_filter(images, gaussian_kernel(sigma, images.dtype, images.device))
