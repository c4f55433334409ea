"""End-to-end behaviour of the pytest plugin, through pytester and the toy plugin."""

import re
import tempfile
from pathlib import Path

import pytest

from conftest import TOY_ARGS, TOY_PLUGIN
from conftest import read_certificate as _certificate
from conftest import read_certificate_html as html_text

from medrobust.certificate import compute_digest

SPEC = '''
from hypothesis import given, settings
import medrobust as mr
settings.load_profile("medrobust")

def test_clean_is_perfect(bench):
    bench.expect("clean", metric="closed_accuracy", min=1.0)

def test_mild_noise(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.2)
'''


@pytest.mark.parametrize("option,value,kind", [
    ("--model", "no-such-model", "models"),
    ("--calibrator", "no-such-calibrator", "calibrators"),
    ("--dataset", "no-such-dataset", "datasets"),
])
def test_unknown_names_fail_at_once_listing_what_exists(toy, option, value, kind):
    toy.makepyfile(test_spec=SPEC)
    result = toy.runpytest(*TOY_ARGS, option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*unknown * '{value}'; registered {kind}: *"])
    if kind == "models":
        result.stderr.fnmatch_lines(["*evil, flaky, hf-vlm, llava-med, openai-compatible, planted, reference, toy*"])
    assert "passed" not in result.stdout.str()


def test_unknown_noise_in_a_yaml_spec_lists_the_noises(toy):
    toy.makefile(".robust.yaml", bad="noises: [no_such_noise]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n")
    result = toy.runpytest(*TOY_ARGS)
    result.stdout.fnmatch_lines(["*unknown noise 'no_such_noise'; registered noises: *char_typos, *"])
    assert result.ret != 0


def test_python_specs_pass_and_write_both_certificate_files(toy):
    toy.makepyfile(test_spec=SPEC)
    result = toy.runpytest(*TOY_ARGS)
    result.assert_outcomes(passed=2)
    cert = _certificate(toy)
    # both pass pytest (point estimates), but 16 of 16 right cannot show accuracy >= 1.0 with 95 %
    # confidence (Wilson lower bound 0.81): the certificate's verdict is honest about that
    assert cert["verdict"] == "INCONCLUSIVE"
    assert [s["conclusion"] for s in cert["specs"]] == ["inconclusive", "pass"]
    assert cert["model"]["name"] == "toy" and cert["dataset"]["name"] == "toy"
    from medrobust.noise.catalogue import builtin_noises

    rationales = {n.name: n.rationale for n in builtin_noises()}
    assert cert["noises"] and all(entry["rationale"] == rationales[name] != ""
                                  for name, entry in cert["noises"].items())
    page = html_text(toy)
    assert "Clinical rationale" in page
    assert not re.search(r"Clinical rationale</th>\s*<td[^>]*>\s*not recorded", page)
    assert [s["outcome"] for s in cert["specs"]] == ["pass", "pass"]
    html = (toy.path / "reports" / "certificate.html").read_text()
    assert cert["digest"] in html and "Robustness Test Report" in html


def test_failing_expectation_reads_like_an_assertion(toy):
    toy.makepyfile(test_spec='''
def test_strong_noise(bench):
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.05)
''')
    result = toy.runpytest(*TOY_ARGS, "--seed", "3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*closed_accuracy dropped by * > max_drop 0.050*",
        "*clean:       1.000 [[]*",
        "*noisy:       0.*",
        "*threshold:   max_drop 0.05*",
        "*composition: gaussian_noise@5*",
        "*replay:      medrobust evaluate --model toy --dataset toy --seed 3 --plugin conftest.py "
        "--metric closed_accuracy "
        "--composition '[[]{\"name\":\"gaussian_noise\",\"severity\":5}[]]'*",
    ])
    assert _certificate(toy)["verdict"] == "FAIL"


def test_yaml_spec_runs_one_item_per_noise_and_severity(toy):
    toy.makefile(".robust.yaml", paper="""
suite: paper benchmark
noises: [gaussian_blur, char_typos]
severities: [1, 3]
expect:
  closed_accuracy: {max_drop: 0.5}
  answer_consistency: {min: 0.3}
""")
    result = toy.runpytest(*TOY_ARGS, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*paper.robust.yaml::gaussian_blur-1 PASSED*",
                                 "*paper.robust.yaml::char_typos-3 PASSED*"])
    checks = [c for s in _certificate(toy)["specs"] for c in s["checks"]]
    assert len(checks) == 8 and {c["metric"] for c in checks} == {"closed_accuracy", "answer_consistency"}


@pytest.mark.parametrize("text,message", [
    ("noises: [jpeg]\n", "'expect' must map metric names"),
    ("noises: [jpeg]\nseverities: [0, 9]\nexpect: {closed_accuracy: {min: 0.5}}\n", "severities must be"),
    ("noises: [jpeg]\nexpect: {no_metric: {min: 0.5}}\n", "unknown metric 'no_metric'"),
    ("noises: [jpeg]\nexpect: {closed_accuracy: {min: 5}}\n", "must be a number in [0, 1]"),
    ("noise: [jpeg]\nexpect: {closed_accuracy: {min: 0.5}}\n", "unknown key(s) noise"),
])
def test_malformed_yaml_specs_name_file_and_field(toy, text, message):
    toy.makefile(".robust.yaml", broken=text)
    result = toy.runpytest(*TOY_ARGS)
    assert result.ret != 0
    assert "broken.robust.yaml" in result.stdout.str() and message in result.stdout.str()


def test_hypothesis_spec_shrinks_to_the_minimal_composition(toy):
    toy.makepyfile(test_spec='''
from hypothesis import given, settings
import medrobust as mr
settings.load_profile("medrobust")

@settings(max_examples=60)
@given(noise=mr.compositions(max_noises=3, noises=["gaussian_noise", "gaussian_blur", "jpeg", "char_typos"]))
def test_planted(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=0.05)
''')
    result = toy.runpytest("--model", "planted", "--dataset", "toy", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    spec = _certificate(toy)["specs"][0]
    minimal = spec["minimal_failure"]["composition"]
    # the planted failure needs exactly both noises, each at its lowest failing severity
    assert sorted((s["name"], s["severity"]) for s in minimal) == [("char_typos", 3), ("gaussian_noise", 3)]


def test_a_failing_sample_is_recorded_not_fatal(toy):
    toy.makepyfile(test_spec='''
def test_runs(bench):
    bench.expect("jpeg@2", metric="answer_consistency", min=0.5)
''')
    result = toy.runpytest("--model", "flaky", "--dataset", "toy", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    errors = _certificate(toy)["sample_errors"]
    assert {e["sample"] for e in errors} == {"toy/test/4"}
    assert "corrupt input on sample 4" in errors[0]["error"]


def test_certificate_escapes_model_output(toy):
    toy.makepyfile(test_spec='''
def test_runs(bench):
    bench.expect("clean", metric="answer_consistency", min=0.0)
''')
    toy.runpytest("--model", "evil", "--dataset", "toy", "-p", "no:cacheprovider")
    html = (toy.path / "reports" / "certificate.html").read_text()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in html
    # the embedded JSON twin cannot close its own script element either
    assert html.count("</script>") == 1


def test_same_seed_gives_the_same_digest_and_another_seed_does_not(toy):
    toy.makepyfile(test_spec=SPEC)
    digests = []
    for seed in ("1", "1", "2"):
        toy.runpytest(*TOY_ARGS, "--seed", seed)
        digests.append(_certificate(toy)["digest"])
    assert digests[0] == digests[1] != digests[2]


def test_no_certificate_when_no_spec_ran(toy):
    toy.makepyfile(test_plain="def test_x():\n    assert True\n")
    toy.runpytest(*TOY_ARGS).assert_outcomes(passed=1)
    assert not (toy.path / "reports").exists()


def test_clean_answers_are_computed_once_per_session(toy):
    toy.makepyfile(test_spec='''
import pytest

@pytest.mark.parametrize("noise", ["jpeg@1", "jpeg@2", "gaussian_blur@1"])
def test_each(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
    bench.expect(noise, metric="answer_consistency", min=0.0)

def test_calls(medrobust_run):
    # one call per composition (clean + 3), each a single batch of 24 samples
    assert medrobust_run.raw_model.calls == 4
''')
    toy.runpytest(*TOY_ARGS).assert_outcomes(passed=4)


def test_xdist_workers_give_the_same_certificate_as_one_process(toy):
    toy.makepyfile(test_spec=SPEC + '''
import pytest

@pytest.mark.parametrize("noise", ["jpeg@1", "jpeg@3", "gaussian_blur@2", "char_typos@2"])
def test_each(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
''')
    # a fresh process, like the xdist workers: an in-process run would inherit process state that
    # earlier tests left (torch's thread count, which the certificate's environment records)
    toy.runpytest_subprocess(*TOY_ARGS).assert_outcomes(passed=6)
    serial = _certificate(toy)
    toy.runpytest(*TOY_ARGS, "-n", "2").assert_outcomes(passed=6)
    parallel = _certificate(toy)
    assert len(parallel["specs"]) == 6 and parallel["dataset"]["samples_digest"]
    if parallel["harness"]["git_revision"] == serial["harness"]["git_revision"]:
        assert _differences(serial, parallel) == {} and parallel["digest"] == serial["digest"]
    # the checkout may turn dirty between the runs while people edit it; all else must agree
    for cert in (serial, parallel):
        cert["harness"].pop("git_revision")
        cert.pop("section_digests")
    assert _differences(serial, parallel) == {}
    assert compute_digest(parallel) == compute_digest(serial)


def _leaves(data, path="$"):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, data


def _differences(a, b):
    """Leaves of two certificates that differ, outside the fields the digest does not cover."""
    left, right = dict(_leaves(a)), dict(_leaves(b))
    skip = ("$.digest", "$.timing", "$.local", "$.section_digests")
    return {k: (left.get(k), right.get(k)) for k in sorted(set(left) | set(right))
            if left.get(k) != right.get(k) and not k.startswith(skip)}


def test_the_journal_answers_reruns_and_is_keyed_by_the_model(toy):
    toy.makepyfile(test_spec=SPEC + '''
def test_asked(medrobust_run):
    print("ASKED", medrobust_run.evaluator.asked)
''')
    first = toy.runpytest(*TOY_ARGS, "-s")
    first.stdout.fnmatch_lines(["*ASKED 48*"])  # clean + gaussian_noise@1, 24 samples each
    digest = _certificate(toy)["digest"]
    again = toy.runpytest(*TOY_ARGS, "-s")
    again.stdout.fnmatch_lines(["*ASKED 0*"])
    assert _certificate(toy)["digest"] == digest
    other_seed = toy.runpytest(*TOY_ARGS, "-s", "--seed", "5")
    other_seed.stdout.fnmatch_lines(["*ASKED 24*"])  # clean answers are seed-free, noisy ones are not
    disabled = toy.runpytest(*TOY_ARGS, "-s", "--journal", "none")
    disabled.stdout.fnmatch_lines(["*ASKED 48*"])


def test_a_calibrator_run_reports_the_uncalibrated_arm_with_paired_statistics(toy):
    toy.makepyfile(test_spec='''
def test_impulse(bench):
    bench.expect("impulse_noise@5", metric="closed_accuracy", max_drop=0.0)

def test_strong_gaussian(bench):
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.0)
''')
    result = toy.runpytest(*TOY_ARGS, "--calibrator", "toy-median")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*without toy-median: clean 1.000, noisy *",
                                 "*toy-median gain on noisy: * McNemar p=*; cost on clean: *"])
    cert = _certificate(toy)
    assert cert["calibrator"]["name"] == "toy-median" and cert["calibrator"]["fitted_on"] == 24
    check = next(s for s in cert["specs"] if s["id"].endswith("test_impulse"))["checks"][0]
    ab = check["uncalibrated"]
    # the median filter removes impulse noise the toy model is fooled by
    assert ab["noisy"]["value"] < check["noisy"]["value"]
    assert ab["noisy_gain"]["diff"] == pytest.approx(check["noisy"]["value"] - ab["noisy"]["value"])
    assert ab["noisy_gain"]["method"] == "agresti-min+mcnemar" and ab["noisy_gain"]["p_value"] < 0.05
    html = (toy.path / "reports" / "certificate.html").read_text()
    assert "Without toy-median: clean / noisy" in html


def test_a_model_that_fails_to_load_is_loaded_once_and_stops_the_run_at_start_up(toy):
    toy.makeconftest(TOY_PLUGIN.read_text() + '''

LOADS = []


class BrokenModel:
    def __init__(self, options):
        LOADS.append(1)
        raise FileNotFoundError(f"broken model: no weights ({len(LOADS)} loads)")


@medrobust.hookimpl
def medrobust_register_models(register):
    register("broken", BrokenModel)
''')
    toy.makepyfile(test_two="""
def test_one(bench):
    bench.expect("gaussian_noise@1", max_drop=0.5)


def test_two(bench):
    bench.expect("gaussian_noise@2", max_drop=0.5)
""")
    result = toy.runpytest("--model", "broken", "--dataset", "toy", "-p", "no:cacheprovider",
                           "--certificate", "none", "--journal", "none")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines == ["ERROR: model 'broken' could not be loaded: FileNotFoundError: broken model: "
                                   "no weights (1 loads)", ""]
    assert "(2 loads)" not in result.stdout.str() and "passed" not in result.stdout.str()


@pytest.mark.parametrize("option", ["--model-path", "--dataset"])
def test_a_missing_local_path_fails_at_once_naming_it(toy, option):
    toy.makepyfile(test_spec=SPEC)
    missing = str(toy.path / "no" / "such" / "dir")
    value = missing if option == "--model-path" else f"toy:{missing}"
    result = toy.runpytest(*TOY_ARGS, option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{missing}* does not exist*"])


def test_xdist_workers_run_the_evidence_probes_once(toy):
    calls = toy.path / "probe-calls.txt"
    toy.makeconftest(TOY_PLUGIN.read_text() + f'''

import os
import medrobust.run.probes as _probes

_repeatability = _probes.repeatability


def _counted(*args, **kwargs):
    with open({str(calls)!r}, "a") as out:
        out.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
    return _repeatability(*args, **kwargs)


_probes.repeatability = _counted
''')
    toy.makepyfile(test_spec='''
import pytest

@pytest.mark.parametrize("noise", ["jpeg@1", "jpeg@3", "gaussian_blur@2", "char_typos@2", "jpeg@2", "gaussian_noise@1"])
def test_each(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
''')
    before = set(Path(tempfile.gettempdir()).glob("medrobust-*-evidence.*"))  # other runs' (an interrupted one's)
    result = toy.runpytest(*TOY_ARGS, "-n", "2", "--dist", "load")
    result.assert_outcomes(passed=6)
    assert len(calls.read_text().split()) == 1
    cert = _certificate(toy)
    assert cert["repeatability"]["n"] > 0
    assert set(Path(tempfile.gettempdir()).glob("medrobust-*-evidence.*")) <= before  # this run left none
