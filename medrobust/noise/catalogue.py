"""The built-in noise catalogue: the modules that declare noises, and the catalogue's fixed order.

The order is part of the catalogue's contract: hypothesis draws noises by their
position in :func:`builtin_noises`, so reordering it would change every
generated composition (and the examples a database replays). New noises go at
the end of their group in :data:`CATALOGUE_ORDER`; nothing moves.
"""

from __future__ import annotations

import importlib

from .base import Noise

__all__ = ["CATALOGUE_MODULES", "CATALOGUE_ORDER", "builtin_noises"]

#: Every module whose ``NOISES`` are built in.
CATALOGUE_MODULES = (
    # generic image corruptions (the ImageNet-C family), by kind
    "medrobust.noise.sensor",
    "medrobust.noise.blur",
    "medrobust.noise.photometric",
    "medrobust.noise.compression",
    "medrobust.noise.geometric",
    # acquisition physics by modality, then display and capture
    "medrobust.noise.mri",
    "medrobust.noise.ct",
    "medrobust.noise.radiography",
    "medrobust.noise.ultrasound",
    "medrobust.noise.display",
    # text
    "medrobust.noise.text",
    "medrobust.noise.text_misspelling",
    "medrobust.noise.text_segmentation",
    "medrobust.noise.text_abbreviations",
    "medrobust.noise.text_format",
)

#: Noise names in catalogue order: image noises first (the first three, the rest of the generic
#: family, acquisition physics by modality, display), then text.
CATALOGUE_ORDER = (
    "gaussian_noise", "gaussian_blur", "jpeg",
    "shot_noise", "impulse_noise", "speckle_noise", "defocus_blur", "motion_blur", "zoom_blur",
    "brightness", "contrast", "gamma", "pixelate", "elastic",
    "mri_motion", "mri_ghosting", "mri_spike", "mri_undersampling", "mri_rician_noise", "mri_bias_field",
    "mri_gibbs_ringing",
    "ct_low_dose", "ct_metal_streaks", "ct_rings",
    "quantum_mottle", "grid_lines", "under_exposure", "over_exposure", "scatter_haze",
    "ultrasound_speckle", "acoustic_shadowing",
    "bit_depth", "window_clipping", "scanned_film_moire", "burned_in_text",
    "char_typos", "word_dropout",
    "keyboard_typos", "ocr_confusions", "asr_homophones", "split_words", "merge_words", "medical_abbreviations",
    "clinical_misspellings", "word_order_swaps", "casing_noise", "punctuation_noise", "whitespace_noise",
    "unicode_homoglyphs",
)


def builtin_noises() -> tuple[Noise, ...]:
    """Every built-in noise, in :data:`CATALOGUE_ORDER`.

    Raises:
        ValueError: A module declares a noise twice or one missing from the order, or the order
            names a noise no module declares.
    """
    declared: dict[str, Noise] = {}
    for module in CATALOGUE_MODULES:
        for noise in importlib.import_module(module).NOISES:
            if noise.name in declared:
                raise ValueError(f"noise {noise.name!r} is declared twice ({module})")
            declared[noise.name] = noise
    unordered = sorted(set(declared) - set(CATALOGUE_ORDER))
    undeclared = sorted(set(CATALOGUE_ORDER) - set(declared))
    if unordered or undeclared or len(set(CATALOGUE_ORDER)) != len(CATALOGUE_ORDER):
        raise ValueError(f"the catalogue order and the declared noises differ: not in CATALOGUE_ORDER "
                         f"{unordered}, declared by no module {undeclared}, or a name listed twice")
    return tuple(declared[name] for name in CATALOGUE_ORDER)
