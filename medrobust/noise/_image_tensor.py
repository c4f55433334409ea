"""PIL images to the float tensors image noises work on, and back (8-bit round trip)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["image_to_tensor", "tensor_to_image", "images_to_batch", "batch_to_images"]


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL ``L``/``RGB`` image to a float tensor ``[1, C, H, W]`` in [0, 1]."""
    return images_to_batch([image])


def tensor_to_image(tensor: torch.Tensor, mode: str) -> Image.Image:
    """Inverse of :func:`image_to_tensor`, rounding to 8 bits."""
    return batch_to_images(tensor[:1], mode)[0]


def images_to_batch(images: Sequence[Image.Image]) -> torch.Tensor:
    """Images of one mode and size as one float tensor ``[N, C, H, W]`` in [0, 1] (``k / 255``).

    Filled in place: one float allocation for the batch, whatever its size (at 1024 x 1024 RGB a
    per-image tensor and a concatenation cost twice the memory traffic).
    """
    first = np.asarray(images[0], dtype=np.uint8)
    channels = 1 if first.ndim == 2 else first.shape[2]
    out = torch.empty((len(images), channels, first.shape[0], first.shape[1]), dtype=torch.float32)
    for k, image in enumerate(images):
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
        out[k].copy_(pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1))
    return out.div_(255.0)


def batch_to_images(tensor: torch.Tensor, mode: str) -> list[Image.Image]:
    """Inverse of :func:`images_to_batch`: each image of ``[N, C, H, W]`` clamped to [0, 1] and rounded
    to 8 bits, as a PIL image of ``mode``."""
    pixels = (tensor.clamp(0, 1) * 255.0).round_().to(torch.uint8)
    if pixels.shape[1] == 1:
        return [Image.fromarray(pixels[k, 0].numpy(), mode=mode) for k in range(pixels.shape[0])]
    pixels = pixels.permute(0, 2, 3, 1).contiguous()
    return [Image.fromarray(pixels[k].numpy(), mode=mode) for k in range(pixels.shape[0])]
