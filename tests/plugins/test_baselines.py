"""Baseline calibrators: each changes what it should, and only that."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medrobust import Sample
from medrobust.manager import load_plugins
from medrobust_plugins.baselines import (BilateralDenoise, MedianDenoise, NLMeansDenoise, SelfCorrect,
                                         SpellCorrect)
from medrobust_plugins.baselines._common import MissingCapability

QUESTIONS = ["Is there any abnormality in this image?", "On which side is the lesion, left or right?",
             "How many lesions are there?", "Is there no lesion in the left lung?"]


def _sample(question: str = "Is there any abnormality in this image?", image=None) -> Sample:
    image = image if image is not None else Image.new("L", (64, 64), 128)
    return Sample("s/0", image, question, "yes", "closed", {})


def _phantom() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return np.clip(0.3 + 0.4 * ((x - 32) ** 2 + (y - 30) ** 2 < 200) + 0.2 * (x > 40), 0, 1)


class Recorder:
    """A model that records what it was asked."""

    def __init__(self, rewrites=None) -> None:
        self.seen: list[Sample] = []
        self.rewrites = rewrites or []

    def answer(self, samples):
        self.seen.extend(samples)
        return ["yes"] * len(samples)

    def generate(self, prompts, images=None, max_new_tokens=32):
        return list(self.rewrites[:len(prompts)])


def test_registered() -> None:
    names = set(load_plugins().calibrators)
    assert {"median-denoise", "nlm-denoise", "bilateral-denoise", "spell-correct", "self-correct"} <= names


@pytest.mark.parametrize("factory", [MedianDenoise, NLMeansDenoise, BilateralDenoise])
def test_denoisers_reduce_noise(factory) -> None:
    clean = _phantom()
    noise = np.random.default_rng(0).normal(0, 0.12, clean.shape)
    noisy = Image.fromarray((np.clip(clean + noise, 0, 1) * 255).round().astype(np.uint8), "L")
    model = Recorder()
    calibrator = factory({})
    calibrator.fit(model, [])
    wrapped = calibrator.wrap(model)
    assert wrapped.answer([_sample(image=noisy)]) == ["yes"]
    seen = np.asarray(model.seen[0].image, dtype=float) / 255
    before = np.mean((np.asarray(noisy, dtype=float) / 255 - clean) ** 2)
    after = np.mean((seen - clean) ** 2)
    print(f"{calibrator.describe()['name']}: noise MSE {before:.5f} -> {after:.5f}")
    assert after < 0.7 * before
    assert model.seen[0].question == QUESTIONS[0]


def test_denoise_options_are_parsed_and_checked() -> None:
    assert MedianDenoise({"kernel": "5"}).describe() == {"name": "median-denoise", "params": {"kernel": 5}}
    with pytest.raises(ValueError, match="odd"):
        MedianDenoise({"kernel": "4"})
    with pytest.raises(ValueError, match="unknown option"):
        NLMeansDenoise({"strength": "1"})


@pytest.fixture
def speller() -> SpellCorrect:
    calibrator = SpellCorrect({})
    calibrator.fit(None, [_sample(q) for q in QUESTIONS])
    return calibrator


def test_spell_correct_fixes_typos(speller) -> None:
    assert speller.correct("Is there any abnormalty in this imgae?") == \
        "Is there any abnormality in this image?"
    assert speller.correct("How mnay Lesoins are there?") == "How many Lesions are there?"


def test_spell_correct_never_changes_protected_tokens(speller) -> None:
    for text in ["Is there no lesion on the left?", "Are there 3 lesions?", "Is it Left, no, 3mm?",
                 "Is it nor lest?"]:
        assert speller.correct(text) == text
    assert "left" not in speller.correct("Is the lest lung clear?")
    assert SpellCorrect({"to_protected": "true"}).describe()["params"]["to_protected"] is True


def test_spell_correct_through_wrap(speller) -> None:
    model = Recorder()
    speller.wrap(model).answer([_sample("Is there any abnormalty?")])
    assert model.seen[0].question == "Is there any abnormality?"


def test_self_correct_uses_good_rewrites_and_falls_back_on_bad_ones() -> None:
    questions = ["Is tehre a lesion on the left?", "Are there 3 lesoins?", "Is there no abnormality?"]
    rewrites = ["Is there a lesion on the left?", "", "Is there an abnormality?"]
    model = Recorder(rewrites)
    calibrator = SelfCorrect({})
    calibrator.fit(model, [])
    calibrator.wrap(model).answer([_sample(q) for q in questions])
    assert [s.question for s in model.seen] == [rewrites[0], questions[1], questions[2]]
    assert (calibrator.rewrites, calibrator.fallbacks) == (1, 2)


def test_self_correct_needs_free_generation() -> None:
    class AnswerOnly:
        def answer(self, samples):
            return ["yes"] * len(samples)

    with pytest.raises(MissingCapability, match="free-generation capability.*AnswerOnly"):
        SelfCorrect({}).fit(AnswerOnly(), [])
    with pytest.raises(ValueError, match="{question}"):
        SelfCorrect({"prompt": "fix it"})
