"""medrobust: certify how robust medical multi-modal LLMs are to real-world noise.

The public API. Heavy parts (torch, noises) load on first use, so that
importing medrobust (as pytest does for every run) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from .hookspecs import Register
from .sample import Sample

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("medrobust")
"""Marker for medrobust hook implementations in plugins."""

_LAZY = {
    "Composition": "medrobust.noise.composition",
    "NoiseStep": "medrobust.noise.composition",
    "AppliedNoise": "medrobust.noise.composition",
    "ImageNoise": "medrobust.noise.base",
    "TextNoise": "medrobust.noise.base",
    "Metric": "medrobust.metrics",
    "compositions": "medrobust.strategies",
    "severities": "medrobust.strategies",
    "image_noises": "medrobust.strategies",
    "text_noises": "medrobust.strategies",
    "load_plugins": "medrobust.manager",
    "RobustnessFailure": "medrobust.bench",
    "parse_options": "medrobust.options",
}

__all__ = ["__version__", "hookimpl", "Register", "Sample", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'medrobust' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
