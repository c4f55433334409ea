"""Named groups of noises for specs: ``all``, ``image``, ``text`` and curated presets."""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

__all__ = ["PRESETS", "resolve_noises"]

# Curated presets: name -> ordered noise names.
PRESETS: dict[str, tuple[str, ...]] = {
    "first-slice": ("gaussian_noise", "gaussian_blur", "jpeg", "char_typos", "word_dropout"),
    # ``imc-11`` stands for the 11-noise image + text benchmark of "Perceive and Calibrate"
    # (arXiv 2512.21964), whose exact list is not public. Ours: six image noises that apply to
    # every imaging modality (so one preset serves chest radiographs, CT, MRI and fundus photos
    # alike) and five text noises from the ways clinical questions really get corrupted.
    "imc-11": (
        "gaussian_noise",         # sensor / read-out noise at low signal
        "impulse_noise",          # dead or hot detector pixels, transmission bit errors
        "motion_blur",            # patient or camera motion during the exposure
        "jpeg",                   # lossy export from PACS, messaging, screenshots
        "contrast",               # poor exposure or a flat display window
        "pixelate",               # low-resolution acquisition or thumbnails
        "keyboard_typos",         # hurried typing
        "ocr_confusions",         # questions scanned from paper requests
        "asr_homophones",         # dictated questions
        "clinical_misspellings",  # misspelled anatomy and drug names
        "word_dropout",           # terse or truncated questions
    ),
}


def resolve_noises(selection: Union[str, Sequence[str]], noises: Mapping[str, Any]) -> list[str]:
    """Noise names for a preset name, a modality (``image``/``text``), ``all`` or a list of names."""
    if isinstance(selection, str):
        if selection == "all":
            return list(noises)
        if selection in ("image", "text"):
            return [n for n in noises if noises[n].modality == selection]
        if selection in PRESETS:
            names = list(PRESETS[selection])
        elif selection in noises:
            names = [selection]
        else:
            raise ValueError(f"unknown noise or preset {selection!r}; presets: all, image, text, "
                             f"{', '.join(sorted(PRESETS))}; noises: {', '.join(sorted(noises))}")
    elif isinstance(selection, (list, tuple)):
        names = [str(n) for n in selection]
    else:
        raise ValueError(f"expected a preset name or a list of noise names, got {selection!r}")
    for name in names:
        noises[name]  # unknown names fail listing the registry
    return names
