"""Named groups of noises for specs: ``all``, ``image``, ``text`` and curated presets."""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

__all__ = ["PRESETS", "resolve_noises"]

# Curated presets: name -> ordered noise names.
PRESETS: dict[str, tuple[str, ...]] = {
    "first-slice": ("gaussian_noise", "gaussian_blur", "jpeg", "char_typos", "word_dropout"),
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
