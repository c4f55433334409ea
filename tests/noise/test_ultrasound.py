"""Physics of the ultrasound noises: multiplicative Rayleigh speckle, shadows distal to reflectors."""

import math

import pytest
import torch

from medrobust.noise import ultrasound as us


def _two_regions(b=4, h=128, w=128):
    images = torch.full((b, 1, h, w), 0.05)
    images[..., w // 2:] = 0.15
    return images


@pytest.mark.parametrize("level", [1, 3, 5])
def test_speckle_is_multiplicative_with_unit_mean_independent_of_intensity(level):
    noise, images = us.SPECKLE, _two_regions()
    ratio = noise.apply(images.clone(), noise.params(level, seed=level)) / images
    dark, bright = ratio[..., :64], ratio[..., 64:]
    for region in (dark, bright):
        assert region.mean().item() == pytest.approx(1.0, abs=0.03)
    assert dark.std().item() == pytest.approx(bright.std().item(), rel=0.1)
    # the output is the image times one seeded field: the ratio does not depend on intensity
    field = us.speckle_field((4, 128, 128), noise.params(level, seed=level), torch.device("cpu"), torch.float32)
    assert torch.allclose(ratio, field, rtol=1e-5)


def test_fully_developed_speckle_is_rayleigh():
    noise = us.SPECKLE
    params = noise.params(5, seed=1)
    assert params["exponent"] == 1.0
    field = us.speckle_field((8, 128, 128), params, torch.device("cpu"), torch.float64)
    # Rayleigh: contrast sqrt(4/pi - 1) ~ 0.523 and P(R < mean) = 1 - exp(-pi/4) ~ 0.544
    assert (field.std() / field.mean()).item() == pytest.approx(math.sqrt(4 / math.pi - 1), rel=0.05)
    assert (field < field.mean()).double().mean().item() == pytest.approx(1 - math.exp(-math.pi / 4), abs=0.02)


def _autocorrelation(field, lag):
    centred = field - field.mean()
    return ((centred[..., :-lag] * centred[..., lag:]).mean() / centred.var()).item()


def test_speckle_is_spatially_correlated_over_the_declared_length():
    noise = us.SPECKLE
    for level in range(1, 6):
        params = noise.params(level, seed=level)
        field = us.speckle_field((8, 96, 96), params, torch.device("cpu"), torch.float64)
        assert _autocorrelation(field, 1) > 0.3  # white noise would give ~0
        assert abs(_autocorrelation(field, int(8 * params["correlation_px"]))) < 0.05


def test_speckle_is_shared_across_rgb_channels():
    images = torch.full((2, 3, 32, 32), 0.3)
    out = us.SPECKLE.apply(images, us.SPECKLE.params(4, seed=2))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


@pytest.mark.parametrize("level", [1, 2, 4])
def test_acoustic_shadow_darkens_only_below_the_reflector(level):
    noise = us.ACOUSTIC_SHADOWING
    params = dict(noise.params(level, seed=level), n_reflectors=1)
    b, h, w = 16, 96, 96
    images = torch.full((b, 1, h, w), 0.5)
    out = noise.apply(images.clone(), params)
    depth, centre = us.reflectors(params, b, torch.device("cpu"))[0].unbind(-1)
    half = 0.5 * params["width_fraction"] * w
    thick = max(1.0, us.ECHO_FRACTION * h)
    shadow = 0.5 * 10 ** (-params["attenuation_db"] / 20)
    y = torch.arange(h, dtype=torch.float64)
    x = torch.arange(w, dtype=torch.float64)
    for i in range(b):
        y0, x0 = torch.round(depth[i] * (h - 1)), centre[i] * (w - 1)
        above, below = y < y0 - thick, y > y0 + thick + us.EDGE_PX
        inside, outside = (x - x0).abs() < half - us.EDGE_PX, (x - x0).abs() > half + us.EDGE_PX
        img = out[i, 0].double()
        assert torch.all(img[above] == 0.5)  # proximal to the reflector: untouched
        assert torch.all(img[:, outside] == 0.5)  # beside the beam path: untouched
        assert torch.allclose(img[below][:, inside], torch.tensor(shadow, dtype=torch.float64), atol=1e-6)
        assert torch.all(img[below] <= 0.5)
        assert img[~above].max().item() == pytest.approx(params["echo"], abs=1e-6)  # bright reflector echo
