"""Physics of the radiography noises, checked in the detector (exposure) domain."""

import math

import pytest
import torch

from medrobust.noise import radiography as rad
from medrobust.noise._ops import gaussian_filter

R = rad.LOG_RANGE


def _uniform(value, b=8, h=64, w=64):
    return torch.full((b, 1, h, w), value)


def _ramp(h=256, w=256):
    return torch.linspace(0.0, 1.0, w).view(1, 1, 1, w).expand(1, 1, h, w).clone()


@pytest.mark.parametrize("value", [0.3, 0.6])
def test_quantum_mottle_counts_are_poisson_at_the_declared_dose(value):
    noise = rad.QUANTUM_MOTTLE
    for level in range(1, 6):
        dose = noise.table[level - 1]["dose"]
        out = noise.apply(_uniform(value), noise.params(level, seed=level))
        counts = rad.to_exposure(out.double(), dose)
        expected = dose * math.exp(-R * value)
        assert counts.mean().item() == pytest.approx(expected, rel=0.01)
        assert (counts.var() / counts.mean()).item() == pytest.approx(1.0, rel=0.08)  # Poisson: var = mean


def test_quantum_mottle_display_variance_scales_inversely_with_dose():
    noise, value = rad.QUANTUM_MOTTLE, 0.3
    for level in range(1, 6):
        dose = noise.table[level - 1]["dose"]
        out = noise.apply(_uniform(value), noise.params(level, seed=level))
        # delta method through the log LUT: var(v) = 1 / (R^2 * expected counts)
        predicted = math.exp(R * value) / (R ** 2 * dose)
        assert out.var().item() == pytest.approx(predicted, rel=0.1)


def test_quantum_mottle_is_shared_across_rgb_channels():
    images = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0)).expand(2, 3, 32, 32)
    out = rad.QUANTUM_MOTTLE.apply(images.clone(), rad.QUANTUM_MOTTLE.params(4, seed=3))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])


@pytest.mark.parametrize("angle,axis", [(0.0, -1), (90.0, -2)])
def test_grid_lines_are_periodic_at_the_declared_frequency(angle, axis):
    noise = rad.GRID_LINES
    for level in range(1, 6):
        params = dict(noise.params(level, seed=level), angle_deg=angle)
        images = _uniform(0.4, b=1, h=160, w=160)
        diff = noise.apply(images.clone(), params) - images
        constant = -2 if axis == -1 else -1
        across = diff.mean(dim=constant).flatten()
        along = diff.std(dim=constant).max()
        assert along.item() < 1e-5  # constant along the lines
        spectrum = torch.fft.rfft(across - across.mean()).abs()
        assert spectrum.argmax().item() == round(params["cycles_per_pixel"] * 160)
        # in the exposure domain the grid is exactly T = 1 - a (1 + cos) / 2 at the declared a and f
        transmission = torch.exp(-R * across.double())
        wave = 2 * (1 - transmission) / params["absorption"] - 1
        t = 2 * math.pi * params["cycles_per_pixel"] * torch.arange(160, dtype=torch.float64)
        a, b = (2 * (wave * torch.cos(t)).mean()), (2 * (wave * torch.sin(t)).mean())
        fit = a * torch.cos(t) + b * torch.sin(t)
        assert math.hypot(a, b) == pytest.approx(1.0, abs=1e-3)
        assert (wave - fit).abs().max().item() < 1e-3
        assert diff.min().item() >= 0.0


def test_over_exposure_darkens_monotonically_and_clips_at_black():
    noise, ramp = rad.OVER_EXPOSURE, _ramp()
    for level in range(1, 6):
        factor = noise.table[level - 1]["exposure_factor"]
        out = noise.apply(ramp.clone(), noise.params(level, seed=0))[0, 0, 0]
        assert torch.all(out[1:] >= out[:-1])  # ordering of intensities kept
        assert torch.all(out <= ramp[0, 0, 0] + 1e-6)
        shift = math.log(factor) / R
        burned = ramp[0, 0, 0] <= shift
        assert torch.all(out[burned] == 0.0) and torch.all(out[~burned] > 0.0)
        assert torch.allclose(out[~burned], ramp[0, 0, 0][~burned] - shift, atol=1e-5)


def test_under_exposure_brightens_clips_at_white_and_adds_noise():
    noise, ramp = rad.UNDER_EXPOSURE, _ramp(h=512)
    stds = []
    for level in range(1, 6):
        row = noise.table[level - 1]
        out = noise.apply(ramp.clone(), noise.params(level, seed=level))[0, 0]
        means = out.mean(dim=0)
        smooth = means.unfold(0, 8, 8).mean(dim=1)
        assert torch.all(smooth[1:] >= smooth[:-1])  # ordering kept (in expectation)
        assert torch.all(means >= ramp[0, 0, 0] - 0.01)
        below_floor = ramp[0, 0, 0] > 1.0 + math.log(row["exposure_factor"]) / R + 0.05
        assert (out[:, below_floor] == 1.0).float().mean() > 0.7  # detector floor clips to white
        assert (out == 0.0).float().mean() == 0.0
        flat = noise.apply(_uniform(0.1), noise.params(level, seed=level))
        stds.append(flat.std().item())
    # quantum noise grows as 1 / sqrt(exposure factor)
    factors = [row["exposure_factor"] for row in noise.table]
    assert stds[-1] / stds[0] == pytest.approx(math.sqrt(factors[0] / factors[-1]), rel=0.1)


def _bars(period=8):
    x = torch.arange(128)
    return (0.3 + 0.4 * ((x // (period // 2)) % 2)).float().view(1, 1, 1, -1).expand(1, 1, 128, 128).clone()


def test_scatter_haze_adds_a_smooth_veil_and_lowers_contrast():
    noise, images = rad.SCATTER_HAZE, _bars()
    previous = 0.4
    for level in range(1, 6):
        spr = noise.table[level - 1]["spr"]
        out = noise.apply(images.clone(), noise.params(level, seed=0))
        row = out[0, 0, 64]
        contrast = (row[4:8].mean() - row[0:4].mean()).item()
        assert 0 < contrast < previous
        previous = contrast
        primary, total = rad.to_exposure(images), rad.to_exposure(out) * (1 + spr)
        scatter = total - primary
        assert scatter.min().item() > 0
        assert rad.to_exposure(out).mean().item() == pytest.approx(primary.mean().item(), rel=0.03)
        detail = (scatter - gaussian_filter(scatter, 2.0)).std() / scatter.std()
        assert detail.item() < 0.02  # the added component is low-frequency
