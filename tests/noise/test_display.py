"""Display/transfer noises: exact quantisation, window saturation, moire beat, burned-in text."""

import math

import pytest
import torch

from medrobust.noise import display as disp


def _ramp(n=4096):
    return torch.linspace(0.0, 1.0, n).view(1, 1, 1, n)


@pytest.mark.parametrize("level", range(1, 6))
def test_bit_depth_leaves_exactly_two_to_the_bits_levels(level):
    noise, ramp = disp.BIT_DEPTH, _ramp()
    bits = noise.table[level - 1]["bits"]
    out = noise.apply(ramp.clone(), noise.params(level, seed=0))
    levels = torch.unique(out)
    assert levels.numel() == 2 ** bits
    assert torch.allclose(levels, torch.linspace(0, 1, 2 ** bits))
    assert (out - ramp).abs().max().item() <= 0.5 / (2 ** bits - 1) + 1e-6


@pytest.mark.parametrize("level", range(1, 6))
def test_window_clipping_saturates_outside_the_window(level):
    noise, ramp = disp.WINDOW_CLIPPING, _ramp()
    row = noise.table[level - 1]
    low, high = row["level"] - row["width"] / 2, row["level"] + row["width"] / 2
    out = noise.apply(ramp.clone(), noise.params(level, seed=0))
    assert torch.all(out[ramp <= low] == 0.0) and torch.all(out[ramp >= high] == 1.0)
    inside = (ramp > low) & (ramp < high)
    assert torch.allclose(out[inside], (ramp[inside] - low) / row["width"], atol=1e-5)
    assert torch.all(out[..., 1:] >= out[..., :-1])


@pytest.mark.parametrize("level", [1, 3, 5])
def test_moire_has_its_energy_at_the_low_beat_frequency(level):
    noise, n = disp.SCANNED_FILM_MOIRE, 256
    params = noise.params(level, seed=level)
    out = noise.apply(torch.full((1, 1, n, n), 0.5), params)
    ratio = (out / 0.5 - 1.0)[0, 0].double()
    assert abs(ratio.mean().item()) < 0.01
    power = torch.fft.fftshift(torch.fft.fft2(ratio)).abs() ** 2
    k = torch.fft.fftshift(torch.fft.fftfreq(n, dtype=torch.float64))
    radius = torch.sqrt(k.view(-1, 1) ** 2 + k.view(1, -1) ** 2)
    beat = 2 * params["cycles_per_pixel"] * math.sin(math.radians(params["rotation_deg"]) / 2)
    peak = radius.flatten()[power.flatten().argmax()].item()
    assert peak == pytest.approx(beat, abs=1.5 / n)  # strongest component: the beat of the two gratings
    low = power[radius < 2 * beat].sum()
    high = power[radius >= 2 * beat].sum()
    assert (low / high).item() > 10  # the gratings themselves are faint after the scanner's blur


def test_burned_in_text_changes_a_small_region_and_is_opaque_as_declared():
    noise = disp.BURNED_IN_TEXT
    images = torch.rand(16, 1, 192, 192, generator=torch.Generator().manual_seed(0)) * 0.6
    changed = []
    for level in range(1, 6):
        params = noise.params(level, seed=level)
        out = noise.apply(images.clone(), params)
        mask = disp.text_mask(params, 16, (192, 192), torch.device("cpu"), torch.float32)
        assert torch.equal(out[mask == 0], images[mask == 0])  # nothing outside the text
        alpha = params["opacity"] * mask
        assert torch.allclose(out, images * (1 - alpha) + alpha * params["intensity"], atol=1e-6)
        full = mask == 1.0  # glyph strokes: the declared grey level at the declared opacity
        assert full.float().mean() > 0.001
        expected = (1 - params["opacity"]) * images[full] + params["opacity"] * params["intensity"]
        assert torch.allclose(out[full], expected, atol=1e-5)
        changed.append((out != images).float().mean().item())
    assert 0 < changed[0] < 0.1 and changed[-1] < 0.3, changed
    assert all(a < b for a, b in zip(changed, changed[1:])), changed


def test_burned_in_text_is_shared_across_channels_and_has_no_laterality_markers():
    images = torch.full((4, 3, 48, 80), 0.2)
    out = disp.BURNED_IN_TEXT.apply(images, disp.BURNED_IN_TEXT.params(5, seed=9))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    for template in range(len(disp.TEXT_TEMPLATES)):
        text = disp.annotation_strings(list(range(8)), template)
        assert "L" not in text and "R" not in text and "#" not in text
