"""Declarative ``*.robust.yaml`` specs: parsing and validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from ..errors import SpecError
from ..noise import SEVERITY_LEVELS, Composition, NoiseStep, resolve_noises
from .yaml_load import DuplicateKeyError, load_yaml_lines

__all__ = ["YamlSpec", "load_yaml_spec", "item_name"]

_THRESHOLDS = ("max_drop", "min")
_KEYS = ("suite", "description", "dataset", "noises", "severities", "compositions", "expect")


def item_name(composition: Composition) -> str:
    """The pytest item name of one composition of a YAML spec: its key with ``-`` for ``@``, so that
    ``-k`` takes it (``gaussian_noise-2+char_typos-1``; ``-k`` refuses ``@``)."""
    return composition.key.replace("@", "-")


@dataclasses.dataclass(frozen=True)
class YamlSpec:
    """A parsed declarative spec."""

    path: Path
    suite: str
    description: str
    dataset: Optional[str]
    compositions: tuple[Composition, ...]
    expect: Mapping[str, Mapping[str, float]]


def load_yaml_spec(path: Path, noises: Mapping[str, Any], metrics: Mapping[str, Any],
                   datasets: Optional[Mapping[str, Any]] = None) -> YamlSpec:
    """Read and validate a spec file against the registered noises, metrics and datasets.

    Every key must be known and every value of its type; an error names the file and the line
    (``spec.robust.yaml:3: ...``). ``dataset``, when given, must be a registered dataset name
    (``datasets``: the registry; None skips that check).

    Raises:
        SpecError: The file and line, what is wrong and what is expected.
    """
    try:
        data, lines = load_yaml_lines(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    except DuplicateKeyError as exc:
        raise SpecError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None

    def at(*where: Any) -> str:
        """``file:line`` of the value at ``where`` (its closest enclosing value when it has no line)."""
        while where and where not in lines:
            where = where[:-1]
        return f"{path}:{lines[where]}" if where in lines else str(path)

    if not isinstance(data, dict):
        raise SpecError(f"{at()}: a spec is a mapping with keys {', '.join(_KEYS)}")
    unknown = sorted(map(str, set(map(str, data)) - set(_KEYS)))
    if unknown:
        raise SpecError(f"{at(unknown[0])}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}")
    for key in ("suite", "description", "dataset"):
        if key in data and not (isinstance(data[key], str) and data[key].strip()):
            raise SpecError(f"{at(key)}: {key} must be non-empty text, got {data[key]!r}")
    if "dataset" in data and datasets is not None and data["dataset"] not in datasets:
        raise SpecError(f"{at('dataset')}: dataset: unknown dataset {data['dataset']!r}; registered datasets: "
                        f"{', '.join(sorted(datasets))} (a spec names the dataset it is written for; leave "
                        f"'dataset' out for a spec that holds on any)")
    expect = _expect(data, metrics, at)
    compositions = _noises(data, noises, at) + _compositions(data, noises, at)
    if not compositions:
        raise SpecError(f"{at()}: declares no compositions; give 'noises' (and 'severities') "
                        f"or 'compositions'")
    return YamlSpec(path, str(data.get("suite") or path.stem), str(data.get("description") or ""),
                    data.get("dataset"), tuple(compositions), expect)


def _shown(value: Any) -> str:
    """A YAML value as a message shows it (a boolean as YAML writes it: YAML reads ``yes`` as true too)."""
    return f"{str(value).lower()} (a boolean)" if isinstance(value, bool) else repr(value)


def _expect(data: Mapping[str, Any], metrics: Mapping[str, Any], at: Any) -> dict[str, dict[str, float]]:
    if "expect" not in data or not isinstance(data["expect"], dict) or not data["expect"]:
        raise SpecError(f"{at('expect')}: 'expect' must map metric names to thresholds, "
                        f"e.g. expect: {{closed_accuracy: {{max_drop: 0.1}}}}")
    expect = {}
    for metric, threshold in data["expect"].items():
        if metric not in metrics:
            raise SpecError(f"{at('expect', str(metric))}: expect: unknown metric {metric!r}; "
                            f"registered metrics: {', '.join(sorted(metrics))}")
        if not isinstance(threshold, dict) or not threshold:
            raise SpecError(f"{at('expect', metric)}: expect.{metric} must be a mapping with max_drop and/or "
                            f"min, got {_shown(threshold)}")
        unknown = sorted(set(map(str, threshold)) - set(_THRESHOLDS))
        if unknown:
            raise SpecError(f"{at('expect', metric, unknown[0])}: expect.{metric}: unknown key(s) "
                            f"{', '.join(unknown)}; allowed: {', '.join(_THRESHOLDS)}")
        for key, value in threshold.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise SpecError(f"{at('expect', metric, key)}: expect.{metric}.{key} must be a number in "
                                f"[0, 1], got {_shown(value)}")
        expect[metric] = {k: float(v) for k, v in threshold.items()}
    return expect


def _noises(data: Mapping[str, Any], noises: Mapping[str, Any], at: Any) -> list[Composition]:
    if "noises" not in data:
        if "severities" in data:
            raise SpecError(f"{at('severities')}: severities apply to 'noises', which this spec does not give")
        return []
    given = data["noises"]
    if not (isinstance(given, str) or (isinstance(given, list) and all(isinstance(n, str) for n in given))):
        raise SpecError(f"{at('noises')}: noises must be a preset or noise name, or a list of noise names, "
                        f"got {given!r}")
    try:
        names = resolve_noises(given, noises)
    except (KeyError, ValueError) as exc:
        raise SpecError(f"{at('noises')}: noises: {exc}") from None
    levels = data.get("severities", list(SEVERITY_LEVELS))
    if not isinstance(levels, list) or not levels:
        raise SpecError(f"{at('severities')}: severities must be a list of levels 1-5, got {levels!r}")
    for i, level in enumerate(levels):
        if isinstance(level, bool) or not isinstance(level, int) or level not in SEVERITY_LEVELS:
            raise SpecError(f"{at('severities', i)}: severities must be a list of levels 1-5 (integers), "
                            f"got {_shown(level)}")
    return [Composition((NoiseStep(n, s),)) for n in names for s in levels]


def _compositions(data: Mapping[str, Any], noises: Mapping[str, Any], at: Any) -> list[Composition]:
    given = data.get("compositions")
    if given is None:
        return []
    if not isinstance(given, list):
        raise SpecError(f"{at('compositions')}: compositions must be a list of compositions as text, "
                        f"e.g. [gaussian_noise@2+char_typos@1], got {given!r}")
    out = []
    for i, text in enumerate(given):
        try:
            if not isinstance(text, str):
                raise ValueError(f"a composition is text, e.g. gaussian_noise@2+char_typos@1, "
                                 f"not {type(text).__name__}")
            comp = Composition.parse(text)
            if comp.is_clean:
                raise ValueError("a composition needs at least one noise")
            for step in comp.steps:
                noises[step.name]
        except (KeyError, ValueError) as exc:
            raise SpecError(f"{at('compositions', i)}: compositions[{i}] {text!r}: {exc}") from None
        out.append(comp)
    return out
