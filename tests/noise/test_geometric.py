"""Elastic deformation: pixels move along a smooth, seeded field of the declared strength."""

import math

import pytest
import torch

from medrobust.noise import geometric
from medrobust.noise.geometric import ELASTIC, elastic_displacement

LEVELS = range(1, 6)


def _coords(h, w):
    """Cartesian coordinates (x right, y up) of pixel centres relative to the image centre."""
    y = (h - 1) / 2.0 - torch.arange(h, dtype=torch.float64).view(-1, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, -1) - (w - 1) / 2.0
    return x.expand(h, w), y.expand(h, w)


def test_elastic_moves_pixels_along_the_declared_smooth_field():
    h = w = 64
    for level in (1, 5):
        params = ELASTIC.params(level, seed=level)
        field = elastic_displacement(params, (2, h, w)).double()
        rms = field.pow(2).sum(dim=1).mean(dim=(1, 2)).sqrt()
        assert torch.allclose(rms, torch.full_like(rms, params["alpha"]), rtol=1e-4)
        # smooth: neighbouring displacements are close (white noise would differ by ~1.4 alpha)
        step = (field[..., 1:, :] - field[..., :-1, :]).pow(2).mean().sqrt()
        assert step < 0.3 * params["alpha"] / math.sqrt(2)
        # warping the coordinate ramps recovers the field (bilinear is exact on ramps)
        cols = torch.arange(w, dtype=torch.float64).view(1, 1, 1, -1).expand(2, 1, h, w)
        rows = torch.arange(h, dtype=torch.float64).view(1, 1, -1, 1).expand(2, 1, h, w)
        moved_x = ELASTIC.apply((cols + 0.5) / w, params) * w - 0.5 - cols
        moved_y = ELASTIC.apply((rows + 0.5) / h, params) * h - 0.5 - rows
        inside = ((cols + field[:, :1]).clamp(0, w - 1) == cols + field[:, :1]) & \
                 ((rows + field[:, 1:]).clamp(0, h - 1) == rows + field[:, 1:])
        assert inside.double().mean() > 0.8
        assert torch.allclose(moved_x[inside], field[:, :1][inside], atol=1e-4)
        assert torch.allclose(moved_y[inside], field[:, 1:][inside], atol=1e-4)


def test_elastic_roughly_preserves_the_histogram():
    x, y = _coords(64, 64)
    texture = (0.5 + 0.2 * torch.sin(x / 3) + 0.2 * torch.cos(y / 4)).float()
    images = texture.view(1, 1, 64, 64).expand(3, 1, 64, 64)
    for level in LEVELS:
        out = ELASTIC.apply(images, ELASTIC.params(level, seed=level))
        moved = (out - images).abs().mean()
        histogram_shift = (images.flatten(1).sort().values - out.flatten(1).sort().values).abs().mean(dim=1)
        # pixels move; the grey-level distribution hardly does (1-Wasserstein distance)
        assert histogram_shift.max() < 0.03 and histogram_shift.mean() < 0.3 * moved


@pytest.mark.parametrize("shape, sigma", [((3, 224, 224), 4.0), ((2, 64, 48), 2.0), ((2, 33, 17), 0.3)],
                         ids=["rgb224", "gray64x48", "tiny-sigma-full-band"])
def test_elastic_field_from_stored_low_columns_equals_irfft2_of_the_full_half_spectrum(shape, sigma):
    b, h, w = shape
    gen = torch.Generator().manual_seed(5)
    low = geometric._smooth_noise_spectrum(gen, b, h, w, sigma, torch.device("cpu"))
    assert low.shape[:3] == (b, 2, h) and low.shape[-1] <= w // 2 + 1
    full = torch.zeros((b, 2, h, w // 2 + 1), dtype=low.dtype)
    full[..., :low.shape[-1]] = low
    # the same 1-D passes irfft2 runs: equal bit for bit here, which is why elastic kept its version
    assert torch.equal(geometric._spectrum_to_field(low, h, w), torch.fft.irfft2(full, s=(h, w)))
