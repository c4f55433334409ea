"""Physics of the MRI artifacts: each is checked in k-space, where it arises."""

import math

import pytest
import torch

from medrobust.noise import _kspace, mri


def _params(noise, level, seed=3):
    return noise.params(level, seed=seed)


@pytest.fixture(scope="module")
def images():
    """Smooth random objects with sharp-edged blocks, [4, 1, 64, 48], values in [0.1, 0.7]."""
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(4, 1, 72, 56, generator=gen), 9, stride=1)
    out = 0.1 + 0.4 * (base - base.amin()) / (base.amax() - base.amin())
    out[:, :, 20:40, 10:30] += 0.2
    return out


def test_kspace_round_trip_is_the_identity(images):
    assert torch.allclose(_kspace.from_kspace(_kspace.to_kspace(images), images), images, atol=1e-6)


@pytest.mark.parametrize("level", [1, 3, 5])
def test_motion_only_changes_the_phase_of_the_moved_lines(images, level):
    params = _params(mri.MRI_MOTION, level)
    k = _kspace.to_kspace(images)
    moved = mri.motion_kspace(k, params)
    dy, dx = mri.motion_displacements(4, 64, params, k.device)
    still = (dy == 0) & (dx == 0)                                     # [B, H]
    assert torch.allclose(moved.abs(), k.abs(), rtol=1e-4, atol=1e-3)  # translation = phase only
    assert torch.equal(moved.permute(0, 2, 1, 3)[still], k.permute(0, 2, 1, 3)[still])
    assert (~still).any()
    phase_change = (moved * k.conj()).angle().abs().permute(0, 2, 1, 3)[~still]
    assert phase_change.mean() > 0.1
    lines = round(params["lines"] * 64)
    assert (~still).sum(1).max() <= params["segments"] * lines


def test_a_motion_over_the_whole_scan_is_a_pure_translation():
    image = torch.zeros(1, 1, 64, 64)
    image[0, 0, 30:34, 30:34] = 1.0
    params = {"segments": 1, "lines": 1.0, "shift": 4.0, "seed": 1}
    dy, dx = mri.motion_displacements(1, 64, params, image.device)
    assert torch.unique(dy).numel() == 1 and torch.unique(dx).numel() == 1
    out = _kspace.from_kspace(mri.motion_kspace(_kspace.to_kspace(image), params), image)
    rows, cols = torch.arange(64.0).view(-1, 1), torch.arange(64.0).view(1, -1)
    weight = out[0, 0] / out[0, 0].sum()
    centre = ((weight * rows).sum(), (weight * cols).sum())
    assert centre[0].item() == pytest.approx(31.5 + dy[0, 0].item(), abs=0.3)
    assert centre[1].item() == pytest.approx(31.5 + dx[0, 0].item(), abs=0.3)


@pytest.mark.parametrize("level", [1, 4])
def test_ghosts_appear_at_fov_over_n_with_the_declared_intensity(level):
    params = _params(mri.MRI_GHOSTING, level)
    image = torch.zeros(3, 1, 64, 64)
    image[:, 0, 30, 21] = 1.0                                   # a point object
    out = mri.MRI_GHOSTING.apply(image, params)
    shift, a = 64 // params["period"], params["intensity"]
    # the unmodulated centre line takes back 2 a cos(phi) times the column mean (1/64) along column 21
    slack = 2 * a / 64 + 1e-5
    for replica in (30 - shift, 30 + shift):
        assert (out[:, 0, replica, 21] - a).abs().max() <= slack
    assert (out[:, 0, 30, 21] - 1.0).abs().max() <= slack
    out[:, 0, [30 - shift, 30, 30 + shift], 21] = 0
    assert out[:, 0, :, 21].abs().max() <= slack
    out[:, 0, :, 21] = 0
    assert out.abs().max() < 1e-5                                # nothing in any other column


def test_ghosting_leaves_the_kspace_centre_line_and_the_brightness_alone(images):
    for level in (1, 5):
        params = _params(mri.MRI_GHOSTING, level)
        k = _kspace.to_kspace(images)
        ghosted = mri.ghosting_kspace(k, params)
        assert torch.equal(ghosted[:, :, 32], k[:, :, 32])
        assert not torch.allclose(ghosted, k)
    bright = torch.full((8, 1, 64, 48), 0.45)
    bright[:, :, 10:30, 12:36] = 0.8                            # a bright object on a grey background
    out = mri.MRI_GHOSTING.apply(bright, _params(mri.MRI_GHOSTING, 5))
    # modulating the centre line too made the whole image up to 60 % brighter or darker
    assert (out.mean(dim=(1, 2, 3)) / bright.mean(dim=(1, 2, 3)) - 1).abs().max() < 0.1
    assert (out - bright).abs().amax(dim=(1, 2, 3)).min() > 0.01  # the ghosts are there (faint where in quadrature)


def test_ghost_correlation_peaks_at_fov_over_n(images):
    params = _params(mri.MRI_GHOSTING, 5)
    k = _kspace.to_kspace(images)
    # complex reconstruction: the ghost is the residual, a shifted copy of the object
    residual = torch.fft.ifft2(torch.fft.ifftshift(mri.ghosting_kspace(k, params), dim=(-2, -1))) - images
    spec = torch.fft.fft(residual, dim=-2) * torch.fft.fft(images.to(residual.dtype), dim=-2).conj()
    xcorr = torch.fft.ifft(spec, dim=-2).abs().sum(dim=(1, 3))   # [B, row shift]
    shift = 64 // params["period"]
    top = xcorr.topk(2, dim=1).indices.sort(dim=1).values
    assert (top == torch.tensor([shift, 64 - shift])).all()
    magnitude = mri.MRI_GHOSTING.apply(images, params)
    assert torch.allclose(magnitude, (images + residual).abs().clamp(0, 1).float(), atol=1e-5)


@pytest.mark.parametrize("level", [1, 5])
def test_a_spike_adds_energy_at_exactly_one_frequency(images, level):
    params = _params(mri.MRI_SPIKE, level)
    k = _kspace.to_kspace(images)
    diff = (mri.spike_kspace(k, params) - k).abs()
    for b in range(images.shape[0]):
        assert (diff[b, 0] > 0).sum() == 1
        expected = params["amplitude"] * k[b, 0, 32, 24].abs()
        assert diff[b, 0].max().item() == pytest.approx(expected.item(), rel=1e-4)
    rows, cols, _ = mri.spike_location(4, 64, 48, params, k.device)
    radius = torch.hypot((rows - 32) / 32.0, (cols - 24) / 24.0)
    assert (radius > mri.SPIKE_MIN_RADIUS - 0.05).all() and (radius < mri.SPIKE_MAX_RADIUS + 0.05).all()


def test_a_spike_makes_stripes_of_one_frequency():
    image = torch.full((1, 1, 64, 64), 0.5)
    out = mri.MRI_SPIKE.apply(image, _params(mri.MRI_SPIKE, 3))
    spectrum = _kspace.to_kspace(out - out.mean()).abs()[0, 0]
    top = spectrum.flatten().topk(2).values
    assert top[1] / spectrum.sum() > 0.4  # one +-frequency pair carries the stripe energy


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_undersampling_keeps_the_declared_lines_and_the_centre(images, level):
    params = _params(mri.MRI_UNDERSAMPLING, level)
    mask = mri.undersampling_mask(4, 64, params, images.device)
    assert (mask.sum(1) == round(64 / params["acceleration"])).all()
    centre = round(params["center"] * 64)
    assert mask[:, 32 - centre // 2: 32 - centre // 2 + centre].all()
    k = _kspace.to_kspace(images)
    sampled = mri.undersampling_kspace(k, params)
    rows = sampled.permute(0, 2, 1, 3)
    assert (rows[~mask] == 0).all() and torch.equal(rows[mask], k.permute(0, 2, 1, 3)[mask])


def test_undersampling_masks_are_nested_across_severities():
    masks = [mri.undersampling_mask(8, 64, _params(mri.MRI_UNDERSAMPLING, lv), torch.device("cpu"))
             for lv in range(1, 6)]
    for milder, stronger in zip(masks, masks[1:]):
        assert (stronger & ~milder).sum() <= 8 * 4  # almost a subset (the centre shrinks a little)


def test_rician_noise_on_a_zero_background_is_rayleigh():
    params = _params(mri.MRI_RICIAN_NOISE, 3)
    sigma = params["sigma"]
    out = mri.MRI_RICIAN_NOISE.apply(torch.zeros(16, 1, 64, 64), params)
    assert out.mean().item() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.02)
    assert out.var().item() == pytest.approx((2 - math.pi / 2) * sigma ** 2, rel=0.05)
    bright = mri.MRI_RICIAN_NOISE.apply(torch.full((16, 1, 64, 64), 0.5), params)
    assert bright.mean().item() == pytest.approx(math.sqrt(0.25 + sigma ** 2), rel=0.01)  # ~Gaussian


def test_rician_noise_is_shared_by_the_channels_of_a_grey_image():
    image = torch.full((2, 3, 32, 32), 0.4)
    out = mri.MRI_RICIAN_NOISE.apply(image, _params(mri.MRI_RICIAN_NOISE, 4))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


@pytest.mark.parametrize("level", [1, 5])
def test_bias_field_is_smooth(level):
    field = mri.bias_field(8, 64, 64, _params(mri.MRI_BIAS_FIELD, level), torch.device("cpu"))
    hann = torch.hann_window(64, periodic=False)
    window = hann.view(-1, 1) * hann.view(1, -1)                      # no wrap-around edge
    spectrum = _kspace.to_kspace((field - field.mean(dim=(-2, -1), keepdim=True)) * window).abs() ** 2
    f = torch.fft.fftshift(torch.fft.fftfreq(64)).abs() * 64
    low = (f.view(-1, 1) <= 4) & (f.view(1, -1) <= 4)
    assert (spectrum[..., ~low].sum() / spectrum.sum()).item() < 0.01
    assert field.min() > 0


def test_bias_field_is_multiplicative_and_independent_of_the_image(images):
    params = _params(mri.MRI_BIAS_FIELD, 2)
    other = images.flip(-1) * 0.5 + 0.05
    ratio_a = mri.MRI_BIAS_FIELD.apply(images, params) / images
    ratio_b = mri.MRI_BIAS_FIELD.apply(other, params) / other
    field = mri.bias_field(4, 64, 48, params, images.device)
    unclipped = (images * field < 1) & (other * field < 1)
    assert unclipped.float().mean() > 0.99
    assert torch.allclose(ratio_a[unclipped], ratio_b[unclipped], rtol=1e-5)
    assert torch.allclose(ratio_a[unclipped], field.expand_as(images)[unclipped], rtol=1e-5)


@pytest.mark.parametrize("level", [1, 3, 5])
def test_gibbs_zeroes_kspace_outside_the_window(images, level):
    params = _params(mri.MRI_GIBBS_RINGING, level)
    k = _kspace.to_kspace(images)
    out = mri.gibbs_kspace(k, params)
    rows = mri.gibbs_window(64, params["fraction"], k.device)
    cols = mri.gibbs_window(48, params["fraction"], k.device)
    window = rows[:, None] & cols[None, :]
    assert rows.sum() == round(params["fraction"] * 64) and rows[32] and cols[24]
    assert (out[..., ~window] == 0).all() and torch.equal(out[..., window], k[..., window])


def test_gibbs_rings_next_to_a_sharp_edge():
    image = torch.full((1, 1, 64, 64), 0.2)
    image[..., 16:48] = 0.8                                          # vertical edges at 16 and 48
    out = mri.MRI_GIBBS_RINGING.apply(image, _params(mri.MRI_GIBBS_RINGING, 3))
    profile = out[0, 0, 32]
    assert torch.allclose(out[0, 0], profile.expand(64, -1), atol=1e-5)  # constant along the edge
    assert profile[16:24].max() > 0.8 + 0.03                          # overshoot inside
    assert profile[8:16].min() < 0.2 - 0.03                           # undershoot outside
    crossings = (torch.diff(torch.sign(profile[17:32] - 0.8)) != 0).sum()
    assert crossings >= 4                                             # it oscillates about 0.8
    assert (profile[28:36] - 0.8).abs().max() < (profile[16:24] - 0.8).abs().max()  # decays away


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("noise", mri.NOISES, ids=lambda n: n.name)
def test_runs_on_cuda_and_stays_deterministic(noise, images):
    gpu = images.cuda()
    a = noise.apply(gpu.clone(), noise.params(4, seed=2))
    b = noise.apply(gpu.clone(), noise.params(4, seed=2))
    assert a.device == gpu.device and a.dtype == gpu.dtype and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    if not noise.random:
        assert torch.allclose(a.cpu(), noise.apply(images.clone(), noise.params(4, seed=2)), atol=1e-5)


def test_large_batches_go_through_kspace_channel_by_channel_with_the_same_output(monkeypatch):
    images = torch.rand((3, 3, 24, 20), generator=torch.Generator().manual_seed(9))
    for noise in (mri.MRI_MOTION, mri.MRI_GHOSTING, mri.MRI_SPIKE, mri.MRI_UNDERSAMPLING, mri.MRI_GIBBS_RINGING):
        params = noise.params(4, seed=2)
        whole = noise.apply(images, params)
        monkeypatch.setattr(_kspace, "KSPACE_CHUNK_BYTES", 0)
        by_channel = noise.apply(images, params)
        monkeypatch.setattr(_kspace, "KSPACE_CHUNK_BYTES", 1 << 40)
        assert torch.equal(whole, by_channel), noise.name
        assert not torch.equal(by_channel[:, 0], by_channel[:, 1])  # channels are not copies of one another


# --- the fast routes equal the k-space round trip -------------------------------------------

_ROUTES = [  # (noise, its k-space stage)
    (mri.MRI_GHOSTING, mri.ghosting_kspace),
    (mri.MRI_SPIKE, mri.spike_kspace),
    (mri.MRI_UNDERSAMPLING, mri.undersampling_kspace),
]


@pytest.mark.parametrize("noise, stage", _ROUTES, ids=lambda v: getattr(v, "name", ""))
@pytest.mark.parametrize("size", [(64, 48), (66, 50), (63, 37)], ids=str)  # 66 and 63: period 4 does not divide
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-6), (torch.float64, 1e-12)], ids=["f32", "f64"])
def test_the_fast_route_equals_the_kspace_round_trip(noise, stage, size, dtype, tol):
    gen = torch.Generator().manual_seed(sum(size))
    images = torch.rand((3, 2) + size, generator=gen, dtype=torch.float64).to(dtype)
    images[1, :, 5:20, 4:15] = 0.0  # a dark region, where the magnitude bends
    for level in (1, 3, 5):
        params = noise.params(level, seed=11)
        expected = _kspace.from_kspace(stage(_kspace.to_kspace(images), params), images)
        got = noise.apply(images, params)
        assert got.dtype == dtype
        assert (got - expected).abs().max().item() < tol, (noise.name, size, level)
        assert (got - images).abs().max().item() > 100 * tol  # the artifact is there


def test_ghosting_closed_form_is_the_one_taken_when_the_period_divides_the_height(monkeypatch):
    images = torch.rand((2, 1, 64, 40), generator=torch.Generator().manual_seed(4))
    params = mri.MRI_GHOSTING.params(5, seed=1)
    monkeypatch.setattr(mri, "_ghosting_by_lines", lambda *a: pytest.fail("took the Fourier route"))
    mri.MRI_GHOSTING.apply(images, params)


def test_magnitude_is_abs():
    values = torch.randn(1000, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(_kspace.magnitude(values), values.abs(), rtol=1e-6, atol=0)
