"""Batched, cached answering of a dataset under noise compositions."""

from __future__ import annotations

import dataclasses
import traceback
from typing import Any, Mapping, Optional, Sequence

from .metrics import Estimate, Metric, estimate
from .noise.base import Noise
from .noise.composition import AppliedNoise, Composition, apply_composition
from .sample import Sample

__all__ = ["Evaluation", "Evaluator", "ModelOutputError", "Comparison"]


class ModelOutputError(Exception):
    """A model broke the ``answer(samples) -> list[str]`` contract."""


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The answers of the model to every sample under one composition."""

    composition: Composition
    answers: tuple[Optional[str], ...]
    errors: Mapping[str, str]
    records: Mapping[str, tuple[AppliedNoise, ...]]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A metric on the clean and on the noisy inputs."""

    metric: str
    clean: Estimate
    noisy: Estimate
    scores: tuple[Optional[float], ...]

    @property
    def drop(self) -> float:
        return self.clean.value - self.noisy.value


class Evaluator:
    """Answers ``samples`` under compositions, each composition once per session.

    Args:
        model: An object with ``answer(samples) -> list[str]``.
        model_name: Registry name, for messages.
        samples: The evaluation samples, in a fixed order.
        noises: Noise registry (name -> noise).
        run_seed: Seed from which every noise seed derives.
        batch_size: Samples handed to the model per call.
    """

    def __init__(self, model: Any, model_name: str, samples: Sequence[Sample],
                 noises: Mapping[str, Noise], run_seed: int, batch_size: int = 64) -> None:
        self.model = model
        self.model_name = model_name
        self.samples = list(samples)
        self.noises = noises
        self.run_seed = run_seed
        self.batch_size = batch_size
        self._cache: dict[str, Evaluation] = {}

    @property
    def evaluations(self) -> dict[str, Evaluation]:
        """Every evaluation so far, by composition key."""
        return dict(self._cache)

    def evaluate(self, composition: Composition) -> Evaluation:
        """Answers under ``composition`` (cached; the empty composition is the clean run)."""
        cached = self._cache.get(composition.key)
        if cached is not None:
            return cached
        noisy: list[Sample] = []
        records: dict[str, tuple[AppliedNoise, ...]] = {}
        for sample in self.samples:
            changed, applied = apply_composition(sample, composition, self.noises, self.run_seed)
            noisy.append(changed)
            if applied:
                records[sample.id] = tuple(applied)
        answers: list[Optional[str]] = []
        errors: dict[str, str] = {}
        for start in range(0, len(noisy), self.batch_size):
            answers.extend(self._answer_batch(noisy[start:start + self.batch_size], errors))
        result = Evaluation(composition, tuple(answers), errors, records)
        self._cache[composition.key] = result
        return result

    def compare(self, composition: Composition, metric: Metric) -> Comparison:
        """``metric`` on clean inputs versus inputs under ``composition``."""
        clean = self.evaluate(Composition())
        noisy = self.evaluate(composition)
        clean_scores = [metric.score(s, a, a) for s, a in zip(self.samples, clean.answers)]
        noisy_scores = [metric.score(s, a, c)
                        for s, a, c in zip(self.samples, noisy.answers, clean.answers)]
        return Comparison(metric.name, estimate(clean_scores), estimate(noisy_scores),
                          tuple(noisy_scores))

    def _answer_batch(self, batch: list[Sample], errors: dict[str, str]) -> list[Optional[str]]:
        try:
            return self._call(batch)
        except ModelOutputError:
            raise
        except Exception:
            if len(batch) == 1:
                errors[batch[0].id] = traceback.format_exc(limit=3).strip().splitlines()[-1]
                return [None]
        # isolate the failing samples: one bad sample must not lose the batch
        return [answer for sample in batch for answer in self._answer_batch([sample], errors)]

    def _call(self, batch: list[Sample]) -> list[Optional[str]]:
        answers = self.model.answer(batch)
        if not isinstance(answers, (list, tuple)) or len(answers) != len(batch):
            got = len(answers) if isinstance(answers, (list, tuple)) else type(answers).__name__
            raise ModelOutputError(
                f"model {self.model_name!r} returned {got} answers for {len(batch)} samples; "
                f"answer(samples) must return a list with one string per sample")
        bad = [type(a).__name__ for a in answers if not isinstance(a, str)]
        if bad:
            raise ModelOutputError(
                f"model {self.model_name!r} returned non-string answers ({', '.join(sorted(set(bad)))}); "
                f"answer(samples) must return a list of str")
        return list(answers)
