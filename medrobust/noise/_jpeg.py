"""JPEG's lossy stages as batched tensor operations, with libjpeg's own integer arithmetic.

Entropy coding is lossless, so a JPEG round trip is fully determined by its
lossy stages; :func:`jpeg_lossy` runs them on a whole batch, on any device, as
libjpeg(-turbo) does for Pillow's ``Image.save(format="JPEG", quality=q)``
(4:2:0, standard tables, ``JDCT_ISLOW``) and decoding with default settings:

1. 8-bit input: ``round(255 x)`` of ``x`` clamped to [0, 1] (a float image
   that is not already 8-bit is quantised first, as an encoder would see it).
2. Colour (3 channels): fixed-point JFIF RGB -> YCbCr (BT.601 full range,
   ``jccolor.c``), 4:2:0 chroma downsampling by 2x2 sums with the alternating
   bias 1, 2 before the shift by 2 (``h2v2_downsample``). One channel:
   luminance only. Any other channel count: each channel is a gray image.
3. Each plane padded to whole blocks (MCUs for colour) by replicating its last
   row and column, level shift -128, the forward DCT, quantisation with the IJG
   tables scaled as ``jpeg_set_quality(q, force_baseline=TRUE)`` (rounding half
   away from zero), dequantisation, inverse DCT, +128, clamping to 0..255.
4. Colour decode: "fancy" (triangle) h2v2 chroma upsampling (``jdsample.c``;
   plain 2x2 repetition for images at most 4 pixels wide, as libjpeg does) and
   fixed-point YCbCr -> RGB (``jdcolor.c``), clamped; padding cropped.

Step 3 is :func:`medrobust.noise._jpeg_blocks.code_planes`: libjpeg's
``islow`` DCT as integer matrix products on whole batches of blocks. Every
other step is libjpeg's integer arithmetic too, exact in float32 (all values
stay within 24 bits). The one inexact step is the second pass of each
transform, whose sums reach ``2**28``: in float32 a few pixels in a million end
a level or two off (measured: 3 per million on medical and photographic
images, 10 on random noise; tests/noise/test_jpeg.py). On CUDA the arithmetic
is float64 and the result is libjpeg's exactly.

The output is ``k / 255`` for integers ``k``, in the input's dtype and device.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import torch

from ._jpeg_blocks import code_planes

__all__ = ["jpeg_lossy"]

#: Images are coded a group at a time, about this many luma samples per group, into buffers
#: reused from group to group. Measured on CPU: smaller groups (cache-sized) lose more to the
#: per-operation overhead of the ~40 tensor operations per group than they gain; larger ones
#: gain nothing.
CHUNK_PIXELS = 1 << 18


def _work_dtype(device: torch.device) -> torch.dtype:
    """float64 on CUDA (every step exact, and immune to TF32 matmuls), float32 elsewhere (fast).

    In float32 the second pass of each transform sums products up to ``2**28``,
    so a sum within a few units of float32 precision of a rounding boundary
    can round the other way: a few pixels in a million end a level or two off.
    """
    return torch.float64 if device.type == "cuda" else torch.float32


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _replicate_edges(planes: torch.Tensor, height: int, width: int) -> None:
    """Fill ``planes[..., height:, :]`` and ``planes[..., :, width:]`` with the last row / column."""
    if planes.shape[-1] > width:
        planes[..., :height, width:] = planes[..., :height, width - 1:width]
    if planes.shape[-2] > height:
        planes[..., height:, :] = planes[..., height - 1:height, :]


def _levels(images: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``round(255 x)`` of ``images`` clamped to [0, 1], into ``out`` (the encoder's 8-bit input)."""
    if images.dtype == out.dtype:
        torch.clamp(images, 0.0, 1.0, out=out)
    else:
        out.copy_(images).clamp_(0.0, 1.0)
    return out.mul_(255.0).round_()


def _to_output(levels: torch.Tensor, out: torch.Tensor) -> None:
    """``out = levels / 255`` (exactly ``k / 255`` in ``out``'s dtype)."""
    if levels.dtype == out.dtype:
        torch.div(levels, 255.0, out=out)
    else:
        out.copy_(levels).div_(255.0)


#: On CPU, scratch buffers (up to this many values each) are kept per thread between calls: fresh
#: ones cost page faults, measured 5-10 % of a call when other work runs in between (as between
#: the contenders of bench/noise_throughput.py). Other devices' caching allocators do this anyway.
SCRATCH_MAX = 1 << 22
_scratch_local = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised buffer of ``shape``, the same memory for ``name`` from call to call (CPU)."""
    numel = math.prod(shape)
    if device.type != "cpu" or numel > SCRATCH_MAX:
        return torch.empty(shape, dtype=dtype, device=device)
    buffers = _scratch_local.__dict__.setdefault("buffers", {})
    buf = buffers.get((name, dtype))
    if buf is None or buf.numel() < numel:
        buf = buffers[name, dtype] = torch.empty(numel, dtype=dtype)
    return buf[:numel].view(shape)


class _Gray:
    """Buffers for coding up to ``per`` gray ``height`` x ``width`` images at a time."""

    def __init__(self, height: int, width: int, per: int, device: torch.device) -> None:
        self.height, self.width = height, width
        shape = (per, _round_up(height, 8), _round_up(width, 16))
        self.planes = _scratch("gray planes", shape, _work_dtype(device), device)
        self.work = _scratch("gray work", shape, _work_dtype(device), device)

    def __call__(self, images: torch.Tensor, quality: int, out: torch.Tensor) -> None:
        """Code ``[k, H, W]`` images into ``out``: ``[k, H, W]``, or ``[k, C, H, W]`` (C copies)."""
        k, h, w = images.shape[0], self.height, self.width
        in_place = out.shape == self.planes[:k].shape and out.dtype == self.planes.dtype and out.is_contiguous()
        planes = out if in_place else self.planes[:k]  # code in the output itself: less memory traffic
        _levels(images, planes[:, :h, :w])
        _replicate_edges(planes, h, w)
        code_planes(planes, self.work[:k], quality, chroma=False, centred=False)
        if in_place:
            planes.div_(255.0)
            return
        decoded = planes[:, :h, :w]
        _to_output(decoded if out.dim() == 3 else decoded.unsqueeze(1).expand(out.shape), out)


#: libjpeg's RGB -> YCbCr (``jccolor.c``): ``FIX(x) = round(x * 2**16)``; rows Y, Cb, Cr (a matrix
#: product with 8-bit levels, exact in float32). Y rounds half up; Cb and Cr add ``2**15 - 1``, and
#: stay centred (libjpeg adds 128, which the level shift takes off again).
_RGB_TO_YCC = ((19595, 38470, 7471), (-11059, -21709, 32768), (32768, -27439, -5329))
_YCC_ROUND = (0.5, 32767.0 / 65536.0, 32767.0 / 65536.0)
#: libjpeg's YCbCr -> RGB (``jdcolor.c``) on centred Cb, Cr: R = Y + round(1.402 Cr),
#: G = Y + floor((-FIX(0.34414) Cb - FIX(0.71414) Cr) / 2**16 + 1/2), B = Y + round(1.772 Cb).
#: In 15-bit fractions (45940 is FIX(1.402) / 2 rounded down) these give libjpeg's value for every
#: Cb, Cr (tests/noise/test_jpeg.py checks all of them), and ``Y + 1/2 + c * Cr`` stays exact in
#: float32 (at most 9 integer and 15 fraction bits).
_CR_R, _CB_G, _CR_G, _CB_B = (c / 32768.0 for c in (45940, -11277, -23401, 58065))


@functools.cache
def _colour_constants(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = torch.tensor(_RGB_TO_YCC, dtype=torch.float64) / 65536.0
    offset = torch.tensor(_YCC_ROUND, dtype=torch.float64).view(3, 1, 1, 1)
    return matrix.to(device=device, dtype=dtype), offset.to(device=device, dtype=dtype)


def _downsample(full: torch.Tensor, rows: torch.Tensor, out: torch.Tensor) -> None:
    """libjpeg's ``h2v2_downsample``: ``(a + b + c + d + bias) >> 2``, bias 1, 2, 1, 2... across.

    ``full`` is ``[..., 2h, 2w]``, ``rows`` a ``[..., h, 2w]`` buffer, ``out`` ``[..., h, w]``.
    """
    torch.add(full[..., 0::2, :], full[..., 1::2, :], out=rows)
    torch.add(rows[..., 0::2], rows[..., 1::2], out=out)
    out.add_(_alternating(1.0, 2.0, out.shape[-1] // 2, out.dtype, out.device)).mul_(0.25).floor_()


@functools.lru_cache(maxsize=64)
def _alternating(even: float, odd: float, pairs: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[even, odd] * pairs``: per-column constants (downsampling bias, upsampling rounding)."""
    return torch.tensor([even, odd], dtype=dtype).repeat(pairs).to(device)


def _upsample(x: torch.Tensor, padded: torch.Tensor, sums: torch.Tensor, out: torch.Tensor) -> None:
    """libjpeg's h2v2 "fancy" (triangle) upsampling (``jdsample.c``) of ``x`` ``[..., h, w]``.

    Vertically ``3 * nearest + next nearest`` row, then the same across on those
    sums, and ``(sum + 8) >> 4`` on even, ``(sum + 7) >> 4`` on odd output
    columns; edges replicate. ``padded`` is ``[..., h + 2, w + 2]``, ``sums``
    ``[..., 2h, w + 2]``, ``out`` ``[..., 2h, 2w]``. Samples are scaled by 1/16
    up front and each carries 1/32 (weights sum to 16: +8/16 in the end); odd
    columns take 1/32 off again (+7.5/16 floors like +7/16 on integer sums).
    """
    h, w = x.shape[-2:]
    torch.mul(x, 1.0 / 16.0, out=padded[..., 1:-1, 1:-1]).add_(1.0 / 32.0)
    padded[..., 0, 1:-1] = padded[..., 1, 1:-1]
    padded[..., -1, 1:-1] = padded[..., -2, 1:-1]
    padded[..., 0] = padded[..., 1]
    padded[..., -1] = padded[..., -2]
    near = padded[..., 1:-1, :]
    pairs = sums.unflatten(-2, (h, 2))
    torch.add(padded[..., :-2, :], near, alpha=3.0, out=pairs[..., 0, :])
    torch.add(padded[..., 2:, :], near, alpha=3.0, out=pairs[..., 1, :])
    cols = out.unflatten(-1, (w, 2))
    centre = sums[..., 1:-1]
    torch.add(sums[..., :-2], centre, alpha=3.0, out=cols[..., 0])
    torch.add(sums[..., 2:], centre, alpha=3.0, out=cols[..., 1])
    out.add_(_alternating(0.0, -1.0 / 32.0, w, out.dtype, out.device)).floor_()


class _Colour:
    """Buffers for coding up to ``per`` RGB ``height`` x ``width`` images at a time (JFIF, 4:2:0)."""

    def __init__(self, height: int, width: int, per: int, device: torch.device) -> None:
        h, w = self.height, self.width = height, width
        self.hp, self.wp = _round_up(h, 16), _round_up(w, 16)         # luma: whole MCUs
        self.h2, self.w2 = -(-h // 2), -(-w // 2)                     # chroma samples of the image
        self.wc = self.wp // 2                                        # chroma per row, MCU-padded
        self.hc, self.wcp = _round_up(self.h2, 8), _round_up(self.wc, 16)
        self.dtype = dtype = _work_dtype(device)

        def buffer(name: str, *shape: int) -> torch.Tensor:
            return _scratch(f"colour {name}", shape, dtype, device)

        self.levels, self.ycc = buffer("levels", 3, per, h, w), buffer("ycc", 3, per, h, w)
        # luma and chroma are coded in place in ``ycc`` when no padding is needed
        pad_luma, pad_full = (h, w) != (self.hp, self.wp), (h, w) != (2 * self.h2, self.wp)
        self.luma = buffer("luma", per, self.hp, self.wp) if pad_luma else None
        self.full = buffer("full", 2, per, 2 * self.h2, self.wp) if pad_full else None
        self.up = buffer("up", per, 2, 2 * self.h2, 2 * self.w2) if (h, w) != (2 * self.h2, 2 * self.w2) else None
        self.luma_work = buffer("luma work", per, self.hp, self.wp)
        self.rows = buffer("rows", 2, per, self.h2, self.wp)
        self.chroma = buffer("chroma", per, 2, self.hc, self.wcp)
        self.chroma_work = buffer("chroma work", per, 2, self.hc, self.wcp)
        self.padded = buffer("padded", per, 2, self.h2 + 2, self.w2 + 2)
        self.sums = buffer("sums", per, 2, 2 * self.h2, self.w2 + 2)
        self.tmp = buffer("tmp", per, h, w)

    def __call__(self, images: torch.Tensor, quality: int, out: torch.Tensor) -> None:
        """Code ``[k, 3, H, W]`` images into ``out`` (same shape)."""
        k, h, w, h2, w2 = images.shape[0], self.height, self.width, self.h2, self.w2
        levels, ycc = self.levels[:, :k], self.ycc[:, :k]
        _levels(images.transpose(0, 1), levels)
        matrix, offset = _colour_constants(images.device, self.dtype)
        torch.mm(matrix, levels.reshape(3, -1), out=ycc.reshape(3, -1))
        ycc.add_(offset).floor_()
        luma = ycc[0] if self.luma is None else self.luma[:k]
        if self.luma is not None:
            luma[:, :h, :w] = ycc[0]
            _replicate_edges(luma, h, w)
        full = ycc[1:] if self.full is None else self.full[:, :k]
        if self.full is not None:
            full[:, :, :h, :w] = ycc[1:]
            _replicate_edges(full, h, w)
        chroma = self.chroma[:k]
        _downsample(full, self.rows[:, :k], chroma.transpose(0, 1)[:, :, :h2, :self.wc])
        _replicate_edges(chroma, h2, self.wc)
        code_planes(luma, self.luma_work[:k], quality, chroma=False, centred=False)
        planes = (2 * k, self.hc, self.wcp)
        code_planes(chroma.view(planes), self.chroma_work[:k].view(planes), quality, chroma=True,
                     centred=True)
        up = ycc[1:].transpose(0, 1) if self.up is None else self.up[:k]
        if w2 > 2:
            _upsample(chroma[:, :, :h2, :w2], self.padded[:k], self.sums[:k], up)
        else:  # libjpeg's fancy upsampling needs 3 samples across; narrower, it repeats each one 2x2
            up.unflatten(-1, (w2, 2)).unflatten(-3, (h2, 2)).copy_(chroma[:, :, :h2, None, :w2, None])
        cb, cr = (up[:, 0], up[:, 1]) if self.up is None else (up[:, 0, :h, :w], up[:, 1, :h, :w])
        y = luma[:, :h, :w].add_(0.5)
        t = self.tmp[:k]
        for channel, terms in enumerate((((cr, _CR_R),), ((cb, _CB_G), (cr, _CR_G)), ((cb, _CB_B),))):
            torch.add(y, terms[0][0], alpha=terms[0][1], out=t)
            for plane, factor in terms[1:]:
                t.add_(plane, alpha=factor)
            _to_output(t.floor_().clamp_(0.0, 255.0), out[:, channel])


def _equal_channels(images: torch.Tensor) -> list[bool]:
    """Per image: are its three channels bit for bit equal (a gray image stored as RGB)?"""
    flat = images.reshape(images.shape[0], 3, -1)
    if flat.dtype == torch.float32 and flat.shape[-1] % 2 == 0:
        try:
            flat = flat.view(torch.int64)  # the same test, two values per comparison (2x faster)
        except RuntimeError:  # not contiguous along the pixels
            pass
    probe = min(flat.shape[-1], 64)   # a colour image usually differs at once
    return [torch.equal(im[1:, :probe], im[:-1, :probe]) and torch.equal(im[1:], im[:-1]) for im in flat]


def jpeg_lossy(images: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip at ``quality`` (1-100, libjpeg's scale) of ``[B, C, H, W]`` images in [0, 1].

    Three channels are RGB (JFIF YCbCr, 4:2:0), one is gray; any other count
    codes each channel as a gray image. Inputs are clamped to [0, 1] and
    quantised to 8 bits (``round(255 x)``, half to even) first. Returns
    ``k / 255`` in the input's dtype, on its device. Every image is coded on
    its own, so batched results equal one-image results bit for bit.

    An RGB image whose three channels are equal has Cb = Cr = 128 exactly, so
    libjpeg's result is its luminance coded alone, copied to R, G and B: such
    images take that shortcut (a third of the work; the same output).
    """
    if images.dim() != 4:
        raise ValueError(f"jpeg_lossy takes [B, C, H, W] images, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"jpeg_lossy takes float images in [0, 1], got {images.dtype}")
    quality = min(max(int(quality), 1), 100)
    images = images.detach()  # not differentiable (rounding everywhere); out= ops refuse autograd inputs
    b, c, h, w = images.shape
    out = torch.empty(images.shape, dtype=images.dtype, device=images.device)
    if images.numel() == 0:
        return out
    per = max(1, CHUNK_PIXELS // (_round_up(h, 16) * _round_up(w, 16)))
    if c != 3:
        planes, out_planes = images.reshape(b * c, h, w), out.view(b * c, h, w)
        gray = _Gray(h, w, min(per, b * c), images.device)
        for i in range(0, b * c, per):
            gray(planes[i:i + per], quality, out_planes[i:i + per])
        return out
    per = min(per, b)
    coders: dict[bool, Any] = {}
    for i in range(0, b, per):
        chunk, chunk_out = images[i:i + per], out[i:i + per]
        flags = _equal_channels(chunk)
        start = 0
        while start < len(flags):  # runs of gray-as-RGB and of colour images
            stop = start + 1
            while stop < len(flags) and flags[stop] == flags[start]:
                stop += 1
            part, part_out = chunk[start:stop], chunk_out[start:stop]
            if flags[start]:
                gray = coders.setdefault(True, _Gray(h, w, per, images.device))
                gray(part[:, 0], quality, part_out)
            else:
                colour = coders.setdefault(False, _Colour(h, w, per, images.device))
                colour(part, quality, part_out)
            start = stop
    return out
