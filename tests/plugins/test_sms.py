"""SMS: assessor / corrector / reviewer on the reference model, records, protected tokens, the contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import medrobust  # noqa: E402
from medrobust import Composition, MissingCapability, PhantomVQA, apply_composition  # noqa: E402
from medrobust_plugins.imc._sms_text import dl_distance, protected_sequence, word_scores, words_of  # noqa: E402
from medrobust_plugins.imc.sms import SMSCalibrator, SMSRecord, refine  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[2] / "plugins" / "reference" / "weights" / "model.safetensors"
needs_weights = pytest.mark.skipif(
    not WEIGHTS.is_file(), reason=f"reference model weights missing: {WEIGHTS} (train them with "
    "`python -m medrobust_plugins.reference.train --out plugins/reference/weights`)")

# Questions dense with negation, laterality and numbers, and hand-made typos of them.
DENSE = [
    "Is there no lesion on the left side?",
    "Are there 2 lesions on the right, not the left?",
    "Is the lesion 3 cm on the left or the right?",
    "Is there not one lesion without any abnormality on the right?",
    "How many lesions, 0 or 1, are on the left side of the chest?",
    "Is there no abnormality in this image of the right eye?",
]
HAND_TYPOS = [
    "Is thrre no lesoin on the left sdie?",
    "Are threre 2 lesiosn on the right, not the left?",
    "Is teh lesion 3 cm on the left or the right?",
    "Is there not one lesion withuot any abnormalty on the right?",
    "How mnay lesions, 0 or 1, are on the left sid of the chest?",
    "Is thereno abnormality in thsi image of the right eye?",
]


NOISES = medrobust.load_plugins().noises


class TextOnly:
    """A model that answers but cannot score tokens."""

    def answer(self, samples):
        return ["yes"] * len(samples)

    def capabilities(self):
        return medrobust.Capabilities(free_generation=True, reasons={
            "feature_hook": "text only", "token_scoring": "the server returns no log-probabilities"})

    def describe(self):
        return {"name": "text-only"}


@pytest.fixture(scope="module")
def model():
    if not WEIGHTS.is_file():
        pytest.skip(f"reference model weights missing: {WEIGHTS}")
    from medrobust_plugins.reference import ReferenceModel

    return ReferenceModel({})


@pytest.fixture(scope="module")
def data() -> PhantomVQA:
    return PhantomVQA({})


@pytest.fixture(scope="module")
def sms(model, data) -> SMSCalibrator:
    cal = SMSCalibrator({})
    cal.fit(model, data.samples("reference"), noises=NOISES)
    return cal


@pytest.fixture(scope="module")
def noises():
    return NOISES


# --- contract without weights ----------------------------------------------------------------

def test_capability_error_is_clear() -> None:
    cal = SMSCalibrator({})
    with pytest.raises(MissingCapability) as info:
        cal.fit(TextOnly(), [], noises=NOISES)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "imc-sms needs the token-scoring capability (score_text" in message
    assert "model text-only does not offer it (the server returns no log-probabilities)" in message


def test_capabilities_are_read_from_the_declaration_only() -> None:
    """A model with score_text/generate methods that declares neither is refused; SMS never probes methods."""

    class Quiet(TextOnly):
        def capabilities(self):
            return medrobust.Capabilities(token_scoring=True, reasons={"free_generation": "not declared here"})

        def score_text(self, texts, images=None):
            return [[(t, -1.0)] for t in texts]

        def generate(self, prompts, images=None, max_new_tokens=32):
            return ["" for _ in prompts]

    sample = medrobust.Sample("s", __import__("PIL.Image").Image.new("L", (8, 8)), "Is it?", "yes", "closed")
    with pytest.warns(UserWarning, match="imc-sms runs its tool-only agents"):
        SMSCalibrator({}).fit(Quiet(), [sample], noises=NOISES)  # token scoring declared: fits
    with pytest.raises(MissingCapability, match=r"free-generation capability \(not declared here\)"):
        SMSCalibrator({"agents": "model"}).fit(Quiet(), [sample], noises=NOISES)


def test_options_are_parsed_and_checked() -> None:
    cal = SMSCalibrator({"rounds": "2", "margin": "0.5", "corrector": "best", "with_image": "no"})
    assert cal.opts["rounds"] == 2 and cal.opts["margin"] == 0.5 and cal.opts["with_image"] is False
    with pytest.raises(medrobust.OptionError, match=r"rewrite_prompt must contain \{question\}"):
        SMSCalibrator({"rewrite_prompt": "Fix it"})
    with pytest.raises(medrobust.OptionError, match="unknown option"):
        SMSCalibrator({"roundz": "2"})
    with pytest.raises(medrobust.OptionError, match="corrector must be one of"):
        SMSCalibrator({"corrector": "magic"})


def test_word_alignment_of_token_scores() -> None:
    text = "Is  thrre\ta lesion?"
    tokens = [("Is", -1.0), (" ", -2.0), (" th", -3.0), ("rre", -4.0), ("\t", -5.0), ("a", -6.0),
              (" lesion", -7.0), ("?", -8.0)]
    assert [w.text for w in words_of(text)] == ["Is", "thrre", "a", "lesion?"]
    # whitespace-only tokens count toward the next word
    assert word_scores(text, tokens) == [(1.0, 1), (9.0, 3), (11.0, 2), (15.0, 2)]
    assert protected_sequence("Is there no lesion on the left, 2 cm?") == ["no", "left", "2", "cm"]


# --- token scoring on the reference model -----------------------------------------------------

@needs_weights
def test_score_text_tokens_join_back_and_batch_independent(model, data) -> None:
    texts = ["Is there a lesion?", "Is thrre a lesoin on the lfet?", "Is this \u0430 \u0421\u0422 scan?", ""]
    scores = model.score_text(texts)
    assert ["".join(t for t, _ in s) for s in scores] == texts
    assert all(lp <= 0 for s in scores for _, lp in s)
    alone = [model.score_text([t])[0] for t in texts]
    for a, b in zip(scores, alone):
        assert [t for t, _ in a] == [t for t, _ in b]
        assert all(abs(x - y) < 1e-4 for (_, x), (_, y) in zip(a, b))
    samples = data.samples("test")[:3]
    with_images = model.score_text([s.question for s in samples], [s.image for s in samples])
    assert ["".join(t for t, _ in s) for s in with_images] == [s.question for s in samples]


# --- the agents -------------------------------------------------------------------------------

@needs_weights
def test_clean_questions_pass_unchanged(sms, data) -> None:
    questions = [s.question for s in data.samples("test")]
    records = sms.refine_many(questions)
    unchanged = sum(not r.changed for r in records) / len(records)
    assert unchanged >= 0.95, f"SMS changed {1 - unchanged:.1%} of clean test questions"
    for r in records:
        if r.assessed_clean:
            assert r.final is r.question or r.final == r.question
            assert [s.agent for s in r.steps] == ["assessor"]


@needs_weights
@pytest.mark.parametrize("noise", ["keyboard_typos", "ocr_confusions", "clinical_misspellings",
                                   "char_typos", "split_words", "unicode_homoglyphs"])
@pytest.mark.parametrize("severity", [3, 5])
def test_protected_tokens_preserved_under_catalogue_noise(sms, noises, noise, severity) -> None:
    noisy = [noises[noise].apply(q, noises[noise].params(severity, 1000 * severity + k))
             for k, q in enumerate(DENSE)]
    for q, n, record in zip(DENSE, noisy, sms.refine_many(noisy)):
        assert protected_sequence(record.final) == protected_sequence(n) == protected_sequence(q), (
            noise, severity, q, n, record.final)


@needs_weights
@pytest.mark.parametrize("options, at_least", [({"agents": "tools"}, 3), ({"corrector": "best"}, 3), ({}, 0)])
def test_protected_tokens_preserved_and_typos_fixed_by_hand(model, data, options, at_least) -> None:
    """Hand typos of questions the model was never taught: the tools fix them; the model's own rewrites
    of them (a question it knows instead) are vetoed, so the default agents leave them, never harm them."""
    cal = SMSCalibrator(options)
    cal.fit(model, data.samples("reference"), noises=NOISES)
    records = cal.refine_many(HAND_TYPOS)
    for clean, noisy, r in zip(DENSE, HAND_TYPOS, records):
        # "withuot" is no longer a protected word: SMS never turns a word into one
        assert protected_sequence(r.final) == protected_sequence(noisy)
        assert dl_distance(r.final, clean) <= dl_distance(noisy, clean)
    fixed = sum(dl_distance(r.final, c) < dl_distance(n, c) for c, n, r in zip(DENSE, HAND_TYPOS, records))
    assert fixed >= at_least
    # the function-level API gives the same record as the batch
    assert refine(model, HAND_TYPOS[0], calibrator=cal).to_json() == records[0].to_json()


@needs_weights
def test_records_show_every_agent_with_bounded_rounds(model, data) -> None:
    cal = SMSCalibrator({"rounds": "2", "agents": "tools"})
    cal.fit(model, data.samples("reference"), noises=NOISES)
    records = cal.refine_many(HAND_TYPOS + DENSE[:2])
    for r in records:
        assert r.steps[0].agent == "assessor" and r.steps[0].round == 0
        assert r.rounds <= 2
        assert all(s.agent in ("assessor", "corrector", "reviewer") for s in r.steps)
        json.dumps(r.to_json())
    noisy = records[0]
    assert noisy.steps[0].decision == "noisy"
    assert {s.agent for s in noisy.steps} == {"assessor", "corrector", "reviewer"}
    reviews = [s for s in noisy.steps if s.agent == "reviewer"]
    assert reviews and {"gain", "edit_fraction", "protected_same"} <= set(reviews[-1].scores)
    if noisy.changed:
        assert reviews[-1].decision == "accept" and reviews[-1].output == noisy.final


@needs_weights
def test_default_agents_are_the_reference_models_own_replies(sms, data, noises) -> None:
    """The reference model follows its two instructions: SMS's default agents are its generated replies."""
    assert sms.describe()["agents"]["mode"] == "model"
    assert sms.describe()["agents"]["prompts"]["assess_prompt"] == sms._model.format_prompt(
        "Is this question well written? Answer yes or no. Question: {question}")
    samples = data.samples("test")[:40]
    noisy = [apply_composition(s, Composition.of(("keyboard_typos", 4)), noises, 0)[0].question for s in samples]
    records = sms.refine_many(noisy)
    changed = [r for r in records if r.changed]
    assert len(changed) >= 10
    for r in changed:
        corrector = next(s for s in r.steps if s.agent == "corrector")
        assert corrector.scores["prompt"] == sms._model.format_prompt(f"Rewrite this question correctly: {r.question}")
        assert corrector.scores["reply"] and r.steps[-1].decision == "accept"
        assert r.steps[-1].scores["well_written"] is True


@needs_weights
@pytest.mark.parametrize("noise", ["char_typos", "keyboard_typos"])
def test_refinement_moves_typed_questions_toward_the_clean_ones(sms, data, noises, noise) -> None:
    samples = data.samples("test")[:200]
    comp = Composition.of((noise, 3))
    noisy = [apply_composition(s, comp, noises, 0)[0].question for s in samples]
    fixed = [r.final for r in sms.refine_many(noisy)]
    before = sum(dl_distance(n, s.question) for n, s in zip(noisy, samples)) / len(samples)
    after = sum(dl_distance(f, s.question) for f, s in zip(fixed, samples)) / len(samples)
    print(f"{noise}@3: mean edit distance to the clean question {before:.2f} -> {after:.2f}")
    assert after < 0.6 * before


# --- the wrapper ------------------------------------------------------------------------------

@needs_weights
def test_wrapper_answers_refined_questions_and_keeps_records(model, sms, data) -> None:
    samples = data.samples("test")[:8]
    noisy = [s.replace(question=q) for s, q in zip(samples, ["Is thrre a lesoin?"] + [s.question for s in samples[1:]])]
    wrapped = sms.wrap(model)
    answers = wrapped.answer(noisy)
    assert len(answers) == len(samples)
    assert len(wrapped.last_records) == len(samples)
    assert all(isinstance(r, SMSRecord) for r in wrapped.last_records)
    assert medrobust.capabilities_of(wrapped) == medrobust.capabilities_of(model)
    assert wrapped.describe() == model.describe()
    assert sms.describe()["name"] == "imc-sms" and sms.describe()["fitted_on"] == len(data.samples("reference"))


class OwnTextFormat:
    """The reference model v1 with format_prompt in its own text template (it was never taught instructions)."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def format_prompt(self, user_text):
        return f"USER: {user_text} ASSISTANT:"


@needs_weights
def test_generative_agents_and_image_scoring_stay_safe(model, data) -> None:
    """A model that does not follow instructions: its replies are recorded and read safely, or abstained on."""
    agent_model = OwnTextFormat(model)
    cal = SMSCalibrator({"agents": "model", "assessor": "either", "corrector": "best", "reviewer": "both",
                         "with_image": "true", "rounds": "2"})
    cal.fit(agent_model, data.samples("reference"), noises=NOISES)
    assert cal.describe()["agents"]["prompts"]["rewrite_prompt"] == (
        "USER: Rewrite this question correctly: {question} ASSISTANT:")
    samples = data.samples("test")[:len(HAND_TYPOS)]
    records = cal.refine_many(HAND_TYPOS, [s.image for s in samples])
    for noisy, r in zip(HAND_TYPOS, records):
        assert protected_sequence(r.final) == protected_sequence(noisy)
        assert r.rounds <= 2
        assessor = r.steps[0]
        assert assessor.scores["prompt"].startswith("USER: Is this question well written?")
        assert "reply" in assessor.scores and "read_as" in assessor.scores and "tool" in assessor.scores
        for step in r.steps[1:]:
            if step.agent == "corrector":
                assert step.scores["method"] == "best" and "reply" in step.scores
