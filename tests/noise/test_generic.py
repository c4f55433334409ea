"""Generic (ImageNet-C family) image noises: each one does what its name says, measurably."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from medrobust.noise import generic
from medrobust.noise.catalogue import builtin_noises
from medrobust.noise.generic import (BRIGHTNESS, CONTRAST, DEFOCUS_BLUR, ELASTIC, GAMMA, IMPULSE_NOISE,
                                     MOTION_BLUR, PIXELATE, SHOT_NOISE, SPECKLE_NOISE, ZOOM_BLUR,
                                     disk_kernel, elastic_displacement, motion_blur_angle)

LEVELS = range(1, 6)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _full(value, shape=(4, 1, 64, 64)):
    return torch.full(shape, float(value))


def _rand(shape=(4, 1, 64, 64), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _delta(size=33):
    image = torch.zeros(1, 1, size, size)
    image[..., size // 2, size // 2] = 1.0
    return image


def _coords(h, w):
    """Cartesian coordinates (x right, y up) of pixel centres relative to the image centre."""
    y = (h - 1) / 2.0 - torch.arange(h, dtype=torch.float64).view(-1, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, -1) - (w - 1) / 2.0
    return x.expand(h, w), y.expand(h, w)


def test_generic_noises_are_registered_with_their_families_and_json_tables():
    families = {n.name: n.family for n in builtin_noises()}
    assert {n.name: families.get(n.name) for n in generic.NOISES} == {
        "shot_noise": "noise", "impulse_noise": "noise", "speckle_noise": "noise",
        "defocus_blur": "blur", "motion_blur": "blur", "zoom_blur": "blur",
        "brightness": "intensity", "contrast": "intensity", "gamma": "intensity",
        "pixelate": "digital", "elastic": "geometric"}
    for noise in generic.NOISES:
        assert json.loads(json.dumps(list(noise.table))) == list(noise.table)
        assert noise.description.endswith(".") and len(noise.description) < 120


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", generic.NOISES, ids=lambda n: n.name)
def test_runs_on_the_device_of_its_input_and_keeps_dtype(noise, device):
    for dtype in (torch.float32, torch.float64):
        images = _rand((3, 3, 40, 57)).to(device=device, dtype=dtype)
        out = noise.apply(images, noise.params(4, seed=3))
        assert out.device == images.device and out.dtype == dtype and out.shape == images.shape
        assert torch.equal(out, noise.apply(images, noise.params(4, seed=3)))


# ---------------------------------------------------------------- noise


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
        assert salt.sum(dim=(1, 2)).tolist() == [round(expected * generic.SALT_FRACTION)] * 3
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


# ---------------------------------------------------------------- blur


def test_defocus_blur_point_spread_is_a_disk():
    for level in LEVELS:
        radius = DEFOCUS_BLUR.table[level - 1]["radius"]
        psf = DEFOCUS_BLUR.apply(_delta(), DEFOCUS_BLUR.params(level, seed=0))[0, 0].double()
        x, y = _coords(33, 33)
        r = torch.sqrt(x ** 2 + y ** 2)
        assert psf.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert psf[r > radius + 0.5].abs().max().item() < 1e-6  # nothing outside the disk
        assert torch.allclose(psf[r <= radius - 0.5], psf[16, 16], atol=1e-6)  # flat inside
        for same in (psf.t(), psf.flip(0), psf.flip(1)):  # isotropic
            assert torch.allclose(psf, same, atol=1e-6)


def test_blurs_by_fft_equal_direct_convolution_and_keep_the_mean():
    images = _rand((2, 1, 64, 64), seed=1)
    kernel = disk_kernel(2.0)
    radius = kernel.shape[-1] // 2
    direct = F.conv2d(F.pad(images, (radius,) * 4, mode="reflect"), kernel.view(1, 1, *kernel.shape))
    out = DEFOCUS_BLUR.apply(images, {"radius": 2.0})
    assert torch.allclose(out, direct, atol=1e-5)
    assert out.mean().item() == pytest.approx(images.mean().item(), abs=2e-3)


def _principal_angle(psf):
    """Orientation (degrees in [0, 180), counter-clockwise from x) and elongation of a point spread."""
    x, y = _coords(*psf.shape)
    w = psf / psf.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cxx, cyy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cxy = (w * (x - mx) * (y - my)).sum()
    angle = 0.5 * math.degrees(math.atan2(2 * cxy, cxx - cyy)) % 180.0
    root = math.sqrt(((cxx - cyy) / 2) ** 2 + cxy ** 2)
    mean = (cxx + cyy) / 2
    return angle, float((mean + root) / (mean - root)), (float(mx), float(my))


def test_motion_blur_smears_along_the_seeded_angle_only():
    angles = []
    for seed in range(8):
        params = MOTION_BLUR.params(5, seed=seed)
        drawn = motion_blur_angle(params)
        assert 0.0 <= drawn < generic.MOTION_ANGLE_RANGE and drawn == motion_blur_angle(params)
        psf = MOTION_BLUR.apply(_delta(), params)[0, 0].double()
        angle, elongation, centre = _principal_angle(psf)
        difference = abs(angle - drawn) % 180.0
        assert min(difference, 180.0 - difference) < 3.0, (angle, drawn)
        assert elongation > 10.0  # a line, not a blob
        assert centre == pytest.approx((0.0, 0.0), abs=1e-6)  # centred: blur, no shift
        # stripes running along the motion survive, stripes across it are averaged away
        x, y = _coords(64, 64)
        theta = math.radians(drawn)
        along = x * math.cos(theta) + y * math.sin(theta)
        across = -x * math.sin(theta) + y * math.cos(theta)
        period = params["length"]  # a period the motion averages out exactly
        stripes = [(0.5 + 0.4 * torch.cos(2 * math.pi * t / period)).float().view(1, 1, 64, 64)
                   for t in (across, along)]
        kept, lost = (((MOTION_BLUR.apply(s, params) - s)[..., 12:-12, 12:-12]).abs().mean().item()
                      for s in stripes)
        assert kept < 0.1 * lost, (drawn, kept, lost)
        angles.append(drawn)
    assert len(set(angles)) == len(angles)


def test_zoom_blur_is_radial_about_the_centre():
    x, y = _coords(64, 64)
    r, phi = torch.sqrt(x ** 2 + y ** 2), torch.atan2(y, x)
    spokes = (0.5 + 0.4 * torch.cos(8 * phi)).float().view(1, 1, 64, 64)
    rings = (0.5 + 0.4 * torch.cos(2 * math.pi * r / 5)).float().view(1, 1, 64, 64)
    ring_zone = (r > 12) & (r < 30)
    for level in (3, 5):
        params = ZOOM_BLUR.params(level, seed=0)
        spoke_change = (ZOOM_BLUR.apply(spokes, params) - spokes)[0, 0].abs()[ring_zone].mean()
        ring_change = (ZOOM_BLUR.apply(rings, params) - rings)[0, 0].abs()[ring_zone].mean()
        assert spoke_change < 0.1 * ring_change  # invariant along rays, smeared across them
    # the smear grows with distance from the centre
    out = ZOOM_BLUR.apply(_rand((1, 1, 64, 64)), ZOOM_BLUR.params(5, seed=0))
    change = (out - _rand((1, 1, 64, 64)))[0, 0].abs()
    assert change[r < 4].mean() < 0.5 * change[(r > 20) & (r < 30)].mean()


# ---------------------------------------------------------------- intensity


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


# ---------------------------------------------------------------- digital


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


# ---------------------------------------------------------------- geometric


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
    low = generic._smooth_noise_spectrum(gen, b, h, w, sigma, torch.device("cpu"))
    assert low.shape[:3] == (b, 2, h) and low.shape[-1] <= w // 2 + 1
    full = torch.zeros((b, 2, h, w // 2 + 1), dtype=low.dtype)
    full[..., :low.shape[-1]] = low
    # the same 1-D passes irfft2 runs: equal bit for bit here, which is why elastic kept its version
    assert torch.equal(generic._spectrum_to_field(low, h, w), torch.fft.irfft2(full, s=(h, w)))


def _direct_convolution(images, kernel):
    """Reference: float64 convolution (flipped-kernel correlation), reflect or replicate padding."""
    r = kernel.shape[-1] // 2
    mode = "reflect" if r < min(images.shape[-2:]) else "replicate"
    x = F.pad(images.double().reshape(-1, 1, *images.shape[-2:]), (r,) * 4, mode=mode)
    out = F.conv2d(x, kernel.double().flip(-1, -2).view(1, 1, *kernel.shape))
    return out.reshape(images.shape)


@pytest.mark.parametrize("kernel_name, kernel", [
    ("motion-len2", generic.motion_kernel(2.0, 30.0)),
    ("motion-len9-13x13", generic.motion_kernel(9.0, 115.0)),
    ("disk-r3", disk_kernel(3.0)),
    ("sparse-asymmetric", torch.rand(7, 7, generator=torch.Generator().manual_seed(3)).mul_(
        torch.rand(7, 7, generator=torch.Generator().manual_seed(4)) < 0.3)),
    ("dense-9x9", torch.rand(9, 9, generator=torch.Generator().manual_seed(1))),
    ("dense-15x15-fft", torch.rand(15, 15, generator=torch.Generator().manual_seed(2))),
], ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("shape", [(3, 2, 40, 33), (2, 1, 5, 6)], ids=["reflect", "replicate"])
def test_every_filter2d_route_equals_a_direct_convolution(kernel_name, kernel, shape, monkeypatch):
    kernel = kernel / kernel.sum()
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    expected = _direct_convolution(images, kernel)
    sparse = generic._filter2d(images, kernel)
    assert sparse.dtype == torch.float32 and (sparse.double() - expected).abs().max() < 2e-6
    monkeypatch.setattr(generic, "SHIFTED_ADD_MAX", 1)  # one map per group
    assert torch.equal(generic._filter2d(images, kernel), sparse)
    monkeypatch.setattr(generic, "SPARSE_TAPS_MAX", 0)  # convolution / FFT routes
    dense = generic._filter2d(images, kernel)
    assert (dense.double() - expected).abs().max() < 2e-6
    assert (generic._filter2d(images.double(), kernel) - expected).abs().max() < 1e-12
