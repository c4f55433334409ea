"""The certificate as data: a typed record, canonical JSON and its sha256 digest."""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any, Callable, Optional

from .. import __version__
from .._canonical import canonical_json
from ..run.answers import ARMS_NOTE
from ..run.facts import RunFacts
from ..run.judgement import Judgement
from ..run.metrics import MAX_SCORED_CHARS
from ..run.options import LOCAL_OPTIONS, RunOptions
from ..run.probes import installed_versions
from ..run.records import CheckRecord, SpecRecord
from . import evidence
from .cases import number_cases

__all__ = ["view_digest", "SCHEMA", "CheckResult", "SpecResult", "Certificate", "build_certificate",
           "compute_digest", "DIGEST_EXCLUDES", "MACHINE_PATHS", "with_local_paths", "section_digests",
           "answers_section", "ANSWERS_SUFFIX"]

SCHEMA = "medrobust.certificate/4"
"""/4: a spec's pytest result is its ``outcome`` (was ``verdict``), the seed is stated once (in the
run's options) and noise records write their seed as a decimal string; /3: digests over RFC 8785 canonical JSON; /1 and /2: over Python's ``json.dumps`` form, which
``medrobust verify`` still recomputes for them (:mod:`medrobust.certificate.integrity`)."""
DIGEST_EXCLUDES = ("digest", "timing", "local")
"""Top-level fields the digest does not cover: itself, wall-clock times, and local paths that
cannot change a result (the answer journal, where the certificate is written, where the dataset and
the model's weights lie: their content is digested, their place is not)."""
MACHINE_PATHS = ("dataset_path", "model_path")
"""Run options that name a place on this machine: stated in ``local``, so that the same data and
weights at another path, or in another checkout, give the same digest. The replay commands in the
digested sections write them as the shell variables ``$DATASET_PATH`` and ``$MODEL_PATH``."""


def compute_digest(data: dict[str, Any], canonical: Callable[[Any], str] = canonical_json) -> str:
    """sha256 of the UTF-8 bytes of the canonical JSON of ``data`` without :data:`DIGEST_EXCLUDES`.

    It covers ``section_digests`` too: they are a function of the sections they digest, so the
    overall digest means the same as without them, and editing a stored section digest shows.

    Args:
        data: The certificate data.
        canonical: The canonical form: RFC 8785 (:func:`medrobust._canonical.canonical_json`) for
            this schema; ``medrobust verify`` passes the older form for older schemas.
    """
    return _sha256({k: v for k, v in data.items() if k not in DIGEST_EXCLUDES}, canonical)


def section_digests(data: dict[str, Any], canonical: Callable[[Any], str] = canonical_json) -> dict[str, str]:
    """sha256 of each covered top-level section's canonical JSON, so that ``medrobust verify`` can say
    which sections changed (every field but :data:`DIGEST_EXCLUDES` and ``section_digests`` itself).

    ``canonical`` as for :func:`compute_digest`."""
    return {k: _sha256(v, canonical) for k, v in sorted(data.items())
            if k not in DIGEST_EXCLUDES and k != "section_digests"}


def _sha256(value: Any, canonical: Callable[[Any], str]) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


@dataclasses.dataclass
class CheckResult(CheckRecord):
    """A check as the certificate states it: its record, its failure case and any deviation."""

    case_id: Optional[str] = None
    """The failure case (``cases[].id``) of this check, when it is its spec's minimal failure."""
    deviation: Optional[str] = None
    """Why this check's threshold departs from the sealed protocol, if it does."""


@dataclasses.dataclass
class SpecResult:
    """A spec with its pytest outcome, its conclusion, its checks, and minimal failing composition if any."""

    id: str
    name: str
    kind: str
    outcome: str
    """pytest's result on the point estimates: pass, fail, error, skipped, known failure (xfail) or not run."""
    message: str
    checks: list[CheckResult]
    minimal_failure: Optional[CheckResult]
    conclusion: Optional[str] = None
    """Its conclusion in the run's judgement (see :func:`medrobust.run.judgement.spec_conclusion`)."""


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
    judgement: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The run's judgement as made at session end: verdict and reason, validity, completeness, conclusions."""
    answers: Optional[dict[str, Any]] = None
    """The answers file beside the certificate (``<name>.answers.jsonl``): its sha256, row count, arms and a note
    (see :mod:`medrobust.run.answers`); None when no file was written."""
    digest: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (section digests and digest filled in)."""
        data = dataclasses.asdict(self)
        data["section_digests"] = section_digests(data)
        data["digest"] = compute_digest(data)
        return data


def view_digest() -> str:
    """sha256 of the code that renders the HTML view (render, view, embed, charts, the templates).

    Recorded in the certificate so ``medrobust verify`` knows whether it can re-render a
    page exactly: same view code, same page, whatever the git revision or install.
    """
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    code = [here / f"{name}.py" for name in ("render", "view", "embed", "charts")]
    for path in [*code, *sorted((here / "templates").glob("*.j2"))]:
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


_HARNESS_PACKAGES = ("torch", "transformers", "hypothesis", "pluggy", "numpy", "pillow", "jinja2")


def _versions() -> dict[str, str]:
    found = installed_versions(_HARNESS_PACKAGES)
    return {"python": platform.python_version(), **{k: v or "not installed" for k, v in found.items()}}


_OUTCOME_WORDS = {"passed": "pass", "failed": "fail", "error": "error", "skipped": "skipped",
                       "xfailed": "known failure"}


def _spec(record: SpecRecord, judgement: Judgement) -> SpecResult:
    checks = [CheckResult(**c.to_json(), deviation=judgement.deviation_of(record.nodeid, c)) for c in record.checks]
    failed = [c for c in checks if not c.passed]
    # hypothesis replays the shrunk example last, so the last failing check is the minimal one
    minimal = failed[-1] if failed and record.outcome in ("failed", "xfailed") else None
    return SpecResult(record.nodeid, record.name, record.kind, _OUTCOME_WORDS.get(record.outcome, "not run"),
                      record.message, checks, minimal, judgement.spec_conclusions.get(record.nodeid))


def build_certificate(options: RunOptions, judgement: Judgement, facts: RunFacts,
                      timing: dict[str, Any], answers: Optional[dict[str, Any]] = None) -> Certificate:
    """The certificate of a finished run, from its options, its judgement and its facts.

    Args:
        answers: The ``answers`` section naming the answers file written beside it, if one was
            (:func:`answers_section`).
    """
    specs = [_spec(judgement.specs[nodeid], judgement) for nodeid in sorted(judgement.specs)]
    summary = {v: sum(1 for s in specs if s.outcome == v) for v in ("pass", "fail", "error", "skipped", "known failure")}
    summary["specs"] = len(specs)
    summary["checks"] = sum(len(s.checks) for s in specs)
    summary["inconclusive"] = sum(1 for s in specs if s.conclusion == "inconclusive" and s.outcome != "known failure")
    summary["checks_by_conclusion"] = dict(judgement.checks_by_conclusion)
    harness = {"version": __version__, "git_revision": _git_revision(), "versions": _versions(),
               "platform": platform.platform(terse=True), "view_sha256": view_digest()}
    stated = options.to_json()
    local = {key: stated.pop(key) for key in (*LOCAL_OPTIONS, *MACHINE_PATHS)}
    if facts.journal:  # how many answers came from the journal depends on this run's history, not its result
        timing = {**timing, "journal_use": facts.journal}
    stable = _stable_text(options)
    cases = stable(number_cases(specs, judgement.specs))
    specs = [dataclasses.replace(s, message=stable(s.message)) for s in specs]
    run = {"options": stated, "severity_scale": options.severity_scale,
           "hypothesis_profile": facts.hypothesis_profile, "plugins": facts.plugins,
           "answer_scoring": answer_scoring(facts.answer_rows)}
    found = facts.evidence
    protocol = evidence.protocol_section(judgement)
    return Certificate(
        SCHEMA, judgement.verdict, summary, harness, run, facts.model, facts.calibrator, facts.dataset,
        facts.noises, specs, stable(facts.sample_errors), timing, local, cases=cases,
        verdict_rule=evidence.VERDICT_RULE, scope_disclaimer=evidence.SCOPE_DISCLAIMER, protocol=protocol,
        environment=found.get("environment"), test_data=found.get("test_data"),
        results=evidence.results_section(c for s in specs for c in s.checks),
        repeatability=found.get("repeatability"), shortcuts=found.get("shortcuts"),
        limitations=stable(evidence.limitations(specs, facts.noises, found, protocol.get("untested_criteria", ()),
                                                judgement)),
        judgement=judgement.to_json(), answers=answers)


def answer_scoring(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``run.answer_scoring`` section: the cap on the characters of an answer that are scored, and
    how many answers of the answers file were longer (scored on their opening; the file keeps them whole)."""
    over = sum(1 for row in rows if isinstance(row.get("answer"), str) and len(row["answer"]) > MAX_SCORED_CHARS)
    return {"max_scored_chars": MAX_SCORED_CHARS, "answers_over_the_cap": over,
            "note": f"every metric scores an answer's first {MAX_SCORED_CHARS:,} characters; a longer answer is "
                    f"truncated for scoring, never skipped, and kept whole in the answers file"}


_ADDRESS = re.compile(r"(<[^<>\n]*?) at 0x[0-9A-Fa-f]+>")
"""An object's default repr names its address (``<x.Y object at 0x7f...>``), which changes from run to run."""


def _stable_text(options: RunOptions) -> Callable[[Any], Any]:
    """A function that returns a JSON value with every text in it the same on every machine and in every
    run: the dataset and model paths in replay commands written as ``"$DATASET_PATH"`` and
    ``"$MODEL_PATH"`` (the paths themselves are stated in ``local``), object addresses dropped
    (``<x.Y object>``). For the digested texts that quote what happened: spec messages, cases,
    sample errors, limitations."""
    places = {}
    if options.dataset_path:
        places[f"--dataset {shlex.quote(f'{options.dataset}:{options.dataset_path}')}"] = (
            f'--dataset {shlex.quote(options.dataset + ":")}"$DATASET_PATH"')
    if options.model_path:
        places[f"--model-path {shlex.quote(options.model_path)}"] = '--model-path "$MODEL_PATH"'

    def stable(value: Any) -> Any:
        if isinstance(value, str):
            for word, variable in places.items():
                value = value.replace(word, variable)
            return _ADDRESS.sub(r"\1>", value)
        if isinstance(value, dict):
            return {k: stable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stable(v) for v in value]
        return value

    return stable


def with_local_paths(command: Any, local: Any) -> Any:
    """A replay command of the certificate with ``"$DATASET_PATH"`` and ``"$MODEL_PATH"`` written back as
    the paths its ``local`` section states (for printing on the machine that made it); unchanged where
    the certificate does not state them."""
    if not isinstance(command, str) or not isinstance(local, dict):
        return command
    for variable, key in (('"$DATASET_PATH"', "dataset_path"), ('"$MODEL_PATH"', "model_path")):
        if isinstance(local.get(key), str):
            command = command.replace(variable, shlex.quote(local[key]))
    return command


ANSWERS_SUFFIX = ".answers.jsonl"
"""The answers file is the certificate's path with this suffix for ``.json``: named after it, beside it,
so that where a certificate is written stays out of its digest."""


def answers_section(text: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The certificate's ``answers`` section for the answers file holding ``text``."""
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "rows": len(rows),
            "arms": sorted({row["arm"] for row in rows}), "note": ARMS_NOTE}
