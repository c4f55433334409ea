"""What the baseline calibrators share: option parsing and the answer wrapper."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import medrobust

__all__ = ["parse", "SampleMapWrapper", "replace_images"]

_NO_SCORING = ("a baseline's wrapper does not pass token scoring through: the scores would be of the "
               "questions as given, not as the wrapper rewrites them")


def parse(name: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``options``, strings parsed to the defaults' types.

    Raises:
        medrobust.OptionError: An unknown option or a value of the wrong type.
    """
    return medrobust.parse_options(name, options, defaults)


class SampleMapWrapper:
    """A model whose ``answer`` first maps the batch of samples through ``fn``.

    The inner model's feature hook and free generation pass through; token scoring does not.
    """

    def __init__(self, model: Any, fn: Callable[[list[Any]], list[Any]]) -> None:
        self.model = model
        self._fn = fn

    def answer(self, samples: list[Any]) -> list[str]:
        return self.model.answer(self._fn(list(samples)))

    def capabilities(self) -> medrobust.Capabilities:
        """The inner model's feature hook and free generation; never token scoring."""
        inner = medrobust.capabilities_of(self.model)
        reasons = {name: inner.reasons[name] for name in ("feature_hook", "free_generation")
                   if inner.reasons.get(name)}
        reasons["token_scoring"] = _NO_SCORING
        return medrobust.Capabilities(feature_hook=inner.feature_hook, free_generation=inner.free_generation,
                                      token_scoring=False, reasons=reasons)

    def vision_features(self, images: Sequence[Any]) -> Any:
        return self.model.vision_features(images)

    def set_feature_transform(self, fn: Any) -> None:
        self.model.set_feature_transform(fn)

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None, max_new_tokens: int = 32) -> list[str]:
        return self.model.generate(prompts, images=images, max_new_tokens=max_new_tokens)

    def describe(self) -> dict[str, Any]:
        """The inner model's description (the calibrator describes itself apart)."""
        describe = getattr(self.model, "describe", None)
        return dict(describe()) if callable(describe) else {"name": type(self.model).__name__}


def replace_images(samples: Sequence[Any], fn: Callable[[Any], Any]) -> list[Any]:
    """Samples with ``fn(image)`` as image."""
    return [s.replace(image=fn(s.image)) for s in samples]
