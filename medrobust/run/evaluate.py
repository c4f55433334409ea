"""Batched, cached answering of a dataset under noise compositions."""

from __future__ import annotations

import dataclasses
import traceback
from typing import Any, Mapping, Optional, Sequence

from .._canonical import image_digest, sample_digest, sha256_json, text_digest
from ..noise import AppliedNoise, Composition, Noise, apply_composition
from ..sample import Sample
from .metrics import Estimate, Metric, estimate
from ..errors import ModelOutputError

__all__ = ["Evaluation", "Evaluator", "Comparison"]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The answers of the model to every sample under one composition.

    Attributes:
        composition: The noise composition (empty: the clean run).
        answers: One answer per sample, in the evaluator's sample order (None where the model failed).
        errors: The model's error by sample id, where it failed.
        records: The noise records by sample id, for the samples whose noise was applied.
        inputs: sha256 of the image and of the question the model was asked, by sample id
            (:func:`~medrobust._canonical.image_digest`, :func:`~medrobust._canonical.text_digest`),
            taken where the noise was applied (also for answers read from the journal, so that what a
            run records does not depend on its journal).
    """

    composition: Composition
    answers: tuple[Optional[str], ...]
    errors: Mapping[str, str]
    records: Mapping[str, tuple[AppliedNoise, ...]]
    inputs: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A metric on the clean and on the noisy inputs."""

    metric: str
    clean: Estimate
    noisy: Estimate
    scores: tuple[Optional[float], ...]
    clean_scores: tuple[Optional[float], ...] = ()

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
                 noises: Mapping[str, Noise], run_seed: int, batch_size: int = 64,
                 journal: Any = None, scope: Optional[str] = None) -> None:
        self.model = model
        self.model_name = model_name
        self.samples = list(samples)
        self.noises = noises
        self.run_seed = run_seed
        self.batch_size = batch_size
        self._cache: dict[str, Evaluation] = {}
        self._journal = journal if scope is not None else None
        self._scope = scope
        self._sample_keys: Optional[list[str]] = None
        self.asked = 0
        """How many samples the model was asked about (not answered from the journal)."""

    @property
    def evaluations(self) -> dict[str, Evaluation]:
        """Every evaluation so far, by composition key."""
        return dict(self._cache)

    def evaluate(self, composition: Composition) -> Evaluation:
        """Answers under ``composition`` (cached; the empty composition is the clean run)."""
        cached = self._cache.get(composition.key)
        if cached is not None:
            return cached
        keys = self._journal_keys(composition)
        known = self._journal.get_many(keys) if keys else {}
        answers: list[Optional[str]] = [None] * len(self.samples)
        errors: dict[str, str] = {}
        records: dict[str, tuple[AppliedNoise, ...]] = {}
        inputs: dict[str, tuple[str, str]] = {}
        todo: list[tuple[int, Sample]] = []
        for i, sample in enumerate(self.samples):
            # the noise is applied for journaled answers too: their records and input digests are the
            # run's evidence, the same whether the model was asked now or in an interrupted run
            changed, applied = apply_composition(sample, composition, self.noises, self.run_seed)
            if applied:
                records[sample.id] = tuple(applied)
            inputs[sample.id] = (image_digest(changed.image), text_digest(changed.question))
            if keys and keys[i] in known:
                answers[i] = known[keys[i]][0]
                continue
            todo.append((i, changed))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            got = self._answer_batch([s for _, s in chunk], errors)
            for (i, _), answer in zip(chunk, got):
                answers[i] = answer
            if keys:
                self._journal.put_many((keys[i], a, None) for (i, _), a in zip(chunk, got) if a is not None)
        self.asked += len(todo)
        result = Evaluation(composition, tuple(answers), errors, records, inputs)
        self._cache[composition.key] = result
        return result

    def _journal_keys(self, composition: Composition) -> list[str]:
        if self._journal is None:
            return []
        if self._sample_keys is None:
            self._sample_keys = [sample_digest(s) for s in self.samples]
        steps = [{**step, "version": self.noises[step["name"]].version,
                  "table": [dict(row) for row in self.noises[step["name"]].table]} for step in composition.to_json()]
        # clean answers do not depend on the seed
        composition_key = sha256_json({"seed": self.run_seed if composition.steps else None, "steps": steps})
        return [self._journal.key(self._scope, sample_key, composition_key) for sample_key in self._sample_keys]

    def compare(self, composition: Composition, metric: Metric) -> Comparison:
        """``metric`` on clean inputs versus inputs under ``composition``."""
        clean = self.evaluate(Composition())
        noisy = self.evaluate(composition)
        clean_scores = [metric.score(s, a, a) for s, a in zip(self.samples, clean.answers)]
        noisy_scores = [metric.score(s, a, c)
                        for s, a, c in zip(self.samples, noisy.answers, clean.answers)]
        return Comparison(metric.name, estimate(clean_scores), estimate(noisy_scores),
                          tuple(noisy_scores), tuple(clean_scores))

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
