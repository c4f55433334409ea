"""The certificate as data: a typed record, canonical JSON and its sha256 digest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import re
import subprocess
from pathlib import Path
from typing import Any, Optional

from ..probes import hypothesis_profile
from ..sample import image_digest

__all__ = ["view_digest", "SCHEMA", "CheckResult", "SpecResult", "Certificate", "build_certificate", "canonical_json",
           "compute_digest", "DIGEST_EXCLUDES", "samples_digest", "section_digests"]

SCHEMA = "medrobust.certificate/2"
DIGEST_EXCLUDES = ("digest", "timing", "local")
"""Top-level fields the digest does not cover: itself, wall-clock times, and local paths that
cannot change a result (the answer journal, where the certificate is written)."""

LOCAL_OPTIONS = ("journal", "certificate", "protocol")


def canonical_json(data: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 text, NaN as null.

    Lone surrogates (invalid UTF-8 decoded with ``surrogateescape``) are written as ``\\uXXXX``
    escapes, so the text always encodes as UTF-8 and parses back to the same strings.
    """
    text = json.dumps(_finite(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return _SURROGATES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATES = re.compile("[\ud800-\udfff]")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def compute_digest(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``data`` without :data:`DIGEST_EXCLUDES`.

    It covers ``section_digests`` too: they are a function of the sections they digest, so the
    overall digest means the same as without them, and editing a stored section digest shows.
    """
    covered = {k: v for k, v in data.items() if k not in DIGEST_EXCLUDES}
    return hashlib.sha256(canonical_json(covered).encode("utf-8")).hexdigest()


def section_digests(data: dict[str, Any]) -> dict[str, str]:
    """sha256 of each covered top-level section's canonical JSON, so that ``medrobust verify`` can say
    which sections changed (every field but :data:`DIGEST_EXCLUDES` and ``section_digests`` itself)."""
    return {k: hashlib.sha256(canonical_json(v).encode("utf-8")).hexdigest()
            for k, v in sorted(data.items()) if k not in DIGEST_EXCLUDES and k != "section_digests"}


@dataclasses.dataclass
class CheckResult:
    """One threshold check of one metric under one composition."""

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
    case_id: Optional[str] = None
    """The failure case (``cases[].id``) of this check, when it is its spec's minimal failure."""
    conclusion: Optional[str] = None
    """pass / fail / inconclusive: the 95 % interval against the threshold."""
    interval: Optional[dict[str, Any]] = None
    strata: dict[str, Any] = dataclasses.field(default_factory=dict)
    deviation: Optional[str] = None
    """Why this check's threshold departs from the sealed protocol, if it does."""


@dataclasses.dataclass
class SpecResult:
    """A spec with its verdict, checks, and minimal failing composition if any."""

    id: str
    name: str
    kind: str
    verdict: str
    message: str
    checks: list[CheckResult]
    minimal_failure: Optional[CheckResult]
    conclusion: Optional[str] = None
    """Worst conclusion of its checks (see :func:`medrobust.certificate.evidence.spec_conclusion`)."""


@dataclasses.dataclass
class Certificate:
    """Everything a certificate states. ``timing`` and ``digest`` are outside the digest."""

    schema: str
    verdict: str
    summary: dict[str, int]
    harness: dict[str, Any]
    run: dict[str, Any]
    model: dict[str, Any]
    calibrator: dict[str, Any]
    dataset: dict[str, Any]
    noises: dict[str, Any]
    specs: list[SpecResult]
    sample_errors: list[dict[str, str]]
    timing: dict[str, Any]
    local: dict[str, Any] = dataclasses.field(default_factory=dict)
    cases: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    section_digests: dict[str, str] = dataclasses.field(default_factory=dict)
    verdict_rule: str = ""
    scope_disclaimer: str = ""
    protocol: dict[str, Any] = dataclasses.field(default_factory=dict)
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)
    test_data: Optional[dict[str, Any]] = None
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    repeatability: Optional[dict[str, Any]] = None
    shortcuts: Optional[dict[str, Any]] = None
    limitations: list[str] = dataclasses.field(default_factory=list)
    digest: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (section digests and digest filled in)."""
        data = dataclasses.asdict(self)
        data["section_digests"] = section_digests(data)
        data["digest"] = compute_digest(data)
        return data


def view_digest() -> str:
    """sha256 of the code that renders the HTML view (render.py, charts.py, the templates).

    Recorded in the certificate so ``medrobust verify`` knows whether it can re-render a
    page exactly: same view code, same page, whatever the git revision or install.
    """
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in [here / "render.py", here / "charts.py", *sorted((here / "templates").glob("*.j2"))]:
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _git_revision() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "hypothesis", "pluggy", "numpy", "pillow", "jinja2"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _check(record: Any) -> CheckResult:
    clean, noisy = record.clean.to_json(), record.noisy.to_json()
    # the drop of the recorded (rounded) values: an xdist worker sends its records as JSON, so
    # computing from unrounded values would make a serial run's digest differ from a parallel one's
    drop = None if math.isnan(record.clean.value) or math.isnan(record.noisy.value) else round(
        clean["value"] - noisy["value"], 6)
    return CheckResult(record.composition.to_json(), record.composition.key, record.metric,
                       clean, noisy, drop, dict(record.threshold), record.passed,
                       record.errors, record.uncalibrated, conclusion=record.conclusion,
                       interval=record.interval, strata=record.strata)


def _spec(record: Any, protocol: Any = None) -> SpecResult:
    checks = [_check(c) for c in record.checks]
    if protocol is not None:
        from ..protocol import deviation

        for check in checks:
            check.deviation = deviation(protocol, record.nodeid, check.metric, check.threshold)
    failed = [c for c in checks if not c.passed]
    # hypothesis replays the shrunk example last, so the last failing check is the minimal one
    minimal = failed[-1] if failed and record.outcome in ("failed", "xfailed") else None
    verdict = {"passed": "pass", "failed": "fail", "error": "error", "skipped": "skipped",
               "xfailed": "known failure"}.get(
        record.outcome, "not run")
    from .evidence import spec_conclusion

    return SpecResult(record.nodeid, record.name, record.kind, verdict, record.message, checks, minimal,
                      spec_conclusion(record))


def build_certificate(ctx: Any, timing: dict[str, Any]) -> Certificate:
    """Assemble the certificate of a finished run from its :class:`RunContext`."""
    from . import evidence

    specs = [_spec(ctx.specs[nodeid], ctx.protocol) for nodeid in sorted(ctx.specs)]
    summary = {v: sum(1 for s in specs if s.verdict == v) for v in ("pass", "fail", "error", "skipped", "known failure")}
    summary["specs"] = len(specs)
    summary["checks"] = sum(len(s.checks) for s in specs)
    summary["inconclusive"] = sum(1 for s in specs if s.conclusion == "inconclusive" and s.verdict != "known failure")
    verdict, summary["checks_by_conclusion"] = evidence.overall_verdict(ctx)
    facts = ctx.merged_facts()
    noise_names = facts["noise_names"]
    noises = {}
    for name in sorted(noise_names):
        noise = ctx.noises[name]
        noises[name] = {"modality": noise.modality, "family": noise.family, "version": noise.version,
                        "description": noise.description, "rationale": getattr(noise, "rationale", ""),
                        "random": noise.random,
                        "severities": [dict(row) for row in noise.table],
                        "plugin": ctx.host.noises.provider(name)}
        calibration = getattr(ctx.noises, "calibration", None)
        if calibration is not None:
            noises[name]["calibration"] = [
                {"target": c.target, "level": c.level, "achieved": round(c.achieved, 4), "clamped": c.clamped}
                for c in calibration(name)]
    from .. import __version__

    harness = {"version": __version__, "git_revision": _git_revision(), "versions": _versions(),
               "platform": platform.platform(terse=True), "view_sha256": view_digest()}
    options = ctx.options.to_json()
    local = {key: options.pop(key) for key in LOCAL_OPTIONS}
    run = {"options": options, "seed": ctx.options.seed,
           "severity_scale": ctx.options.severity_scale,
           # the profile the specs ran under: under xdist the workers', not this controller's
           "hypothesis_profile": ((facts.get("evidence") or {}).get("environment") or {}).get(
               "hypothesis_profile") or hypothesis_profile(),
           "plugins": {kind: ctx.host.registry(kind).providers() for kind in
                       ("models", "calibrators", "noises", "datasets", "metrics")}}
    from .cases import number_cases

    return Certificate(SCHEMA, verdict, summary, harness, run, facts["model"], facts["calibrator"],
                       facts["dataset"], noises, specs, facts["sample_errors"], timing, local,
                       cases=number_cases(specs, ctx.specs), **_evidence(ctx, specs, facts, noises))


def _evidence(ctx: Any, specs: list[SpecResult], facts: dict[str, Any], noises: dict[str, Any]) -> dict[str, Any]:
    """The issue-6 sections: protocol, verdict rule, environment, test data, results, probes, limitations."""
    from . import evidence
    from ..probes import environment

    found = facts.get("evidence") or {}
    protocol = evidence.protocol_section(ctx)
    return {"verdict_rule": evidence.VERDICT_RULE, "scope_disclaimer": evidence.SCOPE_DISCLAIMER,
            "protocol": protocol,
            "environment": found.get("environment") or environment(ctx.options.device, ctx.options.seed),
            "test_data": found.get("test_data"),
            "results": evidence.results_section(c for s in specs for c in s.checks),
            "repeatability": found.get("repeatability"), "shortcuts": found.get("shortcuts"),
            "limitations": evidence.limitations(specs, noises, found, protocol.get("untested_criteria", ()))}


def samples_digest(samples: list[Any]) -> str:
    """sha256 over every sample's id, image pixels, question, answer and answer type."""
    h = hashlib.sha256()
    for s in samples:
        h.update(canonical_json([s.id, image_digest(s.image), s.question, s.answer, s.answer_type]).encode())
    return h.hexdigest()
