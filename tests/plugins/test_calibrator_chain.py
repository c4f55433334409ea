"""Calibrator chains (``--calibrator spell-correct+median-denoise``): resolution, order, options, record."""

from __future__ import annotations

import pytest
from conftest import TOY_ARGS
from conftest import read_certificate as _certificate

import medrobust
from medrobust.run.calibrator_chain import CalibratorChain

HOST = medrobust.load_plugins()


def test_a_chain_resolves_from_its_members_and_declares_both_modalities() -> None:
    factory = HOST.calibrators["spell-correct+median-denoise"]
    assert list(factory.members) == ["spell-correct", "median-denoise"]
    assert factory.modalities == ("image", "text")
    assert "spell-correct+imc-pdc" in HOST.calibrators and "imc-sms+median-denoise" in HOST.calibrators
    assert "spell-correct+no-such" not in HOST.calibrators
    assert HOST.calibrators.provider("spell-correct+imc-pdc") == "baselines+imc"


@pytest.mark.parametrize("name,message", [
    ("spell-correct+no-such", r"unknown calibrator 'no-such' in chain 'spell-correct\+no-such'; "
                              r"registered calibrators: .*median-denoise"),
    ("median-denoise+imc-pdc", r"'median-denoise' \(image\) and 'imc-pdc' \(image\) both change the image; "
                               r"a chain takes one calibrator per modality"),
    ("imc+median-denoise", r"'imc' \(image, text\) and 'median-denoise' \(image\) both change the image"),
    ("spell-correct+self-correct", r"both change the text"),
    ("spell-correct+spell-correct", r"names 'spell-correct' twice"),
    ("none+median-denoise", r"'none' is the identity, leave it out of the chain"),
    ("spell-correct++median-denoise", r"has an empty member"),
])
def test_a_chain_that_cannot_run_is_refused_by_name(name: str, message: str) -> None:
    with pytest.raises(medrobust.MedrobustError, match=message):
        HOST.calibrators[name]


class Recorder:
    """A calibrator that records its fit and wrap, and tags the samples it passes on."""

    log: list[str] = []

    def __init__(self, name: str, modality: str, options: dict) -> None:
        self.name, self.modality, self.options = name, modality, options

    def fit(self, model, reference_samples, noises):
        self.log.append(f"fit {self.name} on {type(model).__name__}")

    def wrap(self, model):
        self.log.append(f"wrap {self.name} around {getattr(model, 'tag', type(model).__name__)}")
        outer = self

        class Wrapped:
            tag = f"{self.name}({getattr(model, 'tag', 'model')})"

            def answer(self, samples):
                outer.log.append(f"answer {outer.name}")
                return model.answer([s.replace(question=f"{s.question} {outer.name}") for s in samples])
        return Wrapped()

    def describe(self):
        return {"name": "ignored", "params": dict(self.options)}


class Plugin:
    @medrobust.hookimpl
    def medrobust_register_calibrators(self, register):
        for name, modality in (("rec-image", "image"), ("rec-text", "text")):
            def factory(options, _name=name, _modality=modality):
                return Recorder(_name, _modality, options)
            factory.modalities = (modality,)
            register(name, factory)

        def undeclared(options):
            return Recorder("undeclared", "image", options)
        register("undeclared", undeclared)


class Echo:
    def answer(self, samples):
        return [s.question for s in samples]


def test_members_fit_in_order_on_the_model_and_wrap_in_order_with_routed_options() -> None:
    host = medrobust.load_plugins(extra=[Plugin()])
    Recorder.log = []
    chain = host.calibrators["rec-text+rec-image"]({"rec-image.size": "3", "rec-text.level": "1"})
    assert isinstance(chain, CalibratorChain)
    model = Echo()
    chain.fit(model, [], noises={})
    wrapped = chain.wrap(model)
    sample = medrobust.Sample("s", None, "q", "a", "closed")
    assert wrapped.answer([sample]) == ["q rec-image rec-text"]  # the last member's change comes first
    assert Recorder.log == ["fit rec-text on Echo", "fit rec-image on Echo", "wrap rec-text around Echo",
                            "wrap rec-image around rec-text(model)", "answer rec-image", "answer rec-text"]
    described = chain.describe()
    assert described["name"] == "rec-text+rec-image"
    assert described["chain"] == [{"name": "rec-text", "params": {"level": "1"}},
                                  {"name": "rec-image", "params": {"size": "3"}}]
    assert "left to right" in described["order"]
    with pytest.raises(medrobust.OptionError, match=r"--calibrator-option size: calibrator chain "
                                                    r"'rec-text\+rec-image' routes options by member, prefix "
                                                    r"the key with one of rec-text\., rec-image\."):
        host.calibrators["rec-text+rec-image"]({"size": "3"})
    with pytest.raises(medrobust.OptionError, match=r"'undeclared' cannot be chained: its factory declares no "
                                                    r"modalities it changes"):
        host.calibrators["rec-text+undeclared"]


def test_a_member_that_needs_what_a_baseline_hides_is_told_to_come_first() -> None:
    chain = HOST.calibrators["median-denoise+imc-sms"]({})

    class Scoring(Echo):
        def capabilities(self):
            return medrobust.Capabilities(token_scoring=True, free_generation=True,
                                          reasons={"feature_hook": "none here"})

    chain.members["imc-sms"].lexicon = {"q"}  # as if fitted: only wrap's capability check matters here
    with pytest.raises(medrobust.MissingCapability, match=r"in a chain, 'imc-sms' wraps what median-denoise "
                                                          r"made of the model: name 'imc-sms' first"):
        chain.wrap(Scoring())


SPEC = '''
def test_typos(bench):
    bench.expect("char_typos@3", metric="closed_accuracy", max_drop=1.0)
'''


def test_a_chain_runs_end_to_end_and_the_certificate_records_it(toy) -> None:
    toy.makepyfile(test_spec=SPEC)
    result = toy.runpytest(*TOY_ARGS, "--calibrator", "spell-correct+median-denoise",
                           "--calibrator-option", "median-denoise.kernel=5")
    result.assert_outcomes(passed=1)
    cert = _certificate(toy)
    assert "uncalibrated" in cert["specs"][0]["checks"][0]  # the A/B arm of a chain like any calibrator
    recorded = cert["calibrator"]
    assert recorded["name"] == "spell-correct+median-denoise"
    assert recorded["options"] == {"median-denoise.kernel": "5"}
    assert [m["name"] for m in recorded["chain"]] == ["spell-correct", "median-denoise"]
    assert recorded["chain"][0]["vocabulary_size"] > 0
    assert recorded["chain"][1]["params"] == {"kernel": 5}
    import json
    from importlib import resources

    import jsonschema

    schema = json.loads((resources.files("medrobust") / "schemas" / "certificate.schema.json").read_text())
    jsonschema.validate(cert, schema)


def test_a_chain_with_two_image_calibrators_stops_the_run_at_start_up(toy) -> None:
    toy.makepyfile(test_spec=SPEC)
    result = toy.runpytest(*TOY_ARGS, "--calibrator", "median-denoise+nlm-denoise")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'median-denoise' (image) and 'nlm-denoise' (image) both change the image*"])
    assert "Traceback" not in result.stderr.str()


def test_a_chain_option_without_its_member_prefix_stops_the_run_naming_the_members(toy) -> None:
    toy.makepyfile(test_spec=SPEC)
    result = toy.runpytest(*TOY_ARGS, "--calibrator", "spell-correct+median-denoise", "--calibrator-option", "kernel=5")
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert "--calibrator-option kernel: calibrator chain 'spell-correct+median-denoise' routes options by member, " \
           "prefix the key with one of spell-correct., median-denoise." in output
    assert "Traceback" not in output
