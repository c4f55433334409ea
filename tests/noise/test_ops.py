"""Shared image-noise kernels: 8-bit lookup paths and sparse position draws."""

import torch

from medrobust.noise import generic
from medrobust.noise._ops import eight_bit_index, pointwise


def _levels():
    return torch.arange(256, dtype=torch.float32) / 255.0


def test_eight_bit_index_recognises_exactly_the_decoded_8_bit_levels():
    images = _levels()[torch.randint(0, 256, (3, 1, 70, 70), generator=torch.Generator().manual_seed(0))]
    index = eight_bit_index(images)
    assert index is not None and torch.equal(index.view(images.shape).float() / 255.0, images)
    off = images.clone()
    off.view(-1)[-1] += 1e-6  # one value off the lattice, past the cheap probe
    assert eight_bit_index(off) is None
    for other in (images * 0.999, torch.tensor([float("nan"), 0.0]), torch.tensor([-1 / 255, 0.0]),
                  torch.tensor([256 / 255, 1.0]), images.double()):
        assert eight_bit_index(other) is None


def test_pointwise_table_path_computes_the_same_function():
    images = _levels()[torch.randint(0, 256, (2, 3, 33, 31), generator=torch.Generator().manual_seed(1))]

    def fn(x):
        return x.clamp(0.0, 1.0).pow(1.7)
    assert torch.allclose(pointwise(images, fn), fn(images), rtol=1e-6, atol=0.0)
    off = images + 1e-3
    assert torch.equal(pointwise(off, fn), fn(off))  # not 8-bit: computed directly


def test_sparse_positions_are_distinct_and_uniform():
    gen = torch.Generator().manual_seed(2)
    rows, size, count = 40000, 16, 3
    picked = generic._distinct_positions(gen, rows, size, count, torch.device("cpu"))
    assert picked.shape == (rows, count)
    assert (picked.sort(dim=1).values.diff(dim=1) > 0).all()  # distinct within each row
    expected = rows / size
    for slot in range(count):  # every slot, hence salt and pepper alike, is uniform over the pixels
        freq = torch.bincount(picked[:, slot], minlength=size).float()
        assert ((freq - expected).abs() < 5 * expected ** 0.5).all(), freq
