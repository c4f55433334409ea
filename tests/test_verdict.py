"""A verdict that cannot mislead: validity before robustness, errors count, partial runs, exit status.

Every run here is a real pytest session (pytester, in process) on the toy plugin,
with models that do the task, ignore their input, or fail to answer.
"""

from __future__ import annotations

import pytest
from conftest import TOY_PLUGIN, read_certificate, read_certificate_html

from medrobust.run.metrics import METRICS
from medrobust.sample import Sample

ARGS = ("--dataset", "toy", "-p", "no:cacheprovider", "--journal", "none")

USELESS_MODELS = '''

class AlwaysYes:
    """Ignores its input: the same answer to every question."""

    def __init__(self, options):
        pass

    def answer(self, samples):
        return ["yes" for _ in samples]


class Corner:
    """Answers from the brightness of the image's corner: background only, so a constant in disguise."""

    def __init__(self, options):
        pass

    def answer(self, samples):
        import numpy as np
        return ["yes" if np.asarray(s.image)[:4, :4].mean() > 100 else "no" for s in samples]


class MostlyBroken:
    """Does the task, but raises on three samples in four (all of them with fail=all)."""

    def __init__(self, options):
        self.all = options.get("fail") == "all"
        self.inner = ToyModel(options)

    def answer(self, samples):
        if any(self.all or not s.id.endswith(("0", "4", "8")) for s in samples):
            raise RuntimeError(f"GPU fell over on {samples[0].id}")
        return self.inner.answer(samples)


_BASE_MODELS = medrobust_register_models


@medrobust.hookimpl
def medrobust_register_models(register):
    _BASE_MODELS(register)
    register("always-yes", AlwaysYes)
    register("corner", Corner)
    register("mostly-broken", MostlyBroken)
'''

SPECS = '''
def test_mild_noise(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.3)

def test_consistent_answers(bench):
    bench.expect("gaussian_blur@1", metric="answer_consistency", min=0.0)
'''


@pytest.fixture
def world(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(TOY_PLUGIN.read_text() + USELESS_MODELS)
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_spec=SPECS)
    return pytester


# -- validity ------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["always-yes", "corner"])
def test_a_model_that_ignores_its_input_is_not_valid_however_robust(world, model):
    result = world.runpytest("--model", model, *ARGS)
    result.assert_outcomes(passed=2)  # robust: nothing drops under noise when nothing is seen
    assert result.ret == 1  # the default --fail-on holds not-valid
    cert = read_certificate(world)
    assert cert["verdict"] == "NOT VALID" and cert["judgement"]["robustness"] == "PASS"
    reason = cert["judgement"]["reason"]
    assert reason.startswith("The model does not surely beat answering with")
    assert "NOT VALID" in read_certificate_html(world) and reason.split(":")[0] in read_certificate_html(world)
    result.stdout.fnmatch_lines(["*verdict with 95% intervals: NOT VALID*does not surely beat*",
                                 "*the session fails because the verdict NOT VALID is in --fail-on*"])
    assert world.runpytest("--model", model, *ARGS, "--fail-on", "error,fail").ret == 0


def test_a_model_that_does_the_task_is_valid(world):
    result = world.runpytest("--model", "toy", *ARGS)
    assert result.ret == 0
    validity = read_certificate(world)["judgement"]["validity"]
    assert validity["valid"] is True and validity["reasons"] == []
    assert {s["baseline"]: s["beaten"] for s in validity["shortcuts"]} == {"text_only": True, "majority": True}
    assert validity["errors"] == {"failed": 0, "answers": 72, "rate": 0.0, "max_rate": 0.05, "first_error": None,
                                  "first_error_sample": None}


def test_a_protocol_floor_above_the_clean_value_makes_the_run_not_valid(world):
    world.makefile(".yaml", protocol='''
title: toy
version: "1"
intended_use: tests
scope: toy data
test_data: toy
criteria:
  - {id: C1, metric: closed_accuracy, max_drop: 0.3, justification: placeholder}
  - {id: C2, metric: answer_consistency, min: 0.0, justification: placeholder}
validity:
  floors:
    closed_accuracy: {min: 0.99, justification: a clinical floor the toy model cannot show with 16 questions}
''')
    world.runpytest("--model", "toy", *ARGS, "--protocol", "protocol.yaml")
    cert = read_certificate(world)
    assert cert["verdict"] == "NOT VALID"
    assert cert["judgement"]["reason"].startswith("Clean closed_accuracy is 1.000 (95 % interval from 0.806)")


# -- errors count ----------------------------------------------------------------------------------

def test_a_model_failing_on_most_samples_is_not_valid_and_the_cover_says_how_many_and_why(world):
    result = world.runpytest("--model", "mostly-broken", *ARGS)
    cert = read_certificate(world)
    errors = cert["judgement"]["validity"]["errors"]
    assert errors["failed"] == 51 and errors["answers"] == 72  # 17 of 24 samples, under 3 compositions
    assert errors["first_error"] == "RuntimeError: GPU fell over on toy/test/1"
    assert cert["verdict"] == "NOT VALID" and result.ret == 1
    assert cert["judgement"]["reason"].startswith("The model failed to answer 51 of 72 inputs (70.8 %")
    html = read_certificate_html(world)
    assert "51 of 72 answers failed" in html and "GPU fell over on toy/test/1" in html
    # errors are wrong answers: consistency counts them as 0, it no longer drops them
    check = [c for s in cert["specs"] for c in s["checks"] if c["metric"] == "answer_consistency"][0]
    assert check["noisy"]["n"] == 24 and check["noisy"]["value"] == pytest.approx(7 / 24, abs=1e-6)


def test_a_model_failing_on_every_sample_says_exactly_that(world):
    world.runpytest("--model", "mostly-broken", "--model-option", "fail=all", *ARGS)
    cert = read_certificate(world)
    assert cert["verdict"] == "NOT VALID"
    assert cert["judgement"]["reason"] == ("The model failed to answer every one of its 72 inputs (first error: "
                                           "RuntimeError: GPU fell over on toy/test/0).")


@pytest.mark.parametrize("metric", [m.name for m in METRICS])
def test_every_metric_scores_a_missing_answer_as_wrong(metric):
    from PIL import Image

    scorer = {m.name: m for m in METRICS}[metric]
    for answer_type, reference in (("closed", "yes"), ("open", "left lung")):
        sample = Sample("s", Image.new("L", (4, 4)), "q?", reference, answer_type)
        failures = ((None, reference), (reference, None), (None, None)) if scorer.needs_clean_answer else \
            ((None, reference), (None, None))
        for answer, clean in failures:
            score = scorer.score(sample, answer, clean)
            assert score in (None, 0.0), (answer_type, answer, clean, score)
            if score is None:  # only where the metric does not apply to the question at all
                assert scorer.score(sample, reference, reference) is None


# -- partial runs ----------------------------------------------------------------------------------

def test_a_run_narrowed_by_k_is_partial_and_lists_what_did_not_run(world):
    result = world.runpytest("--model", "toy", *ARGS, "-k", "mild")
    assert result.ret == 0  # partial is not in the default --fail-on
    cert = read_certificate(world)
    completeness = cert["judgement"]["completeness"]
    assert cert["verdict"] == "PARTIAL" and completeness["complete"] is False
    assert completeness["deselected"] == ["test_spec.py::test_consistent_answers"]
    assert completeness["selection"] == {"-k": "mild"} and completeness["collected"] == 2
    assert "PARTIAL" in read_certificate_html(world) and "test_spec.py::test_consistent_answers" in \
        read_certificate_html(world)
    assert world.runpytest("--model", "toy", *ARGS, "-k", "mild", "--fail-on", "partial").ret == 1


def test_x_after_a_failing_first_spec_is_partial_with_the_rest_not_run(world):
    world.makepyfile(test_spec='''
def test_a_fails(bench):
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.0)

def test_b_never_runs(bench):
    bench.expect("gaussian_blur@1", metric="closed_accuracy", max_drop=0.3)
''')
    world.runpytest("--model", "toy", *ARGS, "-x").assert_outcomes(failed=1)
    completeness = read_certificate(world)["judgement"]["completeness"]
    assert completeness["not_run"] == ["test_spec.py::test_b_never_runs"]
    assert completeness["selection"] == {"-x": True} and completeness["interrupted"]


def test_ctrl_c_mid_run_is_partial_and_interrupted(world):
    world.makepyfile(test_spec='''
def test_a(bench):
    bench.expect("gaussian_blur@1", metric="closed_accuracy", max_drop=0.3)

def test_b(bench):
    raise KeyboardInterrupt

def test_c(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.3)
''')
    result = world.runpytest_subprocess("--model", "toy", *ARGS)  # a KeyboardInterrupt ends its own process
    assert result.ret == pytest.ExitCode.INTERRUPTED
    cert = read_certificate(world)
    completeness = cert["judgement"]["completeness"]
    assert cert["verdict"] == "PARTIAL" and "interrupted" in completeness["interrupted"]
    assert "test_spec.py::test_c" in completeness["not_run"]


# -- exit status and one judgement ------------------------------------------------------------------

INCONCLUSIVE_SPEC = '''
def test_clean_is_perfect(bench):
    bench.expect("clean", metric="closed_accuracy", min=1.0)
'''


@pytest.mark.parametrize("fail_on,expected", [("inconclusive", 1), ("error,not-valid,fail,partial", 0),
                                              ("fail,inconclusive", 1), ("not-run", 0)])
def test_fail_on_decides_the_exit_status_of_an_inconclusive_run(world, fail_on, expected):
    world.makepyfile(test_spec=INCONCLUSIVE_SPEC)
    result = world.runpytest("--model", "toy", *ARGS, "--fail-on", fail_on)
    result.assert_outcomes(passed=1)
    assert read_certificate(world)["verdict"] == "INCONCLUSIVE" and result.ret == expected


def test_fail_on_is_read_from_the_ini_file_and_refuses_unknown_verdicts(world):
    world.makepyfile(test_spec=INCONCLUSIVE_SPEC)
    world.makefile(".ini", pytest="[pytest]\nmedrobust_fail_on = inconclusive\n")
    assert world.runpytest("--model", "toy", *ARGS).ret == 1
    result = world.runpytest("--model", "toy", *ARGS, "--fail-on", "fail,maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fail-on: unknown verdict(s) maybe; choose from error, not-valid, fail, "
                                 "partial, inconclusive, not-run*"])


def test_a_run_whose_specs_all_skip_is_not_run_and_fails_only_when_asked(world):
    world.makepyfile(test_spec='''
import pytest

def test_skipped(bench):
    pytest.skip("needs CUDA")
''')
    assert world.runpytest("--model", "toy", *ARGS).ret == 0
    assert read_certificate(world)["verdict"] == "NOT RUN"
    assert world.runpytest("--model", "toy", *ARGS, "--fail-on", "not-run").ret == 1


def test_terminal_certificate_and_diff_read_one_judgement_where_outcome_and_conclusion_differ(world):
    from medrobust.certificate.compare import compare_certificates

    world.makepyfile(test_spec=INCONCLUSIVE_SPEC.replace("min=1.0", "min=0.5"))
    world.runpytest("--model", "toy", *ARGS).assert_outcomes(passed=1)
    before = read_certificate(world)
    world.makepyfile(test_spec=INCONCLUSIVE_SPEC)
    result = world.runpytest("--model", "toy", *ARGS)
    cert = read_certificate(world)
    diff = compare_certificates(before, cert)  # pytest passed both times; the interval did not
    assert diff.verdict == ("PASS", "INCONCLUSIVE") and diff.verdict_worse
    assert diff.newly_inconclusive == [{"spec": cert["specs"][0]["id"], "a": "pass", "b": "inconclusive"}]
    spec = cert["specs"][0]
    assert spec["outcome"] == "pass" and spec["conclusion"] == "inconclusive"  # pytest passed; the interval did not
    assert cert["judgement"]["spec_conclusions"] == {spec["id"]: "inconclusive"}
    result.stdout.fnmatch_lines([
        "*1 spec(s) where pytest's point-estimate outcome and the 95 % interval's conclusion differ*",
        f"  {spec['id']}: pytest passed, conclusion inconclusive",
        f"*verdict with 95% intervals: {cert['verdict']} (0 checks pass, 0 fail, 1 inconclusive)*"])
