"""Calibrated severity: levels solved for a target SSIM or edit similarity."""

import pytest
import torch

from medrobust.run.plugins import load_plugins
from medrobust.noise.severity_scale import CalibratedNoises, calibrate_noise, interpolate_params, solve_level
from medrobust.noise.similarity import mean_change, ssim

HOST = load_plugins()


@pytest.fixture(scope="module")
def reference():
    from medrobust.data.phantom import PhantomVQA

    return PhantomVQA({}).samples("reference")[:12]


def test_interpolation_between_table_rows():
    blur = HOST.noises["gaussian_blur"]
    assert interpolate_params(blur, 1.0) == dict(blur.table[0])
    assert interpolate_params(blur, 5.0) == dict(blur.table[4])
    middle = interpolate_params(blur, 3.5)["sigma"]
    assert middle == pytest.approx((blur.table[2]["sigma"] + blur.table[3]["sigma"]) / 2)
    assert isinstance(interpolate_params(HOST.noises["jpeg"], 2.5)["quality"], int)
    with pytest.raises(ValueError):
        interpolate_params(blur, 5.5)


def test_solved_level_hits_the_target_ssim(reference):
    blur = HOST.noises["gaussian_blur"]
    result = solve_level(blur, 0.8, reference)
    assert not result.clamped and 1 < result.level < 5
    assert result.achieved == pytest.approx(0.8, abs=0.01)
    assert mean_change(blur, reference, dict(result.params)) == pytest.approx(0.8, abs=0.01)


def test_unreachable_targets_are_clamped_and_flagged(reference):
    result = solve_level(HOST.noises["jpeg"], 0.1, reference)
    assert result.clamped and result.level == 5.0


def test_calibrated_table_is_monotone_and_text_works(reference):
    noise, solved = calibrate_noise(HOST.noises["char_typos"], reference, (0.99, 0.97, 0.95, 0.93, 0.91))
    rates = [row["rate"] for row in noise.table]
    assert rates == sorted(rates) and noise.name == "char_typos"
    assert [c.target for c in solved] == [0.99, 0.97, 0.95, 0.93, 0.91]


def test_calibrated_registry_view_is_lazy_and_keeps_names(reference):
    view = CalibratedNoises(HOST.noises, reference)
    assert list(view) == list(HOST.noises)
    assert view["gaussian_blur"].table != HOST.noises["gaussian_blur"].table
    assert len(view.calibration("gaussian_blur")) == 5


def test_ssim_matches_the_textbook_definition():
    from skimage.metrics import structural_similarity

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 48, 48, generator=gen)
    b = (a + 0.1 * torch.randn(2, 1, 48, 48, generator=gen)).clamp(0, 1)
    ours = ssim(a, b)
    for i in range(2):
        theirs = structural_similarity(a[i, 0].numpy(), b[i, 0].numpy(), data_range=1.0, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False)
        assert ours[i].item() == pytest.approx(theirs, abs=0.01)
    assert ssim(a, a).allclose(torch.ones(2))
