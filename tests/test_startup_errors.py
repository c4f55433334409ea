"""Fail early, fail short: what would fail every spec stops the run at start-up (or once), in a few lines.

Each case runs pytest in-process on the toy model and data and checks the exact message, the exit
status and that no traceback is printed.
"""

import json

import pytest
import torch
from conftest import TOY_PLUGIN, read_certificate

from medrobust.cli import main

SPECS = """
def test_one(bench):
    bench.expect("gaussian_noise@1", max_drop=0.5)


def test_two(bench):
    bench.expect("gaussian_noise@2", max_drop=0.5)


def test_three(bench):
    bench.expect("gaussian_noise@3", max_drop=0.5)
"""

BAD_MODELS = '''

class NoneAnswers(ToyModel):
    def answer(self, samples):
        return None


class LateWrongCount(ToyModel):
    """Right for two calls (the clean inputs and the first noise), then one answer short."""

    def answer(self, samples):
        answers = super().answer(samples)
        return answers if self.calls <= 2 else answers[:-1]


class NumberAnswers(ToyModel):
    def answer(self, samples):
        return [1 for _ in samples]


class DictCapabilities(ToyModel):
    def capabilities(self):
        return {"feature_hook": True}


class ListDescription(ToyModel):
    def describe(self):
        return ["toy"]


class Declares(ToyModel):
    OPTIONS = ("temperature",)


class DescribesInWords(ToyDenoiser):
    def describe(self):
        return "a median filter"


@medrobust.hookimpl(specname="medrobust_register_calibrators")
def register_bad_calibrators(register):
    register("describes-in-words", DescribesInWords)


@medrobust.hookimpl(specname="medrobust_register_models")
def register_bad_models(register):
    for name, factory in {"none-answers": NoneAnswers, "late-wrong-count": LateWrongCount,
                          "number-answers": NumberAnswers, "dict-caps": DictCapabilities,
                          "list-describe": ListDescription, "declares": Declares}.items():
        register(name, factory)
'''


@pytest.fixture
def world(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The toy plugin, models that break the contract, and three specs. Outside CI mode: there pytest's
    short summary repeats each failure's message in full, and the tests count the messages."""
    for variable in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makeconftest(TOY_PLUGIN.read_text() + BAD_MODELS)
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_specs=SPECS)
    return pytester


def _run(world: pytest.Pytester, *args: str) -> pytest.RunResult:
    options = {"--model": "toy", "--dataset": "toy"}
    for flag, value in zip(args[::2], args[1::2]):
        options.pop(flag, None)
    extra = [w for flag, value in options.items() for w in (flag, value)]
    return world.runpytest(*extra, *args, "--journal", "none", "-p", "no:cacheprovider")


def _no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text and "raise " not in text
    assert not [line for line in text.splitlines() if line.startswith(("E   ", ">   "))]


def _usage_error(result: pytest.RunResult, message: str) -> None:
    """The run stopped at start-up with exactly ``message``: exit 4, one line, no traceback, no spec run."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines == [f"ERROR: {message}", ""]
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()
    _no_traceback(result)


# -- options the run cannot use ------------------------------------------------------------------

def test_a_batch_size_below_one_stops_the_run(world):
    _usage_error(_run(world, "--batch-size", "0"), "--batch-size must be at least 1, got 0")


def test_a_device_torch_does_not_know_stops_the_run(world):
    _usage_error(_run(world, "--device", "gpu0"), "--device gpu0: not a device torch knows; use cpu, cuda, cuda:N or mps")


def test_a_cuda_device_on_a_machine_without_cuda_stops_the_run(world, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    _usage_error(_run(world, "--device", "cuda:7"),
                 "--device cuda:7: no cuda device is available on this machine; use --device cpu")
    monkeypatch.setattr(torch.version, "cuda", None)
    _usage_error(_run(world, "--noise-device", "cuda"), "--noise-device cuda: no cuda device is available on "
                 "this machine (this torch is built without CUDA); use --noise-device cpu")


def test_a_cuda_index_past_the_last_device_stops_the_run(world, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    _usage_error(_run(world, "--device", "cuda:7"),
                 "--device cuda:7: this machine has 2 cuda device(s) (cuda:0, cuda:1); use one of them or --device cpu")


def test_medrobust_evaluate_refuses_an_unknown_device_too(capsys):
    assert main(["evaluate", "--device", "gpu0", "--composition", "clean"]) == 2
    assert capsys.readouterr().err == ("medrobust: error: --device gpu0: not a device torch knows; "
                                       "use cpu, cuda, cuda:N or mps\n")


# -- plugin options --------------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (("--model", "declares", "--model-option", "colour=red", "--model-option", "size=2"),
     "--model-option colour, size: model 'declares' has no such option; it takes temperature"),
    (("--model", "reference", "--model-option", "temprature=0"),
     "--model-option temprature: model 'reference' has no such option; it takes batch_size, max_new_tokens, threads"),
    (("--dataset", "phantom-vqa", "--dataset-option", "lang=zh"),
     "--dataset-option lang: dataset 'phantom-vqa' has no such option; it takes none"),
    (("--calibrator-option", "strength=2",),
     "--calibrator-option strength: calibrator 'none' has no such option; it takes none"),
])
def test_an_option_the_plugin_does_not_declare_stops_the_run(world, args, message):
    _usage_error(_run(world, *args), message)


def test_a_declared_option_and_any_option_of_a_plugin_that_declares_none_are_accepted(world):
    _run(world, "--model", "declares", "--model-option", "temperature=0",
         "--certificate", "none").assert_outcomes(passed=3)
    _run(world, "--model-option", "anything=1", "--dataset-option", "n=12",
         "--certificate", "none").assert_outcomes(passed=3)


# -- the dataset -----------------------------------------------------------------------------------

def test_an_empty_dataset_stops_the_run_before_any_spec(world):
    _usage_error(_run(world, "--dataset-option", "n=0"),
                 "dataset 'toy' has no sample in split 'test'; check its path and --dataset-option values")
    assert not (world.path / "reports").exists()  # nothing ran: no certificate is written


@pytest.mark.parametrize("manifest", [b"", b'{"id": "a", "image": "a.png", "question": "Is it \xff?", '
                                          b'"answer": "yes"}\n'])
def test_an_empty_or_undecodable_manifest_stops_the_run_with_its_name(world, manifest):
    (world.path / "bad.jsonl").write_bytes(manifest)
    result = _run(world, "--dataset", "jsonl:bad.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert len(result.stderr.lines) == 2 and result.stderr.lines[0].startswith("ERROR: ")
    assert "bad.jsonl" in result.stderr.lines[0]
    assert ("UTF-8" if manifest else "no usable test record") in result.stderr.lines[0]
    _no_traceback(result)


def test_a_run_without_specs_loads_nothing(world):
    """Installing medrobust costs another project nothing: without a spec the dataset is not even read."""
    (world.path / "test_specs.py").unlink()
    world.makepyfile(test_plain="def test_plain():\n    assert True\n")
    (world.path / "bad.jsonl").write_bytes(b"")
    _run(world, "--dataset", "jsonl:bad.jsonl").assert_outcomes(passed=1)


def test_collecting_specs_without_running_them_loads_nothing(world):
    (world.path / "bad.jsonl").write_bytes(b"")
    result = _run(world, "--dataset", "jsonl:bad.jsonl", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["test_specs.py::test_one", "test_specs.py::test_two", "test_specs.py::test_three"])


# -- the model's descriptions ----------------------------------------------------------------------

def test_capabilities_of_the_wrong_type_stop_the_run_when_the_model_loads(world):
    _usage_error(_run(world, "--model", "dict-caps"),
                 "model 'dict-caps' (DictCapabilities): capabilities() returned dict; it must return a "
                 "medrobust.Capabilities, e.g. medrobust.Capabilities(token_scoring=True, reasons={...})")


def test_a_description_of_the_wrong_type_stops_the_run_when_the_model_loads(world):
    _usage_error(_run(world, "--model", "list-describe"),
                 "model 'list-describe' (ListDescription): describe() returned list; it must return a dict of "
                 "JSON values (name, weight digests, settings) for the certificate")


# -- a model that breaks the answer contract -------------------------------------------------------

STOPS = ("the model broke the answer(samples) -> list[str] contract; the run stops here "
         "(answers given so far are kept)")


def _stopped_once(result: pytest.RunResult, message: str) -> None:
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert out.count(message) == 1 and out.count(STOPS) == 2  # the failure, and the line saying why it stopped
    assert f"ModelOutputError: {message}\n{STOPS}\n" in out
    _no_traceback(result)


@pytest.mark.parametrize("model,message", [
    ("none-answers", "model 'none-answers' returned NoneType answers for 24 samples; answer(samples) must "
                     "return a list with one string per sample"),
    ("number-answers", "model 'number-answers' returned non-string answers (int); answer(samples) must return "
                       "a list of str"),
])
def test_a_model_that_breaks_the_answer_contract_is_reported_once_and_stops_the_run(world, model, message):
    result = _run(world, "--model", model)
    _stopped_once(result, message)
    result.assert_outcomes(failed=1)
    certificate = read_certificate(world)
    assert certificate["verdict"] == "ERROR"
    assert [(s["name"], s["outcome"]) for s in certificate["specs"]] == [("test_one", "error")]
    completeness = certificate["judgement"]["completeness"]
    assert sorted(completeness["not_run"]) == ["test_specs.py::test_three", "test_specs.py::test_two"]
    assert completeness["interrupted"] == f"medrobust: {STOPS}"


def test_what_was_answered_before_the_contract_broke_is_kept(world):
    result = _run(world, "--model", "late-wrong-count")
    _stopped_once(result, "model 'late-wrong-count' returned 23 answers for 24 samples; answer(samples) must "
                          "return a list with one string per sample")
    result.assert_outcomes(passed=1, failed=1)
    certificate = read_certificate(world)
    assert certificate["verdict"] == "ERROR"
    assert {s["name"]: s["outcome"] for s in certificate["specs"]} == {"test_one": "pass", "test_two": "error"}
    completeness = certificate["judgement"]["completeness"]
    assert completeness["not_run"] == ["test_specs.py::test_three"]
    assert completeness["interrupted"] == f"medrobust: {STOPS}"  # the certificate says why the run stopped
    rows = (world.path / "reports" / "certificate.answers.jsonl").read_text().splitlines()
    assert {json.loads(r)["composition"] for r in rows} == {"clean", "gaussian_noise@1"}


def test_a_calibrator_whose_description_breaks_the_contract_stops_the_run_once_fitted(world):
    result = _run(world, "--calibrator", "describes-in-words")
    message = ("calibrator 'describes-in-words' (DescribesInWords): describe() returned str; it must return a dict "
               "of JSON values (name, weight digests, settings) for the certificate")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert f"PluginError: {message}\nthe calibrator could not be fitted; the run stops here\n" in out
    assert out.count(message) == 1
    result.assert_outcomes(failed=1)
    _no_traceback(result)
    assert read_certificate(world)["verdict"] == "ERROR"  # written: the description is not asked for again
