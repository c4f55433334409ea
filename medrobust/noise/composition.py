"""Compositions: ordered noises applied to one sample, recorded and replayable."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from ..sample import Sample
from .base import SEVERITY_LEVELS, ImageNoise, Noise, TextNoise, derive_seed

__all__ = ["NoiseStep", "Composition", "AppliedNoise", "apply_composition", "replay",
           "image_to_tensor", "tensor_to_image"]


@dataclasses.dataclass(frozen=True, order=True)
class NoiseStep:
    """One noise at one severity level."""

    name: str
    severity: int

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_LEVELS:
            raise ValueError(f"severity of {self.name!r} must be 1-5, got {self.severity!r}")

    def __str__(self) -> str:
        return f"{self.name}@{self.severity}"


@dataclasses.dataclass(frozen=True)
class Composition:
    """An ordered tuple of noise steps; the empty composition is the clean input."""

    steps: tuple[NoiseStep, ...] = ()

    @classmethod
    def of(cls, *steps: "NoiseStep | tuple[str, int] | str") -> "Composition":
        """Build from steps, ``(name, severity)`` pairs or ``"name@severity"`` strings."""
        return cls(tuple(_as_step(s) for s in steps))

    @property
    def is_clean(self) -> bool:
        return not self.steps

    @property
    def key(self) -> str:
        """A short stable text key, e.g. ``gaussian_noise@3+char_typos@2`` (``clean`` if empty)."""
        return "+".join(str(s) for s in self.steps) or "clean"

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-ready form: a list of ``{"name", "severity"}`` objects."""
        return [{"name": s.name, "severity": s.severity} for s in self.steps]

    def to_json_text(self) -> str:
        """Canonical JSON text (sorted keys, no spaces)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: "str | Sequence[Mapping[str, Any]]") -> "Composition":
        """Inverse of :meth:`to_json` / :meth:`to_json_text`."""
        if isinstance(data, str):
            data = json.loads(data)
        return cls(tuple(NoiseStep(str(d["name"]), int(d["severity"])) for d in data))

    def __str__(self) -> str:
        return " + ".join(str(s) for s in self.steps) or "clean"


def _as_step(step: "NoiseStep | tuple[str, int] | str") -> NoiseStep:
    if isinstance(step, NoiseStep):
        return step
    if isinstance(step, str):
        name, _, severity = step.partition("@")
        return NoiseStep(name, int(severity or 1))
    return NoiseStep(step[0], int(step[1]))


@dataclasses.dataclass(frozen=True)
class AppliedNoise:
    """The record of one application: enough to replay it without the run seed."""

    name: str
    version: str
    modality: str
    severity: int
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "modality": self.modality,
                "severity": self.severity, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AppliedNoise":
        return cls(data["name"], str(data["version"]), data["modality"], int(data["severity"]),
                   dict(data["params"]))


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL ``L``/``RGB`` image to a float tensor ``[1, C, H, W]`` in [0, 1]."""
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def tensor_to_image(tensor: torch.Tensor, mode: str) -> Image.Image:
    """Inverse of :func:`image_to_tensor`, rounding to 8 bits."""
    arr = (tensor[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr, mode=mode)


def apply_composition(sample: Sample, composition: Composition,
                      noises: Mapping[str, Noise], run_seed: int) -> tuple[Sample, list[AppliedNoise]]:
    """Apply ``composition`` to ``sample``; each step's seed derives from
    (run seed, sample id, position, noise name, severity)."""
    records = []
    for position, step in enumerate(composition.steps):
        noise = _lookup(noises, step.name)
        seed = derive_seed(run_seed, sample.id, position, step.name, step.severity)
        records.append(AppliedNoise(step.name, noise.version, noise.modality, step.severity,
                                    noise.params(step.severity, seed)))
    return replay(sample, records, noises), records


def replay(sample: Sample, records: Iterable[AppliedNoise], noises: Mapping[str, Noise]) -> Sample:
    """Re-apply recorded noises in order; bit-identical to the original application."""
    records = list(records)
    question = sample.question
    tensor = None
    for record in records:
        noise = _lookup(noises, record.name)
        if noise.version != record.version:
            raise ValueError(f"noise {record.name!r} is version {noise.version} here but the record "
                             f"was made with version {record.version}; replay needs the same version")
        if isinstance(noise, ImageNoise):
            if tensor is None:
                tensor = image_to_tensor(sample.image)
            tensor = noise.apply(tensor, record.params)
        elif isinstance(noise, TextNoise):
            question = noise.apply(question, record.params)
    if tensor is None and question == sample.question:
        return sample
    image = sample.image if tensor is None else tensor_to_image(tensor, sample.image.mode)
    return sample.replace(image=image, question=question)


def _lookup(noises: Mapping[str, Noise], name: str) -> Noise:
    try:
        return noises[name]
    except KeyError:
        raise KeyError(f"unknown noise {name!r}; registered noises: {', '.join(sorted(noises))}") from None
