"""The identity calibrator ``none`` and the calibrator contract."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from .sample import Sample

__all__ = ["Calibrator", "NoCalibrator"]


@runtime_checkable
class Calibrator(Protocol):
    """A training-free calibrator: fitted on reference samples, then wraps a model."""

    def fit(self, model: Any, reference_samples: Sequence[Sample]) -> None:
        """Fit statistics or prototypes from clean reference samples (never test samples)."""
        ...

    def wrap(self, model: Any) -> Any:
        """A model object answering through the calibration."""
        ...


class NoCalibrator:
    """The identity: answers come from the model unchanged."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = dict(options)

    def fit(self, model: Any, reference_samples: Sequence[Sample]) -> None:
        """Nothing to fit."""

    def wrap(self, model: Any) -> Any:
        """The model itself."""
        return model

    def describe(self) -> dict[str, Any]:
        return {"name": "none", "params": {}}
