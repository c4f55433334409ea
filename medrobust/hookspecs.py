"""The medrobust plugin contract: registration hooks, one per kind of plugin.

Every hook is called once per plugin when the plugin manager is built, with a
``register(name, obj)`` callback. The host checks names and rejects duplicates;
a plugin never returns lists or touches host internals. Results are ignored.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("medrobust")

Register = Callable[[str, Any], None]


@hookspec
def medrobust_register_models(register: Register) -> None:
    """Register model factories.

    Called once per plugin at start-up. Call ``register(name, factory)`` for
    each model, where ``factory(options: dict) -> model`` and the model has
    ``answer(samples: list[medrobust.Sample]) -> list[str]``. ``options`` holds
    ``path``, ``device`` and every ``--model-option KEY=VALUE`` given.
    """


@hookspec
def medrobust_register_calibrators(register: Register) -> None:
    """Register calibrator factories.

    Called once per plugin at start-up. Call ``register(name, factory)`` where
    ``factory(options: dict) -> calibrator`` and the calibrator has
    ``fit(model, reference_samples, noises) -> None`` (``noises``: the run's noise
    registry) and ``wrap(model) -> model`` (see :class:`medrobust.Calibrator`).
    """


@hookspec
def medrobust_register_noises(register: Register) -> None:
    """Register noises.

    Called once per plugin at start-up. Call ``register(name, noise)`` with a
    :class:`medrobust.ImageNoise` or :class:`medrobust.TextNoise`.
    """


@hookspec
def medrobust_register_datasets(register: Register) -> None:
    """Register dataset factories.

    Called once per plugin at start-up. Call ``register(name, factory)`` where
    ``factory(options: dict) -> dataset`` (``options["path"]`` is the local
    path given after ``NAME:``, or None) and the dataset has
    ``samples(split: str) -> list[medrobust.Sample]``.
    """


@hookspec
def medrobust_register_metrics(register: Register) -> None:
    """Register metrics.

    Called once per plugin at start-up. Call ``register(name, metric)`` with a
    :class:`medrobust.Metric`.
    """
