"""medrobust: certify how robust medical multi-modal LLMs are to real-world noise.

This module is the public API: what plugin authors and spec writers use. Every
other module is internal and may change without notice. Heavy parts (torch,
the noise catalogue) load on first use, so that importing medrobust stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from .errors import (DatasetError, DuplicateNameError, MedrobustError, MissingCapability, ModelOutputError,
                     OptionError, PluginError, ProtocolError, ReplayError, RobustnessFailure, SpecError,
                     UnknownNameError, UnreadableCertificate)
from .hookspecs import Register
from .sample import Sample, image_digest

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("medrobust")
"""Marker for medrobust hook implementations in plugins."""

_LAZY = {
    # the plugin contract
    "CAPABILITIES": "medrobust.contract",
    "Capabilities": "medrobust.contract",
    "Model": "medrobust.contract",
    "FeatureHookModel": "medrobust.contract",
    "FreeGenerationModel": "medrobust.contract",
    "TokenScoringModel": "medrobust.contract",
    "FeatureTransform": "medrobust.contract",
    "Calibrator": "medrobust.contract",
    "Dataset": "medrobust.contract",
    "capabilities_of": "medrobust.contract",
    "describe_model": "medrobust.contract",
    # noises and compositions
    "Noise": "medrobust.noise",
    "ImageNoise": "medrobust.noise",
    "TextNoise": "medrobust.noise",
    "SEVERITY_LEVELS": "medrobust.noise",
    "derive_seed": "medrobust.noise",
    "Composition": "medrobust.noise",
    "NoiseStep": "medrobust.noise",
    "AppliedNoise": "medrobust.noise",
    "apply_composition": "medrobust.noise",
    "image_to_tensor": "medrobust.noise",
    "tensor_to_image": "medrobust.noise",
    "tokenize": "medrobust.noise",
    "is_protected": "medrobust.noise",
    "resolve_noises": "medrobust.noise",
    # spec writing
    "compositions": "medrobust.strategies",
    "severities": "medrobust.strategies",
    "image_noises": "medrobust.strategies",
    "text_noises": "medrobust.strategies",
    "Bench": "medrobust.run.checks",
    # metrics
    "Metric": "medrobust.run.metrics",
    "Estimate": "medrobust.run.metrics",
    "METRICS": "medrobust.run.metrics",
    "normalize_answer": "medrobust.run.metrics",
    "closed_answer": "medrobust.run.metrics",
    # plugins
    "parse_options": "medrobust.run.keyvalue",
    "load_plugins": "medrobust.run.plugins",
    "PluginHost": "medrobust.run.plugins",
    # the embedded dataset
    "PhantomVQA": "medrobust.data.phantom",
    "PhantomQuestions": "medrobust.data.phantom",
    "phantom_questions": "medrobust.data.phantom",
}

__all__ = [
    "__version__", "hookimpl", "Register", "Sample", "image_digest",
    "MedrobustError", "PluginError", "UnknownNameError", "DuplicateNameError", "MissingCapability", "OptionError",
    "DatasetError", "SpecError", "ProtocolError", "ModelOutputError", "RobustnessFailure", "ReplayError",
    "UnreadableCertificate",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'medrobust' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
