"""Decoding release images into the PIL images a :class:`medrobust.Sample` carries (mode L or RGB)."""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._records import ImageSource

__all__ = ["ImageUnreadable", "MAX_IMAGE_BYTES", "decode", "read_image_file", "to_l_or_rgb"]

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


MAX_IMAGE_BYTES = 64 * 1024 * 1024
"""Default of the dataset option ``max_image_bytes``: an image file (or embedded image) larger than this
is refused unread (64 MiB: a 3072 px RGB image, even uncompressed, is 28 MiB)."""

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_REPR = re.compile(r"<[^<>]*? at 0x[0-9A-Fa-f]+>")


def _not_regular(mode: int) -> ImageUnreadable:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return ImageUnreadable(f"is {kind}, not a regular file; expected an image file")


def _too_large(size: int, max_bytes: int) -> ImageUnreadable:
    return ImageUnreadable(f"is {size} bytes, over the cap of {max_bytes} bytes; expected an image file "
                           f"(raise the cap with --dataset-option max_image_bytes=N, 0 for none)")


def read_image_file(path: Path, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them (0: no cap).

    The file is checked before it is read: a FIFO, a device such as ``/dev/zero`` or a folder is
    refused without reading (and a FIFO without waiting for a writer: it is opened non-blocking
    and checked again on the open descriptor), and so is a file over the cap.

    Raises:
        ImageUnreadable: Missing, not a regular file, over the cap, or unreadable.
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode):  # replaced between the two looks
                raise _not_regular(status.st_mode)
            if max_bytes and status.st_size > max_bytes:
                raise _too_large(status.st_size, max_bytes)
            data = file.read(max_bytes + 1) if max_bytes else file.read()
    except FileNotFoundError:
        raise ImageUnreadable("file not found; expected an image file there") from None
    except OSError as exc:
        raise ImageUnreadable(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if max_bytes and len(data) > max_bytes:  # grew while being read
        raise _too_large(len(data), max_bytes)
    return data


def decode(source: ImageSource, max_bytes: int = MAX_IMAGE_BYTES) -> Image.Image:
    """Read and fully decode ``source`` (truncated files fail here, not during a run).

    Messages are the same on every machine and in every run: they name no path (the caller
    prefixes the image's label) and no Python object.

    Args:
        source: The image file or embedded bytes.
        max_bytes: The largest encoded image accepted, in bytes (0: no cap); see :func:`read_image_file`.

    Raises:
        ImageUnreadable: Missing file, not a regular file, over the cap, empty or undecodable data,
            naming the cause.
    """
    data: Optional[bytes] = source.data
    if data is None:
        assert source.path is not None
        data = read_image_file(source.path, max_bytes)
    elif max_bytes and len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
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
    except UnidentifiedImageError:
        raise ImageUnreadable("cannot be decoded as an image (not a format Pillow recognises); expected a PNG, "
                              "JPEG or another format Pillow reads") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, bomb errors...
        reason = _REPR.sub("the image data", str(exc))  # no object address: the message is digested
        raise ImageUnreadable(f"cannot be decoded as an image ({type(exc).__name__}: {reason}); expected a PNG, "
                              f"JPEG or another format Pillow reads") from None
    return image
