"""Declarative ``*.robust.yaml`` specs: parsing and validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from ..errors import SpecError
from ..noise import SEVERITY_LEVELS, Composition, NoiseStep, resolve_noises
from .yaml_load import DuplicateKeyError, load_yaml

__all__ = ["YamlSpec", "load_yaml_spec"]

_THRESHOLDS = ("max_drop", "min")
_KEYS = ("suite", "description", "dataset", "noises", "severities", "compositions", "expect")


@dataclasses.dataclass(frozen=True)
class YamlSpec:
    """A parsed declarative spec."""

    path: Path
    suite: str
    description: str
    dataset: Optional[str]
    compositions: tuple[Composition, ...]
    expect: Mapping[str, Mapping[str, float]]


def load_yaml_spec(path: Path, noises: Mapping[str, Any], metrics: Mapping[str, Any]) -> YamlSpec:
    """Read and validate a spec file against the registered noises and metrics."""
    where = str(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a spec is a mapping with keys {', '.join(_KEYS)}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}")
    if "expect" not in data or not isinstance(data["expect"], dict) or not data["expect"]:
        raise SpecError(f"{where}: 'expect' must map metric names to thresholds, "
                        f"e.g. expect: {{closed_accuracy: {{max_drop: 0.1}}}}")
    expect = {}
    for metric, threshold in data["expect"].items():
        if metric not in metrics:
            raise SpecError(f"{where}: expect: unknown metric {metric!r}; "
                            f"registered metrics: {', '.join(sorted(metrics))}")
        if not isinstance(threshold, dict) or not threshold or set(threshold) - set(_THRESHOLDS):
            raise SpecError(f"{where}: expect.{metric} must be a mapping with max_drop and/or min")
        for key, value in threshold.items():
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise SpecError(f"{where}: expect.{metric}.{key} must be a number in [0, 1], got {value!r}")
        expect[metric] = {k: float(v) for k, v in threshold.items()}
    compositions: list[Composition] = []
    if "noises" in data:
        try:
            names = resolve_noises(data["noises"], noises)
        except (KeyError, ValueError) as exc:
            raise SpecError(f"{where}: noises: {exc}") from None
        levels = data.get("severities", list(SEVERITY_LEVELS))
        if not isinstance(levels, list) or not levels or any(s not in SEVERITY_LEVELS for s in levels):
            raise SpecError(f"{where}: severities must be a list of levels 1-5, got {levels!r}")
        compositions += [Composition((NoiseStep(n, s),)) for n in names for s in levels]
    for i, text in enumerate(data.get("compositions", []) or []):
        try:
            comp = Composition.parse(str(text))
            if comp.is_clean:
                raise ValueError("a composition needs at least one noise")
            for step in comp.steps:
                noises[step.name]
        except (KeyError, ValueError) as exc:
            raise SpecError(f"{where}: compositions[{i}] {text!r}: {exc}") from None
        compositions.append(comp)
    if not compositions:
        raise SpecError(f"{where}: declares no compositions; give 'noises' (and 'severities') "
                        f"or 'compositions'")
    return YamlSpec(path, str(data.get("suite") or path.stem), str(data.get("description") or ""),
                    data.get("dataset"), tuple(compositions), expect)
