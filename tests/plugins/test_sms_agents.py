"""SMS's generated agents on a fake model with its own template: prompts, replies, vetoes, abstentions, records."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import medrobust
from medrobust import MissingCapability
from medrobust_plugins.imc import IMC
from medrobust_plugins.imc.sms import SMSCalibrator

NOISES = medrobust.load_plugins().noises
REFERENCE = ["Is there a lesion on the left?", "Is there a lesion on the right?", "Is this a CT scan?",
             "Is there no abnormality in the chest?", "What organ is shown?", "Is the lesion on the left side?"]
ASK = "[INST] Is this question well written? Answer yes or no. Question: {} [/INST]"
FIX = "[INST] Rewrite this question correctly: {} [/INST]"


def samples(questions):
    return [medrobust.Sample(f"s{k}", Image.new("L", (8, 8)), q, "yes", "closed") for k, q in enumerate(questions)]


class InstModel:
    """A model whose template is ``[INST] {q} [/INST]``; it replies from scripts keyed by the exact prompt."""

    def __init__(self, replies=None, scoring=True):
        self.replies = dict(replies or {})
        self.prompts: list[str] = []
        self.scoring = scoring

    def answer(self, samples):
        return ["yes" for _ in samples]

    def capabilities(self):
        return medrobust.Capabilities(free_generation=True, token_scoring=self.scoring,
                                      reasons={"token_scoring": "scripted model"} if not self.scoring else {})

    def describe(self):
        return {"name": "inst"}

    def format_prompt(self, user_text):
        return f"[INST] {user_text} [/INST]"

    def generate(self, prompts, images=None, max_new_tokens=32):
        self.prompts += prompts
        default = "Yes, the question is well written."
        return [self.replies.get(p, default if "well written" in p else "") for p in prompts]

    def score_text(self, texts, images=None):
        # a word of the reference questions costs 1 nat, any other 20
        known = {w.strip("?").lower() for q in REFERENCE for w in q.split()}
        return [[(w if i == 0 else " " + w, -1.0 if w.strip("?").lower() in known else -20.0)
                 for i, w in enumerate(t.split(" "))] for t in texts]


def fitted(model, **options):
    cal = SMSCalibrator({k: str(v) for k, v in options.items()})
    cal.fit(model, samples(REFERENCE), noises=NOISES)
    return cal


def test_prompts_are_exactly_the_models_own_format():
    noisy, fixed = "Is there a lesoin on the lfet?", "Is there a lesion on the left?"
    model = InstModel({ASK.format(noisy): "No.", FIX.format(noisy): fixed, ASK.format(fixed): "Yes."})
    cal = fitted(model)
    (record,) = cal.refine_many([noisy])
    assert model.prompts == [ASK.format(noisy), FIX.format(noisy), ASK.format(fixed)]
    assert record.final == fixed
    assert [(s.agent, s.decision) for s in record.steps] == [("assessor", "noisy"), ("corrector", "rewrite"),
                                                             ("reviewer", "accept")]
    assert record.steps[1].scores["prompt"] == FIX.format(noisy) and record.steps[1].scores["reply"] == fixed
    described = cal.describe()["agents"]
    assert described["mode"] == "model" and described["assessor"] == "model" and "note" not in described
    assert described["prompts"] == {"assess_prompt": ASK.format("{question}"),
                                    "rewrite_prompt": FIX.format("{question}")}


def test_a_clean_question_the_assessor_calls_well_written_is_left_unchanged():
    clean = "Is there a lesion on the left?"
    model = InstModel({ASK.format(clean): "Yes, the question is well written and has no typos."})
    (record,) = fitted(model).refine_many([clean])
    assert record.final == clean and not record.changed and record.assessed_clean
    assert [s.agent for s in record.steps] == ["assessor"]
    assert model.prompts == [ASK.format(clean)]  # no rewrite was asked for


@pytest.mark.parametrize("reply", [
    "Sure, here is the corrected question: Is there a lesion on the left?",
    "Sure! Here's the corrected question:\n\n\"Is there a lesion on the left?\"\n\nI fixed two typos: lesoin, lfet.",
    "\u201cIs there a lesion on the left?\u201d (corrected the spelling)",
    "Corrected question: 'Is there a lesion on the left?' - the words 'lesoin' and 'lfet' were misspelled.",
])
def test_polite_quoted_and_explained_rewrites_are_read(reply):
    noisy, fixed = "Is there a lesoin on the lfet?", "Is there a lesion on the left?"
    model = InstModel({ASK.format(noisy): "The question is not well written.", FIX.format(noisy): reply})
    (record,) = fitted(model).refine_many([noisy])
    assert record.final == fixed
    assert record.steps[1].scores["reply"] == reply


def test_a_rewrite_that_changes_the_meaning_is_vetoed_without_asking_the_reviewer():
    noisy = "Is there a lesoin on the lfet?"
    for hostile in ("Is there a lesion on the right?", "Is there no lesion on the left?",
                    "Is there a lesion no the left?"):
        model = InstModel({ASK.format(noisy): "No", FIX.format(noisy): hostile})
        (record,) = fitted(model).refine_many([noisy])
        assert record.final == noisy
        review = record.steps[-1]
        assert review.agent == "reviewer" and review.decision == "reject" and review.scores["meaning_changes"]
        assert ASK.format(hostile) not in model.prompts


@pytest.mark.parametrize("reply", ["", "lesion left 3", "Maybe.", "yes or no", "I'm not sure it is well written.",
                                   "Yes, but it has a typo."])
def test_an_unreadable_assessment_is_recorded_and_the_agent_abstains(reply):
    noisy = "Is there a lesoin on the lfet?"
    model = InstModel({ASK.format(noisy): reply})
    (record,) = fitted(model).refine_many([noisy])
    assert record.final == noisy and [s.decision for s in record.steps] == ["abstain"]
    assert record.steps[0].scores["reply"] == reply and record.steps[0].scores["well_written"] is None
    assert len(model.prompts) == 1


@pytest.mark.parametrize("reply", ["I'm sorry, I cannot help with that.", "Yes", "Sure!", "x" * 200])
def test_an_unreadable_rewrite_abstains(reply):
    noisy = "Is there a lesoin on the lfet?"
    model = InstModel({ASK.format(noisy): "No", FIX.format(noisy): reply})
    (record,) = fitted(model).refine_many([noisy])
    assert record.final == noisy
    assert record.steps[-1].agent == "corrector" and record.steps[-1].decision == "abstain"


def test_a_rewrite_the_reviewer_finds_still_noisy_goes_back_to_the_corrector():
    noisy, half, fixed = "Is thrre a lesoin on the left?", "Is there a lesoin on the left?", \
        "Is there a lesion on the left?"
    model = InstModel({ASK.format(noisy): "No", FIX.format(noisy): half, ASK.format(half): "No, it has a typo.",
                       FIX.format(half): fixed, ASK.format(fixed): "Yes"})
    (record,) = fitted(model, rounds=2).refine_many([noisy])
    assert record.final == fixed
    assert [(s.agent, s.round, s.decision) for s in record.steps] == [
        ("assessor", 0, "noisy"), ("corrector", 1, "rewrite"), ("reviewer", 1, "send-back"),
        ("corrector", 2, "rewrite"), ("reviewer", 2, "accept")]
    (once,) = fitted(InstModel(model.replies), rounds=1).refine_many([noisy])
    assert once.final == noisy  # never accepted within the rounds: the question is kept


def test_records_are_bounded_and_serialisable():
    noisy = "Is there a lesoin on the lfet?"
    model = InstModel({ASK.format(noisy): "No, " + "it has typos " * 1000})
    (record,) = fitted(model).refine_many([noisy])
    reply = record.steps[0].scores["reply"]
    assert len(reply) < 500 and reply.endswith("characters]")
    json.dumps(record.to_json())


def test_tools_as_ablations_and_helpers():
    noisy = "Is there a lesoin on the lfet?"
    # tools only: no generation at all
    model = InstModel()
    (record,) = fitted(model, agents="tools").refine_many([noisy])
    assert model.prompts == [] and record.steps[0].scores["method"] == "probability"
    # either: the model says well written, the probability/lexicon tool flags unknown words
    model = InstModel({ASK.format(noisy): "Yes"})
    (record,) = fitted(model, assessor="either").refine_many([noisy])
    assert record.steps[0].decision == "noisy" and record.steps[0].scores["tool"]["words"]
    # best: the likelihood chooses between the model's rewrite and the lexicon search's
    model = InstModel({ASK.format(noisy): "No", FIX.format(noisy): "Is there a lesoin in the left?"})
    (record,) = fitted(model, corrector="best").refine_many([noisy])
    corrector = record.steps[1]
    assert corrector.scores["chosen"] == "search" and set(corrector.scores["values"]) == {"model", "search"}
    assert record.final == "Is there a lesion on the lfet?"  # the search never writes a protected word


def test_a_model_without_format_prompt_runs_the_tools_and_says_so_once():
    class NoFormat(InstModel):
        format_prompt = None

    model = NoFormat()
    with pytest.warns(UserWarning) as caught:
        cal = fitted(model)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert "has no format_prompt(user_text)" in str(caught[0].message)
    agents = cal.describe()["agents"]
    assert agents["mode"] == "tools" and "format_prompt" in agents["note"] and "prompts" not in agents
    cal.refine_many(["Is there a lesoin on the lfet?"])
    assert model.prompts == []
    with pytest.raises(MissingCapability, match=r"has no format_prompt.*agents=tools"):
        fitted(NoFormat(), agents="model")
    # inside imc, the same fallback is recorded under the sms part
    imc = IMC({"sms.agents": "auto"})
    with pytest.warns(UserWarning, match="imc-sms runs its tool-only agents"):
        imc.fit(NoFormat(), samples(REFERENCE), noises=NOISES)
    assert imc.describe()["params"]["sms"]["agents"]["mode"] == "tools"


def test_generated_agents_need_no_token_scoring():
    noisy, fixed = "Is there a lesoin on the lfet?", "Is there a lesion on the left?"
    model = InstModel({ASK.format(noisy): "No", FIX.format(noisy): fixed, ASK.format(fixed): "Yes"}, scoring=False)
    (record,) = fitted(model).refine_many([noisy])
    assert record.final == fixed
    with pytest.raises(MissingCapability, match=r"token-scoring.*reviewer=likelihood.*scripted model"):
        fitted(InstModel(scoring=False), reviewer="likelihood")


def test_replies_are_cached_per_prompt():
    clean = "Is there a lesion on the left?"
    model = InstModel()
    cal = fitted(model)
    cal.refine_many([clean, clean])
    cal.refine_many([clean])
    assert model.prompts == [ASK.format(clean)]


def test_a_wrapper_keeps_the_inner_models_format_and_agents():
    from medrobust_plugins.imc._passthrough import PassThroughModel

    noisy, fixed = "Is there a lesoin on the lfet?", "Is there a lesion on the left?"
    inner = InstModel({ASK.format(noisy): "No", FIX.format(noisy): fixed, ASK.format(fixed): "Yes"})
    cal = fitted(inner)
    wrapped = cal.wrap(PassThroughModel(inner))  # as imc wraps PDC's wrapper
    assert wrapped.answer(samples([noisy])) == ["yes"]
    assert wrapped.last_records[0].final == fixed and cal.describe()["agents"]["mode"] == "model"

    class NoFormat(InstModel):
        format_prompt = None

    assert not callable(getattr(PassThroughModel(NoFormat()), "format_prompt", None))
    assert not hasattr(PassThroughModel(object()), "format_prompt")
    with pytest.warns(UserWarning, match="tool-only agents on the wrapped model.*no format_prompt"):
        cal.wrap(PassThroughModel(NoFormat()))


def test_best_never_chooses_a_rewrite_the_tools_veto():
    noisy = "Is there a lesoin on the lfet?"
    # the model's rewrite is the most likely (every word known) but turns left into right
    model = InstModel({ASK.format(noisy): "No", FIX.format(noisy): "Is there a lesion on the right?"})
    (record,) = fitted(model, corrector="best").refine_many([noisy])
    corrector = record.steps[1]
    assert corrector.scores["vetoed"] == ["model"] and corrector.scores["chosen"] == "search"
    assert record.final == "Is there a lesion on the lfet?"
