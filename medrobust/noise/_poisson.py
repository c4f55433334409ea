"""Poisson sampling of 8-bit images by inversion of per-level tables (faster than torch.poisson on CPU).

An 8-bit image holds at most 256 intensities, so ``Poisson(x * photons)`` has
at most 256 rates. For each rate the cumulative distribution is tabulated once
(in float64, over ``rate +- TAIL_SIGMAS sqrt(rate) + TAIL_SIGMAS``; the mass
left out is below 1e-30) and every pixel is drawn by inversion: the smallest
count whose cumulative probability exceeds one float64 uniform. A guide table
(Chen & Asau) points each uniform to within a step or two of its count; the
few uniforms that land in a slot spanning many counts (the thin lower tail)
are found by bisection. The draws follow the Poisson law exactly, up to
float64 rounding of the tables (below 1e-12 in probability).
"""

from __future__ import annotations

import functools
from typing import Optional

import torch

from ._ops import is_eight_bit, level_index

__all__ = ["poisson_8bit", "TAIL_SIGMAS", "MAX_TABLE", "WALK_STEPS", "CHUNK"]

TAIL_SIGMAS = 12.0
#: Steps a draw walks up from its guide entry before the rest are found by bisection.
WALK_STEPS = 2
#: Pixels drawn per pass (the random stream does not depend on anything else).
CHUNK = 1 << 18
_MAGIC = 4503599627370496.0  # 2 ** 52: adding it to an integer-valued float64 below 2 ** 52 ...
_MAGIC_BITS = 0x4330000000000000  # ... leaves the integer in the low bits of this pattern
#: Rates whose table would be longer than this fall back to ``torch.poisson`` (about 29k photons);
#: it also keeps guide entries within int16.
MAX_TABLE = 4096


@functools.lru_cache(maxsize=8)
def _tables(photons: float) -> Optional[tuple[torch.Tensor, ...]]:
    """Per-level tables for ``rate = float32(k / 255) * photons``.

    Returns the first tabulated count, the CDF, the guide, the number of
    counts of each level, the CDF lifted by ``4 k`` and the row width; ``None``
    where a table would exceed :data:`MAX_TABLE`.
    """
    levels = torch.arange(256, dtype=torch.float32) / 255.0
    rate = (levels * photons).double()  # the float32 rate torch.poisson would be given
    spread = TAIL_SIGMAS * rate.sqrt() + TAIL_SIGMAS
    first = (rate - spread).floor().clamp_(min=0.0)
    size = (rate + spread).ceil() - first + 1.0
    width = int(size.max())
    if width > MAX_TABLE:
        return None
    counts = first.view(-1, 1) + torch.arange(width, dtype=torch.float64).view(1, -1)
    log_pmf = torch.xlogy(counts, rate.view(-1, 1)) - rate.view(-1, 1) - torch.lgamma(counts + 1.0)
    cdf = log_pmf.exp().cumsum(dim=1)
    # past each level's last count the inversion must stop: 2 there (above any uniform; it also
    # absorbs the rounding of the left-out tail)
    beyond = torch.arange(width).view(1, -1) >= (size.long() - 1).view(-1, 1)
    cdf.masked_fill_(beyond, 2.0)
    # guide[k, i]: the first count whose CDF exceeds (just below) i / size_k, where a uniform u with
    # floor(u size_k) = i starts its walk; starting a step low only costs a step, never a wrong count
    slots = torch.arange(width, dtype=torch.float64).view(1, -1)
    thresholds = ((slots - 1e-6) / size.view(-1, 1)).clamp_(min=0.0)
    guide = torch.searchsorted(cdf, thresholds.contiguous(), right=True)
    # every level's CDF lifted by 4 k: one sorted array for a bisection of the few long walks
    lifted = cdf + 4.0 * torch.arange(256, dtype=torch.float64).view(-1, 1)
    return first.long(), cdf.reshape(-1), guide.reshape(-1).to(torch.int16), size, lifted.reshape(-1), width


def poisson_8bit(images: torch.Tensor, photons: float, gen: torch.Generator) -> Optional[torch.Tensor]:
    """Counts ``Poisson(images * photons)`` (float, shape of ``images``) for 8-bit CPU images, else ``None``."""
    if images.device.type != "cpu":
        return None
    tables = _tables(float(photons))
    if tables is None:
        return None
    if not is_eight_bit(images):
        return None
    flat = images.reshape(-1)
    out = torch.empty(flat.numel(), dtype=images.dtype)
    for begin in range(0, flat.numel(), CHUNK):  # chunks keep the int64/float64 temporaries in cache
        part = level_index(flat[begin:begin + CHUNK])
        out[begin:begin + part.numel()] = _invert(part.long(), tables, gen)
    return out.view(images.shape)


def _invert(level: torch.Tensor, tables: tuple[torch.Tensor, ...], gen: torch.Generator) -> torch.Tensor:
    """One Poisson count per entry of ``level`` (int64 levels 0-255), by guided table inversion."""
    first, cdf, guide, size, lifted, width = tables
    u = torch.rand(level.shape, generator=gen, dtype=torch.float64)
    row = level * width
    # floor(u size_k) as an integer, read from the float64 bits of floor(...) + 2 ** 52
    slot = u.mul(size.index_select(0, level)).floor_().add_(_MAGIC).view(torch.int64).sub_(_MAGIC_BITS)
    pos = guide.index_select(0, slot.add_(row)).long().add_(row)  # int16 guide: a quarter of the cache of int64
    for _ in range(WALK_STEPS):  # walk up from the guide: most draws stop within a step or two
        pos += u >= cdf.index_select(0, pos)
    rest = (u >= cdf.index_select(0, pos)).nonzero().squeeze(1)
    if rest.numel():  # the thin lower tail of a slot spans many counts: bisect those few
        target = u.index_select(0, rest) + 4.0 * level.index_select(0, rest)
        pos.index_copy_(0, rest, torch.searchsorted(lifted, target, right=True))
    return pos.sub_(row).add_(first.index_select(0, level))
