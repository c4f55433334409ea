"""``imc``: PDC on the image features and SMS on the question, together."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .pdc import PDC, MissingCapability
from .sms import SMSCalibrator

__all__ = ["IMC", "split_options"]

_PARTS = ("pdc", "sms")


def split_options(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"pdc.strength": "1", "sms.rounds": "2"}`` -> ``{"pdc": {...}, "sms": {...}}``."""
    parts: dict[str, dict[str, Any]] = {part: {} for part in _PARTS}
    for key, value in options.items():
        part, sep, name = key.partition(".")
        if not sep or part not in parts:
            raise ValueError(f"imc: option {key!r} must be prefixed with 'pdc.' or 'sms.' "
                             f"(e.g. --calibrator-option pdc.strength=0.5)")
        parts[part][name] = value
    return parts


class IMC:
    """Inherent-enhanced Multi-modal Calibration: PDC calibrates what the vision encoder
    perceives as noisy, SMS refines noisy questions; answers go through both.

    Options are those of ``imc-pdc`` prefixed ``pdc.`` and of ``imc-sms`` prefixed ``sms.``.
    """

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        parts = split_options(dict(options or {}))
        self.pdc = PDC(parts["pdc"])
        self.sms = SMSCalibrator(parts["sms"])

    def fit(self, model: Any, reference_samples: Sequence[Any]) -> None:
        """Fit both parts on clean reference samples; say which part cannot run, and why."""
        missing = []
        for name, part in (("PDC (image calibration)", self.pdc), ("SMS (question refinement)", self.sms)):
            try:
                part.fit(model, reference_samples)
            except MissingCapability as exc:
                missing.append(f"{name}: {exc}")
        if missing:
            raise MissingCapability("imc cannot run on this model. " + " | ".join(missing) +
                                    ". Use imc-pdc or imc-sms for the part the model supports.")

    def wrap(self, model: Any) -> Any:
        """SMS refines the question, then PDC calibrates the features while the model answers."""
        return self.sms.wrap(self.pdc.wrap(model))

    def describe(self) -> dict[str, Any]:
        return {"name": "imc", "params": {"pdc": self.pdc.describe(), "sms": self.sms.describe()}}
