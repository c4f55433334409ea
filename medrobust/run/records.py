"""The run's records: what each spec and each of its checks found, as plain JSON-ready data.

A leaf of the core: records are built when the work is done (a check's figures
when it is evaluated, a failure case when the check fails, on the process that
holds the model) and serialising them does no work, so they travel unchanged
from an xdist worker to the controller and into the certificate.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

__all__ = ["CheckRecord", "SpecRecord", "drop_of"]


def drop_of(clean: dict[str, Any], noisy: dict[str, Any]) -> Optional[float]:
    """Clean minus noisy value of two recorded (rounded) estimates; None when either is undefined.

    Computed from the recorded values, so that a serial run and an xdist run agree to the bit.
    """
    a, b = clean.get("value"), noisy.get("value")
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None
    return round(a - b, 6)


@dataclasses.dataclass
class CheckRecord:
    """One ``bench.expect`` evaluation: a metric under a composition against a threshold.

    Attributes:
        composition: The composition's JSON shape (``Composition.to_json()``).
        composition_key: Its short key, e.g. ``gaussian_noise@3+char_typos@2``.
        metric: The metric's registered name.
        clean: The clean estimate (``Estimate.to_json()``).
        noisy: The noisy estimate.
        drop: Clean minus noisy value (None when either is undefined).
        threshold: ``max_drop`` and/or ``min``.
        passed: The point estimate met the threshold (what pytest asserts).
        model_errors: Samples the model failed to answer under the composition.
        uncalibrated: When a calibrator ran: the model's own figures and the paired differences.
        conclusion: pass / fail / inconclusive from the 95 % interval against the threshold.
        interval: The interval the conclusion rests on: ``{"of": "drop"|"noisy", "low", "high"}``.
        strata: Clean and noisy estimates per modality, organ and answer type.
    """

    composition: list[dict[str, Any]]
    composition_key: str
    metric: str
    clean: dict[str, Any]
    noisy: dict[str, Any]
    drop: Optional[float]
    threshold: dict[str, float]
    passed: bool
    model_errors: int
    uncalibrated: Optional[dict[str, Any]] = None
    conclusion: Optional[str] = None
    interval: Optional[dict[str, Any]] = None
    strata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as a plain dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CheckRecord":
        """Inverse of :meth:`to_json`."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass
class SpecRecord:
    """A spec (pytest item) with the checks it ran and how it ended.

    Attributes:
        nodeid: pytest's node id.
        name: The item's name.
        kind: ``python`` or ``yaml``.
        checks: Its checks, in the order they ran.
        outcome: pytest's result: passed, failed, error, skipped, xfailed, or not run.
        message: The failure, error or skip message.
        case: The failure case of its last failing check (built when that check failed).
    """

    nodeid: str
    name: str
    kind: str
    checks: list[CheckRecord] = dataclasses.field(default_factory=list)
    outcome: str = "not run"
    message: str = ""
    case: Optional[dict[str, Any]] = None

    def to_json(self) -> dict[str, Any]:
        """The record as a plain dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SpecRecord":
        """Inverse of :meth:`to_json`."""
        return cls(data["nodeid"], data["name"], data["kind"],
                   [CheckRecord.from_json(c) for c in data.get("checks") or []], data.get("outcome", "not run"),
                   data.get("message", ""), data.get("case"))
