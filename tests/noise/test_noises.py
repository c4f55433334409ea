"""Every registered noise: seeded, pure, graded by severity, shape- and range-preserving, replayable."""

import numpy as np
import pytest
import textdistance
import torch
from skimage.metrics import structural_similarity

from medrobust.run.plugins import load_plugins
from medrobust.noise import Composition, apply_composition, image_to_tensor, replay
from medrobust.noise.text import is_protected

HOST = load_plugins()
IMAGE = [n for n in HOST.noises if HOST.noises[n].modality == "image"]
TEXT = [n for n in HOST.noises if HOST.noises[n].modality == "text"]


@pytest.fixture(scope="module")
def samples():
    from medrobust.data.phantom import PhantomVQA

    return PhantomVQA({}).samples("test")[:24]


def _images(samples):
    return torch.cat([image_to_tensor(s.image) for s in samples])


@pytest.mark.parametrize("name", IMAGE)
def test_image_noise_same_seed_same_output_and_seed_matters(name, samples):
    noise, images = HOST.noises[name], _images(samples)
    a = noise.apply(images.clone(), noise.params(3, seed=11))
    b = noise.apply(images.clone(), noise.params(3, seed=11))
    c = noise.apply(images.clone(), noise.params(3, seed=12))
    assert torch.equal(a, b)
    assert torch.equal(a, c) != noise.random


@pytest.mark.parametrize("name", IMAGE)
@pytest.mark.parametrize("channels,size", [(1, (64, 64)), (3, (40, 57))])
def test_image_noise_keeps_shape_dtype_and_range(name, channels, size):
    images = torch.rand(2, channels, *size, generator=torch.Generator().manual_seed(0))
    out = HOST.noises[name].apply(images, HOST.noises[name].params(5, seed=1))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, images)


@pytest.mark.parametrize("name", IMAGE)
def test_image_noise_ssim_falls_with_severity(name, samples):
    noise, images = HOST.noises[name], _images(samples)
    clean = images.numpy()
    means = []
    for level in range(1, 6):
        noisy = noise.apply(images.clone(), noise.params(level, seed=5)).numpy()
        means.append(np.mean([structural_similarity(c[0], n[0], data_range=1.0) for c, n in zip(clean, noisy)]))
    assert all(a > b for a, b in zip(means, means[1:])), means
    assert means[0] < 1.0


def test_gaussian_noise_has_the_declared_standard_deviation():
    noise = HOST.noises["gaussian_noise"]
    images = torch.full((4, 1, 64, 64), 0.5)
    for level in range(1, 6):
        sigma = noise.table[level - 1]["sigma"]
        residual = noise.apply(images.clone(), noise.params(level, seed=level)) - images
        if sigma < 0.2:  # clipping at 0 and 1 shrinks larger sigmas
            assert residual.std().item() == pytest.approx(sigma, rel=0.05)
        assert abs(residual.mean().item()) < sigma / 10


def test_gaussian_blur_preserves_mean_and_removes_high_frequencies():
    noise = HOST.noises["gaussian_blur"]
    checker = (torch.arange(64).view(1, -1) + torch.arange(64).view(-1, 1)) % 2
    images = checker.float().view(1, 1, 64, 64) * 0.6 + 0.2
    out = noise.apply(images, noise.params(3, seed=0))
    assert out.mean().item() == pytest.approx(images.mean().item(), abs=1e-3)
    assert out.std().item() < images.std().item() / 10


@pytest.mark.parametrize("name", TEXT)
def test_text_noise_is_seeded_graded_and_spares_protected_tokens(name, samples):
    noise = HOST.noises[name]
    questions = [s.question for s in samples] + [
        "Is there no lesion in the left lung?", "Are there 3 nodules larger than 5 mm on the right?"]
    similarities = []
    for level in range(1, 6):
        noisy = [noise.apply(q, noise.params(level, seed=i)) for i, q in enumerate(questions)]
        again = [noise.apply(q, noise.params(level, seed=i)) for i, q in enumerate(questions)]
        assert noisy == again
        for q, n in zip(questions, noisy):
            if not noise.protects_tokens:
                break
            # protected tokens survive, in order, and no new ones appear
            assert [t for t in n.split() if is_protected(t)] == [t for t in q.split() if is_protected(t)], (q, n)
        similarities.append(np.mean([textdistance.levenshtein.normalized_similarity(q, n)
                                     for q, n in zip(questions, noisy)]))
    assert all(a > b for a, b in zip(similarities, similarities[1:])), similarities
    other = [noise.apply(q, noise.params(5, seed=i + 100)) for i, q in enumerate(questions)]
    assert other != [noise.apply(q, noise.params(5, seed=i)) for i, q in enumerate(questions)]


@pytest.mark.parametrize("word", ["no", "not", "left", "Right", "3", "5mm", "mm", "without,"])
def test_protected_tokens(word):
    assert is_protected(word)


def test_replaying_a_recorded_composition_is_bit_identical(samples):
    comp = Composition.of("gaussian_noise@4", "char_typos@3", "jpeg@2", "word_dropout@2", "gaussian_blur@1")
    for sample in samples[:6]:
        noisy, records = apply_composition(sample, comp, HOST.noises, run_seed=7)
        again = replay(sample, records, HOST.noises)
        assert noisy.image.tobytes() == again.image.tobytes() and noisy.question == again.question
        assert [r.to_json() for r in records] == [type(r).from_json(r.to_json()).to_json() for r in records]
        assert noisy.image.tobytes() != sample.image.tobytes()


def test_seeds_differ_per_sample_and_per_run(samples):
    comp = Composition.of("gaussian_noise@3")
    a = apply_composition(samples[0], comp, HOST.noises, run_seed=1)[1][0].params["seed"]
    b = apply_composition(samples[1], comp, HOST.noises, run_seed=1)[1][0].params["seed"]
    c = apply_composition(samples[0], comp, HOST.noises, run_seed=2)[1][0].params["seed"]
    assert len({a, b, c}) == 3


def test_composition_json_round_trip_and_key():
    comp = Composition.of(("jpeg", 2), "char_typos@5")
    assert Composition.from_json(comp.to_json_text()) == comp
    assert comp.key == "jpeg@2+char_typos@5" and str(Composition()) == "clean"
    with pytest.raises(ValueError, match="severity of 'jpeg' must be 1-5"):
        Composition.of("jpeg@6")


def test_derived_parameters_are_recorded_and_replayed(samples):
    comp = Composition.of("motion_blur@4")
    noisy, records = apply_composition(samples[0], comp, HOST.noises, run_seed=3)
    angle = records[0].params["angle"]
    assert 0 <= angle < 180
    # the recorded angle, not the seed, drives the replay
    tampered = [type(records[0])(r.name, r.version, r.modality, r.severity, {**r.params, "angle": angle + 90})
                for r in records]
    assert replay(samples[0], records, HOST.noises).image.tobytes() == noisy.image.tobytes()
    assert replay(samples[0], tampered, HOST.noises).image.tobytes() != noisy.image.tobytes()


def test_imc_11_preset_is_eleven_registered_image_and_text_noises():
    from medrobust.noise.presets import PRESETS, resolve_noises

    names = resolve_noises("imc-11", HOST.noises)
    assert len(names) == len(set(names)) == 11 == len(PRESETS["imc-11"])
    modalities = [HOST.noises[n].modality for n in names]
    assert modalities.count("image") == 6 and modalities.count("text") == 5
    assert resolve_noises("text", HOST.noises) == TEXT
    with pytest.raises(ValueError, match="unknown noise or preset 'imc-12'"):
        resolve_noises("imc-12", HOST.noises)


def test_the_catalogue_is_large_enough():
    assert len(IMAGE) >= 30 and len(TEXT) >= 12
    families = {HOST.noises[n].family for n in IMAGE}
    assert {"mri", "ct", "radiography", "ultrasound", "display", "blur", "noise"} <= families


def test_every_noise_says_where_it_arises_clinically():
    # the certificate quotes the rationale; a placeholder or a copy of the description says nothing
    short = {n: HOST.noises[n].rationale for n in HOST.noises if len(HOST.noises[n].rationale.split()) < 8}
    assert not short, f"noises without a clinical rationale of at least a sentence: {short}"
    copies = [n for n in HOST.noises if HOST.noises[n].rationale.strip() == HOST.noises[n].description.strip()]
    assert not copies
    rationales = [HOST.noises[n].rationale for n in HOST.noises]
    assert len(set(rationales)) == len(rationales), "two noises share one rationale"
