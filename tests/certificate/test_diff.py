"""``medrobust diff A B``: new failures, fixed specs, moves beyond the CIs, changed identities."""

import copy
import json

import pytest
from cert_runs import NOISE_SENSITIVE_MODELS, spec_run

from medrobust.certificate.compare import CI_RULE, compare_certificates
from medrobust.cli import main

SPEC = '''
def test_typos(bench):
    bench.expect("char_typos@2", metric="closed_accuracy", max_drop=0.2)

def test_pixels(bench):
    bench.expect("gaussian_noise@2", metric="closed_accuracy", max_drop=0.2)
'''

ARGS = ("--model", "versioned", "--dataset", "toy", "-p", "no:cacheprovider", "--journal", "none")


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory):
    """Certificates of version 1 (all pass) and version 2 (a planted regression under pixel noise)."""
    where = tmp_path_factory.mktemp("upgrade")
    a = spec_run(where, SPEC, (*ARGS, "--model-option", "version=1"), "2 passed", NOISE_SENSITIVE_MODELS, "reports/a")
    b = spec_run(where, SPEC, (*ARGS, "--model-option", "version=2"), "1 failed, 1 passed", NOISE_SENSITIVE_MODELS,
                 "reports/b")
    return a, b


def test_a_planted_regression_fails_the_diff(upgrade, capsys):
    a, b = upgrade
    assert main(["diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "3 regression(s)" and lines[1] == "verdict: PASS -> FAIL (worse)"
    assert "NEW FAILURE  test_spec.py::test_pixels  (pass -> fail)" in out
    assert "WORSE        test_spec.py::test_pixels  closed_accuracy noisy under gaussian_noise@2: 1.000 [" in out
    assert "test_typos" not in out  # unchanged: typos never reach the pixels
    assert "changed weights: $.model.weights_sha256" in out and "changed run options" in out
    assert lines[-1] == f"rule: {CI_RULE}"


def test_the_reverse_diff_is_a_fix_and_passes(upgrade, capsys):
    a, b = upgrade
    assert main(["diff", str(b.with_suffix(".html")), str(a)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no regressions\nverdict: FAIL -> PASS\n")
    assert "fixed        test_spec.py::test_pixels  (fail -> pass)" in out and "better       test_spec.py" in out


def test_a_certificate_against_itself_changes_nothing(upgrade, capsys):
    a, _ = upgrade
    assert main(["diff", str(a), str(a), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["regressions"] == 0 and report["changed"] == [] and report["worse"] == report["better"] == []
    assert report["verdict"] == {"a": "PASS", "b": "PASS", "worse": False} and report["ci_rule"] == CI_RULE


def test_json_output_lists_the_regressions(upgrade, capsys):
    a, b = upgrade
    assert main(["diff", str(a), str(b), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["regressions"] == 3
    assert report["new_failures"] == [{"spec": "test_spec.py::test_pixels", "a": "pass", "b": "fail"}]
    [worse] = report["worse"]
    assert (worse["which"], worse["composition_key"]) == ("noisy", "gaussian_noise@2")
    assert worse["b"]["high"] < worse["a"]["low"]
    assert {c["what"] for c in report["changed"]} >= {"model", "weights", "run options"}


def _est(v):
    return {"value": v[0], "low": v[1], "high": v[2], "n": 50, "method": "wilson"}


def _cert(noisy, clean=(0.9, 0.8, 0.95), outcome="pass"):
    check = {"composition_key": "jpeg@2", "metric": "closed_accuracy", "clean": _est(clean), "noisy": _est(noisy)}
    return {"verdict": "PASS", "specs": [{"id": "s", "outcome": outcome, "checks": [check]}], "digest": ""}


def test_moves_within_overlapping_intervals_are_not_regressions():
    a = _cert((0.80, 0.70, 0.88))
    moved = compare_certificates(a, _cert((0.74, 0.63, 0.83)))
    assert moved.regressions == 0 and moved.worse == []
    fell = compare_certificates(a, _cert((0.55, 0.45, 0.65)))
    assert fell.regressions == 1 and fell.worse[0]["delta"] == pytest.approx(-0.25)
    # a new spec that fails is a new failure; a spec that ran in A and disappears is listed as not run
    b = copy.deepcopy(a)
    b["specs"] = [{"id": "t", "outcome": "error", "checks": []}]
    result = compare_certificates(a, b)
    assert result.new_failures == [{"spec": "t", "a": "absent", "b": "error"}] and result.removed_specs == ["s"]
    assert result.not_run == [{"spec": "s", "a": "pass", "b": "absent"}] and result.regressions == 2
    assert "digest does not match" in " ".join(result.notes)


def test_conclusions_weigh_before_pytest_verdicts_and_known_failures_are_left_out():
    a, b = _cert((0.8, 0.7, 0.88)), _cert((0.8, 0.7, 0.88))
    a["specs"][0]["conclusion"], b["specs"][0]["conclusion"] = "pass", "inconclusive"
    b["specs"][0]["outcome"] = "fail"  # pytest judged the point estimate; the interval straddles
    result = compare_certificates(a, b)
    assert result.new_failures == [] and result.newly_inconclusive == [{"spec": "s", "a": "pass",
                                                                          "b": "inconclusive"}]
    assert "inconclusive s  (pass -> inconclusive)" in "\n".join(result.lines())
    b["specs"][0].update(conclusion="fail", outcome="known failure")
    assert compare_certificates(a, b).new_failures == []
    # schemas /1-/3 named the outcome "verdict"
    del b["specs"][0]["outcome"]
    b["specs"][0]["verdict"] = "known failure"
    assert compare_certificates(a, b).new_failures == []


def test_an_unreadable_certificate_exits_2(upgrade, tmp_path, capsys):
    a, _ = upgrade
    (tmp_path / "x.json").write_text("[]", encoding="utf-8")
    assert main(["diff", str(a), str(tmp_path / "x.json")]) == 2
    assert "not a medrobust certificate" in capsys.readouterr().err


@pytest.mark.parametrize("in_b", ["skipped", "not run", "absent"])
def test_a_spec_that_ran_in_a_and_not_in_b_is_a_regression(in_b):
    # a CI gate must not pass when the new run skipped (or dropped) the specs the old one ran
    a = _cert((0.80, 0.70, 0.88))
    a["specs"].append({"id": "u", "outcome": "skipped", "checks": []})  # never ran: nothing lost
    b = copy.deepcopy(a)
    b["verdict"] = "NOT RUN"
    if in_b == "absent":
        b["specs"] = [s for s in b["specs"] if s["id"] != "s"]
    else:
        b["specs"][0].update(outcome=in_b, checks=[])
    result = compare_certificates(a, b)
    assert result.not_run == [{"spec": "s", "a": "pass", "b": "absent" if in_b == "absent" else "not run"}]
    assert result.verdict_worse and result.regressions == 2
    lines = result.lines()
    assert lines[0] == "2 regression(s)" and lines[1] == "verdict: PASS -> NOT RUN (worse)"
    assert f"NOT RUN      s  (pass -> {result.not_run[0]['b']})" in lines
    assert compare_certificates(a, b).to_json()["not_run"] == result.not_run


def test_a_failing_run_that_is_not_run_next_is_no_improvement():
    a, b = _cert((0.55, 0.45, 0.65), outcome="fail"), _cert((0.55, 0.45, 0.65), outcome="skipped")
    a["verdict"], b["verdict"] = "FAIL", "NOT RUN"
    b["specs"][0]["checks"] = []
    result = compare_certificates(a, b)
    assert result.fixed == [] and result.not_run == [{"spec": "s", "a": "fail", "b": "not run"}]
    assert result.regressions == 1 and "NOT RUN      s  (fail -> not run)" in result.lines()
    # NOT RUN ranks with FAIL: neither direction is a better overall verdict
    assert not result.verdict_worse and not compare_certificates(b, a).verdict_worse


def _tampered_copy(json_path, directory):
    """A copy of a certificate's twins and answers file whose JSON twin claims a better verdict."""
    from cert_runs import copy_twins, load

    from medrobust._canonical import canonical_json

    path = copy_twins(json_path, directory)
    data = load(path)
    data["verdict"] = "PASS"
    path.write_text(canonical_json(data) + "\n", encoding="utf-8")
    return path


def test_a_tampered_input_is_refused_naming_the_file_and_why(upgrade, tmp_path, capsys):
    a, b = upgrade
    forged = _tampered_copy(b, tmp_path)
    assert main(["diff", str(a), str(forged)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: B {forged} does not verify: its digest does not match its content" in captured.err
    assert "--allow-unverified" in captured.err and "Traceback" not in captured.err
    assert main(["diff", str(forged), str(a), "--json"]) == 3
    assert f"error: A {forged} does not verify" in capsys.readouterr().err
    # a missing answers file is a certificate that does not verify too
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "b.json").write_bytes(b.read_bytes())
    assert main(["diff", str(a), str(lone / "b.json")]) == 3
    assert f"answers file {lone / 'b.answers.jsonl'} cannot be read" in capsys.readouterr().err


def test_allow_unverified_compares_and_flags_it_loudly(upgrade, tmp_path, capsys):
    a, b = upgrade
    forged = _tampered_copy(b, tmp_path)
    assert main(["diff", str(a), str(forged), "--allow-unverified"]) == 1  # its regressions still count
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert first.startswith(f"UNVERIFIED B: {forged} does not verify (its digest does not match its content")
    assert f"warning: B {forged} does not verify" in captured.err
    assert main(["diff", str(a), str(forged), "--allow-unverified", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["unverified"] == [{"which": "b", "path": str(forged), "problems": [
        "its digest does not match its content", "section 'verdict' changed",
        "its HTML and JSON twins differ at $.verdict"]}]
    assert main(["diff", str(a), str(b), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["unverified"] == []
