"""One robustness run: options, the loaded plugins, and what the specs found."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Optional

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
    split: str = "test"
    reference_split: str = "reference"
    samples: Optional[int] = None
    seed: int = 0
    certificate: Optional[str] = "reports/certificate"
    device: str = "cpu"
    batch_size: int = 64

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


@dataclasses.dataclass
class SpecRecord:
    """A spec (pytest item) and the checks it ran."""

    nodeid: str
    name: str
    kind: str
    checks: list[CheckRecord] = dataclasses.field(default_factory=list)
    outcome: str = "not run"
    message: str = ""


class RunContext:
    """Per-session state, kept in ``config.stash``; heavy parts load on first use."""

    def __init__(self, options: RunOptions, host: PluginHost) -> None:
        self.options = options
        self.host = host
        self.specs: dict[str, SpecRecord] = {}
        self.current: Optional[SpecRecord] = None
        self._model: Any = None
        self._raw_model: Any = None
        self._calibrator: Any = None
        self._dataset: Any = None
        self._samples: Optional[list[Sample]] = None
        self._evaluator: Any = None

    # -- plugins -----------------------------------------------------------
    def validate_names(self) -> None:
        """Fail at once on unknown model, calibrator or dataset names."""
        self.host.models[self.options.model]
        self.host.calibrators[self.options.calibrator]
        self.host.datasets[self.options.dataset]

    @property
    def dataset(self) -> Any:
        if self._dataset is None:
            factory = self.host.datasets[self.options.dataset]
            self._dataset = factory({"path": self.options.dataset_path, "seed": 0})
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

    @property
    def raw_model(self) -> Any:
        if self._raw_model is None:
            factory = self.host.models[self.options.model]
            opts: dict[str, Any] = {"path": self.options.model_path, "device": self.options.device}
            opts.update(self.options.model_options)
            self._raw_model = factory(opts)
            if not callable(getattr(self._raw_model, "answer", None)):
                raise TypeError(f"model {self.options.model!r} ({type(self._raw_model).__name__}) has no "
                                f"answer(samples) method; see the plugin contract in DESIGN.md")
        return self._raw_model

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
            calibrator = self.calibrator
            if self.options.calibrator != "none":
                reference = list(self.dataset.samples(self.options.reference_split))
                calibrator.fit(self.raw_model, reference)
            self._model = calibrator.wrap(self.raw_model)
        return self._model

    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            from .evaluate import Evaluator

            self._evaluator = Evaluator(self.model, self.options.model, self.samples, self.host.noises,
                                        self.options.seed, self.options.batch_size)
        return self._evaluator

    @property
    def loaded(self) -> bool:
        """Whether any spec made the model answer."""
        return self._evaluator is not None

    # -- records -----------------------------------------------------------
    def begin_spec(self, nodeid: str, name: str, kind: str) -> SpecRecord:
        record = self.specs.setdefault(nodeid, SpecRecord(nodeid, name, kind))
        self.current = record
        return record
