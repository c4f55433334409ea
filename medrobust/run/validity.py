"""Validity before robustness: does the model do the task at all, on clean inputs?

A robust model that ignores its input never drops; robust and useless is not
robust. Before any robustness check counts, :func:`assess_validity` asks three
questions of the run's clean figures:

1. Floors: does each metric's clean value reach the protocol's floor (with 95 %
   confidence: its interval's lower bound)?
2. Shortcuts: does the model beat answering with an uninformative image and
   always giving the majority answer (the paired 95 % interval of the margin
   above zero)? Without a protocol this is the only floor.
3. Errors: did the model give at least ``1 - max_error_rate`` of its answers?

A run that fails any of them is NOT VALID. When nothing can establish validity
(no closed questions for the shortcuts, no floors), validity is unknown and the
run cannot be PASS.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Sequence

from .._format import number
from .protocol import ValidityCriteria
from .records import SpecRecord

__all__ = ["Validity", "assess_validity", "clean_figures", "SHORTCUTS"]

SHORTCUTS = {"text_only": "an uninformative (mid-gray) image", "majority": "always the majority answer"}
"""The shortcut baselines a valid model must beat, with how each answers."""


@dataclasses.dataclass(frozen=True)
class Validity:
    """Whether the run's model does the task well enough for its robustness to mean anything.

    Attributes:
        valid: True, False (NOT VALID), or None when nothing could establish it.
        reasons: One sentence per failed (or unestablished) condition, worst first.
        clean: The clean estimate of each metric the checks used.
        floors: Each protocol floor with the clean interval's lower bound and whether it is met.
        shortcuts: Each shortcut baseline with the paired margin of the model above it and whether it is beaten.
        errors: Failed answers, answers asked, the rate, the largest rate allowed and the first error.
    """

    valid: Optional[bool]
    reasons: tuple[str, ...]
    clean: Mapping[str, Any]
    floors: tuple[dict[str, Any], ...]
    shortcuts: tuple[dict[str, Any], ...]
    errors: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"valid": self.valid, "reasons": list(self.reasons), "clean": dict(self.clean),
                "floors": [dict(f) for f in self.floors], "shortcuts": [dict(s) for s in self.shortcuts],
                "errors": dict(self.errors)}


def clean_figures(specs: Mapping[str, SpecRecord]) -> dict[str, dict[str, Any]]:
    """The clean estimate of each metric the checks used (the same samples for every check of a metric)."""
    out: dict[str, dict[str, Any]] = {}
    for nodeid in sorted(specs):
        for check in specs[nodeid].checks:
            out.setdefault(check.metric, check.clean)
    return out


def _floors(clean: Mapping[str, Any], criteria: ValidityCriteria) -> list[dict[str, Any]]:
    out = []
    for floor in criteria.floors:
        est = clean.get(floor["metric"])
        low = (est or {}).get("low")
        met = None if low is None else low >= floor["min"] - 1e-12
        out.append({**floor, "clean": est, "met": met})
    return out


def _shortcuts(shortcuts: Optional[Mapping[str, Any]]) -> list[dict[str, Any]]:
    margins = (shortcuts or {}).get("margins") or {}
    out = []
    for name, how in SHORTCUTS.items():
        margin = margins.get(name)
        if margin is None:
            continue
        low = margin.get("low")
        out.append({"baseline": name, "how": how, "metric": shortcuts.get("metric"),
                    "model": shortcuts.get("clean"), "shortcut": shortcuts.get(name), "margin": margin,
                    "beaten": None if low is None else low > 0})
    return out


def _errors(sample_errors: Sequence[Mapping[str, str]], answers: int, max_rate: float) -> dict[str, Any]:
    failed = len(sample_errors)
    rate = failed / answers if answers else None
    clean_first = sorted(sample_errors, key=lambda e: (e["composition"] != "clean", e["composition"], e["sample"]))
    return {"failed": failed, "answers": answers, "rate": None if rate is None else round(rate, 6),
            "max_rate": max_rate, "first_error": clean_first[0]["error"] if clean_first else None,
            "first_error_sample": clean_first[0]["sample"] if clean_first else None}


def assess_validity(specs: Mapping[str, SpecRecord], criteria: Optional[ValidityCriteria],
                    shortcuts: Optional[Mapping[str, Any]], sample_errors: Sequence[Mapping[str, str]],
                    answers: int) -> Validity:
    """The validity of a run from its records, the protocol's validity criteria and its evidence.

    Args:
        specs: The run's spec records (their checks carry the clean estimates).
        criteria: The protocol's floors and error rate; None for the defaults (beat the shortcuts,
            at most 5 % failed answers).
        shortcuts: The shortcut-baselines probe (with ``margins``), None when it could not run.
        sample_errors: Every answer the model failed to give.
        answers: How many answers the run asked for.
    """
    criteria = criteria or ValidityCriteria()
    clean = clean_figures(specs)
    floors, baselines = _floors(clean, criteria), _shortcuts(shortcuts)
    errors = _errors(sample_errors, answers, criteria.max_error_rate)
    reasons: list[str] = []
    if answers and errors["failed"] == answers:
        reasons.append(f"The model failed to answer every one of its {answers} inputs "
                       f"(first error: {errors['first_error']}).")
    elif errors["rate"] is not None and errors["rate"] > criteria.max_error_rate + 1e-12:
        reasons.append(f"The model failed to answer {errors['failed']} of {answers} inputs "
                       f"({100 * errors['rate']:.1f} %, more than the {100 * criteria.max_error_rate:g} % allowed; "
                       f"first error: {errors['first_error']}).")
    for floor in floors:
        if floor["met"] is False:
            reasons.append(f"Clean {floor['metric']} is {number(floor['clean']['value'])} (95 % interval from "
                           f"{number(floor['clean']['low'])}), not surely at or above the floor {floor['min']:g}.")

    for base in baselines:
        if base["beaten"] is False:
            reasons.append(f"The model does not surely beat answering with {base['how']}: {base['metric']} "
                           f"{number(base['model']['value'])} against {number(base['shortcut']['value'])} "
                           f"(margin {number(base['margin']['diff'])}, 95 % interval {number(base['margin']['low'])} "
                           f"to {number(base['margin']['high'])}).")
    unknown = [f"Clean {f['metric']} was not measured, so the floor {f['min']:g} is not shown to hold."
               for f in floors if f["met"] is None]
    if not floors and not baselines:
        unknown.append("Validity could not be established: no shortcut baseline could be measured (no closed "
                       "questions) and the protocol declares no clean-performance floor.")
    valid: Optional[bool] = False if reasons else (None if unknown else True)
    reasons += unknown
    return Validity(valid, tuple(reasons), clean, tuple(floors), tuple(baselines), errors)

