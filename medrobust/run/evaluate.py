"""Batched, cached answering of a dataset under noise compositions."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import traceback
import warnings
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterator, Mapping, Optional, Sequence

from .._canonical import image_digest, sample_digest, sha256_json, text_digest
from ..noise import AppliedNoise, Composition, Noise
from ..noise.batch import apply_composition_batch
from ..sample import Sample
from .metrics import Estimate, Metric, estimate
from .model_calls import ModelCalls
from .progress import NO_PROGRESS
from ..errors import ModelOutputError, ModelUnavailable

__all__ = ["Evaluation", "Evaluator", "Comparison", "StageTiming"]


@dataclasses.dataclass
class _Chunk:
    """A chunk of samples being prepared: a future per share, and the bytes of noisy pixels it makes."""

    futures: list[Future[Any]]
    nbytes: int

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()


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


@dataclasses.dataclass
class StageTiming:
    """Where an evaluator's time went, in seconds (wall clock of each stage)."""

    preparing: float = 0.0
    """Applying noise and hashing the noisy inputs (in the worker thread: overlaps answering)."""
    answering: float = 0.0
    """Inside the model's ``answer`` calls."""
    waiting_for_inputs: float = 0.0
    """The main thread waiting for a chunk's inputs: the part of preparing that answering did not hide."""
    prefetched: int = 0
    """Compositions whose first chunk was prepared ahead, while the model answered the one before
    (:attr:`Evaluator.upcoming`), and used."""


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


def _balanced_shares(rows: range, weights: Sequence[int], parts: int) -> list[range]:
    """``rows`` cut into at most ``parts`` consecutive, non-empty shares of about equal total ``weights``
    (a sample goes to the share that holds most of its weight), so that threads given a chunk of mixed
    sizes (a 512 px CT slice and a 3000 px radiograph) finish together."""
    total, bounds, done = sum(weights), [0], 0
    for pos, weight in enumerate(weights):
        if len(bounds) < parts and pos > bounds[-1] and done + weight / 2 > total * len(bounds) / parts:
            bounds.append(pos)
        done += weight
    bounds.append(len(rows))
    return [rows[start:end] for start, end in zip(bounds, bounds[1:])]


class Evaluator:
    """Answers ``samples`` under compositions, each composition once per session.

    Args:
        model: An object with ``answer(samples) -> list[str]``.
        model_name: Registry name, for messages.
        samples: The evaluation samples, in a fixed order.
        noises: Noise registry (name -> noise).
        run_seed: Seed from which every noise seed derives.
        batch_size: Samples handed to the model per call, and per chunk of noise.
        noise_device: Where image noises run (``cpu``, ``cuda``...; the run's ``--noise-device``,
            else its ``--device``).
        prepare_threads: Threads that prepare a chunk's inputs, each a share of its samples (default:
            the CPU count, at most 4): the first chunk of a composition cannot hide behind answering,
            and splitting it shortens the model's wait.
        calls: Where the model's ``answer`` runs: the run's one model worker thread, with its time limit
            (:class:`~medrobust.run.model_calls.ModelCalls`; shared by every evaluator of the same model,
            so that the model is never called from two threads at once). Default: a new one, no limit.
        prepare_ahead_bytes: How many bytes of noisy pixels (8 bits a channel, as the model gets them) may be
            prepared ahead of the chunk the model waits for; the next chunk always is (default 512 MiB: at
            1024 px RGB and batch 64, two chunks; at 3072 px RGB, only the next).
    """

    upcoming: Sequence[Composition] = ()
    """The compositions this evaluator is expected to answer next, in order, where the run knows them
    (the next declarative specs'). While the model answers the last chunks of a composition, the first
    chunks of the first upcoming one not yet answered are prepared, so that the model need not wait for
    them. A wrong guess costs preparation time on an idle thread, never a different result."""
    progress: Any = NO_PROGRESS
    """Where answers done are counted, per model batch and composition (:mod:`medrobust.run.progress`):
    the run context gives its evaluators the run's."""
    _shown: Any = NO_PROGRESS.composition("", 0)

    def __init__(self, model: Any, model_name: str, samples: Sequence[Sample],
                 noises: Mapping[str, Noise], run_seed: int, batch_size: int = 64,
                 journal: Any = None, scope: Optional[str] = None, noise_device: str = "cpu",
                 prepare_threads: Optional[int] = None, calls: Optional[ModelCalls] = None,
                 prepare_ahead_bytes: int = 512 * 2**20) -> None:
        self.model = model
        self.calls = calls if calls is not None else ModelCalls()
        self.model_name = model_name
        self.samples = list(samples)
        self.noises = noises
        self.run_seed = run_seed
        self.batch_size = batch_size
        self.noise_device = noise_device
        self.prepare_threads = max(1, prepare_threads or min(4, os.cpu_count() or 1))
        self._cache: dict[str, Evaluation] = {}
        self._journal = journal if scope is not None else None
        self._scope = scope
        self._sample_keys: Optional[list[str]] = None
        self.asked = 0
        """How many samples the model was asked about (not answered from the journal)."""
        self.from_journal = 0
        """How many answers were read from the journal (entries whose MAC verified)."""
        self.journal_rejected = 0
        """How many journal entries did not verify (edited, foreign or damaged): not used, asked again."""
        self.timing = StageTiming()
        """Seconds spent preparing inputs (noise, digests) and waiting on the model, over every composition."""
        self._timing_lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        self.prepare_ahead_bytes = prepare_ahead_bytes
        self._prefetch: Optional[tuple[str, list[_Chunk]]] = None
        """The key of the next upcoming composition, with its chunks being prepared ahead (from its first)."""
        self._pixel_bytes: Optional[list[int]] = None

    @property
    def journaled(self) -> bool:
        """Whether answers are read from and written to an answer journal."""
        return self._journal is not None

    @property
    def evaluations(self) -> dict[str, Evaluation]:
        """Every evaluation so far, by composition key."""
        return dict(self._cache)

    def evaluate(self, composition: Composition) -> Evaluation:
        """Answers under ``composition`` (cached; the empty composition is the clean run).

        A pipeline over chunks of ``batch_size`` samples: while the model answers one chunk, a
        worker thread applies the noise to the next (batched, on ``noise_device``) and hashes the
        noisy inputs, so noise that cannot run on the model's device hides behind its answering.
        The model's batches hold the samples the journal does not know, in sample order, as many as
        ``batch_size`` at a time, whatever the chunks.
        """
        cached = self._cache.get(composition.key)
        if cached is not None:
            return cached
        keys = self._journal_keys(composition)
        lookup = self._journal.get_many(keys) if keys else None
        known = lookup.found if lookup is not None else {}
        self._shown = self.progress.composition(composition.key, len(self.samples), sum(k in known for k in keys))
        if lookup is not None and lookup.rejected:
            self.journal_rejected += len(lookup.rejected)
            warnings.warn(f"answer journal {getattr(self._journal, 'path', '')}: {len(lookup.rejected)} entries did "
                          f"not verify (edited, copied from another journal or damaged); not used, the model is "
                          f"asked again (`medrobust journal verify` lists them)", stacklevel=2)
        answers: list[Optional[str]] = [None] * len(self.samples)
        errors: dict[str, str] = {}
        records: dict[str, tuple[AppliedNoise, ...]] = {}
        inputs: dict[str, tuple[str, str]] = {}
        todo: list[tuple[int, Sample]] = []
        for rows, prepared in self._prepared(composition):
            for i, (changed, applied, digests) in zip(rows, prepared):
                # the noise is applied for journaled answers too: their records and input digests are the
                # run's evidence, the same whether the model was asked now or in an interrupted run
                if applied:
                    records[changed.id] = tuple(applied)
                inputs[changed.id] = digests
                if keys and keys[i] in known:
                    answers[i] = known[keys[i]][0]
                    self.from_journal += 1
                else:
                    todo.append((i, changed))
            while len(todo) >= self.batch_size:
                self._answer(todo[:self.batch_size], answers, errors, keys)
                del todo[:self.batch_size]
        if todo:
            self._answer(todo, answers, errors, keys)
        self._shown.close()
        result = Evaluation(composition, tuple(answers), errors, records, inputs)
        self._cache[composition.key] = result
        return result

    def _prepared(self, composition: Composition
                  ) -> Iterator[tuple[range, list[tuple[Sample, list[AppliedNoise], tuple[str, str]]]]]:
        """The chunks of samples with their noisy inputs, each prepared while the ones before are used.

        Each chunk is split into ``prepare_threads`` shares prepared side by side (noise kernels and
        hashing release the GIL); the result does not depend on the split (each sample's noise derives
        from the sample alone). The chunk after the one being waited for is always being prepared; further
        ones are too, while what waits ahead stays within :attr:`prepare_ahead_bytes`, so that the threads
        go on to expensive chunks (large images, heavy noise) while cheap ones are answered. Past the last
        chunk, the chunks of the next :attr:`upcoming` composition are prepared ahead the same way.
        """
        chunks = self._chunks()
        if not chunks:
            return
        ahead: deque[_Chunk] = deque(self._take_prefetched(composition))
        if not ahead:
            ahead.append(self._start(composition, chunks[0]))
        for k, rows in enumerate(chunks):
            chunk = ahead.popleft()
            self._look_ahead(composition, chunks, k + 1, ahead)
            waited = time.perf_counter()
            prepared = [item for future in chunk.futures for item in future.result()]
            self.timing.waiting_for_inputs += time.perf_counter() - waited
            yield rows, prepared

    def _chunks(self) -> list[range]:
        return [range(start, min(start + self.batch_size, len(self.samples)))
                for start in range(0, len(self.samples), self.batch_size)]

    def _start(self, composition: Composition, rows: range) -> "_Chunk":
        """``rows`` handed to the preparing threads, in ``prepare_threads`` shares of about equal work."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.prepare_threads, thread_name_prefix="medrobust-noise")
            weakref.finalize(self, self._pool.shutdown, False)  # its idle threads end with the evaluator
        weights = self._weights(composition, rows)
        futures = [self._pool.submit(self._prepare, composition, share)
                   for share in _balanced_shares(rows, weights, self.prepare_threads)]
        return _Chunk(futures, sum(weights) if self._changes_images(composition) else 0)

    def _look_ahead(self, composition: Composition, chunks: list[range], k: int, ahead: "deque[_Chunk]") -> None:
        """Start preparing chunks from chunk ``k`` on (``ahead`` holds those from ``k`` already started):
        always ``k`` (or, past the last, the next upcoming composition's first chunk), then more of this
        composition and of the next upcoming one while their bytes stay within :attr:`prepare_ahead_bytes`."""
        following = self._following(composition)
        if following is None:
            self._prefetch = None
        elif self._prefetch is None or self._prefetch[0] != following.key:
            self._prefetch = (following.key, [])
        prefetched = self._prefetch[1] if self._prefetch is not None else []
        held = sum(c.nbytes for c in ahead) + sum(c.nbytes for c in prefetched)
        while True:
            index = k + len(ahead)
            if index < len(chunks):  # the next chunk of this composition: always started
                target, rows, queue, due = composition, chunks[index], ahead, not ahead
            elif following is not None and len(prefetched) < len(chunks):  # the next composition's
                target, rows, queue = following, chunks[len(prefetched)], prefetched
                due = not ahead and not prefetched
            else:
                return
            nbytes = self._new_bytes(target, rows)
            if not due and held + nbytes > self.prepare_ahead_bytes:
                return
            queue.append(self._start(target, rows))
            held += nbytes

    def _following(self, current: Composition) -> Optional[Composition]:
        """The first :attr:`upcoming` composition other than ``current`` not answered yet."""
        return next((c for c in self.upcoming if c.key != current.key and c.key not in self._cache), None)

    def _take_prefetched(self, composition: Composition) -> list["_Chunk"]:
        """The chunks of ``composition`` prepared ahead, from its first (none if it was not). A prefetch
        for another composition is cut to its first chunk (it stays while that one is still upcoming)."""
        if self._prefetch is None:
            return []
        key, chunks = self._prefetch
        if key != composition.key:
            for chunk in chunks[1:]:
                chunk.cancel()
            del chunks[1:]
            return []
        self._prefetch = None
        self.timing.prefetched += 1
        return chunks

    def _new_bytes(self, composition: Composition, rows: range) -> int:
        """The pixel bytes of the noisy images ``composition`` makes of ``rows`` (0 without an image noise:
        the clean images are shared, not copied)."""
        return sum(self._weights(composition, rows)) if self._changes_images(composition) else 0

    def _changes_images(self, composition: Composition) -> bool:
        return any(getattr(self.noises.get(step.name), "modality", "image") == "image" for step in composition.steps)

    def _weights(self, composition: Composition, rows: range) -> list[int]:
        """What preparing each of ``rows`` costs, roughly: its pixel bytes where an image noise applies
        (noise and hashing go over every pixel), else 1 (text noise costs about the same per sample)."""
        if not self._changes_images(composition):
            return [1] * len(rows)
        if self._pixel_bytes is None:
            self._pixel_bytes = [s.image.width * s.image.height * len(s.image.getbands()) for s in self.samples]
        return [self._pixel_bytes[i] for i in rows]

    def _prepare(self, composition: Composition, rows: range
                 ) -> list[tuple[Sample, list[AppliedNoise], tuple[str, str]]]:
        started = time.perf_counter()
        noisy = apply_composition_batch([self.samples[i] for i in rows], composition, self.noises,
                                        self.run_seed, self.noise_device)
        out = [(changed, applied, (self._image_digest(i, changed), text_digest(changed.question)))
               for i, (changed, applied) in zip(rows, noisy)]
        with self._timing_lock:
            self.timing.preparing += time.perf_counter() - started
        return out

    def _image_digest(self, i: int, changed: Sample) -> str:
        """The digest of the image the model sees (a clean image's is computed once per sample)."""
        sample = self.samples[i]
        return sample.image_sha256 if changed.image is sample.image else image_digest(changed.image)

    def _answer(self, batch: list[tuple[int, Sample]], answers: list[Optional[str]], errors: dict[str, str],
                keys: list[str]) -> None:
        spent = self.calls.seconds  # the model's own time, not the hand-over to its thread
        got = self._answer_batch([s for _, s in batch], errors)
        self.timing.answering += self.calls.seconds - spent
        for (i, _), answer in zip(batch, got):
            answers[i] = answer
        if keys:
            self._journal.put_many(self._scope, ((keys[i], a, None) for (i, _), a in zip(batch, got) if a is not None))
        self.asked += len(batch)
        self._shown.advance(len(batch))

    def _journal_keys(self, composition: Composition) -> list[str]:
        if self._journal is None:
            return []
        if self._sample_keys is None:
            self._sample_keys = [sample_digest(s) for s in self.samples]
        steps = [{**step, "version": self.noises[step["name"]].version,
                  "table": [dict(row) for row in self.noises[step["name"]].table]} for step in composition.to_json()]
        # clean answers do not depend on the seed; noise made off the CPU draws other numbers (see noise.batch)
        stated: dict[str, Any] = {"seed": self.run_seed if composition.steps else None, "steps": steps}
        if composition.steps and not str(self.noise_device).startswith("cpu"):
            stated["noise_device"] = str(self.noise_device).split(":")[0]
        composition_key = sha256_json(stated)
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
        except ModelUnavailable as exc:  # timed out or not asked: asking again, sample by sample, cannot help
            errors.update((sample.id, str(exc)) for sample in batch)
            return [None] * len(batch)
        except Exception:
            if len(batch) == 1:
                errors[batch[0].id] = traceback.format_exc(limit=3).strip().splitlines()[-1]
                return [None]
        # isolate the failing samples: one bad sample must not lose the batch
        return [answer for sample in batch for answer in self._answer_batch([sample], errors)]

    def _call(self, batch: list[Sample]) -> list[Optional[str]]:
        answers = self.calls.call(self.model.answer, batch)
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
