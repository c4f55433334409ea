"""The k-space round trip shared by the MRI artifacts, and the wrappers that apply them to images.

Conventions:

* Each channel of a ``[B, C, H, W]`` batch is the magnitude of a real-valued
  object. Its k-space is ``fftshift(fft2(image))``, DC at index ``(H // 2, W // 2)``.
* Image rows are the **phase-encode** axis (one k-space row = one phase-encode
  line, acquired in one repetition), columns the **readout** axis.
* The reconstruction is the **magnitude** of ``ifft2(ifftshift(kspace))``, as a
  scanner displays it, clamped to ``[0, 1]``. An untouched k-space therefore
  gives back the input (up to float rounding).

:func:`through_kspace` turns a k-space corruption into an image noise;
:func:`through_phase_encode_lines` applies a corruption of whole phase-encode
lines by transforming that axis only. Both go one channel at a time on large
batches (:data:`KSPACE_CHUNK_BYTES`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

__all__ = ["KSPACE_CHUNK_BYTES", "ImageFn", "LineFactors", "work_dtype", "to_kspace", "magnitude", "from_kspace",
           "channel_by_channel_when_large", "through_kspace", "through_phase_encode_lines", "frequencies",
           "real_dtype"]


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for float64 images, float32 for every other dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def to_kspace(images: torch.Tensor) -> torch.Tensor:
    """Centred k-space ``fftshift(fft2(images))`` of a ``[..., H, W]`` real tensor."""
    return torch.fft.fftshift(torch.fft.fft2(images.to(work_dtype(images.dtype))), dim=(-2, -1))


def magnitude(values: torch.Tensor) -> torch.Tensor:
    """``|values|`` of a complex tensor as ``sqrt(re^2 + im^2)``: 2-3x faster than ``abs()`` on CPU."""
    return values.real.square().addcmul_(values.imag, values.imag).sqrt_()


def from_kspace(kspace: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Magnitude reconstruction of a centred k-space, cast like ``like`` and clamped to [0, 1]."""
    image = magnitude(torch.fft.ifft2(torch.fft.ifftshift(kspace, dim=(-2, -1))))
    return image.to(like.dtype).clamp_(0.0, 1.0)


#: Batches whose complex k-space would exceed this many bytes go through k-space one channel at a
#: time (each channel's draws are the image's, so the output is the same): a 32 x 3 x 224 x 224
#: batch would otherwise allocate 38 MB buffers, above glibc's 32 MB mmap threshold, and pay fresh
#: page faults for every temporary (3x slower on CPU).
KSPACE_CHUNK_BYTES = 16 << 20

ImageFn = Callable[[torch.Tensor, Mapping[str, Any]], torch.Tensor]
LineFactors = Callable[[int, int, Mapping[str, Any], torch.device, torch.dtype], torch.Tensor]


def channel_by_channel_when_large(fn: ImageFn) -> ImageFn:
    """``fn`` run one channel at a time on batches whose complex buffers exceed :data:`KSPACE_CHUNK_BYTES`."""
    def chunked(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
        b, c, h, w = images.shape
        if c > 1 and b * c * h * w * 8 > KSPACE_CHUNK_BYTES:
            return torch.cat([fn(images[:, i:i + 1], params) for i in range(c)], dim=1)
        return fn(images, params)

    return chunked


def through_kspace(corrupt: Callable[[torch.Tensor, Mapping[str, Any]], torch.Tensor]) -> ImageFn:
    def fn(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
        return from_kspace(corrupt(to_kspace(images), params), images)

    fn.__doc__ = f"Image-domain wrapper of :func:`{corrupt.__name__}` (magnitude reconstruction)."
    fn.__name__ = corrupt.__name__.replace("_kspace", "")
    return channel_by_channel_when_large(fn)


def through_phase_encode_lines(factors: LineFactors, name: str) -> ImageFn:
    """Image-domain apply of a corruption that multiplies each phase-encode line of k-space by a factor.

    ``factors(batch, height, params, device, dtype)`` gives ``[B, H]`` in centred
    k-space order. The readout transform cancels out of such a corruption, so
    only the phase-encode axis is transformed: ``|ifft_y(f * fft_y(x))|`` equals
    the full k-space round trip up to float rounding (tests/noise/test_mri.py),
    at half its cost and without the centring copies.
    """
    def fn(images: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
        b, _, h, _ = images.shape
        work = images.to(work_dtype(images.dtype))
        line = torch.fft.ifftshift(factors(b, h, params, images.device, work.dtype), dim=-1)  # centred -> FFT order
        spectrum = torch.fft.fft(work, dim=-2)
        spectrum *= line[:, None, :, None]
        return magnitude(torch.fft.ifft(spectrum, dim=-2)).to(images.dtype).clamp_(0.0, 1.0)

    fn.__doc__ = f"Phase-encode-line corruption {name!r} applied along the phase-encode axis only."
    fn.__name__ = name
    return channel_by_channel_when_large(fn)


def frequencies(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Frequencies (cycles per pixel) of the centred k-space axis of length ``n``."""
    return torch.fft.fftshift(torch.fft.fftfreq(n, device=device, dtype=dtype))


def real_dtype(kspace: torch.Tensor) -> torch.dtype:
    """The real dtype of a complex k-space (float32 for complex64)."""
    return kspace.real.dtype

