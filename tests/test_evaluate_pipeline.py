"""The evaluator's pipeline: noise for the next chunk is prepared while the model answers this one."""

from __future__ import annotations

import threading
import time

import numpy as np
from PIL import Image

from medrobust.noise import Composition, ImageNoise
from medrobust.run.evaluate import Evaluator
from medrobust.run.journal import Lookup
from medrobust.sample import Sample

DELAY = 0.08


def _slow_noise(images, params):
    time.sleep(DELAY)  # a noise as slow as the model, once per chunk of images
    return (images * 0.5).clamp(0, 1)


SLOW = ImageNoise(name="slow", family="test", description="test", random=False,
                  table=[{"k": i} for i in range(5)], fn=_slow_noise)


class SleepyModel:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.active = 0
        self.most_active = 0

    def answer(self, samples):
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        self.calls.append(len(samples))
        self.threads.add(threading.current_thread().name)
        time.sleep(DELAY)
        self.active -= 1
        return [str(int(np.asarray(s.image).mean())) for s in samples]


def _samples(n: int) -> list[Sample]:
    return [Sample(f"s{i}", Image.new("L", (16, 16), 100 + i), "q?", "a", "open") for i in range(n)]


def test_noise_hides_behind_answering_and_batches_stay_full():
    model = SleepyModel()
    evaluator = Evaluator(model, "sleepy", _samples(10), {"slow": SLOW}, run_seed=0, batch_size=2)
    started = time.perf_counter()
    evaluation = evaluator.evaluate(Composition.of("slow@1"))
    elapsed = time.perf_counter() - started
    assert model.calls == [2, 2, 2, 2, 2]
    assert all(a is not None for a in evaluation.answers) and len(evaluation.records) == 10
    assert evaluation.answers[0] == str(int(np.asarray(Image.new("L", (1, 1), 50)).mean()))  # 100 halved
    # serial: 5 chunks x (noise + answer) = 10 delays; pipelined: about 6 (the first chunk's noise is not hidden)
    assert elapsed < 9 * DELAY, elapsed
    assert evaluator.timing.waiting_for_inputs < 2.5 * DELAY
    assert evaluator.timing.preparing >= 5 * DELAY and evaluator.timing.answering >= 5 * DELAY
    # the model is called from one thread (the run's model worker, which a call past --answer-timeout can be
    # abandoned on), one call at a time, never concurrently with the noise threads or itself
    assert len(model.threads) == 1 and model.most_active == 1, (model.threads, model.most_active)


def test_journal_hits_do_not_split_the_models_batches():
    class Journal:
        def __init__(self):
            self.store = {}

        def key(self, scope, sample, composition):
            return f"{scope}|{sample}|{composition}"

        def get_many(self, keys):
            return Lookup({k: self.store[k] for k in keys if k in self.store})

        def put_many(self, scope, rows):
            self.store.update({k: (a, e) for k, a, e in rows})

    journal = Journal()
    samples = _samples(9)
    Evaluator(SleepyModel(), "m", samples[::2], {"slow": SLOW}, 0, batch_size=3, journal=journal,
              scope="x").evaluate(Composition.of("slow@1"))
    model = SleepyModel()
    evaluation = Evaluator(model, "m", samples, {"slow": SLOW}, 0, batch_size=3, journal=journal,
                           scope="x").evaluate(Composition.of("slow@1"))
    assert model.calls == [3, 1]  # the 4 samples the journal does not know, in full batches
    assert all(a is not None for a in evaluation.answers)


def _per_image_noise(images, params):
    time.sleep(DELAY / 4 * images.shape[0])  # a noise whose cost grows with the images it is given
    return (images * 0.5).clamp(0, 1)


PER_IMAGE = ImageNoise(name="per_image", family="test", description="test", random=False,
                       table=[{"k": i} for i in range(5)], fn=_per_image_noise)


def test_a_chunk_prepared_in_shares_is_ready_sooner_with_the_same_result():
    samples = _samples(8)
    waits, results = {}, {}
    for threads in (1, 4):
        evaluator = Evaluator(SleepyModel(), "sleepy", samples, {"per_image": PER_IMAGE}, run_seed=0,
                              batch_size=8, prepare_threads=threads)
        evaluation = evaluator.evaluate(Composition.of("per_image@1"))
        waits[threads] = evaluator.timing.waiting_for_inputs
        results[threads] = (evaluation.answers, evaluation.records, evaluation.inputs)
    assert results[1] == results[4]
    # one chunk of 8 images: 2 delays prepared alone, half a delay in 4 shares of 2 (the wait is timed from
    # after the chunk was submitted, so it can be a little under the preparation itself)
    assert waits[1] >= 1.6 * DELAY and waits[4] < 1.2 * DELAY, waits


def test_the_next_known_composition_is_prepared_while_the_model_answers_the_last_chunk():
    samples = _samples(4)
    first, second = Composition.of("slow@1"), Composition.of("slow@2")
    plain = Evaluator(SleepyModel(), "sleepy", samples, {"slow": SLOW}, 0, batch_size=2)
    expected = [plain.evaluate(first), plain.evaluate(second)]
    waited = plain.timing.waiting_for_inputs
    ahead = Evaluator(SleepyModel(), "sleepy", samples, {"slow": SLOW}, 0, batch_size=2)
    ahead.upcoming = [first, second]
    got = [ahead.evaluate(first), ahead.evaluate(second)]
    assert got == expected  # answers, records and input digests: the same whether prepared ahead or not
    assert ahead.timing.prefetched == 1 and plain.timing.prefetched == 0
    # without the plan each composition waits for its first chunk (2 delays); with it only the first does
    assert waited >= 1.8 * DELAY and ahead.timing.waiting_for_inputs < 1.6 * DELAY, (waited, ahead.timing)


def test_a_wrong_or_stale_plan_changes_nothing_but_is_kept_while_upcoming():
    samples = _samples(4)
    planned, other = Composition.of("slow@3"), Composition.of("slow@1")
    evaluator = Evaluator(SleepyModel(), "sleepy", samples, {"slow": SLOW}, 0, batch_size=2)
    evaluator.upcoming = [planned]
    unplanned = evaluator.evaluate(other)  # prepares planned's first chunk at its end
    again = evaluator.evaluate(Composition.of("slow@2"))  # not planned: planned's prefetch is kept
    assert evaluator.timing.prefetched == 0
    evaluator.evaluate(planned)
    assert evaluator.timing.prefetched == 1
    fresh = Evaluator(SleepyModel(), "sleepy", samples, {"slow": SLOW}, 0, batch_size=2)
    assert (fresh.evaluate(other), fresh.evaluate(Composition.of("slow@2"))) == (unplanned, again)
    assert evaluator.evaluate(planned) == fresh.evaluate(planned)
