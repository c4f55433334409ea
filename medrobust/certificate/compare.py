"""``medrobust diff A B``: what changed between two certificates, for model upgrades in CI.

A *regression* is any of: the overall verdict got worse; a spec that did not
fail in A fails (or errs) in B, judged by its conclusion (the 95 % interval
against the threshold, as the certificate's verdict is; the pytest verdict for
certificates without conclusions; known failures left out); a spec that ran in
A is skipped, not run or absent in B (a CI gate must not pass a run that skipped
its specs); a check present in both (same spec, composition and metric) whose clean or noisy value fell by
more than the confidence intervals allow. "More than the CIs allow" means the two 95 % intervals do not
overlap (B's upper bound below A's lower bound): a conservative rule, so a
flagged move is unlikely to be sampling noise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

from .integrity import json_differences
from .._format import estimate_text
from .record import compute_digest

__all__ = ["CI_RULE", "Comparison", "compare_certificates"]

CI_RULE = ("a value moved beyond its confidence intervals when the 95 % intervals of A and B do not "
           "overlap (B's upper bound below A's lower bound, or B's lower bound above A's upper bound)")

VERDICT_RANK = {"PASS": 0, "INCONCLUSIVE": 1, "PARTIAL": 2, "NOT RUN": 2, "FAIL": 2, "NOT VALID": 3, "ERROR": 3}
"""Overall verdicts, better to worse; NOT RUN and PARTIAL rank with FAIL, so a run that skipped specs is no
improvement, and NOT VALID with ERROR: nothing a model that does not do the task shows can be relied on."""
FAILING = ("fail", "error")
RAN = ("pass", "fail", "error", "inconclusive", "known failure")
"""Spec conclusions of a spec that ran; ``not run`` and ``absent`` are the others."""
_OUTCOME_AS_CONCLUSION = {"pass": "pass", "fail": "fail", "error": "error"}

IDENTITY_SECTIONS = (
    ("model", ("model",)),
    ("weights", ("model", "weights_sha256")),
    ("calibrator", ("calibrator",)),
    ("dataset", ("dataset",)),
    ("test data manifest", ("test_data", "manifest_digest")),
    ("protocol", ("protocol", "sha256")),
    ("harness version", ("harness", "version")),
    ("harness revision", ("harness", "git_revision")),
    ("run options", ("run", "options")),
    ("noises", ("noises",)),
)
"""(label, path) of the identities whose change ``diff`` reports."""


@dataclasses.dataclass
class Comparison:
    """The differences between certificate A (before) and B (after)."""

    verdict: tuple[str, str]
    new_failures: list[dict[str, Any]]
    fixed: list[dict[str, Any]]
    newly_inconclusive: list[dict[str, Any]]
    not_run: list[dict[str, Any]]
    """Specs that ran in A and are not run (skipped, no conclusion) or absent in B."""
    added_specs: list[str]
    removed_specs: list[str]
    worse: list[dict[str, Any]]
    better: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    notes: list[str]

    @property
    def verdict_worse(self) -> bool:
        """B's overall verdict is worse than A's."""
        return VERDICT_RANK.get(self.verdict[1], 3) > VERDICT_RANK.get(self.verdict[0], 3)

    @property
    def regressions(self) -> int:
        """How many regressions: worse verdict, new failures, specs no longer run, values fallen beyond their CIs."""
        return int(self.verdict_worse) + len(self.new_failures) + len(self.not_run) + len(self.worse)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, with the CI rule spelled out."""
        data = dataclasses.asdict(self)
        data.update(verdict={"a": self.verdict[0], "b": self.verdict[1], "worse": self.verdict_worse},
                    regressions=self.regressions, ci_rule=CI_RULE)
        return data

    def lines(self) -> list[str]:
        """A human-readable account; the first line says whether there are regressions."""
        a, b = self.verdict
        out = [f"{self.regressions} regression(s)" if self.regressions else "no regressions",
               f"verdict: {a} -> {b}" + (" (worse)" if self.verdict_worse else "")]
        for item in self.new_failures:
            out.append(f"NEW FAILURE  {item['spec']}  ({item['a']} -> {item['b']})")
        for item in self.not_run:
            out.append(f"NOT RUN      {item['spec']}  ({item['a']} -> {item['b']})")
        for item in self.fixed:
            out.append(f"fixed        {item['spec']}  ({item['a']} -> {item['b']})")
        for item in self.newly_inconclusive:
            out.append(f"inconclusive {item['spec']}  ({item['a']} -> {item['b']})")
        for label, items in (("WORSE", self.worse), ("better", self.better)):
            for d in items:
                out.append(f"{label:<12} {d['spec']}  {d['metric']} {d['which']} under {d['composition_key']}: "
                           f"{estimate_text(d['a'])} -> {estimate_text(d['b'])} ({d['delta']:+.3f})")
        out += [f"spec only in B: {s}" for s in self.added_specs]
        reported = {item["spec"] for item in self.not_run}
        out += [f"spec only in A: {s}" for s in self.removed_specs if s not in reported]
        for change in self.changed:
            shown = ", ".join(change["paths"][:6]) + (" ..." if len(change["paths"]) > 6 else "")
            out.append(f"changed {change['what']}: {shown}")
        out += [f"note: {n}" for n in self.notes]
        out.append(f"rule: {CI_RULE}")
        return out


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _specs(cert: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in cert.get("specs") or [] if isinstance(s, dict) and "id" in s}


def _judged(cert: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The spec conclusions of the certificate's judgement (schema 3 on), as the run judged them."""
    judged = (cert.get("judgement") or {}).get("spec_conclusions")
    return judged if isinstance(judged, dict) else None


def _conclusion(spec: Optional[dict[str, Any]], judged: Optional[dict[str, Any]] = None) -> str:
    """A spec's conclusion as its run judged it; ``absent``, ``known failure`` or ``not run`` when it has
    none to weigh. Certificates older than the judgement section fall back to the spec's own fields."""
    if spec is None:
        return "absent"
    outcome = spec.get("outcome", spec.get("verdict"))  # "verdict" before schema /4
    if outcome == "known failure":
        return "known failure"
    if judged is not None:
        return str(judged.get(spec.get("id")) or "not run")
    if "conclusion" in spec:
        return str(spec["conclusion"] or "not run")
    return _OUTCOME_AS_CONCLUSION.get(str(outcome), "not run")


def _checks(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Checks by (composition key, metric); a repeated check counts as its last evaluation."""
    return {(c["composition_key"], c["metric"]): c for c in spec.get("checks") or []}


def _finite(est: Any) -> Optional[dict[str, float]]:
    if not isinstance(est, dict):
        return None
    values = [est.get(k) for k in ("value", "low", "high")]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    return est


def _moves(spec_id: str, key: tuple[str, str], a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for which in ("clean", "noisy"):
        ea, eb = _finite(a.get(which)), _finite(b.get(which))
        if ea is None or eb is None:
            continue
        direction = "worse" if eb["high"] < ea["low"] else "better" if eb["low"] > ea["high"] else None
        if direction:
            out.append({"spec": spec_id, "composition_key": key[0], "metric": key[1], "which": which,
                        "direction": direction, "a": ea, "b": eb, "delta": eb["value"] - ea["value"]})
    return out


def compare_certificates(a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """Compare certificate ``a`` (before) with ``b`` (after)."""
    specs_a, specs_b = _specs(a), _specs(b)
    judged_a, judged_b = _judged(a), _judged(b)
    new_failures, fixed, inconclusive, not_run, worse, better = [], [], [], [], [], []
    for spec_id in sorted(specs_a):
        va, vb = _conclusion(specs_a[spec_id], judged_a), _conclusion(specs_b.get(spec_id), judged_b)
        if va in RAN and vb not in RAN:
            not_run.append({"spec": spec_id, "a": va, "b": vb})
    for spec_id in sorted(specs_b):
        va, vb = _conclusion(specs_a.get(spec_id), judged_a), _conclusion(specs_b[spec_id], judged_b)
        if vb in FAILING and va not in FAILING:
            new_failures.append({"spec": spec_id, "a": va, "b": vb})
        elif va in FAILING and vb == "pass":
            fixed.append({"spec": spec_id, "a": va, "b": vb})
        elif vb == "inconclusive" and va not in ("inconclusive", *FAILING):
            inconclusive.append({"spec": spec_id, "a": va, "b": vb})
        if spec_id in specs_a:
            checks_a, checks_b = _checks(specs_a[spec_id]), _checks(specs_b[spec_id])
            for key in sorted(set(checks_a) & set(checks_b)):
                for move in _moves(spec_id, key, checks_a[key], checks_b[key]):
                    (worse if move.pop("direction") == "worse" else better).append(move)
    changed = []
    for label, path in IDENTITY_SECTIONS:
        va, vb = _get(a, path), _get(b, path)
        if va != vb:
            paths = json_differences(va, vb, ("A", "B"), limit=20)
            prefix = "$." + ".".join(path)
            changed.append({"what": label, "a": va if not isinstance(va, (dict, list)) else None,
                            "b": vb if not isinstance(vb, (dict, list)) else None,
                            "paths": [prefix + p[1:] for p in paths]})
    notes = [f"certificate {name}'s digest does not match its content; run medrobust verify on it"
             for name, cert in (("A", a), ("B", b)) if cert.get("digest") != compute_digest(cert)]
    return Comparison((str(a.get("verdict")), str(b.get("verdict"))), new_failures, fixed, inconclusive, not_run,
                      sorted(set(specs_b) - set(specs_a)), sorted(set(specs_a) - set(specs_b)),
                      worse, better, changed, notes)
