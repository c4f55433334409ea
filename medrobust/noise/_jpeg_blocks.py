"""JPEG's block coding in libjpeg's integer arithmetic: quantisation tables, the islow DCT, coded planes.

:func:`code_planes` runs a JPEG plane's lossy stages on whole batches of 8x8
blocks: libjpeg's forward DCT, quantisation with the IJG tables scaled as
``jpeg_set_quality(q, force_baseline=TRUE)`` (rounding half away from zero),
dequantisation and the inverse DCT. :mod:`medrobust.noise._jpeg` builds the
round trip of whole images (levels, colour, chroma resampling) around it.

The DCT is libjpeg's ``islow`` (``jfdctint.c``, ``jidctint.c``), not the exact
orthonormal DCT-II: a float DCT differs from islow by a fraction of a unit,
enough to round some coefficients the other way, and left 1-3 % of pixels more
than 2 levels from Pillow's on real images. islow is a row pass and a column
pass, each an integer 8x8 matrix (:func:`islow_matrix`) followed by a rounding
shift, so it runs as matrix products on whole batches. The one inexact step in
float32 is the second pass of each transform, whose sums reach ``2**28`` (see
:mod:`medrobust.noise._jpeg`).
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["STD_LUMINANCE", "STD_CHROMINANCE", "quality_scale", "quant_table", "dct_matrix",
           "islow_matrix", "code_planes"]

#: The IJG (JPEG standard, Annex K) luminance quantisation table, natural (row-major) order.
STD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)
#: The IJG chrominance quantisation table, natural order.
STD_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)


def quality_scale(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: percentage scale of the standard tables for ``quality``."""
    quality = min(max(int(quality), 1), 100)
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def quant_table(quality: int, chroma: bool = False) -> torch.Tensor:
    """The 8x8 int64 quantisation table libjpeg writes for ``quality`` (``force_baseline``).

    Rows are vertical frequencies, columns horizontal ones (natural order), as
    Pillow's ``Image.quantization`` reports them.
    """
    scale = quality_scale(quality)
    base = torch.tensor(STD_CHROMINANCE if chroma else STD_LUMINANCE, dtype=torch.int64)
    return ((base * scale + 50) // 100).clamp_(1, 255).view(8, 8)


def dct_matrix(dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix ``D`` (``D[u, k]``); a block's transform is ``D X D^T``."""
    k = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2.0 * k[None, :] + 1.0) * k[:, None] * math.pi / 16.0) * 0.5
    d[0] = math.sqrt(0.125)
    return d.to(dtype=dtype, device=device)


#: ``jfdctint.c``'s fixed-point constants ``FIX(x) = round(x * 2**13)``.
_FIX = {"0.298631336": 2446, "0.390180644": 3196, "0.541196100": 4433, "0.765366865": 6270,
        "0.899976223": 7373, "1.175875602": 9633, "1.501321110": 12299, "1.847759065": 15137,
        "1.961570560": 16069, "2.053119869": 16819, "2.562915447": 20995, "3.072711026": 25172}


def islow_matrix() -> torch.Tensor:
    """libjpeg's ``islow`` 8-point DCT as an int64 matrix ``A`` (about ``2**13 * sqrt(8) * D``).

    ``jpeg_fdct_islow`` maps each row, then each column, of a block through
    ``A`` (with a rounding shift after each pass); ``jpeg_idct_islow`` maps
    through ``A.T``. Built by running the butterflies of ``jfdctint.c`` (Loeffler,
    Ligtenberg and Moschytz) on the unit vectors, without their shifts.
    """
    x, f = torch.eye(8, dtype=torch.int64), _FIX
    t0, t7, t1, t6 = x[0] + x[7], x[0] - x[7], x[1] + x[6], x[1] - x[6]
    t2, t5, t3, t4 = x[2] + x[5], x[2] - x[5], x[3] + x[4], x[3] - x[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    out = [None] * 8
    out[0], out[4] = (t10 + t11) * 8192, (t10 - t11) * 8192
    z1 = (t12 + t13) * f["0.541196100"]
    out[2], out[6] = z1 + t13 * f["0.765366865"], z1 - t12 * f["1.847759065"]
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * f["1.175875602"]
    z1, z2 = -z1 * f["0.899976223"], -z2 * f["2.562915447"]
    z3, z4 = -z3 * f["1.961570560"] + z5, -z4 * f["0.390180644"] + z5
    out[7] = t4 * f["0.298631336"] + z1 + z3
    out[5] = t5 * f["2.053119869"] + z2 + z4
    out[3] = t6 * f["3.072711026"] + z2 + z3
    out[1] = t7 * f["1.501321110"] + z1 + z4
    return torch.stack(out)  # type: ignore[arg-type]


#: Relative nudge that makes ``round()`` (ties to even) round quantisation ties away from zero,
#: as libjpeg's integer division does: an exact tie ``(k + 1/2) * 8Q`` moves away from zero; any
#: other integer coefficient ``t`` is at least ``1 / 8Q`` from a tie and moves ``|t| / 2**17 / 8Q``
#: (``|t| < 2**14``), so it keeps its rounding. Float32 error on ``t / 8Q`` is ~2**-23 relative.
_TIE_NUDGE = 2.0 ** -17


@functools.cache
def _transforms(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """islow's four passes as matrices with their shifts folded in (powers of two: exact).

    Forward: rows ``x @ A.T / 2**11`` (two blocks side by side: ``kron(I2, .)``), then
    columns ``A @ r / 2**15``. Inverse: columns ``A.T @ c / 2**11``, rows ``w @ A / 2**18``.
    """
    a = islow_matrix().to(torch.float64)
    eye = torch.eye(2, dtype=torch.float64)
    mats = (torch.kron(eye, a.T.contiguous()) / 2.0 ** 11, a / 2.0 ** 15, a.T / 2.0 ** 11,
            torch.kron(eye, a) / 2.0 ** 18)
    return tuple(m.to(device=device, dtype=dtype).contiguous() for m in mats)


@functools.lru_cache(maxsize=64)
def _tiles(quality: int, chroma: bool, centred: bool, width: int, device: torch.device,
           dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """Per-position constants of a strip ``[8, width]`` of blocks (rows: vertical frequency).

    ``first``: added before the first pass's floor: 1/2 (rounding), and the level
    shift -128 on the row DC terms (4 * 8 * -128) unless the plane is centred.
    ``qinv``: ``(1 + nudge) / 8Q`` (islow's coefficients are 8x the DCT's).
    ``q``: ``Q`` (dequantisation). ``dq``: added after dequantising, on the DC row:
    ``1/8`` on every column (the inverse's first rounding: +1/2 on all 8 outputs) and on
    the DC ``+128.5 * 8`` (uncentred) or ``+0.5 * 8`` (centred) for the last pass: islow's
    range centre and rounding, which it adds to the row DC before the last pass.
    """
    table = quant_table(quality, chroma).to(torch.float64)
    q = table.repeat(1, width // 8)
    first = torch.full((16,), 0.5, dtype=torch.float64)
    if not centred:
        first[0::8] -= 4096.0
    dq = torch.zeros(8, width, dtype=torch.float64)
    dq[0] = 0.125
    dq[0, 0::8] += 1028.0 if not centred else 4.0
    tiles = (first, (1.0 + _TIE_NUDGE) / (8.0 * q), q, dq)
    return tuple(t.to(device=device, dtype=dtype) for t in tiles)


def code_planes(planes: torch.Tensor, work: torch.Tensor, quality: int, chroma: bool,
                 centred: bool) -> torch.Tensor:
    """JPEG-code ``[N, H, W]`` planes of integer levels in place (``H % 8 == 0``, ``W % 16 == 0``).

    libjpeg's islow forward DCT, quantisation (rounding half away from zero),
    dequantisation, islow inverse DCT (rounding, clamping). ``work`` is a
    buffer of the same size. ``centred`` planes hold levels minus 128 (so
    does the result); otherwise levels 0..255.
    """
    n, h, w = planes.shape
    m = n * h // 8
    rows_fwd, cols_fwd, cols_inv, rows_inv = _transforms(planes.device, planes.dtype)
    first, qinv, q, dq = _tiles(quality, chroma, centred, w, planes.device, planes.dtype)
    x, y = planes.view(m, 8, w), work.view(m, 8, w)  # strips of 8 rows: [strip, row in block, column]
    # forward: rows (pairs of blocks), floor(. + 1/2); columns, floor(. + 1/2): 8x the DCT
    torch.mm(planes.view(-1, 16), rows_fwd, out=work.view(-1, 16))
    work.view(-1, 16).add_(first)
    y.floor_()
    torch.bmm(cols_fwd.expand(m, 8, 8), y, out=x)
    x.add_(0.5).floor_()
    # quantise (t / 8Q, half away from zero), dequantise (k Q) plus the inverse's roundings
    x.mul_(qinv).round_()
    torch.addcmul(dq, x, q, out=x)
    # inverse: columns, floor; rows, floor; clamp
    torch.bmm(cols_inv.expand(m, 8, 8), x, out=y)
    y.floor_()
    torch.mm(work.view(-1, 16), rows_inv, out=planes.view(-1, 16))
    lo, hi = (-128.0, 127.0) if centred else (0.0, 255.0)
    return planes.floor_().clamp_(lo, hi)

