"""Noises, compositions and their replay."""

from .base import SEVERITY_LEVELS, ImageNoise, Noise, TextNoise, derive_seed
from .composition import (AppliedNoise, Composition, NoiseStep, apply_composition, image_to_tensor,
                          replay, tensor_to_image)

__all__ = ["SEVERITY_LEVELS", "ImageNoise", "Noise", "TextNoise", "derive_seed", "AppliedNoise",
           "Composition", "NoiseStep", "apply_composition", "image_to_tensor", "replay",
           "tensor_to_image"]
