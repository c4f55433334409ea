"""pytest conventions: -k on YAML item ids, markers per noise family and modality, JUnit XML properties,
options from the environment and the ini file (command line > environment > ini > default)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import TOY_ARGS, read_certificate

REPO = Path(__file__).resolve().parents[1]

YAML_SPEC = """suite: mixed
noises: [jpeg, gaussian_noise, char_typos]
severities: [1, 2]
expect:
  answer_consistency: {min: 0.0}
"""

PY_SPECS = '''
from hypothesis import given, settings
import medrobust as mr

@settings(max_examples=1, database=None)
@given(noise=mr.compositions(modality="text", max_noises=1, max_severity=1))
def test_text(bench, noise):
    bench.expect(noise, metric="answer_consistency", min=0.0)

@settings(max_examples=1, database=None)
@given(noise=mr.compositions(families=["ct"], max_noises=1, max_severity=1))
def test_ct(bench, noise):
    bench.expect(noise, metric="answer_consistency", min=0.0)

def test_plain(bench):
    bench.expect("jpeg@1", metric="answer_consistency", min=0.0)

def test_not_a_spec():
    pass
'''


def _selected(result: pytest.RunResult) -> list[str]:
    return [line.split("::", 1)[1] for line in result.outlines if "::" in line]


def test_k_selects_a_yaml_item_by_its_id(toy: pytest.Pytester):
    toy.makefile(".robust.yaml", mixed=YAML_SPEC)
    result = toy.runpytest(*TOY_ARGS, "--collect-only", "-q")
    assert _selected(result) == ["jpeg-1", "jpeg-2", "gaussian_noise-1", "gaussian_noise-2", "char_typos-1",
                                 "char_typos-2"]
    result = toy.runpytest(*TOY_ARGS, "-k", "jpeg-1 or char_typos-2", "-v")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*mixed.robust.yaml::jpeg-1 PASSED*", "*mixed.robust.yaml::char_typos-2 PASSED*"])
    specs = read_certificate(toy)["specs"]
    assert sorted(s["id"] for s in specs) == ["mixed.robust.yaml::char_typos-2", "mixed.robust.yaml::jpeg-1"]


@pytest.mark.parametrize("expression, expected", [
    ("image", ["jpeg-1", "jpeg-2", "gaussian_noise-1", "gaussian_noise-2", "test_ct"]),
    ("not text and not ct", ["jpeg-1", "jpeg-2", "gaussian_noise-1", "gaussian_noise-2", "test_plain",
                             "test_not_a_spec"]),
    ("compression", ["jpeg-1", "jpeg-2"]),  # test_plain's bench.expect("jpeg@1") is not known at collection
    ("medrobust and not image", ["char_typos-1", "char_typos-2", "test_text", "test_plain"]),
    ("typo or ct", ["char_typos-1", "char_typos-2", "test_text", "test_ct"]),  # test_text may draw char_typos
    ("not medrobust", ["test_not_a_spec"]),
])
def test_m_selects_specs_by_noise_family_and_modality(toy: pytest.Pytester, expression, expected):
    toy.makefile(".robust.yaml", mixed=YAML_SPEC)
    toy.makepyfile(test_specs=PY_SPECS)
    result = toy.runpytest(*TOY_ARGS, "--strict-markers", "--collect-only", "-q", "-m", expression)
    assert result.ret == 0, result.stdout.str()
    assert sorted(_selected(result)) == sorted(expected)
    assert not (toy.path / "reports").exists()  # --collect-only runs nothing and writes no certificate


def test_markers_are_registered_for_every_family_and_modality(toy: pytest.Pytester):
    out = toy.runpytest(*TOY_ARGS, "--markers").stdout.str()
    for line in ["@pytest.mark.medrobust: a medrobust robustness spec",
                 "@pytest.mark.image: medrobust specs that may apply an image noise (",
                 "@pytest.mark.text: medrobust specs that may apply a text noise (",
                 "@pytest.mark.ct: medrobust specs that may apply a noise of the ct family (ct_low_dose, ",
                 "@pytest.mark.mri: ", "@pytest.mark.typo: ", "@pytest.mark.text: "]:
        assert line in out, line
    assert "@pytest.mark.order:" not in out  # pytest-order's marker: not taken


def test_junit_xml_carries_each_specs_conclusion_and_the_verdict(toy: pytest.Pytester):
    toy.makepyfile(test_specs='''
def test_holds(bench):
    bench.expect("jpeg@1", metric="answer_consistency", min=0.0)

def test_breaks(bench):
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.0)
''')
    result = toy.runpytest(*TOY_ARGS, "--junitxml", "out.xml")
    certificate = read_certificate(toy)
    suite = ET.parse(toy.path / "out.xml").getroot().find("testsuite")
    suite_properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert suite_properties["medrobust_verdict"] == certificate["verdict"]
    assert suite_properties["medrobust_certificate"].endswith("certificate.json")
    conclusions = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
                   for c in suite.iter("testcase")}
    expected = certificate["judgement"]["spec_conclusions"]
    assert {name: props["medrobust_conclusion"] for name, props in conclusions.items()} == {
        nodeid.split("::")[1]: value or "none" for nodeid, value in expected.items()}
    assert conclusions["test_breaks"]["medrobust_conclusion"] == "fail", result.stdout.str()


OPTIONS_SPEC = '''
import json

def test_options(medrobust_run):
    o = medrobust_run.options
    print("OPTIONS=" + json.dumps({"samples": o.samples, "seed": o.seed, "model_options": o.model_options,
                                   "journal": o.journal, "severity_scale": o.severity_scale}))
'''


def _options(result: pytest.RunResult) -> dict:
    [line] = [line for line in result.outlines if "OPTIONS=" in line]
    return json.loads(line.split("OPTIONS=", 1)[1].rstrip(".").strip())


def test_options_come_from_command_line_then_environment_then_ini_then_default(toy, monkeypatch):
    toy.makepyfile(test_resolved_options=OPTIONS_SPEC)
    assert _options(toy.runpytest(*TOY_ARGS, "-s")) == {
        "samples": None, "seed": 0, "model_options": {}, "journal": ".medrobust/journal.sqlite",
        "severity_scale": "declared"}
    toy.makefile(".ini", pytest="[pytest]\nmedrobust_samples = 6\nmedrobust_seed = 3\n"
                                "medrobust_model_option = a=1 'b=two words'\nmedrobust_journal = none\n")
    assert _options(toy.runpytest(*TOY_ARGS, "-s")) == {
        "samples": 6, "seed": 3, "model_options": {"a": "1", "b": "two words"}, "journal": None,
        "severity_scale": "declared"}
    monkeypatch.setenv("MEDROBUST_SAMPLES", "5")
    monkeypatch.setenv("MEDROBUST_MODEL_OPTION", "c=3")
    monkeypatch.setenv("MEDROBUST_SEVERITY_SCALE", "calibrated")
    monkeypatch.setenv("MEDROBUST_SEED", "")  # empty: not set
    assert _options(toy.runpytest(*TOY_ARGS, "-s")) == {
        "samples": 5, "seed": 3, "model_options": {"c": "3"}, "journal": None, "severity_scale": "calibrated"}
    assert _options(toy.runpytest(*TOY_ARGS, "-s", "--samples", "4", "--model-option", "d=4")) == {
        "samples": 4, "seed": 3, "model_options": {"d": "4"}, "journal": None, "severity_scale": "calibrated"}


@pytest.mark.parametrize("section", ["[tool.pytest.ini_options]", "[tool.pytest]"])
def test_options_in_pyproject_toml(toy, section):
    (toy.path / "pytest.ini").unlink()
    toy.makepyfile(test_resolved_options=OPTIONS_SPEC)
    toy.makefile(".toml", pyproject=f'{section}\nmedrobust_samples = 7\nmedrobust_model_option = ["a=1", "b=2"]\n')
    assert _options(toy.runpytest(*TOY_ARGS, "-s")) == {
        "samples": 7, "seed": 0, "model_options": {"a": "1", "b": "2"}, "journal": ".medrobust/journal.sqlite",
        "severity_scale": "declared"}


@pytest.mark.parametrize("where, value, message", [
    ("env", "many", "environment MEDROBUST_SAMPLES: --samples takes an integer, got 'many'"),
    ("ini", "many", "ini medrobust_samples*many*"),
    ("env", "0", "--samples must be at least 1, got 0 (environment MEDROBUST_SAMPLES sets --samples)"),
    ("env-pairs", "a='1", "environment MEDROBUST_MODEL_OPTION: --model-option: No closing quotation in \"a='1\""),
])
def test_a_bad_environment_or_ini_value_names_where_it_came_from(toy, monkeypatch, where, value, message):
    toy.makepyfile(test_resolved_options=OPTIONS_SPEC)
    if where == "env-pairs":
        monkeypatch.setenv("MEDROBUST_MODEL_OPTION", value)
    elif where == "env":
        monkeypatch.setenv("MEDROBUST_SAMPLES", value)
    else:
        toy.makefile(".ini", pytest=f"[pytest]\nmedrobust_samples = {value}\n")
    result = toy.runpytest(*TOY_ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stderr.str()


def test_fail_on_comes_from_command_line_then_environment_then_ini(toy, monkeypatch):
    toy.makepyfile(test_specs='''
def test_holds(bench):
    bench.expect("jpeg@1", metric="answer_consistency", min=0.0)

def test_other(bench):
    bench.expect("jpeg@2", metric="answer_consistency", min=0.0)
''')
    toy.makefile(".ini", pytest="[pytest]\nmedrobust_fail_on = error\n")
    partial = ("-k", "test_holds")  # a spec left out: PARTIAL
    assert toy.runpytest(*TOY_ARGS, *partial).ret == 0
    assert read_certificate(toy)["verdict"] == "PARTIAL"
    monkeypatch.setenv("MEDROBUST_FAIL_ON", "error,partial")
    assert toy.runpytest(*TOY_ARGS, *partial).ret == pytest.ExitCode.TESTS_FAILED
    assert toy.runpytest(*TOY_ARGS, *partial, "--fail-on", "error").ret == 0


def test_the_readme_and_messages_point_only_at_files_that_ship():
    texts = {p: p.read_text(encoding="utf-8") for p in [REPO / "README.md", *REPO.glob("medrobust/**/*.py"),
                                                         *REPO.glob("plugins/**/*.py")]}
    for path, text in texts.items():
        assert "../shared" not in text and "DESIGN.md" not in text, path
    for target in re.findall(r"\]\(([^)#:]+)\)", texts[REPO / "README.md"]):
        assert (REPO / target).exists(), target


def test_declarative_specs_have_their_first_inputs_prepared_ahead_with_the_same_answers(toy, monkeypatch):
    toy.makefile(".robust.yaml", mixed=YAML_SPEC)
    toy.makepyfile(test_after=PY_SPECS)
    assert toy.runpytest(*TOY_ARGS, "-q").ret == 0
    planned = read_certificate(toy)
    planned_rows = (toy.path / "reports" / "certificate.answers.jsonl").read_bytes()
    # each of the 6 YAML items' composition was prepared while the model answered the one before
    assert planned["timing"]["stages"]["model"]["prefetched"] == 6
    from medrobust.run.context import RunContext

    monkeypatch.setattr(RunContext, "plan", lambda self, compositions: None)
    assert toy.runpytest(*TOY_ARGS, "-q").ret == 0
    unplanned = read_certificate(toy)
    assert unplanned["timing"]["stages"]["model"]["prefetched"] == 0
    assert (toy.path / "reports" / "certificate.answers.jsonl").read_bytes() == planned_rows
    assert planned["digest"] == unplanned["digest"]
