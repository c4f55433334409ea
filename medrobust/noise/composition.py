"""Compositions: ordered noises applied to one sample, recorded and replayable."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Iterable, Mapping, Sequence

from .._canonical import canonical_json
from ..sample import Sample
from ._image_tensor import image_to_tensor, tensor_to_image
from .base import SEVERITY_LEVELS, ImageNoise, Noise, TextNoise, derive_seed

__all__ = ["NoiseStep", "Composition", "AppliedNoise", "apply_composition", "resolve_records", "replay",
           "image_to_tensor", "tensor_to_image", "COMPOSITION_FORMS"]

#: What :meth:`Composition.parse` accepts, quoted in its errors.
COMPOSITION_FORMS = ('expected "" or "clean" (no noise), "name@3+other@1" (severity 1-5; "name" alone '
                     'means "name@1"), or the JSON list [{"name": "...", "severity": 3}, ...] that '
                     'Composition.to_json_text writes')
_SEVERITY = re.compile(r"[0-9]+")


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

    @classmethod
    def parse(cls, text: str) -> "Composition":
        """The composition a text names: the one parser for specs, the command line and the bench.

        Accepted forms (surrounding whitespace ignored):

        * ``""`` or ``"clean"``: the empty composition.
        * ``"name@3+other@1"``: steps joined by ``+`` (spaces around ``+`` allowed, so
          :attr:`key` and ``str()`` both parse back); ``"name"`` alone means severity 1.
        * ``'[{"name": "name", "severity": 3}]'``: the JSON that :meth:`to_json_text` writes.

        Raises:
            ValueError: The text is none of these forms, or a severity is not 1-5; the message
                quotes the text and says which forms are expected.
        """
        if not isinstance(text, str):
            raise TypeError(f"Composition.parse takes a text, got {type(text).__name__}")
        stripped = text.strip()
        if stripped in ("", "clean"):
            return cls()
        if stripped.startswith("["):
            return cls(_steps_from_json_text(stripped, text))
        return cls(tuple(_parse_step(part, text) for part in stripped.split("+")))

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
        """Canonical JSON text (sorted keys, no spaces; :func:`medrobust._canonical.canonical_json`)."""
        return canonical_json(self.to_json())

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
        return _parse_step(step, step)
    return NoiseStep(step[0], int(step[1]))


def _parse_step(part: str, text: str) -> NoiseStep:
    """One ``name@severity`` (or bare ``name``: severity 1) of the composition ``text``."""
    name, at, severity = part.strip().partition("@")
    if not name or any(c.isspace() or c in "[]{}\"" for c in name) or (at and not _SEVERITY.fullmatch(severity)):
        raise ValueError(f"malformed composition {text!r}: step {part.strip()!r} is not name@severity; "
                         f"{COMPOSITION_FORMS}")
    try:
        return NoiseStep(name, int(severity) if at else 1)
    except ValueError as exc:
        raise ValueError(f"composition {text!r}: {exc}") from None


def _steps_from_json_text(stripped: str, text: str) -> tuple[NoiseStep, ...]:
    """The steps of a composition's JSON text: a list of ``{"name": str, "severity": int}`` objects."""
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed composition {text!r}: not valid JSON ({exc.msg} at character "
                         f"{exc.pos}); {COMPOSITION_FORMS}") from None
    if not isinstance(data, list):
        raise ValueError(f"malformed composition {text!r}: JSON must be a list; {COMPOSITION_FORMS}")
    steps = []
    for i, item in enumerate(data):
        if (not isinstance(item, dict) or set(item) != {"name", "severity"} or not isinstance(item["name"], str)
                or not item["name"] or isinstance(item["severity"], bool) or not isinstance(item["severity"], int)):
            raise ValueError(f"malformed composition {text!r}: item {i} is not an object with exactly a "
                             f"non-empty string \"name\" and an integer \"severity\"; {COMPOSITION_FORMS}")
        try:
            steps.append(NoiseStep(item["name"], item["severity"]))
        except ValueError as exc:
            raise ValueError(f"composition {text!r}: {exc}") from None
    return tuple(steps)


@dataclasses.dataclass(frozen=True)
class AppliedNoise:
    """The record of one application: enough to replay it without the run seed."""

    name: str
    version: str
    modality: str
    severity: int
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form. The 63-bit ``seed`` is written as a decimal string: JSON numbers beyond
        2**53 are not exact in every reader (RFC 8785 appendix D), and one type for every seed is
        simpler to read than a number that turns into a string for most seeds."""
        params = dict(self.params)
        if "seed" in params:
            params["seed"] = str(params["seed"])
        return {"name": self.name, "version": self.version, "modality": self.modality,
                "severity": self.severity, "params": params}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AppliedNoise":
        """Inverse of :meth:`to_json` (also reads records whose seed is a JSON number)."""
        params = dict(data["params"])
        if "seed" in params:
            params["seed"] = int(params["seed"])
        return cls(data["name"], str(data["version"]), data["modality"], int(data["severity"]), params)


def resolve_records(sample: Sample, composition: Composition,
                    noises: Mapping[str, Noise], run_seed: int) -> list[AppliedNoise]:
    """The records of ``composition`` on ``sample``: each step with its resolved parameters and its
    seed, derived from (run seed, sample id, position, noise name, severity)."""
    records = []
    for position, step in enumerate(composition.steps):
        noise = _lookup(noises, step.name)
        seed = derive_seed(run_seed, sample.id, position, step.name, step.severity)
        records.append(AppliedNoise(step.name, noise.version, noise.modality, step.severity,
                                    noise.params(step.severity, seed)))
    return records


def apply_composition(sample: Sample, composition: Composition,
                      noises: Mapping[str, Noise], run_seed: int) -> tuple[Sample, list[AppliedNoise]]:
    """Apply ``composition`` to ``sample`` (see :func:`resolve_records` for the seeds)."""
    records = resolve_records(sample, composition, noises, run_seed)
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
