"""Typed options for plugins: ``--model-option`` / ``--calibrator-option`` strings to values."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

__all__ = ["parse_options"]

_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


def parse_options(owner: str, options: Mapping[str, Any], defaults: Mapping[str, Any],
                  choices: Optional[Mapping[str, Sequence[Any]]] = None) -> dict[str, Any]:
    """``defaults`` updated with ``options``, each value converted to its default's type.

    Args:
        owner: Plugin name for messages, e.g. ``"imc-pdc"``.
        options: What the user gave (strings from the command line, or values).
        defaults: Every known option with its default; its type is the option's type.
        choices: Allowed values of some options.

    Raises:
        ValueError: Naming the plugin, the option and what is expected.
    """
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"{owner}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(defaults))}")
    out = dict(defaults)
    for key, value in options.items():
        kind = type(defaults[key])
        try:
            if isinstance(value, (list, tuple)) and kind is str:
                value = ",".join(str(v) for v in value)
            if kind is bool and isinstance(value, str):
                word = value.strip().lower()
                if word not in _TRUE + _FALSE:
                    raise ValueError(value)
                out[key] = word in _TRUE
            elif kind is str:
                out[key] = str(value).strip()
            else:
                out[key] = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: option {key}={value!r} is not a {kind.__name__}") from None
    for key, allowed in (choices or {}).items():
        if out[key] not in allowed:
            raise ValueError(f"{owner}: option {key} must be one of {', '.join(map(str, allowed))}, "
                             f"got {out[key]!r}")
    return out
