"""``imc``: PDC on the image features and SMS on the question, together."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Optional, Sequence

import medrobust

from .pdc import PDC
from .sms import SMSCalibrator

__all__ = ["IMC", "split_options"]

_PARTS = ("pdc", "sms")


def split_options(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"pdc.strength": "1", "sms.rounds": "2"}`` -> ``{"pdc": {...}, "sms": {...}}``."""
    parts: dict[str, dict[str, Any]] = {part: {} for part in _PARTS}
    for key, value in options.items():
        if key == "strict":
            continue
        part, sep, name = key.partition(".")
        if not sep or part not in parts:
            raise medrobust.OptionError(f"imc: option {key!r} must be 'strict' or be prefixed with 'pdc.' or "
                                        f"'sms.' (e.g. --calibrator-option pdc.strength=0.5)")
        parts[part][name] = value
    return parts


class IMC:
    """Inherent-enhanced Multi-modal Calibration: PDC calibrates what the vision encoder
    perceives as noisy, SMS refines noisy questions; answers go through both.

    Options are those of ``imc-pdc`` prefixed ``pdc.`` and of ``imc-sms`` prefixed ``sms.``,
    and ``strict`` (default false): when a model offers what only one part needs (a served
    model has no feature hook), that part runs alone, with a warning and the reason recorded
    in :meth:`describe` (so the certificate says which part did not run); ``strict=true``
    refuses such a model instead.
    """

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        options = dict(options or {})
        parts = split_options(options)
        strict = {"strict": options["strict"]} if "strict" in options else {}
        self.strict = bool(medrobust.parse_options("imc", strict, {"strict": False})["strict"])
        self.pdc = PDC(parts["pdc"])
        self.sms = SMSCalibrator(parts["sms"])
        self.not_run: dict[str, str] = {}
        """Parts that could not run on the fitted model, with the reason."""

    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Fit both parts on clean reference samples; say which part cannot run, and why.

        ``noises`` is the run's noise registry (PDC encodes the reference images under its image noises).
        """
        missing: dict[str, str] = {}
        for key, name, part in (("pdc", "PDC (image calibration)", self.pdc),
                                ("sms", "SMS (question refinement)", self.sms)):
            try:
                part.fit(model, reference_samples, noises)
            except medrobust.MissingCapability as exc:
                missing[key] = f"{name}: {exc}"
        if len(missing) == len(_PARTS) or (missing and self.strict):
            raise medrobust.MissingCapability("imc cannot run on this model. " + " | ".join(missing.values()) +
                                              ". Use imc-pdc or imc-sms for the part the model supports.")
        self.not_run = missing
        for reason in missing.values():
            warnings.warn(f"imc runs without {reason} (the certificate records this; "
                          f"--calibrator-option strict=true refuses such a model)", stacklevel=2)

    def wrap(self, model: Any) -> Any:
        """SMS refines the question, then PDC calibrates the features while the model answers."""
        if "pdc" not in self.not_run:
            model = self.pdc.wrap(model)
        if "sms" not in self.not_run:
            model = self.sms.wrap(model)
        return model

    def describe(self) -> dict[str, Any]:
        params: dict[str, Any] = {"pdc": self.pdc.describe(), "sms": self.sms.describe()}
        described: dict[str, Any] = {"name": "imc", "params": params}
        if self.strict:
            described["strict"] = True
        if self.not_run:
            described["parts_not_run"] = dict(sorted(self.not_run.items()))
            for key in self.not_run:
                params[key] = {"not_run": self.not_run[key]}
        return described
