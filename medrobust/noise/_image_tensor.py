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

    Filled in place, one image at a time while it is in cache: one float allocation for the batch
    (at 1024 x 1024 RGB a per-image tensor and a concatenation cost twice the memory traffic).
    """
    width, height = images[0].size
    channels = len(images[0].getbands())
    out = torch.empty((len(images), channels, height, width), dtype=torch.float32)
    for k, image in enumerate(images):
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
        out[k].copy_(pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)).div_(255.0)
    return out


def batch_to_images(tensor: torch.Tensor, mode: str) -> list[Image.Image]:
    """Inverse of :func:`images_to_batch`: each image of ``[N, C, H, W]`` clamped to [0, 1] and rounded
    to 8 bits, as a PIL image of ``mode``."""
    images = []
    for k in range(tensor.shape[0]):  # one image at a time: small temporaries, reused while in cache
        rounded = tensor[k].clamp(0, 1).mul_(255.0).round_()
        channels, height, width = rounded.shape
        pixels = torch.empty((height, width, channels), dtype=torch.uint8)
        pixels.permute(2, 0, 1).copy_(rounded)  # float to uint8 and channels last in one pass
        images.append(Image.fromarray(pixels[..., 0].numpy() if channels == 1 else pixels.numpy(), mode=mode))
    return images
