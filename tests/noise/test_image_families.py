"""The generic image noises (the ImageNet-C family), across their family modules: registration, tables, devices."""

import json

import pytest
import torch

from medrobust.noise import blur, compression, geometric, photometric, sensor
from medrobust.noise.catalogue import builtin_noises

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GENERIC = sensor.NOISES + blur.NOISES + photometric.NOISES + compression.NOISES + geometric.NOISES


def _rand(shape=(4, 1, 64, 64), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_generic_noises_are_registered_with_their_families_and_json_tables():
    families = {n.name: n.family for n in builtin_noises()}
    assert {n.name: families.get(n.name) for n in GENERIC} == {
        "gaussian_noise": "noise", "shot_noise": "noise", "impulse_noise": "noise", "speckle_noise": "noise",
        "gaussian_blur": "blur", "defocus_blur": "blur", "motion_blur": "blur", "zoom_blur": "blur",
        "brightness": "intensity", "contrast": "intensity", "gamma": "intensity",
        "jpeg": "compression", "pixelate": "digital", "elastic": "geometric"}
    for noise in GENERIC:
        assert json.loads(json.dumps(list(noise.table))) == list(noise.table)
        assert noise.description.endswith(".")
        assert len(noise.description) < 120 or noise.name == "jpeg"  # jpeg also says how it is coded


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", GENERIC, ids=lambda n: n.name)
def test_runs_on_the_device_of_its_input_and_keeps_dtype(noise, device):
    for dtype in (torch.float32, torch.float64):
        images = _rand((3, 3, 40, 57)).to(device=device, dtype=dtype)
        out = noise.apply(images, noise.params(4, seed=3))
        assert out.device == images.device and out.dtype == dtype and out.shape == images.shape
        assert torch.equal(out, noise.apply(images, noise.params(4, seed=3)))
