"""``imc`` = PDC + SMS: option routing, capability messages, and a combined run."""

import pytest

import medrobust
from medrobust import MissingCapability
from medrobust_plugins.imc import IMC
from medrobust_plugins.imc.combined import split_options
from medrobust_plugins.reference.model import WEIGHTS_DIR

HOST = medrobust.load_plugins()
NOISES = HOST.noises


def test_imc_and_its_parts_are_registered_by_the_imc_plugin():
    for name in ("imc", "imc-pdc", "imc-sms"):
        assert HOST.calibrators.provider(name) == "imc"


def test_options_are_routed_by_prefix():
    parts = split_options({"pdc.strength": "0.5", "sms.rounds": "2"})
    assert parts == {"pdc": {"strength": "0.5"}, "sms": {"rounds": "2"}}
    with pytest.raises(medrobust.OptionError, match="prefixed with 'pdc.' or 'sms.'"):
        split_options({"strength": "0.5"})


class AnswerOnly:
    def answer(self, samples):
        return ["yes" for _ in samples]


def test_a_model_without_capabilities_is_told_which_part_cannot_run():
    sample = medrobust.Sample("s", __import__("PIL.Image").Image.new("L", (8, 8)), "Is it?", "yes", "closed")
    with pytest.raises(MissingCapability) as info:
        IMC({}).fit(AnswerOnly(), [sample], noises=NOISES)
    message = str(info.value)
    assert "PDC (image calibration)" in message and "feature-hook" in message
    assert "SMS (question refinement)" in message and "score_text" in message
    assert "declares no capabilities()" in message  # the reason medrobust.capabilities_of gives


class TextOnlyCapable(AnswerOnly):
    """Offers what SMS needs (token scoring, free generation) but no feature hook, like a served model."""

    def __init__(self):
        self.asked = []

    def capabilities(self):
        return medrobust.Capabilities(free_generation=True, token_scoring=True,
                                      reasons={"feature_hook": "served: the features stay on the server"})

    def answer(self, samples):
        self.asked += [s.question for s in samples]
        return ["yes" for _ in samples]

    def generate(self, prompts, images=None, max_new_tokens=32):
        return ["" for _ in prompts]

    def score_text(self, texts, images=None):
        return [[(word, -1.0) for word in text.split()] for text in texts]


def test_imc_runs_sms_alone_on_a_model_without_feature_hook_and_records_why():
    sample = medrobust.Sample("s", __import__("PIL.Image").Image.new("L", (8, 8)),
                              "Is there a lesion?", "yes", "closed")
    imc = IMC({})
    with pytest.warns(UserWarning, match="imc runs without PDC"):
        imc.fit(TextOnlyCapable(), [sample] * 8, noises=NOISES)
    described = imc.describe()
    assert set(described["parts_not_run"]) == {"pdc"}
    assert "feature-hook" in described["parts_not_run"]["pdc"]
    assert "served: the features stay on the server" in described["parts_not_run"]["pdc"]
    assert described["params"]["pdc"] == {"not_run": described["parts_not_run"]["pdc"]}
    model = TextOnlyCapable()
    wrapped = imc.wrap(model)
    assert wrapped.answer([sample]) == ["yes"] and model.asked  # SMS wrapper, no PDC wrapper
    assert type(wrapped).__module__.endswith("sms")
    with pytest.raises(MissingCapability, match="PDC"):
        IMC({"strict": "true"}).fit(TextOnlyCapable(), [sample] * 8, noises=NOISES)
    with pytest.raises(medrobust.OptionError, match="strict"):
        IMC({"strict": "maybe"})


@pytest.mark.skipif(not (WEIGHTS_DIR / "model.safetensors").is_file(),
                    reason=f"needs the reference weights {WEIGHTS_DIR / 'model.safetensors'}")
def test_imc_answers_through_both_parts():
    from medrobust import Composition, PhantomVQA, apply_composition
    from medrobust_plugins.reference import ReferenceModel

    data = PhantomVQA({})
    model = ReferenceModel({})
    imc = IMC({})
    imc.fit(model, data.samples("reference")[:64], noises=NOISES)
    wrapped = imc.wrap(model)
    test = data.samples("test")[:24]
    noisy = [apply_composition(s, Composition.of("keyboard_typos@3", "contrast@4"), NOISES, 0)[0]
             for s in test]
    answers = wrapped.answer(noisy)
    assert len(answers) == 24 and all(isinstance(a, str) for a in answers)
    records = wrapped.last_records
    assert len(records) == 24 and any(r.changed for r in records)
    assert medrobust.capabilities_of(wrapped) == model.capabilities()  # both wrappers pass everything through
    assert wrapped.describe() == model.describe()
    assert model._transform is None  # PDC removed its transform after answering
    described = imc.describe()
    assert described["name"] == "imc" and set(described["params"]) == {"pdc", "sms"}


def test_pdc_uses_the_noise_registry_it_is_given():
    """PDC encodes reference images under the run's noises (a conftest's, a calibrated scale), not its own."""
    from medrobust_plugins.imc import PDC

    class Hooked(AnswerOnly):
        def capabilities(self):
            return medrobust.Capabilities(feature_hook=True)

        def vision_features(self, images):
            import torch

            return torch.randn(len(images), 4, 2, generator=torch.Generator().manual_seed(len(seen)))

        def set_feature_transform(self, fn):
            pass

    sample = medrobust.Sample("s", __import__("PIL.Image").Image.new("L", (8, 8)), "Is it?", "yes", "closed")
    seen = []

    class Spy:
        modality = "image"

        def params(self, level, seed):
            seen.append(level)
            return {"level": level, "seed": seed}

        def apply(self, x, params):
            return x

    with pytest.raises(medrobust.OptionError, match="not in the run's noise registry"):
        PDC({"noises": "gaussian_noise"}).fit(Hooked(), [sample] * 4, noises={"only_mine": Spy()})
    PDC({"noises": "only_mine", "bands": "a:1,b:5"}).fit(Hooked(), [sample] * 4, noises={"only_mine": Spy()})
    assert sorted(set(seen)) == [1, 5]
