"""Blurs (defocus, motion, zoom) and the 2-D filter behind them: each one does what its name says, measurably."""

import math

import pytest
import torch
import torch.nn.functional as F

from medrobust.noise import blur
from medrobust.noise.blur import DEFOCUS_BLUR, MOTION_BLUR, ZOOM_BLUR, disk_kernel, motion_blur_angle

LEVELS = range(1, 6)


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
        assert 0.0 <= drawn < blur.MOTION_ANGLE_RANGE and drawn == motion_blur_angle(params)
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


def _direct_convolution(images, kernel):
    """Reference: float64 convolution (flipped-kernel correlation), reflect or replicate padding."""
    r = kernel.shape[-1] // 2
    mode = "reflect" if r < min(images.shape[-2:]) else "replicate"
    x = F.pad(images.double().reshape(-1, 1, *images.shape[-2:]), (r,) * 4, mode=mode)
    out = F.conv2d(x, kernel.double().flip(-1, -2).view(1, 1, *kernel.shape))
    return out.reshape(images.shape)


@pytest.mark.parametrize("kernel_name, kernel", [
    ("motion-len2", blur.motion_kernel(2.0, 30.0)),
    ("motion-len9-13x13", blur.motion_kernel(9.0, 115.0)),
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
    sparse = blur._filter2d(images, kernel)
    assert sparse.dtype == torch.float32 and (sparse.double() - expected).abs().max() < 2e-6
    monkeypatch.setattr(blur, "SHIFTED_ADD_MAX", 1)  # one map per group
    assert torch.equal(blur._filter2d(images, kernel), sparse)
    monkeypatch.setattr(blur, "SPARSE_TAPS_MAX", 0)  # convolution / FFT routes
    dense = blur._filter2d(images, kernel)
    assert (dense.double() - expected).abs().max() < 2e-6
    assert (blur._filter2d(images.double(), kernel) - expected).abs().max() < 1e-12
