"""The evaluator's pipeline: noise for the next chunk is prepared while the model answers this one."""

from __future__ import annotations

import threading
import time

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from medrobust.noise import Composition, ImageNoise
from medrobust.run.evaluate import Evaluator, _balanced_shares
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


def _large_image_noise(images, params):
    if images.shape[-1] >= 64:
        time.sleep(1.5 * DELAY)  # a large chunk takes longer to prepare than the model takes to answer one
    return (images * 0.5).clamp(0, 1)


LARGE_SLOW = ImageNoise(name="large_slow", family="test", description="test", random=False,
                        table=[{"k": i} for i in range(5)], fn=_large_image_noise)


def test_while_cheap_chunks_are_answered_the_expensive_ones_are_prepared_ahead():
    # two chunks of small images, then two of large ones that each take 1.5 answers to prepare
    samples = _samples(4) + [Sample(f"l{i}", Image.new("L", (64, 64), 90 + i), "q?", "a", "open") for i in range(4)]
    composition = Composition.of("large_slow@1")
    results, waits = {}, {}
    for budget in (0, 512 * 2**20):
        evaluator = Evaluator(SleepyModel(), "sleepy", samples, {"large_slow": LARGE_SLOW}, 0, batch_size=2,
                              prepare_threads=1, prepare_ahead_bytes=budget)
        evaluation = evaluator.evaluate(composition)
        results[budget] = (evaluation.answers, evaluation.records, evaluation.inputs)
        waits[budget] = evaluator.timing.waiting_for_inputs
    assert results[0] == results[512 * 2**20]
    # one chunk ahead: each large chunk starts when the one before is handed out, and the model waits half
    # an answer for each; ahead within the budget: both start while the small ones are answered
    assert waits[0] >= 0.8 * DELAY and waits[512 * 2**20] < 0.4 * DELAY, waits


def test_what_is_prepared_ahead_stays_within_its_budget_of_noisy_pixels():
    started: list[int] = []

    def counted(images, params):
        started.append(images.shape[0])
        return (images * 0.5).clamp(0, 1)

    class Watching(SleepyModel):
        def __init__(self):
            super().__init__()
            self.seen: list[int] = []

        def answer(self, samples):
            out = super().answer(samples)  # sleeps: the chunks started by now are prepared
            self.seen.append(len(started))
            return out

    noise = ImageNoise(name="counted", family="test", description="test", random=False,
                       table=[{"k": i} for i in range(5)], fn=counted)
    chunk_bytes = 2 * 16 * 16  # two 16 px gray images
    for budget, ahead in ((0, 1), (chunk_bytes, 1), (2 * chunk_bytes, 2), (10**9, 5)):
        started.clear()
        model = Watching()
        Evaluator(model, "sleepy", _samples(12), {"counted": noise}, 0, batch_size=2, prepare_threads=1,
                  prepare_ahead_bytes=budget).evaluate(Composition.of("counted@1"))
        # when the model has answered chunk k, chunks up to k + ahead are prepared, no more (6 chunks)
        assert model.seen == [min(6, k + 1 + ahead) for k in range(6)], (budget, model.seen)


@given(weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=80), parts=st.integers(1, 6))
def test_a_chunks_shares_cover_it_in_order_with_about_equal_weight(weights, parts):
    rows = range(100, 100 + len(weights))
    shares = _balanced_shares(rows, weights, parts)
    assert [i for share in shares for i in share] == list(rows) and all(shares) and len(shares) <= parts
    total = sum(weights)
    # no share holds more than an equal part and one sample
    assert all(sum(weights[i - 100] for i in share) <= total / parts + max(weights) for share in shares)
    if total and len(set(weights)) == 1 and len(weights) >= parts:  # equal weights: equal counts, every part
        assert len(shares) == parts and max(map(len, shares)) - min(map(len, shares)) <= 1


def test_threads_given_a_chunk_of_mixed_sizes_share_its_pixels_not_its_count():
    # 6 small images then 2 large ones with 16x their pixels: split by count, one thread would get both
    # large ones (32 units of work against 6); split by pixels, each gets about half (19 units)
    samples = _samples(6) + [Sample(f"l{i}", Image.new("L", (64, 64), 90 + i), "q?", "a", "open") for i in range(2)]
    def per_pixel(images, params):
        time.sleep(DELAY / 16 * images.shape[0] * images.shape[-1] * images.shape[-2] / 256)
        return (images * 0.5).clamp(0, 1)

    noise = ImageNoise(name="per_pixel", family="test", description="test", random=False,
                       table=[{"k": i} for i in range(5)], fn=per_pixel)
    evaluator = Evaluator(SleepyModel(), "sleepy", samples, {"per_pixel": noise}, 0, batch_size=8, prepare_threads=2)
    evaluator.evaluate(Composition.of("per_pixel@1"))
    # the shares: 6 small and 1 large (6 + 16 units), 1 large (16 units): about 22 / 32 of the serial wait
    assert evaluator.timing.waiting_for_inputs < 1.6 * DELAY, evaluator.timing
