"""Noise definitions: a declared severity table, seeded parameter resolution, a pure apply."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

Modality = Literal["image", "text"]

SEVERITY_LEVELS = (1, 2, 3, 4, 5)

__all__ = ["Modality", "Noise", "ImageNoise", "TextNoise", "SEVERITY_LEVELS", "derive_seed"]


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed derived from any printable parts (run seed, sample id, step...)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclasses.dataclass(frozen=True)
class Noise:
    """A named perturbation of one modality.

    Attributes:
        name: Registry name, e.g. ``"gaussian_noise"``.
        family: Grouping for reports and strategies (``"noise"``, ``"blur"``, ``"typo"``...).
        description: One sentence a certificate reader understands.
        rationale: Where the artifact arises in clinical practice (one or two
            sentences), so a certificate can say why a model should withstand it.
        table: The declared severity table: five parameter mappings, level 1 to 5.
        random: Whether the noise draws random numbers (uses its seed).
        version: Bumped whenever the output for the same parameters changes.
        derive: Optional ``derive(params) -> dict`` of further parameters drawn
            from the seed at resolution time (a motion angle, a spike position),
            so that the record shows every number the output depends on.
    """

    name: str
    family: str
    description: str
    table: Sequence[Mapping[str, Any]]
    random: bool = True
    version: str = "1"
    rationale: str = ""
    derive: Optional[Callable[[Mapping[str, Any]], Mapping[str, Any]]] = dataclasses.field(
        default=None, repr=False, compare=False)
    modality: Modality = dataclasses.field(init=False, default="image")

    def __post_init__(self) -> None:
        if len(self.table) != len(SEVERITY_LEVELS):
            raise ValueError(
                f"noise {self.name!r} declares {len(self.table)} severities; "
                f"a severity table needs exactly {len(SEVERITY_LEVELS)} (levels 1-5)")

    def params(self, severity: int, seed: int) -> dict[str, Any]:
        """Resolved, JSON-serialisable parameters for one application."""
        if severity not in SEVERITY_LEVELS:
            raise ValueError(f"severity of {self.name!r} must be one of 1-5, got {severity!r}")
        resolved = dict(self.table[severity - 1])
        if self.random:
            resolved["seed"] = int(seed)
        if self.derive is not None:
            resolved.update(self.derive(resolved))
        return resolved


@dataclasses.dataclass(frozen=True)
class ImageNoise(Noise):
    """An image noise: ``fn(images, params) -> images`` on float tensors.

    ``images`` is ``[batch, channels, height, width]`` in ``[0, 1]`` on any
    device; ``fn`` must be pure (randomness only from ``params["seed"]``
    through a local ``torch.Generator``) and keep shape, dtype and range.
    """

    fn: Callable[[Any, Mapping[str, Any]], Any] = dataclasses.field(default=None, repr=False)  # type: ignore[assignment]
    modality: Modality = dataclasses.field(init=False, default="image")

    def apply(self, images: Any, params: Mapping[str, Any]) -> Any:
        """Apply to a batch of float images with resolved parameters."""
        return self.fn(images, params)

    def apply_batch(self, images: Any, params: Sequence[Mapping[str, Any]]) -> Any:
        """Apply to ``[B, C, H, W]`` images where image ``i`` has its own resolved ``params[i]``.

        Image ``i`` gets exactly what :meth:`apply` gives it alone: images that share every
        parameter (a noise that draws nothing at random, at one severity) go through one call,
        since the ops of a noise act on each image independently; the others (a random noise
        draws from each image's own seed) go one call each, on the images' device.
        """
        if len(params) != images.shape[0]:
            raise ValueError(f"{self.name}: {len(params)} parameter sets for {images.shape[0]} images")
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(params):
            groups.setdefault(repr(sorted(p.items())), []).append(i)
        if len(groups) == 1:
            return self.fn(images, params[0])
        out = images.new_empty(images.shape)
        for rows in groups.values():
            index = rows[0] if len(rows) == 1 else None
            part = images[index:index + 1] if index is not None else images[rows]
            out[rows] = self.fn(part, params[rows[0]])
        return out


@dataclasses.dataclass(frozen=True)
class TextNoise(Noise):
    """A text noise: ``fn(text, params) -> text``, pure, seeded by ``params["seed"]``.

    ``protects_tokens`` declares that negation, laterality, numbers and units
    (see :func:`medrobust.noise.text.is_protected`) come out unchanged; a noise
    that alters them on purpose says ``False``.
    """

    fn: Callable[[str, Mapping[str, Any]], str] = dataclasses.field(default=None, repr=False)  # type: ignore[assignment]
    protects_tokens: bool = True
    modality: Modality = dataclasses.field(init=False, default="text")

    def apply(self, text: str, params: Mapping[str, Any]) -> str:
        """Apply to one string with resolved parameters."""
        return self.fn(text, params)
