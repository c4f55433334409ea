"""What the baseline calibrators share: option parsing and the answer wrapper."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from medrobust.options import parse_options

__all__ = ["MissingCapability", "parse", "SampleMapWrapper", "replace_images"]


class MissingCapability(ValueError):
    """The model lacks a capability the calibrator needs."""


def parse(name: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``options``, strings parsed to the defaults' types."""
    return parse_options(name, options, defaults)


class SampleMapWrapper:
    """A model whose ``answer`` first maps the batch of samples through ``fn``."""

    def __init__(self, model: Any, fn: Callable[[list[Any]], list[Any]]) -> None:
        self.model = model
        self._fn = fn

    def answer(self, samples: list[Any]) -> list[str]:
        return self.model.answer(self._fn(list(samples)))

    def identity(self) -> dict[str, Any]:
        ident = getattr(self.model, "identity", None)
        return dict(ident()) if callable(ident) else {"name": type(self.model).__name__}

    def __getattr__(self, name: str) -> Any:
        if name in ("generate", "vision_features", "set_feature_transform"):
            return getattr(self.model, name)
        raise AttributeError(name)


def replace_images(samples: Sequence[Any], fn: Callable[[Any], Any]) -> list[Any]:
    """Samples with ``fn(image)`` as image."""
    return [s.replace(image=fn(s.image)) for s in samples]
