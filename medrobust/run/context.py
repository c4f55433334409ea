"""The run context: assembles one run from its options (plugins, model, calibrator, dataset, journal).

Heavy parts load on first use. A part that fails to load fails every spec with
the same error, without being loaded again per spec. The spec records live
here too, filled by the pytest plugin and :class:`~medrobust.run.checks.Bench`.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from ..contract import describe_model
from ..errors import MedrobustError, OptionError, PluginError
from ..sample import Sample
from .options import RunOptions
from .plugins import PluginHost
from .records import SpecRecord
from .startup import check_descriptions, check_device, check_plugin_options

__all__ = ["RunContext"]

LOG = logging.getLogger("medrobust.run")


class RunContext:
    """One run: its options, plugins, loaded parts and spec records.

    Args:
        options: What the user asked for.
        host: The plugin manager with its registries.
    """

    def __init__(self, options: RunOptions, host: PluginHost) -> None:
        self.options = options
        self.host = host
        self.specs: dict[str, SpecRecord] = {}
        self.current: Optional[SpecRecord] = None
        self._failures: dict[str, Exception] = {}
        self._parts: dict[str, Any] = {}
        self.progress: Any = None
        """The run's :class:`~medrobust.run.progress.Progress` (the pytest plugin sets one that shows it)."""
        self.upcoming: list[Any] = []
        """The compositions the specs about to run will answer, in order, where known (declarative specs):
        the evaluators prepare their first inputs ahead (:attr:`~medrobust.run.evaluate.Evaluator.upcoming`)."""
        self.protocol: Any = None
        """The sealed :class:`~medrobust.run.protocol.Protocol`, hashed here, before anything runs."""
        if options.protocol:
            from .protocol import load_protocol

            self.protocol = load_protocol(options.protocol, metrics=host.metrics)

    # -- start-up checks ---------------------------------------------------
    def validate_names(self) -> None:
        """Fail at once, loading nothing, on what the options alone show is wrong: unknown model,
        calibrator or dataset names, missing local paths, unavailable devices and plugin options the
        plugin that takes them does not declare."""
        o = self.options
        factories = {"model": self.host.models[o.model], "calibrator": self.host.calibrators[o.calibrator],
                     "dataset": self.host.datasets[o.dataset]}
        for what, path in (("model path", o.model_path), ("dataset path", o.dataset_path)):
            if path and "://" not in path and not Path(path).expanduser().exists():
                looks_like_repo_id = (what == "model path" and path.count("/") == 1
                                      and not path.startswith((".", "/", "~")))
                repo = (f"; a Hugging Face repo id already in the local cache is given as --model-option "
                        f"repo={path} (llava-med, hf-vlm)") if looks_like_repo_id else ""
                raise OptionError(f"{what} {path} does not exist; give a local file or directory "
                                  f"(nothing is downloaded at run time){repo}")
        check_device("--device", o.device)
        if o.noise_device:
            check_device("--noise-device", o.noise_device)
        for kind, name, given in (("model", o.model, o.model_options), ("calibrator", o.calibrator,
                                  o.calibrator_options), ("dataset", o.dataset, o.dataset_options)):
            check_plugin_options(kind, name, factories[kind], given)

    def preflight(self) -> None:
        """Load what every spec needs before the first one runs, so that a dataset that cannot be read or
        is empty, or a model that does not load or describe itself as the contract says, stops the run
        at start-up with one message instead of failing every spec.

        Raises:
            MedrobustError: Naming the part, the plugin and the fix (a plugin's own error is wrapped in
                :class:`~medrobust.errors.PluginError` with its type and message).
        """
        for what, load in (("dataset", lambda: self.samples), ("model", lambda: self.raw_model),
                           ("calibrator", lambda: self.calibrator), ("journal", lambda: self.journal)):
            try:
                load()
            except MedrobustError:
                raise
            except Exception as exc:
                name = getattr(self.options, what)
                raise PluginError(f"{what} {name!r} could not be loaded: {type(exc).__name__}: {exc}") from None

    # -- parts, each built once ------------------------------------------------
    def _part(self, what: str, build: Callable[[], Any]) -> Any:
        """The part ``what``, built on first use; a failed build raises the same error every time."""
        if what in self._parts:
            return self._parts[what]
        failed = self._failures.get(what)
        if failed is not None:
            raise failed
        try:
            value = build()
        except Exception as exc:
            self._failures[what] = exc
            raise
        self._parts[what] = value
        return value

    def failed_part(self, exc: BaseException) -> Optional[str]:
        """The part (``dataset``, ``model``...) whose failed build raised ``exc``, or None."""
        return next((what for what, failed in self._failures.items() if failed is exc), None)

    @property
    def noises(self) -> Mapping[str, Any]:
        """The noises of this run: as declared, or calibrated on the reference split."""
        if self.options.severity_scale == "declared":
            return self.host.noises
        return self._part("noises", self._calibrated_noises)

    def _calibrated_noises(self) -> Any:
        from ..noise.severity_scale import CalibratedNoises

        reference = list(self.dataset.samples(self.options.reference_split))[:64]
        return CalibratedNoises(self.host.noises, reference, seed=self.options.seed)

    @property
    def dataset(self) -> Any:
        """The dataset plugin object."""
        factory = self.host.datasets[self.options.dataset]
        return self._part("dataset", lambda: factory(
            {"path": self.options.dataset_path, "seed": 0, **self.options.dataset_options}))

    @property
    def samples(self) -> list[Sample]:
        """The evaluation samples: the test split, or a seeded subset of ``--samples`` size."""
        return self._part("samples", self._select_samples)

    def _select_samples(self) -> list[Sample]:
        samples = list(self.dataset.samples(self.options.split))
        if not samples:
            raise OptionError(f"dataset {self.options.dataset!r} has no sample in split {self.options.split!r}; "
                              f"check its path and --dataset-option values")
        n = self.options.samples
        if n is not None and n < len(samples):
            keep = sorted(random.Random(self.options.seed).sample(range(len(samples)), n))
            samples = [samples[i] for i in keep]
        LOG.info("dataset %r: %d samples in split %r%s", self.options.dataset, len(samples), self.options.split,
                 f" (a seeded subset, --samples {n})" if n is not None and n <= len(samples) else "")
        return samples

    @property
    def raw_model(self) -> Any:
        """The model as its plugin built it, without the calibrator."""
        return self._part("model", self._build_model)

    def _build_model(self) -> Any:
        factory = self.host.models[self.options.model]
        started = time.perf_counter()
        model = factory({"path": self.options.model_path, "device": self.options.device,
                         **self.options.model_options})
        if not callable(getattr(model, "answer", None)):
            raise PluginError(f"model {self.options.model!r} ({type(model).__name__}) has no answer(samples) "
                              f"method; a model plugin's object must answer a list of samples with a list "
                              f"of strings (see medrobust.Model)")
        check_descriptions(self.options.model, model)
        LOG.info("model %r loaded in %.1f s", self.options.model, time.perf_counter() - started)
        return model

    @property
    def calibrator(self) -> Any:
        """The calibrator plugin object (not yet fitted)."""
        factory = self.host.calibrators[self.options.calibrator]
        return self._part("calibrator", lambda: factory(dict(self.options.calibrator_options)))

    @property
    def model(self) -> Any:
        """The model as the specs see it: wrapped by the fitted calibrator."""
        return self._part("calibrated model", self._fit_calibrator)

    def _fit_calibrator(self) -> Any:
        calibrator = self.calibrator
        if self.options.calibrator != "none":
            reference = list(self.dataset.samples(self.options.reference_split))
            started = time.perf_counter()
            calibrator.fit(self.raw_model, reference, noises=self.noises)
            check_descriptions(self.options.calibrator, calibrator, kind="calibrator")
            LOG.info("calibrator %r fitted on %d reference samples in %.1f s", self.options.calibrator,
                     len(reference), time.perf_counter() - started)
        return calibrator.wrap(self.raw_model)

    def describe_calibrator(self) -> dict[str, Any]:
        """The calibrator as the certificate and the journal name it: name, options, its own description."""
        described: dict[str, Any] = {"name": self.options.calibrator, "options": dict(self.options.calibrator_options)}
        describe = getattr(self.calibrator, "describe", None)
        if callable(describe):
            described.update(describe())
        return described

    # -- answering -------------------------------------------------------------
    def plan(self, compositions: Any) -> None:
        """Tell the evaluators which compositions come next (see :attr:`upcoming`)."""
        self.upcoming = list(compositions)
        for evaluator in self.arms().values():
            evaluator.upcoming = self.upcoming

    @property
    def evaluator(self) -> Any:
        """Answers of the model as the specs see it (through the calibrator)."""
        return self._part("evaluator", self._make_specs_evaluator)

    def _make_specs_evaluator(self) -> Any:
        evaluator = self._make_evaluator(self.model, calibrated=True)
        try:  # started once the calibrator has read the reference split, if it does
            self.test_data_probe
        except Exception:  # a probe must not fail a spec: the evidence records its error
            pass
        return evaluator

    @property
    def test_data_probe(self) -> "Future[dict[str, Any]]":
        """The test-data evidence probe (:func:`~medrobust.run.probes.test_data`: per-item hashes, and
        independence from the reference split, which it reads and hashes), run on a thread of its own
        from the first answer on, so that the certificate does not wait for it at the end."""
        return self._part("test data probe", self._start_test_data_probe)

    def _start_test_data_probe(self) -> "Future[dict[str, Any]]":
        from . import probes

        o = self.options
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medrobust-test-data")
        future = pool.submit(_in_background, probes.test_data, self.dataset, self.samples, o.dataset, o.split,
                             o.reference_split)
        pool.shutdown(wait=False)  # its thread ends with the probe
        return future

    @property
    def baseline_evaluator(self) -> Any:
        """When a calibrator runs: the uncalibrated model on the same inputs (the A arm of A/B)."""
        if self.options.calibrator == "none":
            return None
        return self._part("baseline evaluator", lambda: self._make_evaluator(self.raw_model, calibrated=False))

    def _make_evaluator(self, model: Any, calibrated: bool) -> Any:
        from .evaluate import Evaluator

        journal = self.journal
        scope = self.journal_scope(calibrated) if journal is not None else None
        evaluator = Evaluator(model, self.options.model, self.samples, self.noises, self.options.seed,
                              self.options.batch_size, journal, scope, self.options.noise_device_used,
                              calls=self.model_calls)
        evaluator.upcoming = self.upcoming
        if self.progress is not None:
            arm = "model" if self.options.calibrator == "none" else "calibrated" if calibrated else "uncalibrated"
            evaluator.progress = self.progress.arm(arm)
        return evaluator

    @property
    def journal(self) -> Any:
        """The answer journal (:class:`~medrobust.run.journal.AnswerJournal`), opened and checked once;
        None with ``--journal none`` or when the model does not identify its weights.

        Raises:
            JournalError: When the file is not a usable journal (naming it and the fix).
        """
        return self._part("journal", self._open_journal)

    def _open_journal(self) -> Any:
        if not self.options.journal or self.journal_scope(calibrated=False) is None:
            return None
        from .journal import AnswerJournal

        return AnswerJournal(self.options.journal)

    def journal_scope(self, calibrated: bool) -> Optional[str]:
        """What every journaled answer of an arm depends on (:func:`~medrobust.run.journal.journal_scope`):
        the model's description, its options and the calibrator's (less those their plugin declares
        answer-neutral), the device type and the severity scale; None when the model is not identified."""
        from .journal import answer_options, journal_scope

        o = self.options
        calibrator: dict[str, Any] = {"name": "none", "params": {}, "options": {}}
        if calibrated and o.calibrator != "none":
            calibrator = {"params": {}, **self.describe_calibrator(),
                          "options": answer_options("calibrator", o.calibrator, self.calibrator, o.calibrator_options)}
        extra = {"severity_scale": o.severity_scale, "device": str(o.device).split(":")[0],
                 "model_options": answer_options("model", o.model, self.raw_model, o.model_options)}
        return journal_scope(describe_model(o.model, self.raw_model), calibrator, extra)

    @property
    def model_calls(self) -> Any:
        """The run's one worker thread for model calls, with ``--answer-timeout``
        (:class:`~medrobust.run.model_calls.ModelCalls`): both arms and the evidence probes call through
        it, so the model is never called from two threads at once."""
        from .model_calls import ModelCalls

        return self._part("model calls", lambda: ModelCalls(self.options.answer_timeout))

    def arms(self) -> dict[str, Any]:
        """The evaluators built so far, by arm: ``model`` (calibrator none), or ``calibrated`` (the model
        as the specs see it) and ``uncalibrated`` (the A arm, once a spec compared against it)."""
        if "evaluator" not in self._parts:
            return {}
        if self.options.calibrator == "none":
            return {"model": self._parts["evaluator"]}
        arms = {"calibrated": self._parts["evaluator"]}
        if "baseline evaluator" in self._parts:
            arms["uncalibrated"] = self._parts["baseline evaluator"]
        return arms

    @property
    def loaded(self) -> bool:
        """Whether any spec made the model answer."""
        return "evaluator" in self._parts

    # -- records ---------------------------------------------------------------
    def begin_spec(self, nodeid: str, name: str, kind: str) -> SpecRecord:
        """The record of spec ``nodeid``, made current: checks evaluated from now on belong to it."""
        record = self.specs.setdefault(nodeid, SpecRecord(nodeid, name, kind))
        self.current = record
        return record


def _in_background(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on this thread at the lowest CPU priority where the system allows a thread its
    own (Linux: a thread's nice value, inherited by the threads it starts, such as a dataset's decoders),
    so that it takes the CPU time that preparing the model's inputs leaves idle."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:  # not allowed here: it runs at the usual priority
            pass
    return function(*args)
