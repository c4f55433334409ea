"""Baseline calibrators: each changes what it should, and only that."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import medrobust
from medrobust import MissingCapability, Sample
from medrobust_plugins.baselines import (BilateralDenoise, MedianDenoise, NLMeansDenoise, SelfCorrect,
                                         SpellCorrect)

NOISES = medrobust.load_plugins().noises

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

    def capabilities(self):
        return medrobust.Capabilities(free_generation=True, token_scoring=True,
                                      reasons={"feature_hook": "a recorder has no vision tower"})

    def score_text(self, texts, images=None):
        return [[(t, -1.0)] for t in texts]

    def answer(self, samples):
        self.seen.extend(samples)
        return ["yes"] * len(samples)

    def generate(self, prompts, images=None, max_new_tokens=32):
        return list(self.rewrites[:len(prompts)])


def test_registered() -> None:
    names = set(medrobust.load_plugins().calibrators)
    assert {"median-denoise", "nlm-denoise", "bilateral-denoise", "spell-correct", "self-correct"} <= names


@pytest.mark.parametrize("factory", [MedianDenoise, NLMeansDenoise, BilateralDenoise])
def test_denoisers_reduce_noise(factory) -> None:
    clean = _phantom()
    noise = np.random.default_rng(0).normal(0, 0.12, clean.shape)
    noisy = Image.fromarray((np.clip(clean + noise, 0, 1) * 255).round().astype(np.uint8), "L")
    model = Recorder()
    calibrator = factory({})
    calibrator.fit(model, [], noises=NOISES)
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
    with pytest.raises(medrobust.OptionError, match="odd"):
        MedianDenoise({"kernel": "4"})
    with pytest.raises(medrobust.OptionError, match="unknown option"):
        NLMeansDenoise({"strength": "1"})


@pytest.fixture
def speller() -> SpellCorrect:
    calibrator = SpellCorrect({})
    calibrator.fit(None, [_sample(q) for q in QUESTIONS], noises=NOISES)
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
    calibrator.fit(model, [], noises=NOISES)
    calibrator.wrap(model).answer([_sample(q) for q in questions])
    assert [s.question for s in model.seen] == [rewrites[0], questions[1], questions[2]]
    assert (calibrator.rewrites, calibrator.fallbacks) == (1, 2)


def test_self_correct_needs_free_generation() -> None:
    class AnswerOnly:
        def answer(self, samples):
            return ["yes"] * len(samples)

    class Undeclared(Recorder):
        """Has generate() but does not declare it: calibrators read declarations, never methods."""

        def capabilities(self):
            return medrobust.Capabilities(reasons={"free_generation": "switched off by its owner"})

    with pytest.raises(MissingCapability, match="free-generation capability.*AnswerOnly"):
        SelfCorrect({}).fit(AnswerOnly(), [], noises=NOISES)
    with pytest.raises(MissingCapability, match=r"model Undeclared does not offer it \(switched off by its owner\)"):
        SelfCorrect({}).fit(Undeclared(), [], noises=NOISES)
    with pytest.raises(medrobust.OptionError, match="{question}"):
        SelfCorrect({"prompt": "fix it"})


def test_wrappers_declare_what_they_pass_through(speller) -> None:
    wrapped = speller.wrap(Recorder())
    caps = medrobust.capabilities_of(wrapped)
    assert caps.free_generation and not caps.feature_hook and not caps.token_scoring
    assert caps.reason("feature_hook") == "a recorder has no vision tower"
    assert "does not pass token scoring through" in caps.reason("token_scoring")
    assert wrapped.generate(["a"]) == []  # passes through to the recorder (no rewrites queued)
