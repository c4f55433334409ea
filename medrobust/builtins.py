"""medrobust's own noises, metrics, identity calibrator and embedded dataset.

Loaded through the ``medrobust`` entry-point group, exactly like a third-party plugin.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import medrobust


@medrobust.hookimpl
def medrobust_register_noises(register: medrobust.Register) -> None:
    from .noise.catalogue import builtin_noises

    for noise in builtin_noises():
        register(noise.name, noise)


@medrobust.hookimpl
def medrobust_register_metrics(register: medrobust.Register) -> None:
    from .run.metrics import METRICS

    for metric in METRICS:
        register(metric.name, metric)


class NoCalibrator:
    """The calibrator ``none``: answers come from the model unchanged."""

    OPTIONS = ()
    """It takes no ``--calibrator-option``."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = dict(options)

    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Nothing to fit."""

    def wrap(self, model: Any) -> Any:
        """The model itself."""
        return model

    def describe(self) -> dict[str, Any]:
        """Name and (no) parameters, for the certificate."""
        return {"name": "none", "params": {}}


@medrobust.hookimpl
def medrobust_register_calibrators(register: medrobust.Register) -> None:
    register("none", NoCalibrator)


def phantom_vqa(options: dict[str, Any]) -> Any:
    """The embedded, procedurally generated dataset (imported on first use)."""
    from .data.phantom import PhantomVQA

    return PhantomVQA(options)


phantom_vqa.OPTIONS = ()  # type: ignore[attr-defined]  # no --dataset-option beyond the seed


@medrobust.hookimpl
def medrobust_register_datasets(register: medrobust.Register) -> None:
    register("phantom-vqa", phantom_vqa)
