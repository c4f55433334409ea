"""Photometric noises (brightness, contrast, gamma): each one does what its name says, measurably."""

import pytest
import torch

from medrobust.noise.photometric import BRIGHTNESS, CONTRAST, GAMMA

LEVELS = range(1, 6)


def _full(value, shape=(4, 1, 64, 64)):
    return torch.full(shape, float(value))


def _rand(shape=(4, 1, 64, 64), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_brightness_shifts_mid_gray_by_the_declared_amount():
    for level in LEVELS:
        params = BRIGHTNESS.params(level, seed=0)
        out = BRIGHTNESS.apply(_full(0.5, (2, 3, 8, 8)), params)
        assert torch.allclose(out, _full(0.5 + params["shift"], (2, 3, 8, 8)), atol=1e-6)
    assert BRIGHTNESS.apply(_full(0.9), BRIGHTNESS.params(5, seed=0)).max().item() == 1.0


def test_contrast_keeps_the_mean_and_scales_deviations():
    images = _rand((3, 1, 64, 64), seed=2)
    for level in LEVELS:
        factor = CONTRAST.table[level - 1]["factor"]
        out = CONTRAST.apply(images, CONTRAST.params(level, seed=0))
        assert torch.allclose(out.mean(dim=(1, 2, 3)), images.mean(dim=(1, 2, 3)), atol=1e-6)
        assert torch.allclose(out.std(dim=(1, 2, 3)), factor * images.std(dim=(1, 2, 3)), rtol=1e-4)


def test_gamma_is_a_monotone_power_law_fixing_black_and_white():
    ramp = torch.linspace(0.0, 1.0, 1001).view(1, 1, 1, -1)
    for level in LEVELS:
        g = GAMMA.table[level - 1]["gamma"]
        out = GAMMA.apply(ramp, GAMMA.params(level, seed=0))[0, 0, 0]
        assert (out[1:] > out[:-1]).all()
        assert out[0].item() == 0.0 and out[-1].item() == 1.0
        assert out[500].item() == pytest.approx(0.5 ** g, rel=1e-5)
