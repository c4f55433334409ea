"""A calibrated model that passes the inner model's capabilities through unchanged."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import medrobust

__all__ = ["PassThroughModel"]


class PassThroughModel:
    """Wraps ``model``: subclasses override ``answer``; every optional capability is the inner model's.

    ``generate`` and ``score_text`` run on the inner model as given (not through the calibration).
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def answer(self, samples: list[Any]) -> list[str]:
        return self.model.answer(samples)

    def capabilities(self) -> medrobust.Capabilities:
        """The inner model's: every capability passes through."""
        return medrobust.capabilities_of(self.model)

    def vision_features(self, images: Sequence[Any]) -> Any:
        return self.model.vision_features(images)

    def set_feature_transform(self, fn: Any) -> None:
        self.model.set_feature_transform(fn)

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None, max_new_tokens: int = 32) -> list[str]:
        return self.model.generate(prompts, images=images, max_new_tokens=max_new_tokens)

    def score_text(self, texts: list[str], images: Optional[list[Any]] = None) -> list[list[tuple[str, float]]]:
        return self.model.score_text(texts, images=images)

    def __getattr__(self, name: str) -> Any:
        """``format_prompt`` is the inner model's, and exists only where the inner model has it."""
        if name == "format_prompt" and "model" in self.__dict__:
            return getattr(self.model, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def describe(self) -> dict[str, Any]:
        """The inner model's description (the calibrator describes itself apart)."""
        describe = getattr(self.model, "describe", None)
        return dict(describe()) if callable(describe) else {"name": type(self.model).__name__}
