"""Physics of the CT artifacts: a torch Radon/FBP, and artifacts made in the sinogram."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from medrobust.noise import ct

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

YY, XX = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")


def _ellipse(value=0.8, ry=22.0, rx=30.0):
    """A uniform elliptical body, [1, 1, 64, 64]."""
    return ((((YY - 31.5) / ry) ** 2 + ((XX - 31.5) / rx) ** 2 <= 1).float() * value)[None, None]


def _polar(image, cy, cx, radii, angles=180):
    """Bilinear samples of ``image`` [H, W] on a polar grid: [len(radii), angles]."""
    h, w = image.shape
    a = torch.arange(angles) * 2 * math.pi / angles
    r = torch.tensor(radii, dtype=torch.float32).view(-1, 1)
    ys, xs = cy + r * torch.sin(a), cx + r * torch.cos(a)
    grid = torch.stack([xs / (w - 1) * 2 - 1, ys / (h - 1) * 2 - 1], -1)[None]
    return F.grid_sample(image.view(1, 1, h, w), grid, align_corners=True)[0, 0]


def test_radon_conserves_mass_and_traces_sinusoids():
    image = torch.zeros(1, 64, 48)
    image[0, 10, 40] = 1.0                                       # one pixel, off centre
    sino = ct.radon(image)[0]
    geo = ct.geometry(64, 48, torch.device("cpu"), torch.float32)
    assert torch.allclose(sino.sum(1), torch.ones(geo.angles))   # every view sees the whole mass
    theta = torch.arange(geo.angles) * 2 * math.pi / geo.angles
    x, y = 40 - 23.5, 31.5 - 10
    expected = x * theta.cos() + y * theta.sin() + (geo.detectors - 1) / 2
    centroid = (sino * torch.arange(geo.detectors)).sum(1)
    assert torch.allclose(centroid, expected.float(), atol=1e-4)


def test_fbp_of_the_clean_sinogram_reconstructs_the_image():
    body = F.avg_pool2d(_ellipse(0.6) + 0.3 * _ellipse(1.0, 8, 12), 3, 1, 1)[:, 0]
    rec = ct.fbp(ct.radon(body), 64, 64)
    assert (rec - body).abs().mean() < 0.02                       # measured: 0.013
    assert (rec - body).abs().max() < 0.1
    assert rec.sum().item() == pytest.approx(body.sum().item(), rel=0.02)


def test_geometry_is_cached():
    a = ct.geometry(40, 57, torch.device("cpu"), torch.float32)
    assert ct.geometry(40, 57, torch.device("cpu"), torch.float32) is a
    assert a.angles % 2 == 1 and a.detectors >= math.hypot(40, 57)


def test_artifacts_are_added_to_the_original_image_not_to_its_reconstruction():
    image = _ellipse(0.5) + 0.1
    zero = ct.ring_gains(1, 95, {"gain_std": 0.0, "seed": 0}, image.device)
    assert torch.equal(zero, torch.ones_like(zero))
    out = ct.CT_RINGS.apply(image, {"gain_std": 0.0, "seed": 0})
    assert torch.allclose(out, image, atol=1e-6)                  # no reconstruction error


def test_low_dose_noise_grows_with_attenuation_in_the_sinogram():
    body = _ellipse(0.8)[:, 0] * ct.attenuation_scale(64, 64)
    sino = ct.radon(body).expand(64, -1, -1)
    i0 = ct.CT_LOW_DOSE.table[2]["i0"]
    noisy = ct.low_dose_sinogram(sino, {"i0": i0, "seed": 4})
    var = (noisy - sino).var(dim=0)[0]                            # over 64 draws, per detector (view 0)
    p = sino[0, 0]
    thick, thin = p > 0.8 * p.max(), (p > 0.5) & (p < 1.0)
    assert var[thick].mean() > 2 * var[thin].mean()
    expected = torch.exp(p) / i0                                  # Poisson: var(-log N) ~ 1 / E[N]
    assert var[thick].mean().item() == pytest.approx(expected[thick].mean().item(), rel=0.2)


def test_low_dose_noise_is_stronger_in_a_denser_image():
    noise = ct.CT_LOW_DOSE
    spreads = []
    for value in (0.2, 0.6):
        image = torch.full((8, 1, 64, 64), value)
        out = noise.apply(image, noise.params(3, seed=9))
        spreads.append((out - image)[..., 16:48, 16:48].std().item())
    assert spreads[1] > 1.5 * spreads[0]


@pytest.mark.parametrize("level", [3, 5])
def test_rings_are_concentric_around_the_centre(level):
    image = torch.full((1, 1, 64, 64), 0.5)
    delta = (ct.CT_RINGS.apply(image, ct.CT_RINGS.params(level, seed=1)) - image)[0, 0]
    assert delta.abs().max() < 0.5                                # nothing clipped
    radius = torch.hypot(YY - 31.5, XX - 31.5)
    inside = radius < 28
    bins = (radius * 8).round().long()
    count = torch.zeros(bins.max() + 1).index_add_(0, bins.flatten(), torch.ones(64 * 64))
    profile = torch.zeros(bins.max() + 1).index_add_(0, bins.flatten(), delta.flatten()) / count.clamp(min=1)
    residual = delta - profile[bins]                              # what a radial profile can't explain
    explained = 1 - residual[inside].var() / delta[inside].var()
    assert explained > 0.95
    polar = _polar(delta, 31.5, 31.5, [float(r) for r in range(2, 28)])
    assert polar.std(dim=1).mean() < 0.5 * polar.mean(dim=1).std()  # varies with radius, not angle


def test_rings_do_not_depend_on_the_object():
    params = ct.CT_RINGS.params(4, seed=2)
    a, b = torch.full((1, 1, 64, 64), 0.5), _ellipse(0.3) + 0.3
    assert torch.allclose(ct.CT_RINGS.apply(a, params) - a, ct.CT_RINGS.apply(b, params) - b, atol=1e-5)


def test_metal_only_corrupts_the_rays_through_it():
    params = ct.CT_METAL_STREAKS.params(5, seed=0)
    measured, true, metal = ct.metal_sinograms(_ellipse(0.8), params)
    shadow = ct.radon(metal) > 0
    changed = measured != true
    assert changed.any() and not (changed & ~shadow).any()
    assert (measured <= math.log(params["i0"]) + 1e-6).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metal_streaks_radiate_along_lines_through_the_metal(seed):
    params = {"objects": 1, "radius": 2.5, "density": 30.0, "i0": 1.0e5, "seed": seed}
    image = _ellipse(0.8)
    metal = ct.metal_mask(1, 64, 64, params, image.device)[0]
    cy, cx = (metal * YY).sum() / metal.sum(), (metal * XX).sum() / metal.sum()
    delta = (ct.CT_METAL_STREAKS.apply(image, params) - image)[0, 0] * (1 - metal)
    assert delta.abs().mean() > 0.02

    def alignment(y, x):
        polar = _polar(delta, y, x, [6.0, 8.0, 10.0, 12.0, 14.0, 16.0])   # [radius, angle]
        return (polar.mean(dim=0).std() / polar.std(dim=0).mean()).item()  # across / along lines

    assert alignment(cy, cx) > 1.1
    assert alignment(cy, cx) > 1.5 * alignment(63 - cy, 63 - cx)     # not around another point
    assert alignment(cy, cx) > 1.5 * alignment(31.5, 31.5)


def test_metal_is_drawn_where_the_mask_is():
    params = ct.CT_METAL_STREAKS.params(4, seed=3)
    image = _ellipse(0.5)
    out = ct.CT_METAL_STREAKS.apply(image, params)
    metal = ct.metal_mask(1, 64, 64, params, image.device)[0].bool()
    assert metal.sum() > 0 and (out[0, 0][metal] > 0.95).all()


def test_colour_images_get_the_same_artifact_on_every_channel():
    image = _ellipse(0.5).expand(2, 3, -1, -1).clone()
    for noise in ct.NOISES:
        out = noise.apply(image, noise.params(3, seed=5))
        assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("noise", ct.NOISES, ids=lambda n: n.name)
def test_runs_on_cuda_and_stays_deterministic(noise):
    gpu = (_ellipse(0.6) + 0.1).expand(4, 1, -1, -1).contiguous().cuda()
    a = noise.apply(gpu.clone(), noise.params(4, seed=2))
    b = noise.apply(gpu.clone(), noise.params(4, seed=2))
    assert a.device == gpu.device and a.dtype == gpu.dtype and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    sino = ct.radon(gpu[:, 0])
    assert torch.allclose(sino.cpu(), ct.radon(gpu[:, 0].cpu()), atol=1e-3)


def _disc(size: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    return (((x ** 2 + y ** 2) < 0.7).float() * 0.5 + 0.1)[None, None]


@pytest.mark.parametrize("noise", ct.NOISES, ids=lambda n: n.name)
def test_the_artifact_keeps_its_size_across_image_sizes(noise):
    """Above the grid the artifact is simulated on a 256 px copy and upsampled: its magnitude at 1024 px
    is that at 256 px (within 2x: upsampling smooths pixel-scale grain), and the whole image stays bounded."""
    spread = {}
    for size in (256, 1024):
        image = _disc(size)
        out = noise.apply(image, noise.params(4, seed=3))
        assert out.shape == image.shape and out.dtype == image.dtype and 0 <= out.min() and out.max() <= 1
        spread[size] = float((out - image).abs().mean())
    assert spread[256] > 0 and 0.5 <= spread[1024] / spread[256] <= 2.0, spread
    assert ct.MAX_GRID == 256


def test_projection_memory_does_not_grow_with_a_system_matrix():
    """The geometry holds no matrix: only its angles' cosines and sines and the ramp filter."""
    geo = ct.geometry(1024, 1024, torch.device("cpu"), torch.float32)
    held = sum(t.numel() * t.element_size() for t in (geo.cos, geo.sin, geo.ramp))
    assert held < 1 << 20
