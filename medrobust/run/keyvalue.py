"""``KEY=VALUE`` options: split from the command line, then typed for the plugin that takes them.

The one place where ``--model-option`` / ``--calibrator-option`` / ``--dataset-option``
strings are parsed: :func:`parse_key_values` splits them, :func:`parse_options`
(public, for plugins) converts them to the types of the plugin's defaults.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

from ..errors import OptionError

__all__ = ["parse_key_values", "parse_dataset", "parse_options"]

_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


def parse_key_values(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; the error names the flag.

    Raises:
        OptionError: A pair without ``=`` or with an empty key.
    """
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def parse_dataset(spec: str) -> tuple[str, Optional[str]]:
    """``"NAME[:PATH]"`` -> ``(name, path or None)``."""
    name, sep, path = spec.partition(":")
    return name, (path if sep and path else None)


def parse_options(owner: str, options: Mapping[str, Any], defaults: Mapping[str, Any],
                  choices: Optional[Mapping[str, Sequence[Any]]] = None) -> dict[str, Any]:
    """``defaults`` updated with ``options``, each value converted to its default's type.

    Args:
        owner: Plugin name for messages, e.g. ``"imc-pdc"``.
        options: What the user gave (strings from the command line, or values).
        defaults: Every known option with its default; its type is the option's type.
        choices: Allowed values of some options.

    Raises:
        OptionError: Naming the plugin, the option and what is expected.
    """
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise OptionError(f"{owner}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(defaults))}")
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
            raise OptionError(f"{owner}: option {key}={value!r} is not a {kind.__name__}") from None
    for key, allowed in (choices or {}).items():
        if out[key] not in allowed:
            raise OptionError(f"{owner}: option {key} must be one of {', '.join(map(str, allowed))}, "
                             f"got {out[key]!r}")
    return out
