"""IMC, the calibrator of "Perceive and Calibrate" (arXiv 2512.21964): PDC + SMS.

Registered exactly as a third-party calibrator plugin would be. The factories
import torch only when a calibrator is built, so loading the plugin is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

import medrobust

__all__ = ["IMC", "PDC", "SMSCalibrator", "medrobust_register_calibrators"]

_LAZY = {"IMC": ".combined", "PDC": ".pdc", "SMSCalibrator": ".sms"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)


def imc(options: dict[str, Any]) -> Any:
    """PDC on images + SMS on questions."""
    return __getattr__("IMC")(options)


def imc_pdc(options: dict[str, Any]) -> Any:
    """Perturbation-aware Denoising Calibration of the vision features."""
    return __getattr__("PDC")(options)


def imc_sms(options: dict[str, Any]) -> Any:
    """Self-instantiated Multi-agent System refining the question."""
    return __getattr__("SMSCalibrator")(options)


# what each changes, as data: a calibrator chain (``spell-correct+imc-pdc``) takes one per modality
imc.modalities = ("image", "text")  # type: ignore[attr-defined]
imc_pdc.modalities = ("image",)  # type: ignore[attr-defined]
imc_sms.modalities = ("text",)  # type: ignore[attr-defined]


@medrobust.hookimpl
def medrobust_register_calibrators(register: medrobust.Register) -> None:
    register("imc", imc)
    register("imc-pdc", imc_pdc)
    register("imc-sms", imc_sms)
