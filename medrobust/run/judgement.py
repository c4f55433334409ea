"""The run's judgement, made once at the end: validity, each spec's conclusion, completeness, the verdict.

One function, :func:`judge`, turns the spec records, the sealed protocol, the
validity evidence and the run's scope into a :class:`Judgement`; the terminal
summary, the exit status and the certificate read it and never derive it again.
A spec's pytest result is its ``outcome`` (on point estimates); the result of
weighing its checks' 95 % intervals is its ``conclusion``.

The verdict, first match wins: ERROR (a spec errored), NOT VALID (the model does
not do the task: :mod:`.validity`), FAIL (a spec's conclusion is fail), PARTIAL
(not every collected spec ran: :mod:`.completeness`), INCONCLUSIVE (a spec is
inconclusive, or validity could not be established), PASS, else NOT RUN.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional

from .completeness import RunScope
from .conclusions import CONCLUSIONS, worst
from .protocol import Protocol, deviation
from .records import SpecRecord
from .validity import Validity

__all__ = ["VERDICTS", "VERDICT_RULE", "Judgement", "judge", "spec_conclusion"]

VERDICTS = ("PASS", "INCONCLUSIVE", "PARTIAL", "FAIL", "NOT VALID", "ERROR", "NOT RUN")
"""The run's verdicts, best to worst (NOT RUN: nothing ran)."""

VERDICT_RULE = (
    "Validity first: the model must do the task on clean inputs before its robustness means anything. It must "
    "beat answering with an uninformative image and always giving the majority answer (the paired 95 % "
    "interval of its margin above zero), reach every clean-performance floor the protocol declares (the 95 % "
    "interval's lower bound), and fail to answer at most the protocol's share of inputs (default 5 %); an "
    "answer the model failed to give is scored as wrong by every metric. A run that fails validity is NOT "
    "VALID. Each robustness check then compares a 95 % interval with its threshold: for max_drop, the paired "
    "interval of the drop (clean minus noisy score on the same samples: Agresti-Min for binary scores, a "
    "percentile bootstrap seeded by the run seed for graded ones); for min, the interval of the noisy estimate "
    "(Wilson for binary scores, normal otherwise). A check passes when the whole interval satisfies the "
    "threshold, fails when the whole interval violates it, and is inconclusive when the interval straddles it "
    "(more samples would decide). A spec concludes as the worst of its checks (a spec that failed for another "
    "reason than a check fails). The verdict is ERROR when a spec errored, else NOT VALID, else FAIL when any "
    "spec fails, else PARTIAL when not every collected spec ran (deselected, skipped, stopped early), else "
    "INCONCLUSIVE when any spec is inconclusive or validity could not be established, else PASS when any "
    "passes, else NOT RUN; expected failures (xfail) do not count. The pytest outcome of each spec rests on "
    "the point estimate alone, so a spec pytest reports as passed may conclude inconclusive here.")


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the run's records add up to.

    Attributes:
        verdict: ERROR if a spec errored, else FAIL if one fails, else INCONCLUSIVE if one is
            inconclusive, else PASS (NOT RUN when nothing ran); known failures are left out.
        checks_by_conclusion: How many checks pass, fail and are inconclusive.
        spec_conclusions: Each spec's conclusion by node id (None: it did not run).
        deviations: Checks whose thresholds depart from the sealed protocol, one entry per
            spec, metric and threshold.
        specs: The judged spec records, by node id.
        protocol: The sealed protocol, if any.
    """

    verdict: str
    checks_by_conclusion: Mapping[str, int]
    spec_conclusions: Mapping[str, Optional[str]]
    deviations: tuple[dict[str, Any], ...]
    specs: Mapping[str, SpecRecord]
    protocol: Optional[Protocol] = None
    validity: Optional[Validity] = None
    scope: Optional[RunScope] = None
    robustness: str = "NOT RUN"
    """The verdict of the robustness checks alone (ERROR, FAIL, INCONCLUSIVE, PASS or NOT RUN)."""

    def reason(self) -> str:
        """The verdict's reason in one sentence (empty for PASS)."""
        if self.verdict == "NOT VALID" and self.validity is not None and self.validity.reasons:
            return self.validity.reasons[0]
        if self.verdict == "PARTIAL" and self.scope is not None:
            return self.scope.reason()
        if self.verdict == "INCONCLUSIVE" and self.robustness != "INCONCLUSIVE" and self.validity is not None:
            return self.validity.reasons[0] if self.validity.reasons else ""
        reasons = {"ERROR": "A spec errored: the harness could not judge it.",
                   "FAIL": "A robustness check's 95 % interval misses its threshold.",
                   "INCONCLUSIVE": "A robustness check's 95 % interval straddles its threshold; more samples "
                                   "would decide.",
                   "NOT RUN": "No spec ran."}
        return reasons.get(self.verdict, "")

    def disagreements(self) -> list[tuple[str, str, Optional[str]]]:
        """(spec, pytest outcome, conclusion) where the point estimate and the interval disagree."""
        agree = {"passed": ("pass",), "failed": ("fail",), "error": ("error",)}
        return [(nodeid, record.outcome, self.spec_conclusions.get(nodeid))
                for nodeid, record in sorted(self.specs.items())
                if record.outcome in agree and self.spec_conclusions.get(nodeid) not in agree[record.outcome]]

    def to_json(self) -> dict[str, Any]:
        """The judgement as the certificate states it."""
        return {"verdict": self.verdict, "reason": self.reason(), "robustness": self.robustness,
                "validity": self.validity.to_json() if self.validity else None,
                "completeness": self.scope.to_json() if self.scope else None,
                "checks_by_conclusion": dict(self.checks_by_conclusion),
                "spec_conclusions": dict(sorted(self.spec_conclusions.items())), "rule": VERDICT_RULE}

    def deviation_of(self, nodeid: str, check: Any) -> Optional[str]:
        """Why ``check`` of spec ``nodeid`` departs from the protocol, or None when it does not."""
        for found in self.deviations:
            if (found["spec"], found["metric"]) == (nodeid, check.metric) and found["run"] == {
                    k: float(v) for k, v in check.threshold.items()}:
                return found["message"]
        return None

    def summary_line(self) -> str:
        """The verdict with its check counts, as the terminal prints it."""
        c = self.checks_by_conclusion
        reason = self.reason() if self.verdict in ("NOT VALID", "PARTIAL") else ""
        return (f"medrobust verdict with 95% intervals: {self.verdict} ({c['pass']} checks pass, "
                f"{c['fail']} fail, {c['inconclusive']} inconclusive){f': {reason}' if reason else ''}")


def spec_conclusion(record: SpecRecord) -> Optional[str]:
    """pass / fail / inconclusive / error for one spec; None when it did not run."""
    if record.outcome == "error":
        return "error"
    if record.outcome in ("skipped", "not run"):
        return None
    found = worst(c.conclusion for c in record.checks if c.conclusion)
    if record.outcome == "failed" and all(c.passed for c in record.checks):
        return "fail"  # failed outside any check (an assertion of its own, an exception)
    if found is None and record.outcome == "passed":
        return "pass"  # its own assertions held (e.g. on bench.compare); no interval to weigh
    return found


def _verdict(conclusions: Iterable[Optional[str]]) -> str:
    counted = set(conclusions)
    for conclusion, verdict in (("error", "ERROR"), ("fail", "FAIL"), ("inconclusive", "INCONCLUSIVE"),
                                ("pass", "PASS")):
        if conclusion in counted:
            return verdict
    return "NOT RUN"


def _deviations(specs: Mapping[str, SpecRecord], protocol: Optional[Protocol]) -> tuple[dict[str, Any], ...]:
    if protocol is None:
        return ()
    out: dict[tuple, dict[str, Any]] = {}
    for nodeid in sorted(specs):
        for check in specs[nodeid].checks:
            message = deviation(protocol, nodeid, check.metric, check.threshold)
            if message is None:
                continue
            key = (nodeid, check.metric, tuple(sorted(check.threshold.items())))
            if key in out:
                out[key]["checks"] += 1
                continue
            criterion = protocol.criterion_for(nodeid, check.metric)
            out[key] = {"spec": nodeid, "metric": check.metric, "composition_key": check.composition_key,
                        "criterion": criterion.id if criterion else None,
                        "protocol": criterion.threshold if criterion else {},
                        "run": {k: float(v) for k, v in check.threshold.items()}, "message": message, "checks": 1}
    return tuple(out.values())


def judge(specs: Mapping[str, SpecRecord], protocol: Optional[Protocol] = None,
          validity: Optional[Validity] = None, scope: Optional[RunScope] = None) -> Judgement:
    """The judgement of a finished run.

    Args:
        specs: The spec records by node id.
        protocol: The sealed protocol, if any.
        validity: The clean-performance assessment (:func:`medrobust.run.validity.assess_validity`);
            None leaves validity out of the verdict (no evidence was gathered).
        scope: What was collected and what ran (:func:`medrobust.run.completeness.run_scope`);
            None treats the run as complete.
    """
    counts = {c: 0 for c in CONCLUSIONS}
    for record in specs.values():
        for check in record.checks:
            if check.conclusion in counts:
                counts[check.conclusion] += 1
    conclusions = {nodeid: spec_conclusion(record) for nodeid, record in specs.items()}
    robustness = _verdict(conclusions[n] for n, r in specs.items() if r.outcome != "xfailed")
    verdict = robustness
    if robustness not in ("ERROR", "NOT RUN"):
        if validity is not None and validity.valid is False:
            verdict = "NOT VALID"
        elif robustness != "FAIL" and scope is not None and not scope.complete:
            verdict = "PARTIAL"
        elif robustness == "PASS" and validity is not None and validity.valid is None:
            verdict = "INCONCLUSIVE"
    return Judgement(verdict, {"pass": counts["pass"], "fail": counts["fail"],
                               "inconclusive": counts["inconclusive"]},
                     conclusions, _deviations(specs, protocol), dict(specs), protocol, validity, scope, robustness)
