"""Checks made when a run starts, so that a run that cannot work stops with one short message.

Each check names the thing that is wrong and the fix. They run before the first spec:
:meth:`~medrobust.run.context.RunContext.validate_names` calls the cheap ones
(devices, plugin options), and the model's descriptions are checked as soon as it
loads, not when the certificate is written after every spec ran.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import OptionError, PluginError

__all__ = ["HOST_OPTIONS", "check_device", "check_plugin_options", "check_descriptions"]

HOST_OPTIONS: Mapping[str, tuple[str, ...]] = {"model": ("path", "device"), "calibrator": (), "dataset": ("path", "seed")}
"""The keys the harness itself puts in a plugin factory's options (from ``--model-path``, ``--device``...)."""


def check_device(flag: str, value: str) -> None:
    """Refuse a device torch does not know, or one this machine does not have.

    Args:
        flag: The option that names it (``--device``, ``--noise-device``).
        value: Its value, e.g. ``cuda:1``.

    Raises:
        OptionError: Naming the device, what this machine has and the fix.
    """
    if value == "cpu":
        return
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        raise OptionError(f"{flag} {value}: not a device torch knows; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return
    module = getattr(torch, device.type, None)
    backend = torch.backends.mps if device.type == "mps" else module
    available = getattr(backend, "is_available", None)
    if callable(available) and not available():
        built = " (this torch is built without CUDA)" if device.type == "cuda" and not torch.version.cuda else ""
        raise OptionError(f"{flag} {value}: no {device.type} device is available on this machine{built}; "
                          f"use {flag} cpu")
    count = getattr(module, "device_count", None)
    if device.index is not None and callable(count) and device.index >= count():
        have = ", ".join(f"{device.type}:{i}" for i in range(count()))
        raise OptionError(f"{flag} {value}: this machine has {count()} {device.type} device(s) ({have}); "
                          f"use one of them or {flag} cpu")


def check_plugin_options(kind: str, name: str, factory: Any, given: Mapping[str, Any]) -> None:
    """Refuse ``--<kind>-option`` keys that the plugin's factory does not declare.

    A factory declares the options it takes as ``OPTIONS`` (their names, or a mapping of defaults);
    one that declares nothing gets every key, unchecked.

    Raises:
        OptionError: Naming the unknown keys and the known ones.
    """
    declared = getattr(factory, "OPTIONS", None)
    if declared is None or isinstance(declared, str):
        return
    known = sorted(set(map(str, declared)) - set(HOST_OPTIONS[kind]))
    unknown = sorted(set(given) - set(known) - set(HOST_OPTIONS[kind]))
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise OptionError(f"--{kind}-option {', '.join(unknown)}: {kind} {name!r} has no such option; {takes}")


def check_descriptions(name: str, plugin: Any, kind: str = "model") -> None:
    """Check that a model (as soon as it loads) or a calibrator (once fitted) describes itself as the
    plugin contract says, not when the certificate is written after every spec ran.

    ``describe()`` (optional) must return a dict of JSON values; a model's ``capabilities()``
    (optional) a :class:`medrobust.Capabilities`.

    Raises:
        PluginError: Naming the plugin, the method and what it must return.
    """
    from .._canonical import canonical_json
    from ..contract import Capabilities

    where = f"{kind} {name!r} ({type(plugin).__name__})"
    checks = [("describe", "a dict of JSON values (name, weight digests, settings) for the certificate",
               lambda value: isinstance(value, dict) and bool(canonical_json(value)))]
    if kind == "model":
        checks.append(("capabilities", "a medrobust.Capabilities, e.g. medrobust.Capabilities("
                       "token_scoring=True, reasons={...})", lambda value: isinstance(value, Capabilities)))
    for method, expected, check in checks:
        call = getattr(plugin, method, None)
        if not callable(call):
            continue
        try:
            value = call()
        except Exception as exc:
            raise PluginError(f"{where}: {method}() raised {type(exc).__name__}: {exc}; "
                              f"it must return {expected}") from None
        try:
            good = check(value)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{where}: {method}() returned a value that is not JSON ({exc}); "
                              f"it must return {expected}") from None
        if not good:
            raise PluginError(f"{where}: {method}() returned {type(value).__name__}; it must return {expected}")
