"""Compositions applied to many samples at once, on the device the model runs on.

:func:`apply_composition_batch` gives every sample exactly the noisy sample and
the records that :func:`~medrobust.noise.composition.apply_composition` gives it
alone (each step's seed derives from the sample, never from its batch): samples
are grouped by image mode and size, each group is stacked into one tensor, and
each image noise is applied once per group with every sample's own parameters
(:meth:`~medrobust.noise.base.ImageNoise.apply_batch`).

On the CPU the result is bit for bit that of one-by-one application. On a GPU
the records are the same (parameters and seeds are resolved on the CPU), but
a random noise draws from CUDA's generator, which gives other numbers than the
CPU's for the same seed, and GPU kernels may round differently: a noisy image
made on a GPU is reproduced bit for bit only on the same kind of device; on
the CPU its replay is another draw of the same law, with the same parameters.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from ..sample import Sample
from ._image_tensor import batch_to_images, images_to_batch
from .base import ImageNoise, Noise, TextNoise
from .composition import AppliedNoise, Composition, _lookup, resolve_records

__all__ = ["apply_composition_batch", "CPU_BATCH_BYTES"]

CPU_BATCH_BYTES = 32 * 2 ** 20
"""Most float32 bytes of images stacked into one tensor on the CPU. glibc serves a larger block by a
fresh ``mmap`` whose every page faults on first touch: at 1024 x 1024 RGB a batch of 8 (100 MB) spent
more time faulting than in the noise. Below this size freed blocks are reused. On a GPU the whole
group is one tensor."""


def apply_composition_batch(samples: Sequence[Sample], composition: Composition, noises: Mapping[str, Noise],
                            run_seed: int, device: "str | torch.device" = "cpu"
                            ) -> list[tuple[Sample, list[AppliedNoise]]]:
    """``composition`` applied to each of ``samples``: ``(noisy sample, records)`` in their order.

    Args:
        device: Where the image noises run (``"cpu"``, ``"cuda"``, ``"cuda:1"``...); the noisy
            images come back as PIL images either way.
    """
    records = [resolve_records(s, composition, noises, run_seed) for s in samples]
    if composition.is_clean:
        return [(s, r) for s, r in zip(samples, records)]
    questions = [_noisy_question(s.question, r, noises) for s, r in zip(samples, records)]
    images: list[Any] = [s.image for s in samples]
    image_steps = [i for i, step in enumerate(composition.steps) if isinstance(_lookup(noises, step.name), ImageNoise)]
    if image_steps:
        for rows in _groups(samples, None if _on_gpu(device) else CPU_BATCH_BYTES):
            tensor = images_to_batch([samples[i].image for i in rows]).to(device)
            for position in image_steps:
                noise = noises[composition.steps[position].name]
                tensor = noise.apply_batch(tensor, [records[i][position].params for i in rows])
            for i, image in zip(rows, batch_to_images(tensor.cpu(), samples[rows[0]].image.mode)):
                images[i] = image
    return [(s if img is s.image and q == s.question else s.replace(image=img, question=q), r)
            for s, img, q, r in zip(samples, images, questions, records)]


def _noisy_question(question: str, records: Sequence[AppliedNoise], noises: Mapping[str, Noise]) -> str:
    for record in records:
        noise = noises[record.name]
        if isinstance(noise, TextNoise):
            question = noise.apply(question, record.params)
    return question


def _groups(samples: Sequence[Sample], max_bytes: "int | None") -> list[list[int]]:
    """Sample positions by image mode and size (the images one tensor can hold), each group cut into
    parts of at most ``max_bytes`` of float32 (at least one image)."""
    groups: dict[tuple[str, tuple[int, int]], list[int]] = {}
    for i, sample in enumerate(samples):
        groups.setdefault((sample.image.mode, sample.image.size), []).append(i)
    if max_bytes is None:
        return list(groups.values())
    parts = []
    for (_, (width, height)), rows in groups.items():
        per_image = 4 * width * height * len(samples[rows[0]].image.getbands())
        step = max(1, max_bytes // per_image)
        parts += [rows[start:start + step] for start in range(0, len(rows), step)]
    return parts


def _on_gpu(device: "str | torch.device") -> bool:
    return torch.device(device).type != "cpu"

