"""The first image noises: additive Gaussian noise, Gaussian blur, JPEG compression."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ._jpeg import jpeg_lossy
from ._ops import gaussian_filter, generator
from .base import ImageNoise

__all__ = ["GAUSSIAN_NOISE", "GAUSSIAN_BLUR", "JPEG", "IMAGE_NOISES"]


def gaussian_noise(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Additive zero-mean Gaussian noise of standard deviation ``sigma``, clipped to [0, 1]."""
    gen = generator(params, images.device)
    noise = torch.randn(images.shape, generator=gen, device=images.device, dtype=images.dtype)
    # in place on the fresh noise: the same arithmetic as images + sigma * noise, no temporaries
    return noise.mul_(float(params["sigma"])).add_(images).clamp_(0.0, 1.0)


def gaussian_blur(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Separable Gaussian blur of standard deviation ``sigma`` pixels, reflect padding."""
    return gaussian_filter(images, float(params["sigma"])).clamp_(0.0, 1.0)


def jpeg(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """Lossy JPEG round trip at ``quality``, as Pillow (libjpeg-turbo) saves and decodes it.

    JPEG's lossy stages in libjpeg's integer arithmetic, batched on any device
    (:func:`medrobust.noise._jpeg.jpeg_lossy`): 8-bit quantisation of the input,
    JFIF YCbCr with 4:2:0 chroma for RGB, libjpeg's islow DCT, the standard
    tables scaled by ``quality``, fancy chroma upsampling. The output equals
    ``Image.save(format="JPEG", quality=quality)`` then decoding, except for a
    few pixels in a million that end a level or two off on CPU (exact on CUDA).
    """
    return jpeg_lossy(images, int(params["quality"]))


GAUSSIAN_NOISE = ImageNoise(
    name="gaussian_noise", family="noise",
    description="Additive Gaussian sensor noise (electronic read-out noise, low signal).",
    rationale=("Electronic read-out noise dominates when the signal is weak: low-dose or short exposures, small "
               "pixels, and images photographed off a monitor in a dim room."),
    table=[{"sigma": s} for s in (0.02, 0.05, 0.1, 0.2, 0.35)],
    fn=gaussian_noise,
)
GAUSSIAN_BLUR = ImageNoise(
    name="gaussian_blur", family="blur",
    description="Gaussian blur (defocus, patient motion smearing, low-resolution reconstruction).",
    rationale=("Images reach a model softened by resampling and smoothing: thumbnails in PACS viewers, smoothing "
               "reconstruction kernels, and down-sized exports attached to referrals."),
    table=[{"sigma": s} for s in (0.5, 0.75, 1.0, 1.5, 2.5)],
    random=False, fn=gaussian_blur,
)
JPEG = ImageNoise(
    name="jpeg", family="compression",
    description=("Lossy JPEG compression at a quality setting, as Pillow/libjpeg saves it (4:2:0 colour, "
                 "standard tables): exports from PACS, messaging, screenshots."),
    rationale=("Images leave the archive as lossy JPEG for teleradiology, e-mail, messaging apps and "
               "screenshots, and published case images are usually JPEG too."),
    table=[{"quality": q} for q in (80, 50, 30, 15, 7)],
    random=False, fn=jpeg,
    # 1: Pillow, one image at a time; 2: libjpeg's arithmetic, batched (a few pixels in 10**6 differ from 1);
    # 3: RGB images at most 4 pixels wide get libjpeg's plain chroma upsampling (2 used the triangle filter)
    version="3",
)

NOISES = (GAUSSIAN_NOISE, GAUSSIAN_BLUR, JPEG)
IMAGE_NOISES = NOISES
