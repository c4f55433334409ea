"""What the harness expects of a model, and how it asks what a model can do.

The required contract is one method, ``answer(samples) -> list[str]``. Two
optional capabilities unlock calibrators:

* **feature hook** (needed by IMC's PDC): ``vision_features(images)`` returns the
  vision-encoder features the projector would receive, shape
  ``[batch, tokens, dim]``; ``set_feature_transform(fn)`` installs a function
  ``fn(features, images) -> features`` applied to those features before the
  projector and language model on every later call (``None`` removes it).
* **free generation** (needed by IMC's SMS): ``generate(prompts, images=None,
  max_new_tokens=32) -> list[str]`` continues free-text prompts.

* **token scoring** (lets IMC's SMS assess questions from the model's own
  probabilities): ``score_text(texts, images=None) -> list[list[tuple[str, float]]]``
  returns, for each text, its tokens with their log-probability under the model
  (the first token may be omitted).

A model may also describe itself with ``identity() -> dict`` (name, weight and
config digests, generation settings) for the certificate.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol, Sequence, runtime_checkable

from .sample import Sample

__all__ = [
    "Model",
    "FeatureHookModel",
    "FreeGenerationModel",
    "TokenScoringModel",
    "FeatureTransform",
    "capabilities",
    "model_identity",
]

FeatureTransform = Callable[[Any, Sequence[Any]], Any]


@runtime_checkable
class Model(Protocol):
    """The required contract: answer a batch of samples."""

    def answer(self, samples: list[Sample]) -> list[str]:
        """One answer string per sample, in order."""
        ...


@runtime_checkable
class FeatureHookModel(Protocol):
    """A model whose vision features can be read and transformed."""

    def vision_features(self, images: Sequence[Any]) -> Any:
        """Features the projector would receive, ``[batch, tokens, dim]``."""
        ...

    def set_feature_transform(self, fn: Optional[FeatureTransform]) -> None:
        """Install (or with ``None`` remove) a transform of the features."""
        ...


@runtime_checkable
class FreeGenerationModel(Protocol):
    """A model that continues free-text prompts, optionally about an image."""

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None,
                 max_new_tokens: int = 32) -> list[str]:
        """One continuation per prompt."""
        ...


@runtime_checkable
class TokenScoringModel(Protocol):
    """A model that reports the log-probability of each token of a text."""

    def score_text(self, texts: list[str], images: Optional[list[Any]] = None) -> list[list[tuple[str, float]]]:
        """Per text, its tokens with their log-probabilities."""
        ...


def capabilities(model: Any) -> dict[str, bool]:
    """Which optional capabilities a model object offers."""
    return {
        "feature_hook": isinstance(model, FeatureHookModel),
        "free_generation": isinstance(model, FreeGenerationModel),
        "token_scoring": isinstance(model, TokenScoringModel),
    }


def model_identity(name: str, model: Any) -> dict[str, Any]:
    """The model's own ``identity()`` if it has one, with name and capabilities."""
    ident: dict[str, Any] = {}
    describe = getattr(model, "identity", None)
    if callable(describe):
        ident.update(describe())
    ident.setdefault("name", name)
    ident["class"] = f"{type(model).__module__}.{type(model).__qualname__}"
    ident["capabilities"] = capabilities(model)
    return ident
