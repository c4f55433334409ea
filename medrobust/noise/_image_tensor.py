"""PIL images to the float tensors image noises work on, and back (8-bit round trip)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["image_to_tensor", "tensor_to_image"]


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL ``L``/``RGB`` image to a float tensor ``[1, C, H, W]`` in [0, 1]."""
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def tensor_to_image(tensor: torch.Tensor, mode: str) -> Image.Image:
    """Inverse of :func:`image_to_tensor`, rounding to 8 bits."""
    arr = (tensor[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr, mode=mode)
