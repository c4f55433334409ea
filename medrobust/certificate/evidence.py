"""The certificate's evidence sections: the verdict rule, protocol and deviations, curves and heat map,
limitations in words.

Everything here reads the run's judgement and facts; nothing is judged again and no model is asked
(the probes are in :mod:`medrobust.run.probes`, the judgement in :mod:`medrobust.run.judgement`).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from .._format import number
from ..run.judgement import VERDICT_RULE, Judgement
from ..run.protocol import SIGN_OFF_ROLES

__all__ = ["SCOPE_DISCLAIMER", "VERDICT_RULE", "PLACEHOLDER_NOTE", "protocol_section", "results_section",
           "limitations"]

SCOPE_DISCLAIMER = (
    "Bench testing of robustness to foreseeable input perturbations, on the test data and under the noises "
    "named in this report. It is not a conformity assessment, a regulatory clearance or approval, nor a "
    "clinical validation of the model; results do not transfer to other data, noises, severities or model "
    "versions.")

PLACEHOLDER_NOTE = (
    "No protocol was given: the thresholds are the placeholders shipped with the specs, not clinical claims. "
    "Pass --protocol with pre-registered, clinically justified criteria.")

_LIMITATION_LINES = 40


def protocol_section(judgement: Judgement) -> dict[str, Any]:
    """The ``protocol`` field: the sealed protocol and deviations, or the placeholder statement."""
    protocol = judgement.protocol
    if protocol is None:
        return {"placeholder": True, "sha256": None, "title": "", "version": "", "intended_use": "",
                "scope": "", "test_data": "", "criteria": [], "deviations": [], "note": PLACEHOLDER_NOTE,
                "sign_off": [{"role": r.replace("_", " "), "name": "", "date": ""} for r in SIGN_OFF_ROLES]}
    section = protocol.to_json()
    section["deviations"] = [dict(d) for d in judgement.deviations]
    checked = {c.id: 0 for c in protocol.criteria}
    for nodeid, record in judgement.specs.items():
        for check in record.checks:
            criterion = protocol.criterion_for(nodeid, check.metric)
            if criterion is not None:
                checked[criterion.id] += 1
    section["checks_per_criterion"] = checked
    section["untested_criteria"] = [key for key, n in checked.items() if n == 0]
    section["note"] = (f"Criteria fixed in protocol {protocol.title!r} version {protocol.version}, "
                       f"sha256 {protocol.sha256}, hashed before the run started; "
                       f"{len(section['deviations'])} deviation(s).")
    return section


def _single(check: Any) -> Optional[tuple[str, int]]:
    steps = check.composition
    if len(steps) != 1:
        return None
    return str(steps[0]["name"]), int(steps[0]["severity"])


def results_section(checks: Iterable[Any]) -> dict[str, Any]:
    """Robustness curves per (metric, noise) and a noise x severity heat map of drops, from single-noise checks.

    Args:
        checks: :class:`~medrobust.certificate.record.CheckResult` objects of every spec.
    """
    points: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    clean: dict[tuple[str, str], dict[str, Any]] = {}
    drops: dict[str, dict[tuple[str, int], Optional[float]]] = {}
    for check in checks:
        single = _single(check)
        if single is None:
            continue
        noise, severity = single
        key = (check.metric, noise)
        uncal = (check.uncalibrated or {}).get("noisy", {}).get("value")
        points.setdefault(key, {}).setdefault(severity, {  # the same inputs give the same figures: keep the first
            "severity": severity, "value": check.noisy["value"], "low": check.noisy["low"],
            "high": check.noisy["high"], "uncalibrated": uncal})
        clean.setdefault(key, {"severity": 0, "value": check.clean["value"], "low": check.clean["low"],
                               "high": check.clean["high"],
                               "uncalibrated": (check.uncalibrated or {}).get("clean", {}).get("value")})
        drops.setdefault(check.metric, {}).setdefault((noise, severity), check.drop)
    curves = [{"metric": metric, "noise": noise,
               "points": [clean[(metric, noise)]] + [points[(metric, noise)][s] for s in sorted(points[(metric, noise)])]}
              for metric, noise in sorted(points)]
    heatmap: Optional[dict[str, Any]] = None
    if drops:
        metric = max(sorted(drops), key=lambda m: (m == "closed_accuracy", len(drops[m])))
        noises = sorted({n for n, _ in drops[metric]})
        severities = sorted({s for _, s in drops[metric]})
        heatmap = {"metric": metric, "value": "drop (clean minus noisy)", "noises": noises,
                   "severities": severities,
                   "cells": [[drops[metric].get((n, s)) for s in severities] for n in noises]}
    return {"curves": curves, "heatmap": heatmap}


def _describe(check: Any, noise_info: dict[str, Any]) -> str:
    parts = []
    for step in check.composition:
        family = (noise_info.get(step["name"]) or {}).get("family")
        parts.append(f"{step['name']}{f' ({family})' if family else ''} at severity {step['severity']}")
    return " combined with ".join(parts) if parts else "clean inputs"


def _run_limits(judgement: Judgement) -> list[str]:
    """What limits the whole run: validity reasons, what did not run, answers the model failed to give."""
    lines = []
    validity = judgement.validity
    if validity is not None:
        lines += list(validity.reasons)
        errors = validity.errors
        if errors.get("failed") and not any("failed to answer" in r for r in validity.reasons):
            lines.append(f"The model failed to answer {errors['failed']} of {errors['answers']} inputs (scored as "
                         f"wrong by every metric; first error: {errors['first_error']}).")
    if judgement.scope is not None and not judgement.scope.complete:
        lines.append(judgement.scope.reason())
    return lines


def limitations(specs: Iterable[Any], noise_info: dict[str, Any], evidence: dict[str, Any],
                untested: Iterable[str] = (), judgement: Optional[Judgement] = None) -> list[str]:
    """The conditions found to degrade performance, in words, worst first, after what limits the whole run
    (validity, completeness, failed answers) as the judgement found it.

    Args:
        specs: :class:`~medrobust.certificate.record.SpecResult` objects.
        noise_info: The certificate's ``noises`` (for families).
        evidence: The run's probes (repeatability, shortcuts).
        untested: Ids of protocol criteria no check exercised.
        judgement: The run's judgement (its validity and completeness reasons come first).
    """
    seen: dict[tuple[str, str], tuple[Any, str]] = {}
    for spec in specs:
        for check in spec.checks:
            if check.conclusion in ("fail", "inconclusive"):
                key = (check.composition_key, check.metric)
                if key not in seen or check.conclusion == "fail":
                    seen[key] = (check, spec.id)
    ranked = sorted(seen.values(), key=lambda cs: (cs[0].conclusion != "fail", -(cs[0].drop or 0.0),
                                                   cs[0].composition_key, cs[0].metric))
    lines = _run_limits(judgement) if judgement is not None else []
    for check, spec_id in ranked[:_LIMITATION_LINES]:
        interval = check.interval or {}
        what = "drop" if interval.get("of") == "drop" else "value"
        limit = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in sorted(check.threshold.items()))
        if what == "drop":
            verb = "exceeds the allowed drop" if check.conclusion == "fail" else "may exceed the allowed drop"
        else:
            verb = "falls below the minimum" if check.conclusion == "fail" else "may fall below the minimum"
        lines.append(
            f"{check.metric} falls from {number(check.clean['value'])} to {number(check.noisy['value'])} "
            f"(drop {number(check.drop)}; 95 % interval of the {what} {number(interval.get('low'))} to "
            f"{number(interval.get('high'))}) under {_describe(check, noise_info)}: {check.conclusion}, "
            f"it {verb} ({limit}) [{spec_id}].")
    if len(ranked) > _LIMITATION_LINES:
        lines.append(f"... and {len(ranked) - _LIMITATION_LINES} more degrading conditions, listed in the results.")
    rep = evidence.get("repeatability") or {}
    if rep.get("n") and rep.get("agree", 0) < rep["n"]:
        lines.append(f"Answers are not repeatable: asked twice on the same clean inputs, {rep['n'] - rep['agree']} "
                     f"of {rep['n']} answers differed (agreement {number(rep.get('rate'))}).")
    for criterion in untested:
        lines.append(f"Protocol criterion {criterion} was not exercised: no spec ran a check it governs.")
    for probe, message in sorted((evidence.get("probe_errors") or {}).items()):
        lines.append(f"The {probe} evidence could not be gathered ({message}); the report lacks it.")
    if not lines:
        lines.append("No tested condition degraded performance beyond its criterion. Noises, severities, "
                     "combinations and data not tested here are not covered.")
    return lines
