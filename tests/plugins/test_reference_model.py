"""The embedded reference model: shipped weights, determinism, feature hook, description."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import medrobust  # noqa: E402
from medrobust import PhantomVQA  # noqa: E402
from medrobust_plugins.reference import ReferenceModel  # noqa: E402

N = 70  # ten questions of each kind


@pytest.fixture(scope="module")
def model() -> ReferenceModel:
    return ReferenceModel({"path": None, "batch_size": 64})


@pytest.fixture(scope="module")
def samples():
    return PhantomVQA({}).samples("test")[:N]


@pytest.fixture(scope="module")
def answers(model, samples) -> list[str]:
    return model.answer(samples)


def test_capabilities(model) -> None:
    caps = medrobust.capabilities_of(model)
    assert caps == medrobust.Capabilities(feature_hook=True, free_generation=True, token_scoring=True)
    assert caps.missing() == {}


def test_answers_above_bar(samples, answers) -> None:
    assert len(answers) == len(samples)
    assert all(a == a.strip().lower() for a in answers)
    closed = [a == s.answer for s, a in zip(samples, answers) if s.answer_type == "closed"]
    assert sum(closed) / len(closed) >= 0.85
    exact = [a == s.answer for s, a in zip(samples, answers)]
    assert sum(exact) / len(exact) >= 0.75


def test_answers_are_deterministic_and_batch_independent(model, samples, answers) -> None:
    assert model.answer(samples) == answers
    small = ReferenceModel({"batch_size": 7})
    assert small.answer(samples[:21]) == answers[:21]


def test_vision_features_shape(model, samples) -> None:
    feats = model.vision_features([s.image for s in samples[:5]])
    assert tuple(feats.shape) == (5, 64, model.model.config.vision_config.hidden_size)


def test_feature_transform(model, samples, answers) -> None:
    seen = []

    def identity(features, images):
        seen.append((tuple(features.shape), len(images)))
        return features

    model.set_feature_transform(identity)
    try:
        assert model.answer(samples) == answers
        assert seen and seen[0][1] == min(N, model.batch_size)
        model.set_feature_transform(lambda f, images: torch.zeros_like(f))
        zeroed = model.answer(samples)
    finally:
        model.set_feature_transform(None)
    assert zeroed != answers
    assert model.answer(samples[:10]) == answers[:10]


def test_vision_features_ignore_transform(model, samples) -> None:
    plain = model.vision_features([s.image for s in samples[:3]])
    model.set_feature_transform(lambda f, images: f * 0)
    try:
        again = model.vision_features([s.image for s in samples[:3]])
    finally:
        model.set_feature_transform(None)
    assert torch.equal(plain, again)


def test_generate(model, samples) -> None:
    with_image = model.generate(["Is there a lesion? ASSISTANT:"], images=[samples[0].image],
                                max_new_tokens=5)
    text_only = model.generate(["USER: What organ is shown? ASSISTANT:", "Hello"], max_new_tokens=5)
    assert len(with_image) == 1 and len(text_only) == 2
    assert all(isinstance(t, str) for t in with_image + text_only)
    with pytest.raises(ValueError):
        model.generate(["a", "b"], images=[samples[0].image])


def test_description_is_stable(model) -> None:
    a, b = model.describe(), ReferenceModel({}).describe()
    assert a == b
    assert a["name"] == "reference"
    assert a["weights_sha256"] and all(len(v) == 64 for v in a["weights_sha256"].values())
    assert len(a["config_sha256"]) == 64 and a["tokenizer_sha256"]
    assert a["generation"]["decoding"] == "greedy" and 0.5e6 < a["parameters"] < 2e6
    described = medrobust.describe_model("reference", model)
    assert described["weights_sha256"] == a["weights_sha256"]
    assert described["capabilities"]["available"] == {"feature_hook": True, "free_generation": True,
                                                      "token_scoring": True}


def test_missing_weights_message(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        ReferenceModel({"path": str(tmp_path)})
