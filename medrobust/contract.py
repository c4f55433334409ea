"""The plugin contract: what the harness expects of a model, a calibrator and a dataset.

A **model** has one required method, ``answer(samples) -> list[str]``. It may
offer optional capabilities, which unlock calibrators; it *declares* them with
``capabilities() -> Capabilities`` (the harness never guesses them from the
object's class or its methods):

* ``feature_hook`` (IMC's PDC): ``vision_features(images)`` returns the
  vision-encoder features the projector would receive, ``[batch, tokens, dim]``;
  ``set_feature_transform(fn)`` installs ``fn(features, images) -> features``
  applied before the projector on every later call (``None`` removes it).
* ``free_generation`` (IMC's SMS): ``generate(prompts, images=None,
  max_new_tokens=32) -> list[str]`` continues free-text prompts, and
  ``format_prompt(user_text) -> str`` wraps one user turn in the model's own
  prompt format (its template or chat template), ending exactly where the reply
  begins: LLaVA-Med v1.5 gives ``"[INST] Is it noisy? [/INST]"``, a vicuna
  template ``"USER: Is it noisy? ASSISTANT:"``. SMS's agents prompt with
  ``generate([format_prompt(instruction)])`` and never hard-code a template; a
  model without ``format_prompt`` gets SMS's tool-only mode (said and recorded).
* ``token_scoring`` (IMC's SMS): ``score_text(texts, images=None)`` returns, per
  text, its tokens with their log-probabilities (the first token may be omitted).

Every plugin object describes itself for the certificate with ``describe() ->
dict`` (a model: name, weight and config digests, generation settings; a
calibrator: name and fitted parameters; a dataset: provenance, skipped records).

Every option a model or calibrator is given is part of the answer journal's key
(:mod:`medrobust.run.journal`), so that answers are never reused across options
that could change them. A plugin object lists the options that cannot change an
answer (concurrency, timeouts, retries, the name of an API-key variable) in a
class attribute ``answer_neutral_options = ("concurrency", "timeout")``: those
stay out of the key, so runs differing only in them share journaled answers.

A **calibrator** has ``fit(model, reference_samples, noises)`` (training-free:
statistics, prototypes; ``noises`` is the run's noise registry) and
``wrap(model) -> model``. Its factory may declare what it changes,
``modalities = ("image",)`` (or ``("text",)``, ``("image", "text")``), so that it
can be chained with a calibrator of the other modality (``--calibrator
spell-correct+median-denoise``, :mod:`medrobust.run.calibrator_chain`). A **dataset** has ``samples(split) -> list[Sample]``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence, runtime_checkable

from .sample import Sample

__all__ = [
    "CAPABILITIES", "Capabilities", "Model", "FeatureHookModel", "FreeGenerationModel", "TokenScoringModel",
    "FeatureTransform", "Calibrator", "Dataset", "capabilities_of", "describe_model",
]

FeatureTransform = Callable[[Any, Sequence[Any]], Any]

CAPABILITIES = ("feature_hook", "free_generation", "token_scoring")
"""The optional model capabilities, in the order the certificate lists them."""

_UNDECLARED = "the model declares no capabilities() (it answers only)"


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a model can do beyond ``answer``, each absence with its reason.

    Attributes:
        feature_hook: ``vision_features`` and ``set_feature_transform`` work.
        free_generation: ``generate`` works.
        token_scoring: ``score_text`` works.
        reasons: Why a capability is absent (or a note on a present one), by name.
    """

    feature_hook: bool = False
    free_generation: bool = False
    token_scoring: bool = False
    reasons: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.reasons) - set(CAPABILITIES))
        if unknown:
            raise ValueError(f"Capabilities: reasons for unknown capabilities {', '.join(unknown)}; "
                             f"known: {', '.join(CAPABILITIES)}")

    def has(self, name: str) -> bool:
        """Whether capability ``name`` is declared available."""
        if name not in CAPABILITIES:
            raise ValueError(f"unknown capability {name!r}; known: {', '.join(CAPABILITIES)}")
        return bool(getattr(self, name))

    def reason(self, name: str) -> str:
        """Why ``name`` is absent (empty when it is available and nothing was noted)."""
        if self.has(name):
            return self.reasons.get(name, "")
        return self.reasons.get(name) or "not declared by the model"

    def missing(self) -> dict[str, str]:
        """Absent capabilities with their reasons."""
        return {name: self.reason(name) for name in CAPABILITIES if not self.has(name)}

    def to_json(self) -> dict[str, Any]:
        """``{"available": {name: bool}, "reasons": {name: text}}`` for the certificate."""
        return {"available": {name: self.has(name) for name in CAPABILITIES},
                "reasons": {name: self.reasons[name] for name in CAPABILITIES if self.reasons.get(name)}}


@runtime_checkable
class Model(Protocol):
    """The required contract: answer a batch of samples."""

    def answer(self, samples: list[Sample]) -> list[str]:
        """One answer string per sample, in order."""
        ...


class FeatureHookModel(Model, Protocol):
    """A model that declares ``feature_hook`` (for type hints; declared, never detected)."""

    def vision_features(self, images: Sequence[Any]) -> Any:
        """Features the projector would receive, ``[batch, tokens, dim]``."""
        ...

    def set_feature_transform(self, fn: Optional[FeatureTransform]) -> None:
        """Install (or with ``None`` remove) a transform of the features."""
        ...


class FreeGenerationModel(Model, Protocol):
    """A model that declares ``free_generation``."""

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None,
                 max_new_tokens: int = 32) -> list[str]:
        """One continuation per prompt."""
        ...

    def format_prompt(self, user_text: str) -> str:
        """``user_text`` as one user turn in the model's own prompt format, ending where the reply begins."""
        ...


class TokenScoringModel(Model, Protocol):
    """A model that declares ``token_scoring``."""

    def score_text(self, texts: list[str], images: Optional[list[Any]] = None) -> list[list[tuple[str, float]]]:
        """Per text, its tokens with their log-probabilities."""
        ...


@runtime_checkable
class Calibrator(Protocol):
    """A training-free calibrator: fitted on clean reference samples, then wraps a model."""

    def fit(self, model: Any, reference_samples: Sequence[Sample], noises: Mapping[str, Any]) -> None:
        """Fit statistics or prototypes from reference samples (never test samples).

        ``noises`` is the run's noise registry (as declared, or calibrated).
        """
        ...

    def wrap(self, model: Any) -> Any:
        """A model object answering through the calibration."""
        ...


@runtime_checkable
class Dataset(Protocol):
    """A source of samples by split (``test``, ``reference``...)."""

    def samples(self, split: str) -> Sequence[Sample]:
        """The samples of ``split``, in a fixed order."""
        ...


def capabilities_of(model: Any) -> Capabilities:
    """What ``model`` declares through ``capabilities()``; none when it declares nothing.

    Raises:
        TypeError: When ``capabilities()`` returns something other than :class:`Capabilities`.
    """
    declare = getattr(model, "capabilities", None)
    if not callable(declare):
        return Capabilities(reasons={name: _UNDECLARED for name in CAPABILITIES})
    declared = declare()
    if not isinstance(declared, Capabilities):
        raise TypeError(f"{type(model).__name__}.capabilities() returned {type(declared).__name__}; "
                        f"return a medrobust.Capabilities")
    return declared


def describe_model(name: str, model: Any) -> dict[str, Any]:
    """The model's own ``describe()`` if it has one, with its registry name, class and capabilities."""
    described: dict[str, Any] = {}
    describe = getattr(model, "describe", None)
    if callable(describe):
        described.update(describe())
    described.setdefault("name", name)
    described["class"] = f"{type(model).__module__}.{type(model).__qualname__}"
    described["capabilities"] = capabilities_of(model).to_json()
    return described
