"""Sensor noises (gaussian, shot, impulse, speckle): each one does what its name says, measurably."""

import math

import pytest
import torch

from medrobust.noise import sensor
from medrobust.noise.sensor import IMPULSE_NOISE, SHOT_NOISE, SPECKLE_NOISE

LEVELS = range(1, 6)


def _full(value, shape=(4, 1, 64, 64)):
    return torch.full(shape, float(value))


def test_shot_noise_variance_is_proportional_to_intensity():
    for level in (1, 3, 5):
        params = SHOT_NOISE.params(level, seed=level)
        photons = params["photons"]
        for value in (0.05, 0.2, 0.5):
            if value * photons + 4 * math.sqrt(value * photons) > photons:
                continue  # would clip at white
            out = SHOT_NOISE.apply(_full(value), params)
            assert out.mean().item() == pytest.approx(value, rel=0.03)
            assert out.var().item() == pytest.approx(value / photons, rel=0.1)
            # counts are integers: the output lives on the 1/photons lattice
            counts = out * photons
            assert torch.allclose(counts, counts.round(), atol=1e-3)
    assert torch.equal(SHOT_NOISE.apply(_full(0.0), SHOT_NOISE.params(5, seed=0)), _full(0.0))


def test_impulse_noise_sets_exactly_the_declared_fraction_to_black_or_white():
    images = _full(0.5, (3, 3, 40, 57))
    for level in LEVELS:
        params = IMPULSE_NOISE.params(level, seed=level)
        out = IMPULSE_NOISE.apply(images, params)
        expected = round(params["amount"] * 40 * 57)
        salt = (out == 1.0).all(dim=1)
        pepper = (out == 0.0).all(dim=1)
        untouched = (out == 0.5).all(dim=1)
        assert (salt | pepper | untouched).all()  # whole pixels change, every channel alike
        assert (salt | pepper).sum(dim=(1, 2)).tolist() == [expected] * 3
        assert salt.sum(dim=(1, 2)).tolist() == [round(expected * sensor.SALT_FRACTION)] * 3
    # different images of the batch get different pixels
    assert not torch.equal(out[0], out[1])


def test_speckle_noise_is_multiplicative():
    params = SPECKLE_NOISE.params(3, seed=4)
    sigma = params["sigma"]
    for value in (0.1, 0.3, 0.6):
        residual = SPECKLE_NOISE.apply(_full(value), params) - value
        assert residual.std().item() == pytest.approx(sigma * value, rel=0.05)
        assert abs(residual.mean().item()) < sigma * value / 10
    assert torch.equal(SPECKLE_NOISE.apply(_full(0.0), params), _full(0.0))
