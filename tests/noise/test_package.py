"""medrobust.noise's public surface: the names medrobust re-exports, importable on their own."""

import subprocess
import sys

import medrobust
import medrobust.noise

PUBLIC = ["Noise", "ImageNoise", "TextNoise", "SEVERITY_LEVELS", "derive_seed", "Composition", "NoiseStep",
          "AppliedNoise", "apply_composition", "replay", "image_to_tensor", "tensor_to_image", "tokenize",
          "is_protected", "resolve_noises"]


def test_the_package_exports_exactly_its_public_names():
    assert sorted(medrobust.noise.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(medrobust.noise, name) is not None


def test_medrobusts_lazy_names_from_the_noise_package_resolve_to_the_same_objects():
    shared = [name for name in PUBLIC if name in medrobust.__all__]
    assert len(shared) >= 10
    for name in shared:
        assert getattr(medrobust, name) is getattr(medrobust.noise, name)


def test_the_package_imports_first_in_a_fresh_interpreter():
    code = ("import medrobust.noise as n; from medrobust.noise.catalogue import builtin_noises; "
            "assert len(builtin_noises()) == 49; print(len(n.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(len(PUBLIC))
