"""The built-in noise catalogue: every module that declares noises, in catalogue order."""

from __future__ import annotations

import importlib

from .base import Noise

__all__ = ["CATALOGUE_MODULES", "builtin_noises"]

# image noises first (generic, then acquisition physics by modality, then display), then text
CATALOGUE_MODULES = (
    "medrobust.noise.image",
    "medrobust.noise.generic",
    "medrobust.noise.mri",
    "medrobust.noise.ct",
    "medrobust.noise.radiography",
    "medrobust.noise.ultrasound",
    "medrobust.noise.display",
    "medrobust.noise.text",
    "medrobust.noise.text_clinical",
)


def builtin_noises() -> tuple[Noise, ...]:
    """Every built-in noise, in catalogue order."""
    noises: list[Noise] = []
    for module in CATALOGUE_MODULES:
        noises.extend(importlib.import_module(module).NOISES)
    return tuple(noises)
