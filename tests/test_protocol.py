"""Pre-registered protocols: validation, hashing before the run, deviations flagged."""

import ast
import hashlib
import json
from pathlib import Path

import pytest
from conftest import TOY_ARGS
from conftest import read_certificate as _certificate

from medrobust.errors import ProtocolError
from medrobust.run.protocol import deviation, load_protocol, parse_protocol
from medrobust.run.yaml_spec import load_yaml_spec

SUITES = Path(__file__).resolve().parents[1] / "suites"

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
sign_off:
  tester: {name: Ada Tester, date: 2026-11-20}
  clinical_reviewer: {name: Dr. Rev, date: 2026-11-21}
"""

SPEC = '''
def test_clean(bench):
    bench.expect("clean", metric="closed_accuracy", min=0.9)

def test_mild_noise(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.2)
'''


# -- parsing and validation ---------------------------------------------------------------

def test_a_protocol_parses_with_the_sha256_of_its_bytes():
    raw = PROTOCOL.encode()
    protocol = parse_protocol(raw, "p.yaml")
    assert protocol.sha256 == hashlib.sha256(raw).hexdigest()
    assert [c.id for c in protocol.criteria] == ["NOISE-ACC", "CLEAN"]
    assert protocol.criteria[0].threshold == {"max_drop": 0.2}
    assert protocol.sign_off == ({"role": "tester", "name": "Ada Tester", "date": "2026-11-20"},
                                 {"role": "clinical reviewer", "name": "Dr. Rev", "date": "2026-11-21"},
                                 {"role": "approver", "name": "", "date": ""})
    # one byte more, another hash
    assert parse_protocol(raw + b"\n", "p.yaml").sha256 != protocol.sha256


@pytest.mark.parametrize("change,message", [
    (("version: \"1.2\"\n", ""), "'version' is required"),
    (("    justification: A mild noise may cost at most one answer in five.\n", ""),
     "criteria[0].justification is required"),
    (("    max_drop: 0.2\n", ""), "criteria[0] (NOISE-ACC) needs a threshold"),
    (("max_drop: 0.2", "max_drop: 2"), "criteria[0].max_drop must be a number in [0, 1]"),
    (("id: CLEAN", "id: NOISE-ACC"), "criteria[1].id 'NOISE-ACC' is used twice"),
    (("id: CLEAN", "id: 'NOISE-ACC '"), "criteria[1].id 'NOISE-ACC' is used twice"),  # ids are compared stripped
    (("version: \"1.2\"", "version: 1.10"), "'version' must be quoted text, e.g. version: \"1.10\""),
    (("version: \"1.2\"", "version: 2"), "'version' must be quoted text, e.g. version: \"2\""),
    (("  clinical_reviewer:", "  reviewer:"), "sign_off: unknown role(s) reviewer"),
    (("scope:", "scop:"), "unknown key(s) scop"),
    (("    metric: closed_accuracy\n    min", "    metric: closed_accuracy\n    minimum: 0.9\n    min"),
     "criteria[1]: unknown key(s) minimum"),
])
def test_malformed_protocols_name_the_field(change, message):
    text = PROTOCOL.replace(*change, 1)
    assert text != PROTOCOL
    with pytest.raises(ProtocolError) as excinfo:
        parse_protocol(text.encode(), "p.yaml")
    assert message in str(excinfo.value) and "p.yaml" in str(excinfo.value)


def test_a_missing_or_non_yaml_protocol_says_so(tmp_path):
    with pytest.raises(ProtocolError, match="cannot read it"):
        load_protocol(str(tmp_path / "nope.yaml"))
    with pytest.raises(ProtocolError, match="not valid YAML"):
        parse_protocol(b"title: [unclosed", "p.yaml")
    with pytest.raises(ProtocolError, match="'criteria' must be a non-empty list"):
        parse_protocol(PROTOCOL.split("criteria:")[0].encode(), "p.yaml")


def test_criteria_match_by_pattern_first_then_by_metric_and_deviations_say_what_differs():
    protocol = parse_protocol(PROTOCOL.encode())
    assert protocol.criterion_for("t.py::test_mild_noise", "closed_accuracy").id == "NOISE-ACC"
    assert protocol.criterion_for("t.py::test_other[x]", "closed_accuracy").id == "CLEAN"
    assert protocol.criterion_for("t.py::test_mild_noise", "open_recall") is None
    assert deviation(protocol, "t.py::test_mild_noise", "closed_accuracy", {"max_drop": 0.2}) is None
    assert deviation(protocol, "t.py::test_mild_noise", "closed_accuracy", {"max_drop": 0.3}) == (
        "criterion NOISE-ACC states max_drop 0.2 for closed_accuracy; the run used max_drop 0.3")
    assert "states min 0.9" in deviation(protocol, "t.py::test_x", "closed_accuracy", {"max_drop": 0.1})
    assert "no criterion" in deviation(protocol, "t.py::test_x", "open_recall", {"min": 0.5})


def _python_spec_thresholds(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(spec function, metric) -> thresholds of every ``bench.expect`` call in a suites module."""
    found = {}
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, ast.FunctionDef):
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "expect":
                    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                    metric = kw.pop("metric")
                    found[(fn.name, metric)] = {k: float(v) for k, v in kw.items()}
    return found


def test_the_example_protocol_matches_every_shipped_threshold():
    protocol = load_protocol(str(SUITES / "protocol.example.yaml"))
    checks = {}
    for path in sorted(SUITES.glob("test_*.py")):
        checks.update({(f"suites/{path.name}::{fn}", m): t for (fn, m), t in _python_spec_thresholds(path).items()})
    from medrobust import load_plugins

    host = load_plugins()
    for path in sorted(SUITES.glob("*.robust.yaml")):
        spec = load_yaml_spec(path, host.noises, host.metrics)
        checks.update({(f"suites/{path.name}::{c.key}", m): dict(t)
                       for c in spec.compositions[:1] for m, t in spec.expect.items()})
    assert len(checks) >= 6
    assert {key: deviation(protocol, *key, threshold) for key, threshold in checks.items()} == {
        key: None for key in checks}
    assert all(c.justification for c in protocol.criteria)


def test_the_protocol_command_validates_and_prints_the_sealing_hash(tmp_path, capsys, monkeypatch):
    from medrobust.cli import main

    monkeypatch.chdir(tmp_path)  # no suites/ here: its spec patterns are not checked
    path = tmp_path / "protocol.yaml"
    path.write_text(PROTOCOL)
    assert main(["protocol", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"sha256 {hashlib.sha256(PROTOCOL.encode()).hexdigest()}" in out
    assert "NOISE-ACC: closed_accuracy max_drop 0.2 in test_mild_noise" in out and "approver: (not signed)" in out
    assert main(["protocol", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["criteria"][1]["min"] == 0.9
    path.write_text(PROTOCOL.replace("scope:", "scop:"))
    assert main(["protocol", str(path)]) == 2
    assert "unknown key(s) scop" in capsys.readouterr().err


# -- end to end ---------------------------------------------------------------------------

def test_the_protocol_hash_is_printed_and_recorded_with_criteria_and_sign_off(toy):
    toy.makepyfile(test_spec=SPEC)
    path = toy.path / "protocol.yaml"
    path.write_text(PROTOCOL)
    digest = hashlib.sha256(PROTOCOL.encode()).hexdigest()
    result = toy.runpytest(*TOY_ARGS, "--protocol", str(path))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"medrobust protocol: *protocol.yaml v1.2, sha256 {digest}"])
    assert "deviation" not in result.stdout.str().lower()
    cert = _certificate(toy)
    protocol = cert["protocol"]
    assert protocol["placeholder"] is False and protocol["sha256"] == digest
    assert protocol["deviations"] == [] and [c["id"] for c in protocol["criteria"]] == ["NOISE-ACC", "CLEAN"]
    assert protocol["checks_per_criterion"] == {"NOISE-ACC": 1, "CLEAN": 1} and protocol["untested_criteria"] == []
    assert protocol["sign_off"][0] == {"role": "tester", "name": "Ada Tester", "date": "2026-11-20"}
    assert "protocol" not in cert["run"]["options"] and cert["local"]["protocol"] == str(path)
    assert cert["schema"] == "medrobust.certificate/4"


def test_without_a_protocol_the_thresholds_are_labelled_placeholders(toy):
    toy.makepyfile(test_spec=SPEC)
    result = toy.runpytest(*TOY_ARGS)
    result.stdout.fnmatch_lines(["medrobust protocol: none; the thresholds are the specs' own placeholders, "
                                 "not clinical claims*"])
    header = result.stdout.lines[:next(i for i, line in enumerate(result.stdout.lines) if "collected" in line)]
    assert not any("medrobust protocol" in line for line in header)  # no protocol: no header line
    protocol = _certificate(toy)["protocol"]
    assert protocol["placeholder"] is True and protocol["sha256"] is None
    assert "not clinical claims" in protocol["note"]
    assert [s["role"] for s in protocol["sign_off"]] == ["tester", "clinical reviewer", "approver"]
    assert all(s["name"] == "" for s in protocol["sign_off"])


def test_a_changed_threshold_is_a_deviation_flagged_in_summary_and_certificate(toy):
    toy.makepyfile(test_spec=SPEC.replace("max_drop=0.2", "max_drop=0.35") + '''
def test_uncovered(bench):
    bench.expect("jpeg@1", metric="answer_consistency", min=0.5)
''')
    path = toy.path / "protocol.yaml"
    path.write_text(PROTOCOL)
    result = toy.runpytest(*TOY_ARGS, "--protocol", str(path))
    result.assert_outcomes(passed=3)  # a deviation does not fail a spec; it is reported
    result.stdout.fnmatch_lines([
        "*medrobust: 2 deviation(s) from protocol *",
        ("DEVIATION test_spec.py::test_mild_noise [[]gaussian_noise@1[]]: criterion NOISE-ACC states "
         "max_drop 0.2 for closed_accuracy; the run used max_drop 0.35"),
        "DEVIATION test_spec.py::test_uncovered [[]jpeg@1[]]: no criterion of the protocol covers answer_consistency*",
    ])
    cert = _certificate(toy)
    found = {d["spec"]: d for d in cert["protocol"]["deviations"]}
    assert found["test_spec.py::test_mild_noise"]["protocol"] == {"max_drop": 0.2}
    assert found["test_spec.py::test_mild_noise"]["run"] == {"max_drop": 0.35}
    assert found["test_spec.py::test_mild_noise"]["composition_key"] == "gaussian_noise@1"
    checks = {s["name"]: s["checks"][0] for s in cert["specs"]}
    assert checks["test_clean"]["deviation"] is None
    assert "NOISE-ACC" in checks["test_mild_noise"]["deviation"]
    assert cert["protocol"]["checks_per_criterion"] == {"NOISE-ACC": 1, "CLEAN": 1}


def test_a_criterion_no_spec_exercised_is_named_in_the_limitations(toy):
    toy.makepyfile(test_spec=SPEC.split("def test_mild_noise")[0])
    path = toy.path / "protocol.yaml"
    path.write_text(PROTOCOL)
    toy.runpytest(*TOY_ARGS, "--protocol", str(path)).assert_outcomes(passed=1)
    cert = _certificate(toy)
    assert cert["protocol"]["untested_criteria"] == ["NOISE-ACC"]
    assert ("Protocol criterion NOISE-ACC was not exercised: no spec ran a check it governs."
            in cert["limitations"])


def test_the_protocol_is_hashed_before_any_spec_runs(toy):
    path = toy.path / "protocol.yaml"
    path.write_text(PROTOCOL)
    # a spec that rewrites the protocol mid-run cannot change what the certificate says was sealed
    toy.makepyfile(test_spec=SPEC + f'''
def test_tamper(bench):
    open({str(path)!r}, "a").write("# changed during the run\\n")
''')
    toy.runpytest(*TOY_ARGS, "--protocol", str(path)).assert_outcomes(passed=3)
    assert _certificate(toy)["protocol"]["sha256"] == hashlib.sha256(PROTOCOL.encode()).hexdigest()


def test_a_bad_protocol_stops_the_run_naming_the_field(toy):
    toy.makepyfile(test_spec=SPEC)
    path = toy.path / "protocol.yaml"
    path.write_text(PROTOCOL.replace("    justification: Clean accuracy must stay high.\n", ""))
    result = toy.runpytest(*TOY_ARGS, "--protocol", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*criteria[[]1[]].justification is required*clinical reason*"])
    assert not (toy.path / "reports").exists()
