"""PIL images to the float tensors image noises work on, and back (8-bit round trip)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["image_to_tensor", "tensor_to_image", "images_to_batch", "batch_to_images"]

_255 = np.float32(255.0)
_ROUNDER = float(2 ** 23)
"""Added to a float32 in [0, 255], rounds it to an integer half to even (the spacing of float32 in
[2 ** 23, 2 ** 24) is 1, and 2 ** 23 is even) and leaves that integer in the low byte of its bits."""
_CHUNK = 2 ** 17
"""Float32 elements (512 KB) rounded at a time to 8 bits: the scratch stays in the core's L2 cache."""


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL ``L``/``RGB`` image to a float tensor ``[1, C, H, W]`` in [0, 1]."""
    return images_to_batch([image])


def tensor_to_image(tensor: torch.Tensor, mode: str) -> Image.Image:
    """Inverse of :func:`image_to_tensor`, rounding to 8 bits."""
    return batch_to_images(tensor[:1], mode)[0]


def images_to_batch(images: Sequence[Image.Image]) -> torch.Tensor:
    """Images of one mode and size as one float tensor ``[N, C, H, W]`` in [0, 1] (``k / 255``).

    Filled in place, one plane at a time: PIL copies out each channel as a contiguous 8-bit plane (in
    C), and numpy converts it and divides it by 255 in one pass (IEEE division, as torch's ``div_``).
    """
    width, height = images[0].size
    channels = len(images[0].getbands())
    out = torch.empty((len(images), channels, height, width), dtype=torch.float32)
    planes = out.numpy()
    for k, image in enumerate(images):
        for c, plane in enumerate(_planes(image)):
            np.divide(plane, _255, out=planes[k, c], dtype=np.float32)
    return out


def _planes(image: Image.Image) -> list[np.ndarray]:
    """The channels of ``image`` as 8-bit arrays ``[H, W]`` (read only)."""
    if image.mode == "RGB":  # one band at a time from PIL's 4-byte pixels: no interleaved copy, no split images
        width, height = image.size
        return [np.frombuffer(image.tobytes("raw", band), dtype=np.uint8).reshape(height, width) for band in "RGB"]
    return [np.asarray(band, dtype=np.uint8) for band in (image.split() if len(image.getbands()) > 1 else (image,))]


def batch_to_images(tensor: torch.Tensor, mode: str) -> list[Image.Image]:
    """Inverse of :func:`images_to_batch`: each image of ``[N, C, H, W]`` clamped to [0, 1] and rounded
    to 8 bits (``round(255 * x)``, half to even), as a PIL image of ``mode``.

    A float32 CPU tensor goes a plane at a time through a scratch in cache: clamp, ``* 255``, and
    ``+ 2 ** 23`` (which rounds, as ``round_`` does) leave each byte in the low bits; PIL merges the
    planes (in C). Other tensors are rounded in their own dtype.
    """
    tensor = tensor.detach()
    if tensor.dtype != torch.float32 or tensor.device.type != "cpu":
        return _batch_to_images_any(tensor, mode)
    count, channels, height, width = tensor.shape
    rows = max(1, _CHUNK // width)
    scratch = torch.empty((min(rows, height), width), dtype=torch.float32)
    images = []
    for k in range(count):
        planes = []
        for c in range(channels):
            pixels = torch.empty((height, width), dtype=torch.uint8)
            for top in range(0, height, rows):
                part = scratch[:min(rows, height - top)]
                torch.clamp(tensor[k, c, top:top + rows], 0, 1, out=part).mul_(255.0).add_(_ROUNDER)
                pixels[top:top + rows].copy_(part.view(torch.int32))  # the low byte: int to uint8 wraps
            planes.append(Image.fromarray(pixels.numpy(), mode=mode if channels == 1 else "L"))
        images.append(planes[0] if channels == 1 else Image.merge(mode, planes))
    return images


def _batch_to_images_any(tensor: torch.Tensor, mode: str) -> list[Image.Image]:
    """:func:`batch_to_images` of a tensor of any dtype and device, rounded in its dtype."""
    images = []
    for k in range(tensor.shape[0]):  # one image at a time: small temporaries, reused while in cache
        rounded = tensor[k].clamp(0, 1).mul_(255.0).round_()
        channels, height, width = rounded.shape
        pixels = torch.empty((height, width, channels), dtype=torch.uint8)
        pixels.permute(2, 0, 1).copy_(rounded)  # float to uint8 and channels last in one pass
        images.append(Image.fromarray(pixels[..., 0].numpy() if channels == 1 else pixels.numpy(), mode=mode))
    return images
