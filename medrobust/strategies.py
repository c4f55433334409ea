"""hypothesis strategies over noise compositions.

Choices are ordered so that shrinking moves toward fewer noises (list length),
milder severities (integers shrink toward ``min_severity``) and the first noise
in the catalogue order.
"""

from __future__ import annotations

from typing import Iterable, Optional

from hypothesis import strategies as st

from .noise.base import SEVERITY_LEVELS
from .noise.composition import Composition, NoiseStep

__all__ = ["compositions", "severities", "image_noises", "text_noises"]

_MODALITIES = (None, "image", "text")


def severities(*, min_severity: int = 1, max_severity: int = 5) -> st.SearchStrategy[int]:
    """Severity levels in ``[min_severity, max_severity]``, shrinking toward the mildest."""
    _check_severities(min_severity, max_severity)
    return st.integers(min_value=min_severity, max_value=max_severity)


def compositions(*, modality: Optional[str] = None, noises: Optional[Iterable[str]] = None,
                 families: Optional[Iterable[str]] = None, min_noises: int = 1, max_noises: int = 2,
                 min_severity: int = 1, max_severity: int = 5) -> st.SearchStrategy[Composition]:
    """Compositions of distinct registered noises, applied in the drawn order.

    Args:
        modality: ``"image"``, ``"text"`` or ``None`` for both.
        noises: Restrict to these noise names (checked against the registry when drawn).
        families: Restrict to these noise families.
        min_noises: Fewest noises in a composition (0 allows the clean input).
        max_noises: Most noises in a composition.
        min_severity: Mildest severity level drawn.
        max_severity: Harshest severity level drawn.
    """
    if modality not in _MODALITIES:
        raise ValueError(f"modality must be 'image', 'text' or None, got {modality!r}")
    _check_severities(min_severity, max_severity)
    if not 0 <= min_noises <= max_noises:
        raise ValueError(f"need 0 <= min_noises <= max_noises, got {min_noises} and {max_noises}")
    wanted = None if noises is None else tuple(noises)
    wanted_families = None if families is None else frozenset(families)

    def build() -> st.SearchStrategy[Composition]:
        names = _noise_names(modality, wanted, wanted_families)
        if len(names) < min_noises:
            raise ValueError(f"only {len(names)} noises match ({', '.join(names)}) but "
                             f"min_noises={min_noises}")
        step = st.builds(NoiseStep, st.sampled_from(names),
                         st.integers(min_value=min_severity, max_value=max_severity))
        steps = st.lists(step, min_size=min_noises, max_size=min(max_noises, len(names)),
                         unique_by=lambda s: s.name)
        return steps.map(lambda s: Composition(tuple(s)))

    strategy = st.deferred(build)
    # the noises it can draw, read by the pytest plugin to mark the spec (-m ct, -m "not text")
    strategy.medrobust_noises = lambda: _noise_names(modality, wanted, wanted_families)  # type: ignore[attr-defined]
    return strategy


def image_noises(**kwargs: object) -> st.SearchStrategy[Composition]:
    """:func:`compositions` of image noises only."""
    return compositions(modality="image", **kwargs)  # type: ignore[arg-type]


def text_noises(**kwargs: object) -> st.SearchStrategy[Composition]:
    """:func:`compositions` of text noises only."""
    return compositions(modality="text", **kwargs)  # type: ignore[arg-type]


def _check_severities(low: int, high: int) -> None:
    if not (SEVERITY_LEVELS[0] <= low <= high <= SEVERITY_LEVELS[-1]):
        raise ValueError(f"need 1 <= min_severity <= max_severity <= 5, got {low} and {high}")


def _noise_names(modality: Optional[str], wanted: Optional[tuple[str, ...]],
                 families: Optional[frozenset[str]]) -> list[str]:
    from .run.plugins import active_host

    registry = active_host().noises
    if wanted is not None:
        names = [registry[name].name for name in wanted]  # unknown names fail listing the registry
    else:
        names = list(registry)
    return [n for n in names
            if (modality is None or registry[n].modality == modality)
            and (families is None or registry[n].family in families)]
