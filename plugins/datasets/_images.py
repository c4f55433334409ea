"""Decoding release images into the PIL images a :class:`medrobust.Sample` carries (mode L or RGB)."""

from __future__ import annotations

import io
import warnings
from typing import Optional

import numpy as np
from PIL import Image

from ._records import ImageSource

__all__ = ["ImageUnreadable", "decode", "to_l_or_rgb"]

_GRAY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class ImageUnreadable(Exception):
    """An image that cannot be used; the message says why and what is expected."""


def to_l_or_rgb(image: Image.Image) -> Image.Image:
    """The image in mode ``L`` (grayscale sources) or ``RGB`` (everything else).

    16-bit and float grayscale (common for radiographs saved as PNG) is rescaled
    linearly from its own minimum..maximum to 0..255 instead of being clipped, so a
    12-bit CT slice does not turn white.
    """
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    return image.convert("L" if image.mode in _GRAY else "RGB")


def decode(source: ImageSource) -> Image.Image:
    """Read and fully decode ``source`` (truncated files fail here, not during a run).

    Raises:
        ImageUnreadable: Missing file, empty or undecodable data, naming the cause.
    """
    data: Optional[bytes] = source.data
    if data is None:
        assert source.path is not None
        try:
            data = source.path.read_bytes()
        except FileNotFoundError:
            raise ImageUnreadable(f"file not found: {source.path}; expected an image file there") from None
        except OSError as exc:
            raise ImageUnreadable(f"cannot read {source.path}: {exc.strerror or exc}") from None
    if not data:
        raise ImageUnreadable("is empty (0 bytes); expected an image (PNG, JPEG or another format Pillow reads)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                image = to_l_or_rgb(opened)
                if image is opened:
                    image = opened.copy()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, bomb errors...
        raise ImageUnreadable(f"cannot be decoded as an image ({type(exc).__name__}: {exc}); expected a PNG, "
                              f"JPEG or another format Pillow reads") from None
    return image
