"""One robustness run: options, the loaded plugins, and what the specs found."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any, Callable, Optional

from .manager import PluginHost
from .sample import Sample

__all__ = ["RunOptions", "RunContext", "SpecRecord", "CheckRecord", "parse_key_values",
           "parse_dataset"]


def parse_key_values(pairs: list[str], flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` with an error naming the flag."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def parse_dataset(spec: str) -> tuple[str, Optional[str]]:
    """``"NAME[:PATH]"`` -> ``(name, path or None)``."""
    name, sep, path = spec.partition(":")
    return name, (path if sep and path else None)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What the user asked for on the command line."""

    model: str = "reference"
    model_path: Optional[str] = None
    model_options: dict[str, str] = dataclasses.field(default_factory=dict)
    calibrator: str = "none"
    calibrator_options: dict[str, str] = dataclasses.field(default_factory=dict)
    dataset: str = "phantom-vqa"
    dataset_path: Optional[str] = None
    dataset_options: dict[str, str] = dataclasses.field(default_factory=dict)
    split: str = "test"
    reference_split: str = "reference"
    samples: Optional[int] = None
    seed: int = 0
    certificate: Optional[str] = "reports/certificate"
    device: str = "cpu"
    batch_size: int = 64
    severity_scale: str = "declared"
    journal: Optional[str] = ".medrobust/journal.sqlite"
    protocol: Optional[str] = None
    """Path of a pre-registered protocol (YAML); read and hashed when the run starts."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CheckRecord:
    """One ``bench.expect`` evaluation."""

    composition: Any
    metric: str
    clean: Any
    noisy: Any
    threshold: dict[str, float]
    passed: bool
    errors: int
    uncalibrated: Optional[dict[str, Any]] = None
    """When a calibrator ran: the model's own figures on the same inputs and paired differences."""
    conclusion: Optional[str] = None
    """pass / fail / inconclusive from the 95 % interval against the threshold (see conclusions.py)."""
    interval: Optional[dict[str, Any]] = None
    """The interval the conclusion rests on: ``{"of": "drop"|"noisy", "low", "high"}``."""
    strata: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Clean and noisy estimates per modality, organ and answer type."""

    def to_json(self) -> dict[str, Any]:
        return {"composition": self.composition.to_json(), "metric": self.metric,
                "clean": self.clean.to_json(), "noisy": self.noisy.to_json(),
                "threshold": dict(self.threshold), "passed": self.passed, "errors": self.errors,
                "uncalibrated": self.uncalibrated, "conclusion": self.conclusion, "interval": self.interval,
                "strata": self.strata}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CheckRecord":
        from .metrics import Estimate
        from .noise.composition import Composition

        return cls(Composition.from_json(data["composition"]), data["metric"], Estimate(**data["clean"]),
                   Estimate(**data["noisy"]), dict(data["threshold"]), bool(data["passed"]),
                   int(data["errors"]), data.get("uncalibrated"), data.get("conclusion"),
                   data.get("interval"), data.get("strata") or {})


@dataclasses.dataclass
class SpecRecord:
    """A spec (pytest item) and the checks it ran."""

    nodeid: str
    name: str
    kind: str
    checks: list[CheckRecord] = dataclasses.field(default_factory=list)
    outcome: str = "not run"
    message: str = ""
    case: Optional[dict[str, Any]] = None
    """The last failing check's failure case (see :mod:`medrobust.certificate.cases`), gathered where
    the evaluator lives so that it travels to the xdist controller with the record."""
    _pending_case: Optional[Callable[[], dict[str, Any]]] = dataclasses.field(default=None, repr=False,
                                                                               compare=False)

    def defer_case(self, gather: Callable[[], dict[str, Any]]) -> None:
        """Gather the failure case with ``gather`` when it is needed; a later failing check replaces it."""
        self.case, self._pending_case = None, gather

    def resolve_case(self) -> Optional[dict[str, Any]]:
        """The failure case, gathered now if it was deferred (call where the evaluator lives)."""
        if self._pending_case is not None:
            self.case, self._pending_case = self._pending_case(), None
        return self.case

    def to_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "name": self.name, "kind": self.kind, "outcome": self.outcome,
                "message": self.message, "checks": [c.to_json() for c in self.checks],
                "case": self.resolve_case()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SpecRecord":
        return cls(data["nodeid"], data["name"], data["kind"],
                   [CheckRecord.from_json(c) for c in data["checks"]], data["outcome"], data["message"],
                   data.get("case"))


class RunContext:
    """Per-session state, kept in ``config.stash``; heavy parts load on first use."""

    def __init__(self, options: RunOptions, host: PluginHost) -> None:
        self.options = options
        self.host = host
        self.specs: dict[str, SpecRecord] = {}
        self.current: Optional[SpecRecord] = None
        self._model: Any = None
        self._raw_model: Any = None
        self._failures: dict[str, Exception] = {}
        self._calibrator: Any = None
        self._dataset: Any = None
        self._samples: Optional[list[Sample]] = None
        self._evaluator: Any = None
        self._baseline: Any = None
        self.remote_facts: list[dict[str, Any]] = []
        self._noises: Any = None
        self._evidence: Optional[dict[str, Any]] = None
        self.evidence_share: Optional[Any] = None
        """Under xdist: the file where workers share the evidence probes (see :mod:`.worker_share`)."""
        self.protocol: Any = None
        """The sealed :class:`~medrobust.protocol.Protocol`, hashed here, before anything runs."""
        if options.protocol:
            from .protocol import load_protocol

            self.protocol = load_protocol(options.protocol)

    # -- plugins -----------------------------------------------------------
    @property
    def noises(self) -> Any:
        """The noises of this run: as declared, or calibrated on the reference split."""
        if self.options.severity_scale == "declared":
            return self.host.noises
        if self._noises is None:
            from .noise.calibrate import CalibratedNoises

            reference = list(self.dataset.samples(self.options.reference_split))[:64]
            self._noises = CalibratedNoises(self.host.noises, reference, seed=self.options.seed)
        return self._noises

    def validate_names(self) -> None:
        """Fail at once on unknown model, calibrator or dataset names."""
        self.host.models[self.options.model]
        self.host.calibrators[self.options.calibrator]
        self.host.datasets[self.options.dataset]
        for what, path in (("model path", self.options.model_path), ("dataset path", self.options.dataset_path)):
            if path and "://" not in path and not Path(path).expanduser().exists():
                raise ValueError(f"{what} {path} does not exist; give a local file or directory "
                                 f"(nothing is downloaded at run time)")
        if self.options.severity_scale not in ("declared", "calibrated"):
            raise ValueError(f"severity scale must be 'declared' or 'calibrated', got {self.options.severity_scale!r}")

    @property
    def dataset(self) -> Any:
        if self._dataset is None:
            factory = self.host.datasets[self.options.dataset]
            self._dataset = self._once("dataset", lambda: factory(
                {"path": self.options.dataset_path, "seed": 0, **self.options.dataset_options}))
        return self._dataset

    @property
    def samples(self) -> list[Sample]:
        """The evaluation samples: the test split, or a seeded subset of ``--samples`` size."""
        if self._samples is None:
            samples = list(self.dataset.samples(self.options.split))
            if not samples:
                raise ValueError(f"dataset {self.options.dataset!r} split {self.options.split!r} is empty")
            n = self.options.samples
            if n is not None and n < len(samples):
                keep = sorted(random.Random(self.options.seed).sample(range(len(samples)), n))
                samples = [samples[i] for i in keep]
            self._samples = samples
        return self._samples

    def _once(self, what: str, build: Any) -> Any:
        """``build()``, or the error it raised the first time: a model that fails to load
        fails every spec with the same message, without being loaded again per spec."""
        failed = self._failures.get(what)
        if failed is not None:
            raise failed
        try:
            return build()
        except Exception as exc:
            self._failures[what] = exc
            raise

    @property
    def raw_model(self) -> Any:
        if self._raw_model is None:
            self._once("model", self._build_raw_model)
        return self._raw_model

    def _build_raw_model(self) -> None:
        if self._raw_model is None:
            factory = self.host.models[self.options.model]
            opts: dict[str, Any] = {"path": self.options.model_path, "device": self.options.device}
            opts.update(self.options.model_options)
            self._raw_model = factory(opts)
            if not callable(getattr(self._raw_model, "answer", None)):
                model, self._raw_model = self._raw_model, None
                raise TypeError(f"model {self.options.model!r} ({type(model).__name__}) has no "
                                f"answer(samples) method; see the plugin contract in DESIGN.md")

    @property
    def calibrator(self) -> Any:
        if self._calibrator is None:
            factory = self.host.calibrators[self.options.calibrator]
            self._calibrator = factory(dict(self.options.calibrator_options))
        return self._calibrator

    @property
    def model(self) -> Any:
        """The model as the specs see it: wrapped by the fitted calibrator."""
        if self._model is None:
            self._model = self._once("calibrated model", self._fit_calibrator)
        return self._model

    def _fit_calibrator(self) -> Any:
        calibrator = self.calibrator
        if self.options.calibrator != "none":
            reference = list(self.dataset.samples(self.options.reference_split))
            calibrator.fit(self.raw_model, reference)
        return calibrator.wrap(self.raw_model)

    @property
    def evaluator(self) -> Any:
        """Answers of the model as the specs see it (through the calibrator)."""
        if self._evaluator is None:
            self._evaluator = self._make_evaluator(self.model, self.options.calibrator, self.calibrator)
        return self._evaluator

    @property
    def baseline_evaluator(self) -> Any:
        """When a calibrator runs: the uncalibrated model on the same inputs (the A arm of A/B)."""
        if self.options.calibrator == "none":
            return None
        if self._baseline is None:
            self._baseline = self._make_evaluator(self.raw_model, "none", None)
        return self._baseline

    def _make_evaluator(self, model: Any, calibrator_name: str, calibrator: Any) -> Any:
        from .evaluate import Evaluator

        journal, scope = None, None
        if self.options.journal:
            from .journal import AnswerJournal, journal_scope
            from .model import model_identity

            described: dict[str, Any] = {"name": calibrator_name, "params": {}, "options": (
                dict(self.options.calibrator_options) if calibrator_name != "none" else {})}
            describe = getattr(calibrator, "describe", None)
            if callable(describe):
                described.update(describe())
            scope = journal_scope(model_identity(self.options.model, self.raw_model), described,
                                  {"severity_scale": self.options.severity_scale})
            journal = AnswerJournal(self.options.journal) if scope else None
        return Evaluator(model, self.options.model, self.samples, self.noises, self.options.seed,
                         self.options.batch_size, journal, scope)

    @property
    def loaded(self) -> bool:
        """Whether any spec made the model answer."""
        return self._evaluator is not None

    def facts(self) -> dict[str, Any]:
        """What this process learnt about the run (identities, digests, errors), JSON-ready.

        Under pytest-xdist each worker loads the model; the controller merges
        the workers' facts with :attr:`remote_facts`.
        """
        from .certificate.record import samples_digest
        from .model import model_identity

        facts: dict[str, Any] = {"model": {"name": self.options.model},
                                 "calibrator": {"name": self.options.calibrator,
                                                "options": dict(self.options.calibrator_options)},
                                 "dataset": {"name": self.options.dataset, "path": self.options.dataset_path,
                                             "split": self.options.split},
                                 "noise_names": [], "sample_errors": []}
        if not self.loaded:
            return facts
        facts["model"] = model_identity(self.options.model, self.raw_model)
        describe = getattr(self.calibrator, "describe", None)
        if callable(describe):
            facts["calibrator"].update(describe())
        describe = getattr(self.dataset, "describe", None)
        if callable(describe):
            facts["dataset"]["description"] = describe()
        facts["dataset"]["n_samples"] = len(self.samples)
        facts["dataset"]["samples_digest"] = samples_digest(self.samples)
        names: set[str] = set()
        for evaluation in self.evaluator.evaluations.values():
            names.update(step.name for step in evaluation.composition.steps)
            facts["sample_errors"] += [{"composition": evaluation.composition.key, "sample": sample_id,
                                        "error": message} for sample_id, message in sorted(evaluation.errors.items())]
        facts["noise_names"] = sorted(names)
        facts["evidence"] = self.evidence()
        return facts

    def evidence(self) -> dict[str, Any]:
        """Repeatability, shortcut baselines, test data and environment, gathered once at the end.

        The extra model calls bypass the answer cache and journal; see :mod:`medrobust.probes`.
        Under xdist the first worker to get here gathers them and the others read its result.
        """
        if self._evidence is None:
            from .worker_share import compute_once

            self._evidence = compute_once(self.evidence_share, self._gather_evidence)
        return self._evidence

    def _gather_evidence(self) -> dict[str, Any]:
        from . import probes
        from .noise.composition import Composition

        o = self.options
        gather = {
            "repeatability": lambda: probes.repeatability(self.model, o.model, self.samples, o.batch_size),
            "shortcuts": lambda: probes.shortcuts(self.model, o.model, self.samples,
                                                  self.evaluator.evaluate(Composition()).answers, o.batch_size),
            "test_data": lambda: probes.test_data(self.dataset, self.samples, o.dataset, o.split,
                                                  o.reference_split),
            "environment": lambda: probes.environment(o.device, o.seed)}
        evidence: dict[str, Any] = {"probe_errors": {}}
        for name, probe in gather.items():
            try:
                evidence[name] = probe()
            except Exception as exc:  # a probe must not lose the run's certificate
                evidence[name] = None
                evidence["probe_errors"][name] = f"{type(exc).__name__}: {exc}"
        return evidence

    def merged_facts(self) -> dict[str, Any]:
        """Local facts merged with those sent by xdist workers."""
        merged = self.facts()
        for remote in self.remote_facts:
            if "samples_digest" in remote["dataset"] and "samples_digest" not in merged["dataset"]:
                merged.update(model=remote["model"], calibrator=remote["calibrator"], dataset=remote["dataset"])
            merged["noise_names"] = sorted(set(merged["noise_names"]) | set(remote["noise_names"]))
            merged["sample_errors"] += remote["sample_errors"]
        gathered = [f["evidence"] for f in [merged, *self.remote_facts] if f.get("evidence")]
        if gathered:  # every worker gathers the same evidence; pick one regardless of arrival order
            from .certificate.record import canonical_json

            merged["evidence"] = min(gathered, key=canonical_json)
        unique = {(e["composition"], e["sample"]): e for e in merged["sample_errors"]}
        merged["sample_errors"] = [unique[k] for k in sorted(unique)]
        return merged

    # -- records -----------------------------------------------------------
    def begin_spec(self, nodeid: str, name: str, kind: str) -> SpecRecord:
        record = self.specs.setdefault(nodeid, SpecRecord(nodeid, name, kind))
        self.current = record
        return record
