"""Shared image-noise kernels: 8-bit lookup paths and sparse position draws."""

import torch

from medrobust.noise import sensor
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
                  torch.tensor([float("inf"), 0.0]), torch.tensor([-0.0, 1.0 + 2 ** -23]),
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
    picked = sensor._distinct_positions(gen, rows, size, count, torch.device("cpu"))
    assert picked.shape == (rows, count)
    assert (picked.sort(dim=1).values.diff(dim=1) > 0).all()  # distinct within each row
    expected = rows / size
    for slot in range(count):  # every slot, hence salt and pepper alike, is uniform over the pixels
        freq = torch.bincount(picked[:, slot], minlength=size).float()
        assert ((freq - expected).abs() < 5 * expected ** 0.5).all(), freq


def test_poisson_table_inversion_follows_the_poisson_law_per_level():
    from medrobust.noise._poisson import poisson_8bit

    gen = torch.Generator().manual_seed(3)
    n = 60000
    for photons in (10.0, 150.0, 1500.0):
        for k in (0, 1, 40, 200, 255):
            x = torch.full((n,), k / 255.0)
            counts = poisson_8bit(x, photons, gen).double()
            rate = float(torch.tensor(k / 255.0) * photons)
            assert torch.equal(counts, counts.round()) and counts.min() >= 0
            if rate == 0:
                assert counts.max() == 0
                continue
            values, seen = torch.unique(counts, return_counts=True)
            pmf = torch.exp(torch.xlogy(values, torch.tensor(rate, dtype=torch.float64)) - rate
                            - torch.lgamma(values + 1.0))
            expected = pmf * n
            keep = expected > 20
            chi2 = (((seen.double() - expected) ** 2) / expected)[keep].sum().item()
            dof = int(keep.sum())
            assert chi2 < dof + 6 * (2 * dof) ** 0.5 + 10, (photons, k, chi2, dof)
            assert abs(counts.mean().item() - rate) < 5 * (rate / n) ** 0.5


def test_poisson_table_path_only_for_8_bit_cpu_images_and_seeded():
    from medrobust.noise._poisson import CHUNK, poisson_8bit

    images = _levels()[torch.randint(0, 256, (CHUNK + 999,), generator=torch.Generator().manual_seed(4))]
    a = poisson_8bit(images, 150.0, torch.Generator().manual_seed(5))
    b = poisson_8bit(images, 150.0, torch.Generator().manual_seed(5))
    assert a is not None and torch.equal(a, b) and a.shape == images.shape
    assert poisson_8bit(images + 1e-4, 150.0, torch.Generator()) is None  # not 8-bit: the caller uses torch.poisson
    assert poisson_8bit(images, 1e9, torch.Generator()) is None  # table too long


def test_poisson_bisection_of_long_walks_finds_the_same_counts(monkeypatch):
    from medrobust.noise import _poisson

    images = _levels()[torch.randint(0, 256, (50000,), generator=torch.Generator().manual_seed(6))]
    guided = _poisson.poisson_8bit(images, 1500.0, torch.Generator().manual_seed(7))
    monkeypatch.setattr(_poisson, "WALK_STEPS", 2000)  # every draw walks to its count
    walked = _poisson.poisson_8bit(images, 1500.0, torch.Generator().manual_seed(7))
    assert torch.equal(guided, walked)


def test_shifted_separable_filter_equals_the_depthwise_convolution():
    import torch.nn.functional as F

    from medrobust.noise._ops import SHIFTED_ADD_MAX, gaussian_kernel, separable_filter

    assert 5 * 3 * 300 * 300 > SHIFTED_ADD_MAX  # the last batch is filtered in several passes

    def convolved(images, kernel):
        b, c, h, w = images.shape
        n, k = b * c, kernel.numel()
        mode = "reflect" if k // 2 < min(h, w) else "replicate"
        flat = images.reshape(1, n, h, w)
        flat = F.conv2d(F.pad(flat, (k // 2, k // 2, 0, 0), mode=mode), kernel.view(1, 1, 1, k).expand(n, 1, 1, k),
                        groups=n)
        flat = F.conv2d(F.pad(flat, (0, 0, k // 2, k // 2), mode=mode), kernel.view(1, 1, k, 1).expand(n, 1, k, 1),
                        groups=n)
        return flat.reshape(b, c, h, w)

    gen = torch.Generator().manual_seed(8)
    for shape in ((64, 1, 64, 64), (3, 3, 40, 57), (2, 1, 5, 9), (5, 3, 300, 300)):
        images = torch.rand(shape, generator=gen)
        for sigma in (0.5, 1.0, 2.5, 8.0):
            kernel = gaussian_kernel(sigma, torch.float32, images.device)
            # bit for bit on the AVX-512 machine this was written on; rounding may differ on others
            assert torch.allclose(separable_filter(images, kernel), convolved(images, kernel), rtol=0, atol=2e-7)


def test_pointwise_falls_back_whole_when_a_late_chunk_is_not_8_bit(monkeypatch):
    from medrobust.noise import _ops

    monkeypatch.setattr(_ops, "EIGHT_BIT_CHUNK", 1000)  # many chunks, past the probe
    images = _levels()[torch.randint(0, 256, (2, 3, 40, 40), generator=torch.Generator().manual_seed(3))]

    def fn(x):
        return x.clamp(0.0, 1.0).pow(0.6)
    table_path = pointwise(images, fn)
    assert torch.allclose(table_path, fn(images), rtol=1e-6, atol=0.0)
    assert torch.equal(table_path, fn(_levels())[eight_bit_index(images).long()].view(images.shape))
    off = images.clone()
    off.view(-1)[-1] += 1e-6  # in the last of ten chunks
    assert not _ops.is_eight_bit(off)
    assert torch.equal(pointwise(off, fn), fn(off))
