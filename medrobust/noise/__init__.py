"""Noises, compositions and their replay.

The public names here are what :mod:`medrobust` re-exports. The built-in noises
are declared in one module per family (``sensor``, ``blur``, ``mri``,
``text_format``...) and gathered, in a fixed order, by
:func:`medrobust.noise.catalogue.builtin_noises`.
"""

from ._image_tensor import image_to_tensor, tensor_to_image
from .base import SEVERITY_LEVELS, ImageNoise, Noise, TextNoise, derive_seed
from .composition import AppliedNoise, Composition, NoiseStep, apply_composition, replay
from .presets import resolve_noises
from .text import is_protected, tokenize

__all__ = ["Noise", "ImageNoise", "TextNoise", "SEVERITY_LEVELS", "derive_seed", "Composition", "NoiseStep",
           "AppliedNoise", "apply_composition", "replay", "image_to_tensor", "tensor_to_image", "tokenize",
           "is_protected", "resolve_noises"]
