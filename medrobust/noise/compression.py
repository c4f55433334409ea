"""Lossy digital export: JPEG compression and pixelation (loss of resolution).

``jpeg`` is Pillow's (libjpeg's) round trip, run batched by
:mod:`medrobust.noise._jpeg`; ``pixelate`` follows ImageNet-C (Hendrycks &
Dietterich, the ``imagecorruptions`` package), its block sizes rescaled for
small medical images. Both are deterministic.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ._jpeg import jpeg_lossy
from .base import ImageNoise

__all__ = ["JPEG", "PIXELATE", "NOISES"]


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
PIXELATE = ImageNoise(
    name="pixelate", family="digital",
    description="Blocky loss of resolution from downsampling (thumbnails, low-resolution exports).",
    rationale=("Images are downsampled for thumbnails, slide decks, web publication and low-resolution exports, "
               "losing fine detail such as calcifications or thin fracture lines."),
    table=[{"block": k} for k in (2, 3, 4, 5, 6)],
    random=False, fn=pixelate,
)

NOISES = (JPEG, PIXELATE)
