"""Lossy export noises: pixelate here (jpeg's libjpeg arithmetic is tested in test_jpeg.py)."""

import torch

from medrobust.noise.compression import PIXELATE

LEVELS = range(1, 6)


def _rand(shape=(4, 1, 64, 64), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_pixelate_is_constant_on_blocks_holding_their_mean():
    images = _rand((2, 3, 40, 57), seed=3)
    for level in LEVELS:
        k = PIXELATE.table[level - 1]["block"]
        out = PIXELATE.apply(images, PIXELATE.params(level, seed=0))
        for top in range(0, 40, k):
            for left in range(0, 57, k):
                tile, source = out[..., top:top + k, left:left + k], images[..., top:top + k, left:left + k]
                mean = source.mean(dim=(2, 3), keepdim=True)
                assert torch.allclose(tile, mean.expand_as(tile), atol=1e-6)
