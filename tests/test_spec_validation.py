"""YAML specs and protocols are validated: unknown keys and wrong types refused with file and line, a spec's
``dataset`` honoured or refused, a protocol's metrics and spec patterns checked against what exists."""

from pathlib import Path

import pytest
from conftest import TOY_ARGS, read_certificate

from medrobust import load_plugins
from medrobust.cli import main
from medrobust.errors import ProtocolError, SpecError
from medrobust.run.protocol import parse_protocol
from medrobust.run.yaml_spec import load_yaml_spec

HOST = load_plugins()
ALLOWED = "allowed: suite, description, dataset, noises, severities, compositions, expect"


def _spec_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.robust.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as excinfo:
        load_yaml_spec(path, HOST.noises, HOST.metrics, HOST.datasets)
    message = str(excinfo.value)
    assert message.startswith(f"{path}:")
    return message[len(str(path)):]


def test_every_value_has_its_line():
    from medrobust.run.yaml_load import load_yaml_lines

    data, lines = load_yaml_lines("a: 1\nsev: [1,\n  2]\nexpect:\n  m: {min: 1}\n")
    assert data == {"a": 1, "sev": [1, 2], "expect": {"m": {"min": 1}}}
    assert lines == {(): 1, ("a",): 1, ("sev",): 2, ("sev", 0): 2, ("sev", 1): 3, ("expect",): 4,
                     ("expect", "m"): 5, ("expect", "m", "min"): 5}


@pytest.mark.parametrize("text,message", [
    ("noises: [jpeg]\nseverities: [1, 2.0]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":2: severities must be a list of levels 1-5 (integers), got 2.0"),
    ("noises: [jpeg]\nseverities:\n  - 1\n  - true\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":4: severities must be a list of levels 1-5 (integers), got true (a boolean)"),
    ("suite: x\nnoise: [jpeg]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     f":2: unknown key(s) noise; {ALLOWED}"),
    ("suite: 3\nnoises: [jpeg]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":1: suite must be non-empty text, got 3"),
    ("noises: {jpeg: 1}\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":1: noises must be a preset or noise name, or a list of noise names, got {'jpeg': 1}"),
    ("compositions:\n  - jpeg@1\n  - 3\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":3: compositions[1] 3: a composition is text, e.g. gaussian_noise@2+char_typos@1, not int"),
    ("noises: [jpeg]\nexpect:\n  closed_accuracy:\n    max_drop: true\n",
     ":4: expect.closed_accuracy.max_drop must be a number in [0, 1], got true (a boolean)"),
    ("noises: [jpeg]\nexpect:\n  closed_accuracy:\n    maxdrop: 0.1\n",
     ":4: expect.closed_accuracy: unknown key(s) maxdrop; allowed: max_drop, min"),
    ("compositions: [jpeg@1]\nseverities: [1]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":2: severities apply to 'noises', which this spec does not give"),
    ("dataset: phantom\nnoises: [jpeg]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
     ":1: dataset: unknown dataset 'phantom'; registered datasets: jsonl, pathvqa, phantom-vqa, slake, vqa-rad "
     "(a spec names the dataset it is written for; leave 'dataset' out for a spec that holds on any)"),
])
def test_a_spec_with_an_unknown_key_or_a_wrong_type_is_refused_with_file_and_line(tmp_path, text, message):
    assert _spec_error(tmp_path, text) == message


def test_a_spec_with_a_wrong_type_fails_its_collection_in_a_few_lines(toy):
    toy.makefile(".robust.yaml", floats="noises: [gaussian_noise]\nseverities: [2.0]\n"
                                        "expect: {closed_accuracy: {max_drop: 0.5}}\n")
    result = toy.runpytest(*TOY_ARGS, "--journal", "none")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops pytest before any spec
    out = result.stdout.str()
    assert f"{toy.path / 'floats.robust.yaml'}:2: severities must be a list of levels 1-5 (integers), got 2.0" in out
    assert "Traceback" not in out and not [line for line in out.splitlines() if line.startswith("E ")]


SPEC_FOR = "dataset: {}\nnoises: [gaussian_noise]\nseverities: [1]\nexpect: {{closed_accuracy: {{max_drop: 0.5}}}}\n"


def test_a_spec_for_the_runs_dataset_runs(toy):
    toy.makefile(".robust.yaml", mine=SPEC_FOR.format("toy"))
    result = toy.runpytest(*TOY_ARGS, "--journal", "none")
    result.assert_outcomes(passed=1)


def test_a_spec_for_another_dataset_is_refused_not_run_on_this_one(toy):
    toy.makefile(".robust.yaml", other=SPEC_FOR.format("phantom-vqa"))
    toy.makepyfile(test_spec="def test_mild(bench):\n    bench.expect('gaussian_noise@1', max_drop=0.5)\n")
    result = toy.runpytest(*TOY_ARGS, "--journal", "none", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    reason = ("other.robust.yaml is written for dataset 'phantom-vqa'; this run uses 'toy' (run it with "
              "--dataset phantom-vqa, or leave 'dataset' out of the spec if its thresholds hold on any dataset)")
    assert f"SKIPPED [1] other.robust.yaml:1: {reason}" in result.stdout.str()
    certificate = read_certificate(toy)
    assert certificate["verdict"] == "PARTIAL"
    assert certificate["judgement"]["completeness"]["skipped"] == ["other.robust.yaml::gaussian_noise-1"]
    assert [(s["outcome"], s["message"]) for s in certificate["specs"] if s["kind"] == "yaml"] == [
        ("skipped", reason)]


PROTOCOL = """\
title: Toy robustness protocol
version: "1.2"
intended_use: Reading aid for toy squares.
scope: Pixel noise on toy images.
test_data: The toy test split, 24 samples.
criteria:
  - id: NOISE-ACC
    spec: test_mild_noise
    metric: closed_accuracy
    max_drop: 0.2
    justification: A mild noise may cost at most one answer in five.
  - id: CLEAN
    metric: closed_accuracy
    min: 0.9
    justification: Clean accuracy must stay high.
"""


def _protocol_error(text: str, **checks) -> str:
    with pytest.raises(ProtocolError) as excinfo:
        parse_protocol(text.encode(), "p.yaml", **checks)
    return str(excinfo.value)


@pytest.mark.parametrize("change,message", [
    (("    max_drop: 0.2\n", "    max_drop: yes\n"),
     "protocol p.yaml:10: criteria[0].max_drop must be a number in [0, 1], got True"),
    (("    min: 0.9\n", "    min: 0.9\n    mni: 0.8\n"),
     "protocol p.yaml:15: criteria[1]: unknown key(s) mni; allowed: id, spec, metric, max_drop, min, justification"),
    (("scope:", "scoop:"), "protocol p.yaml:4: unknown key(s) scoop; allowed: title, version, intended_use, scope, "
                           "test_data, criteria, validity, sign_off"),
    (("title: Toy robustness protocol", "title: [Toy]"),
     "protocol p.yaml:1: 'title' is required and must be non-empty text"),
])
def test_a_protocol_with_an_unknown_key_or_a_wrong_type_is_refused_with_file_and_line(change, message):
    assert _protocol_error(PROTOCOL.replace(*change, 1)) == message


def test_a_protocol_naming_an_unregistered_metric_is_refused():
    text = PROTOCOL.replace("metric: closed_accuracy\n    min", "metric: closed_acuracy\n    min")
    assert _protocol_error(text, metrics=HOST.metrics) == (
        "protocol p.yaml:13: criteria[1] (CLEAN): unknown metric 'closed_acuracy'; registered metrics: "
        "answer_consistency, answer_similarity, closed_accuracy, open_recall")
    floors = PROTOCOL + "validity:\n  floors:\n    closed_acc: {min: 0.8, justification: Must read the images.}\n"
    assert _protocol_error(floors, metrics=HOST.metrics).startswith(
        "protocol p.yaml:18: validity.floors: unknown metric 'closed_acc'; registered metrics: ")


def test_a_protocol_whose_spec_pattern_matches_no_spec_is_refused():
    ids = ["suites/test_noise.py::test_mild_noise", "suites/a.robust.yaml::jpeg-1"]
    assert parse_protocol(PROTOCOL.encode(), "p.yaml", HOST.metrics, ids).criteria[0].spec == "test_mild_noise"
    assert _protocol_error(PROTOCOL, spec_ids=ids[1:]) == (
        "protocol p.yaml:8: criteria[0] (NOISE-ACC): spec 'test_mild_noise' matches none of the 1 specs the "
        "suites define (e.g. a.robust.yaml); correct the pattern or leave 'spec' out to cover every spec")


def test_medrobust_protocol_checks_metrics_and_the_suites_spec_patterns(tmp_path, capsys):
    path = tmp_path / "protocol.yaml"
    path.write_text(PROTOCOL.replace("metric: closed_accuracy\n    min", "metric: accuracy\n    min"))
    assert main(["protocol", str(path), "--suites", "none"]) == 2
    assert capsys.readouterr().err.startswith(f"medrobust: error: protocol {path}:13: criteria[1] (CLEAN): "
                                              f"unknown metric 'accuracy'; registered metrics: ")
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_noise.py").write_text("def test_other_noise(bench):\n    pass\n")
    path.write_text(PROTOCOL)
    assert main(["protocol", str(path), "--suites", str(suites)]) == 2
    assert "spec 'test_mild_noise' matches none of the 1 specs the suites define (e.g. test_other_noise)" in (
        capsys.readouterr().err)
    (suites / "test_noise.py").write_text("def test_mild_noise(bench):\n    pass\n")
    assert main(["protocol", str(path), "--suites", str(suites)]) == 0
    assert f"spec patterns checked against the 1 specs in {suites}" in capsys.readouterr().out


def test_a_run_with_a_protocol_naming_an_unregistered_metric_does_not_start(toy):
    toy.makepyfile(test_spec="def test_mild_noise(bench):\n    bench.expect('gaussian_noise@1', max_drop=0.2)\n")
    (toy.path / "protocol.yaml").write_text(PROTOCOL.replace("metric: closed_accuracy\n    min",
                                                             "metric: accuracy\n    min"))
    result = toy.runpytest(*TOY_ARGS, "--protocol", "protocol.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0].startswith("ERROR: protocol protocol.yaml:13: criteria[1] (CLEAN): unknown "
                                             "metric 'accuracy'; registered metrics: ")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
