"""The run's judgement, made once at the end: each spec's conclusion, the verdict, the deviations.

One function, :func:`judge`, turns the spec records and the sealed protocol into
a :class:`Judgement`; the terminal summary and the certificate read it and never
derive it again. A spec's pytest result is its ``outcome`` (on point
estimates); the result of weighing its checks' 95 % intervals is its
``conclusion``, and the verdict rests on the conclusions.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional

from .conclusions import CONCLUSIONS, worst
from .protocol import Protocol, deviation
from .records import SpecRecord

__all__ = ["VERDICTS", "Judgement", "judge", "spec_conclusion"]

VERDICTS = ("PASS", "INCONCLUSIVE", "FAIL", "ERROR", "NOT RUN")
"""The run's verdicts."""


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
        return (f"medrobust verdict with 95% intervals: {self.verdict} ({c['pass']} checks pass, "
                f"{c['fail']} fail, {c['inconclusive']} inconclusive)")


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


def judge(specs: Mapping[str, SpecRecord], protocol: Optional[Protocol] = None) -> Judgement:
    """The judgement of a finished run from its spec records and its sealed protocol."""
    counts = {c: 0 for c in CONCLUSIONS}
    for record in specs.values():
        for check in record.checks:
            if check.conclusion in counts:
                counts[check.conclusion] += 1
    conclusions = {nodeid: spec_conclusion(record) for nodeid, record in specs.items()}
    verdict = _verdict(conclusions[n] for n, r in specs.items() if r.outcome != "xfailed")
    return Judgement(verdict, {"pass": counts["pass"], "fail": counts["fail"],
                               "inconclusive": counts["inconclusive"]},
                     conclusions, _deviations(specs, protocol), dict(specs), protocol)
