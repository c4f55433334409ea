"""Batched noise: every sample gets exactly the noisy input and the records it gets alone (CPU)."""

import numpy as np
import pytest
from PIL import Image

from medrobust.noise import Composition, apply_composition
from medrobust.noise.batch import apply_composition_batch
from medrobust.run.plugins import load_plugins
from medrobust.sample import Sample

HOST = load_plugins()
IMAGE = [n for n in HOST.noises if HOST.noises[n].modality == "image"]
TEXT = [n for n in HOST.noises if HOST.noises[n].modality == "text"]


def _image(seed: int, mode: str, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 90 * np.sin(x / (3 + seed)) * np.cos(y / 5) + rng.normal(0, 8, (h, w))
    gray = np.clip(base, 0, 255).astype(np.uint8)
    if mode == "L":
        return Image.fromarray(gray, "L")
    return Image.fromarray(np.stack([gray, gray[::-1], 255 - gray], axis=-1), "RGB")


def _samples(layout):
    return [Sample(f"s/{i}", _image(i, mode, size), "is there a left lung nodule in this ct image?", "yes",
                   "closed") for i, (mode, size) in enumerate(layout)]


#: Three sizes and both modes in one batch, two samples sharing each (mode, size), non-square.
MIXED = [("L", (40, 32)), ("RGB", (40, 32)), ("L", (40, 32)), ("L", (33, 47)), ("RGB", (40, 32)), ("L", (33, 47))]


def _assert_same_as_alone(samples, composition, run_seed=11):
    batched = apply_composition_batch(samples, composition, HOST.noises, run_seed)
    assert len(batched) == len(samples)
    for sample, (noisy, records) in zip(samples, batched):
        alone, alone_records = apply_composition(sample, composition, HOST.noises, run_seed)
        assert records == alone_records, composition
        assert noisy.question == alone.question
        assert noisy.image.mode == alone.image.mode and noisy.image.size == alone.image.size
        assert np.array_equal(np.asarray(noisy.image), np.asarray(alone.image)), (composition.key, sample.id)
    return batched


@pytest.mark.parametrize("severity", [1, 4])
@pytest.mark.parametrize("name", IMAGE)
def test_every_image_noise_batched_equals_one_by_one(name, severity):
    samples = _samples(MIXED)
    batched = _assert_same_as_alone(samples, Composition.of((name, severity)))
    # the noise really acted, so the equality above compared noisy images
    changed = [not np.array_equal(np.asarray(n.image), np.asarray(s.image)) for s, (n, _) in zip(samples, batched)]
    assert any(changed), name


@pytest.mark.parametrize("name", TEXT)
def test_every_text_noise_batched_equals_one_by_one(name):
    _assert_same_as_alone(_samples(MIXED[:3]), Composition.of((name, 4)))


def test_compositions_of_image_and_text_noises_batched_equal_one_by_one():
    samples = _samples(MIXED)
    for text in ("jpeg@2+keyboard_typos@3+gaussian_noise@4", "word_dropout@2+motion_blur@3", "contrast@5+pixelate@2"):
        _assert_same_as_alone(samples, Composition.parse(text))


def test_the_clean_composition_returns_the_samples_themselves():
    samples = _samples(MIXED[:2])
    assert [n for n, _ in apply_composition_batch(samples, Composition(), HOST.noises, 0)] == samples


def test_a_batch_of_one_and_a_batch_in_another_order_agree():
    samples = _samples(MIXED)
    composition = Composition.parse("gaussian_noise@3+motion_blur@2")
    forward = apply_composition_batch(samples, composition, HOST.noises, 5)
    backward = apply_composition_batch(samples[::-1], composition, HOST.noises, 5)[::-1]
    for (a, ra), (b, rb) in zip(forward, backward):
        assert ra == rb and np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_apply_batch_refuses_a_parameter_count_that_does_not_match():
    import torch
    noise = HOST.noises["gaussian_noise"]
    with pytest.raises(ValueError, match="2 parameter sets for 3 images"):
        noise.apply_batch(torch.zeros(3, 1, 8, 8), [noise.params(1, 0), noise.params(1, 1)])


def test_large_images_are_stacked_in_parts_of_bounded_bytes_on_the_cpu_with_the_same_result(monkeypatch):
    import medrobust.noise.batch as batch_module

    samples = _samples([("RGB", (40, 32))] * 5 + [("L", (40, 32))] * 3)
    composition = Composition.of(("contrast", 3), ("gaussian_noise", 2))
    whole = apply_composition_batch(samples, composition, HOST.noises, 11)
    seen = []
    noise = HOST.noises["contrast"]
    original = type(noise).apply_batch

    def spy(self, images, params):
        if self.name == "contrast":
            seen.append(tuple(images.shape))
        return original(self, images, params)

    monkeypatch.setattr(batch_module, "CPU_BATCH_BYTES", 2 * 4 * 3 * 40 * 32)  # two RGB images' float32 bytes
    with monkeypatch.context() as patch:
        patch.setattr(type(noise), "apply_batch", spy)
        parts = apply_composition_batch(samples, composition, HOST.noises, 11)
    # RGB in parts of 2, 2, 1; the 3 gray images (a third of the bytes each) in one part
    assert sorted(shape[0] for shape in seen if shape[1] == 3) == [1, 2, 2]
    assert [shape[0] for shape in seen if shape[1] == 1] == [3]
    _assert_same_as_alone(samples, composition)
    assert all(np.array_equal(np.asarray(a.image), np.asarray(b.image)) for (a, _), (b, _) in zip(whole, parts))
