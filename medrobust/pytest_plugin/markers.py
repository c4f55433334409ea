"""pytest markers on specs: ``medrobust``, one per modality and one per noise family.

Every spec gets ``medrobust``; a YAML item gets the modality and family of each noise in its
composition; a Python spec whose ``@given`` draws from :func:`medrobust.compositions` (or
``image_noises`` / ``text_noises``) gets those of every noise the strategy can draw, so that
``-m "not ct"`` leaves out every spec that could apply a CT noise. Other Python specs get only
``medrobust``. The markers are registered (``--strict-markers`` accepts them) from the noises
of the run's registry, plugins' included.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import pytest

__all__ = ["SPEC_MARKER", "register_markers", "mark_spec", "noise_markers", "strategy_noises"]

SPEC_MARKER = "medrobust"
"""The marker every medrobust spec carries (``-m medrobust``, ``-m "not medrobust"``)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""A marker name that ``-m`` and ``pytest.mark.NAME`` both accept."""
_BUILTIN = frozenset({"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "tryfirst",
                      "trylast", "no_cover", "asyncio", "anyio", "timeout", "order", "flaky", "django_db"})
"""Names with a meaning of their own to pytest or a common plugin: never applied as a family marker."""

_markers_key = pytest.StashKey[frozenset[str]]()


def _families(registry: Mapping[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Each marker name: whether it is a modality or a family, and its noises."""
    found: dict[str, tuple[str, list[str]]] = {}
    for name, noise in registry.items():
        for kind in ("modality", "family"):
            marker = getattr(noise, kind, None)
            if isinstance(marker, str):
                found.setdefault(marker, (kind, []))[1].append(name)
    return found


def register_markers(config: pytest.Config, registry: Mapping[str, Any]) -> None:
    """Register ``medrobust`` and every modality and family of the registered noises.

    A name another plugin or the ini file already registers as a marker keeps that meaning and is
    not applied to specs (the spec keeps its other markers).
    """
    taken = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    usable = set()
    config.addinivalue_line("markers", f"{SPEC_MARKER}: a medrobust robustness spec")
    for marker, (kind, names) in sorted(_families(registry).items()):
        if not _NAME.match(marker) or marker in _BUILTIN or marker in taken:
            continue
        usable.add(marker)
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        what = f"an {marker} noise" if kind == "modality" and marker[0] in "aeiou" else (
            f"a {marker} noise" if kind == "modality" else f"a noise of the {marker} family")
        config.addinivalue_line("markers", f"{marker}: medrobust specs that may apply {what} ({shown})")
    config.stash[_markers_key] = frozenset(usable)


def noise_markers(config: pytest.Config, names: Iterable[str], registry: Mapping[str, Any]) -> list[str]:
    """The registered markers (modality, family) of some noises, sorted."""
    usable = config.stash.get(_markers_key, frozenset())
    out = set()
    for name in names:
        noise = registry.get(name)
        for marker in (getattr(noise, "modality", None), getattr(noise, "family", None)):
            if marker in usable:
                out.add(marker)
    return sorted(out)


def strategy_noises(item: pytest.Item) -> list[str]:
    """The noises a ``@given`` Python spec can draw from medrobust strategies (none: not known)."""
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    found: list[str] = []
    for strategy in (getattr(handle, "_given_kwargs", None) or {}).values():
        noises = getattr(strategy, "medrobust_noises", None)
        if callable(noises):
            try:
                found += list(noises())
            except Exception:  # an unknown noise name: the spec reports it when it runs, unmarked
                continue
    return found


def mark_spec(item: pytest.Item, noise_names: Iterable[str], registry: Mapping[str, Any]) -> None:
    """Add ``medrobust`` and the markers of ``noise_names`` to a spec item."""
    item.add_marker(SPEC_MARKER)
    for marker in noise_markers(item.config, noise_names, registry):
        item.add_marker(marker)
