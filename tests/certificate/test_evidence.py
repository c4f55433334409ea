"""The certificate's evidence: conclusions with uncertainty, strata, curves, repeatability, shortcuts,
test data, environment, limitations; deterministic and the same under xdist."""

import types

import pytest
from conftest import TOY_ARGS
from conftest import read_certificate as _certificate
from evidence_toys import make_evidence_toy

from medrobust.certificate.evidence import limitations, results_section
from medrobust.run.judgement import judge, spec_conclusion
from medrobust.run.conclusions import conclude, stratify, worst
from medrobust.run.metrics import estimate

ARGS = ("-p", "no:cacheprovider")


@pytest.fixture
def evidence_toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """The toy plugin plus drifting, blind and picky models and a stratified dataset."""
    return make_evidence_toy(pytester)


# -- units ---------------------------------------------------------------------------------

@pytest.mark.parametrize("max_drop,expected", [(0.05, "fail"), (0.3, "inconclusive"), (0.6, "pass")])
def test_a_max_drop_check_concludes_from_the_paired_interval_of_the_drop(max_drop, expected):
    clean = [1.0] * 40
    noisy = [0.0] * 12 + [1.0] * 28  # drop 0.3, bootstrap interval roughly [0.15, 0.45]
    conclusion, interval = conclude({"max_drop": max_drop}, clean, noisy, estimate(noisy), seed=0)
    assert conclusion == expected
    assert interval["of"] == "drop" and interval["low"] < 0.3 < interval["high"]
    assert 0.1 < interval["low"] and interval["high"] < 0.5
    # seeded: the same inputs give the same interval
    assert conclude({"max_drop": max_drop}, clean, noisy, estimate(noisy), seed=0)[1] == interval


@pytest.mark.parametrize("floor,expected", [(0.5, "pass"), (0.7, "inconclusive"), (0.9, "fail")])
def test_a_min_check_concludes_from_the_interval_of_the_noisy_estimate(floor, expected):
    noisy = [0.0] * 12 + [1.0] * 28  # 0.70, Wilson [0.546, 0.819]
    conclusion, interval = conclude({"min": floor}, [1.0] * 40, noisy, estimate(noisy), seed=0)
    assert conclusion == expected
    assert interval == {"of": "noisy", "low": pytest.approx(0.5457), "high": pytest.approx(0.819252)}


def test_with_two_thresholds_the_worse_conclusion_and_its_interval_count():
    noisy = [0.0] * 12 + [1.0] * 28
    conclusion, interval = conclude({"max_drop": 0.6, "min": 0.9}, [1.0] * 40, noisy, estimate(noisy), seed=0)
    assert conclusion == "fail" and interval["of"] == "noisy"
    assert worst(["pass", "inconclusive", "pass"]) == "inconclusive" and worst([]) is None


def test_strata_split_by_modality_organ_and_answer_type_where_the_metric_applies():
    samples = [types.SimpleNamespace(answer_type="closed" if i < 4 else "open",
                                     metadata={"modality": "ct" if i % 2 else "mri"}) for i in range(6)]
    clean = [1.0, 1.0, 1.0, 1.0, None, None]
    noisy = [1.0, 0.0, 1.0, 0.0, None, None]
    strata = stratify(samples, clean, noisy)
    assert set(strata) == {"modality", "answer_type"}  # no sample states an organ
    assert set(strata["answer_type"]) == {"closed"}  # the metric applies to no open question
    assert strata["modality"]["ct"]["noisy"]["value"] == 0.0 and strata["modality"]["ct"]["noisy"]["n"] == 2
    assert strata["modality"]["mri"]["noisy"]["value"] == 1.0


def _check(key, steps, metric, clean, noisy, conclusion="pass", threshold=None, interval=None):
    est = lambda v: {"value": v, "low": max(0.0, v - 0.1), "high": min(1.0, v + 0.1), "n": 20, "method": "wilson"}
    return types.SimpleNamespace(composition=[{"name": n, "severity": s} for n, s in steps], composition_key=key,
                                 metric=metric, clean=est(clean), noisy=est(noisy), drop=round(clean - noisy, 6),
                                 uncalibrated=None, conclusion=conclusion, threshold=threshold or {"max_drop": 0.1},
                                 interval=interval or {"of": "drop", "low": 0.0, "high": 0.2})


def test_curves_and_heat_map_come_from_single_noise_checks_only():
    checks = [_check("jpeg@1", [("jpeg", 1)], "closed_accuracy", 0.9, 0.85),
              _check("jpeg@3", [("jpeg", 3)], "closed_accuracy", 0.9, 0.6),
              _check("blur@2", [("blur", 2)], "closed_accuracy", 0.9, 0.8),
              _check("jpeg@1+blur@2", [("jpeg", 1), ("blur", 2)], "closed_accuracy", 0.9, 0.1),
              _check("jpeg@1", [("jpeg", 1)], "answer_consistency", 1.0, 0.9)]
    results = results_section(checks)
    curves = {(c["metric"], c["noise"]): c["points"] for c in results["curves"]}
    assert set(curves) == {("closed_accuracy", "jpeg"), ("closed_accuracy", "blur"), ("answer_consistency", "jpeg")}
    assert [(p["severity"], p["value"]) for p in curves[("closed_accuracy", "jpeg")]] == [(0, 0.9), (1, 0.85), (3, 0.6)]
    heat = results["heatmap"]
    assert heat["metric"] == "closed_accuracy" and heat["noises"] == ["blur", "jpeg"] and heat["severities"] == [1, 2, 3]
    assert heat["cells"] == [[None, pytest.approx(0.1), None], [pytest.approx(0.05), None, pytest.approx(0.3)]]


def test_limitations_name_noise_family_severity_metric_and_size_worst_first():
    specs = [types.SimpleNamespace(id="t::a", checks=[
        _check("jpeg@1", [("jpeg", 1)], "closed_accuracy", 0.9, 0.85),
        _check("jpeg@3", [("jpeg", 3)], "closed_accuracy", 0.9, 0.6, "fail", interval={"of": "drop", "low": 0.2, "high": 0.4}),
        _check("blur@2", [("blur", 2)], "answer_consistency", 1.0, 0.8, "inconclusive", {"min": 0.8},
               {"of": "noisy", "low": 0.7, "high": 0.9})])]
    lines = limitations(specs, {"jpeg": {"family": "compression"}, "blur": {"family": "blur"}},
                        {"repeatability": {"n": 10, "agree": 8, "rate": 0.8}})
    assert lines[0].startswith("closed_accuracy falls from 0.900 to 0.600 (drop 0.300; 95 % interval of the drop "
                               "0.200 to 0.400) under jpeg (compression) at severity 3: fail, it exceeds the "
                               "allowed drop (max drop 0.1)")
    assert "under blur (blur) at severity 2: inconclusive, it may fall below the minimum (min 0.8)" in lines[1]
    assert "2 of 10 answers differed" in lines[2] and len(lines) == 3
    assert "No tested condition" in limitations([], {}, {})[0]


def _record(outcome, *conclusions, passed=None):
    """A spec record; ``passed`` is the point-estimate outcome of its checks (default: not 'fail')."""
    checks = [types.SimpleNamespace(conclusion=c, passed=c != "fail" if passed is None else passed)
              for c in conclusions]
    return types.SimpleNamespace(outcome=outcome, checks=checks)


@pytest.mark.parametrize("records,verdict", [
    ([_record("passed", "pass"), _record("passed", "pass", "inconclusive")], "INCONCLUSIVE"),
    ([_record("passed", "pass"), _record("failed", "inconclusive", passed=False)], "INCONCLUSIVE"),
    ([_record("passed", "pass"), _record("failed", "pass")], "FAIL"),  # failed outside its checks
    ([_record("passed", "inconclusive"), _record("failed", "fail")], "FAIL"),
    ([_record("error"), _record("failed", "fail")], "ERROR"),
    ([_record("passed", "pass"), _record("xfailed", "fail"), _record("skipped")], "PASS"),
    ([_record("passed")], "PASS"),  # its own assertions held, without a check
    ([_record("skipped")], "NOT RUN"),
])
def test_the_overall_verdict_follows_the_rule_it_states(records, verdict):
    assert judge({str(i): r for i, r in enumerate(records)}).verdict == verdict
    assert spec_conclusion(_record("passed", "pass", "fail")) == "fail"


# -- end to end ----------------------------------------------------------------------------

PLANTED = '''
def test_inconclusive(bench):
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.5)

def test_mild(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.2)
    bench.expect("gaussian_noise@3", metric="closed_accuracy", max_drop=0.9)
'''


def test_a_straddling_interval_makes_the_run_inconclusive_while_pytest_passes(toy):
    toy.makepyfile(test_spec=PLANTED)
    result = toy.runpytest(*TOY_ARGS)
    result.assert_outcomes(passed=2)  # pytest judges the point estimate: drop 0.5 <= 0.5
    result.stdout.fnmatch_lines([("medrobust verdict with 95% intervals: INCONCLUSIVE (2 checks pass, 0 fail, "
                                  "1 inconclusive)")])
    cert = _certificate(toy)
    assert cert["verdict"] == "INCONCLUSIVE" and "point estimate" in cert["verdict_rule"]
    specs = {s["name"]: s for s in cert["specs"]}
    check = specs["test_inconclusive"]["checks"][0]
    assert check["passed"] and check["conclusion"] == "inconclusive"
    assert check["interval"]["of"] == "drop" and check["interval"]["low"] < 0.5 < check["interval"]["high"]
    assert specs["test_inconclusive"]["conclusion"] == "inconclusive" and specs["test_mild"]["conclusion"] == "pass"
    assert cert["summary"]["inconclusive"] == 1
    assert cert["summary"]["checks_by_conclusion"] == {"pass": 2, "fail": 0, "inconclusive": 1}
    assert "not a conformity assessment" in cert["scope_disclaimer"]
    assert any("gaussian_noise (noise) at severity 5: inconclusive" in line for line in cert["limitations"])
    curve = next(c for c in cert["results"]["curves"] if c["noise"] == "gaussian_noise")
    assert [p["severity"] for p in curve["points"]] == [0, 1, 3, 5]
    assert cert["results"]["heatmap"]["severities"] == [1, 3, 5]


def test_a_definite_failure_fails_the_run_and_the_message_shows_the_interval(toy):
    toy.makepyfile(test_spec=PLANTED.replace("max_drop=0.5", "max_drop=0.05"))
    result = toy.runpytest(*TOY_ARGS)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*95% CI:      drop [[]0.*, 0.*[]] -> fail (the certificate's verdict rests on the interval)"])
    assert _certificate(toy)["verdict"] == "FAIL"


def test_with_a_calibrator_the_curves_carry_the_uncalibrated_arm(toy):
    toy.makepyfile(test_spec=PLANTED)
    toy.runpytest(*TOY_ARGS, "--calibrator", "toy-median")
    curve = next(c for c in _certificate(toy)["results"]["curves"] if c["noise"] == "gaussian_noise")
    by_severity = {p["severity"]: p for p in curve["points"]}
    # the median filter restores part of what strong pixel noise takes from the toy model
    assert by_severity[5]["uncalibrated"] < by_severity[5]["value"]
    assert by_severity[0]["uncalibrated"] == by_severity[0]["value"] == 1.0


def test_strata_and_test_data_counts_come_from_sample_metadata(evidence_toy):
    evidence_toy.makepyfile(test_spec=PLANTED)
    evidence_toy.runpytest("--model", "toy", "--dataset", "toy-strata", *ARGS).assert_outcomes(passed=2)
    cert = _certificate(evidence_toy)
    data = cert["test_data"]
    assert data["n_samples"] == 24 and data["answer_types"] == {"closed": 16, "open": 8}
    assert data["strata"] == {"modality": {"ct": 12, "mri": 12}, "organ": {"brain": 8, "chest": 8, "liver": 8}}
    assert len(data["items"]) == 24 and data["items"][0]["id"] == "toy/test/0"
    assert len(data["manifest_digest"]) == 64 and len(data["items"][0]["image_sha256"]) == 64
    # toy reference images repeat the test images: the certificate must say the split is not independent
    reference = data["reference_split"]
    assert reference["n_samples"] == 24 and reference["overlap"]["ids"] == 0
    assert reference["overlap"]["images"] == 24 and reference["independent"] is False
    check = next(s for s in cert["specs"] if s["name"] == "test_inconclusive")["checks"][0]
    assert set(check["strata"]) == {"modality", "organ", "answer_type"}
    assert set(check["strata"]["answer_type"]) == {"closed"}  # closed accuracy: open questions do not count
    assert sum(v["noisy"]["n"] for v in check["strata"]["organ"].values()) == 16
    assert sum(v["noisy"]["n"] for v in check["strata"]["modality"].values()) == check["noisy"]["n"] == 16


def test_repeatability_asks_the_clean_inputs_twice_past_cache_and_journal(evidence_toy):
    evidence_toy.makepyfile(test_spec='def test_runs(bench):\n'
                                      '    bench.expect("jpeg@1", metric="closed_accuracy", max_drop=1.0)\n')
    evidence_toy.runpytest("--model", "drifting", "--dataset", "toy", *ARGS).assert_outcomes(passed=1)
    rep = _certificate(evidence_toy)["repeatability"]
    # every fourth sample flips on each ask; among them the 'shape' questions answer 'square' regardless
    flipping = [f"toy/test/{i}" for i in range(0, 24, 4) if i % 3]
    assert rep["disagreements"] == flipping
    assert rep["n"] == 24 and rep["agree"] == 24 - len(flipping)
    assert rep["rate"] == pytest.approx(rep["agree"] / 24) and rep["low"] < rep["rate"] < rep["high"]
    assert any("not repeatable" in line for line in _certificate(evidence_toy)["limitations"])


def test_shortcut_baselines_show_whether_the_model_uses_the_image(evidence_toy):
    evidence_toy.makepyfile(test_spec=PLANTED)
    evidence_toy.runpytest("--model", "toy", "--dataset", "toy", *ARGS)
    seeing = _certificate(evidence_toy)["shortcuts"]
    assert seeing["clean"]["value"] == 1.0 and seeing["text_only"]["value"] == 0.5
    assert seeing["blank_image"]["value"] == 0.5 and seeing["majority"]["value"] == 0.5
    assert seeing["clean"]["n"] == 16 and "mid-gray" in seeing["note"]
    assert seeing["margins"]["text_only"]["low"] > 0 and seeing["margins"]["majority"]["low"] > 0
    assert _certificate(evidence_toy)["judgement"]["validity"]["valid"] is True
    evidence_toy.runpytest("--model", "blind", "--dataset", "toy", *ARGS)
    blind = _certificate(evidence_toy)
    assert blind["shortcuts"]["text_only"]["value"] == blind["shortcuts"]["clean"]["value"] == 1.0
    assert blind["verdict"] == "NOT VALID" and blind["judgement"]["validity"]["valid"] is False
    assert "does not surely beat answering with an uninformative (mid-gray) image" in blind["judgement"]["reason"]
    assert blind["limitations"][0] == blind["judgement"]["reason"]


def test_a_failing_probe_is_reported_and_the_certificate_still_written(evidence_toy):
    evidence_toy.makepyfile(test_spec=PLANTED)
    evidence_toy.runpytest("--model", "picky", "--dataset", "toy", *ARGS).assert_outcomes(passed=2)
    cert = _certificate(evidence_toy)
    assert cert["shortcuts"] is None and cert["repeatability"]["n"] == 24
    assert any(line.startswith("The shortcuts evidence could not be gathered (ModelOutputError: model 'picky' "
                               "returned 0 answers") for line in cert["limitations"])


def test_the_environment_records_versions_device_determinism_and_seed(toy):
    toy.makepyfile(test_spec=PLANTED)
    toy.runpytest(*TOY_ARGS, "--seed", "7")
    cert = _certificate(toy)
    env = cert["environment"]
    # the seed is stated once, in the run's options
    assert cert["run"]["options"]["seed"] == 7 and "seed" not in env and "seed" not in cert["run"]
    assert env["device"] == "cpu" and env["python"].count(".") == 2
    assert env["torch"] and isinstance(env["torch_threads"], int)
    assert env["deterministic_algorithms"] in (True, False) and "hypothesis_profile" in env


NEW_SECTIONS = ("protocol", "environment", "test_data", "results", "repeatability", "shortcuts", "limitations",
                "verdict_rule", "scope_disclaimer")


def test_the_evidence_is_deterministic_and_the_same_under_xdist(toy):
    toy.makepyfile(test_spec=PLANTED + '''
import pytest

@pytest.mark.parametrize("noise", ["jpeg@1", "jpeg@3", "char_typos@2"])
def test_each(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=0.5)
''')
    (toy.path / "protocol.yaml").write_text(
        "title: t\nversion: '1'\nintended_use: u\nscope: s\ntest_data: d\ncriteria:\n"
        "  - {id: A, metric: closed_accuracy, max_drop: 0.5, justification: j}\n")
    args = (*TOY_ARGS, "--protocol", "protocol.yaml", "--journal", "none")
    # fresh processes like the xdist workers': an in-process run inherits state earlier tests left
    # in this one (torch's thread count, which the environment section records)
    toy.runpytest_subprocess(*args).assert_outcomes(passed=5)
    first = _certificate(toy)
    toy.runpytest_subprocess(*args).assert_outcomes(passed=5)
    second = _certificate(toy)
    toy.runpytest(*args, "-n", "2").assert_outcomes(passed=5)
    parallel = _certificate(toy)
    for key in NEW_SECTIONS:
        assert first[key] == parallel[key], key
    # everything but the harness's git revision (others may commit meanwhile) and wall-clock times
    stable = [{k: v for k, v in c.items() if k not in ("harness", "timing", "digest", "section_digests")}
              for c in (first, second, parallel)]
    assert stable[0] == stable[1] == stable[2]
    if first["harness"] == second["harness"] == parallel["harness"]:
        assert first["digest"] == second["digest"] == parallel["digest"]
    assert [c["conclusion"] for s in first["specs"] for c in s["checks"]] == [
        c["conclusion"] for s in parallel["specs"] for c in s["checks"]]
    assert first["protocol"]["deviations"] and parallel["protocol"]["deviations"] == first["protocol"]["deviations"]
    toy.runpytest(*args, "--seed", "4")
    other = _certificate(toy)
    assert other["digest"] != first["digest"]


def test_shortcut_baselines_score_sentence_answers_as_closed_accuracy_does():
    from PIL import Image

    from medrobust import Sample
    from medrobust.run.probes import shortcuts

    class Chatty:
        def answer(self, samples):
            return [f"{s.answer.capitalize()}, as the image shows." for s in samples]

    image = Image.new("L", (8, 8), 90)
    samples = [Sample(f"s{i}", image, "Is there a lesion?", "yes" if i % 2 else "no", "closed") for i in range(6)]
    clean = Chatty().answer(samples)
    found = shortcuts(Chatty(), "chatty", samples, clean, batch_size=4)
    assert found["clean"]["value"] == 1.0 and found["text_only"]["value"] == 1.0


def test_shortcut_images_are_one_blank_image_per_mode_and_size_whatever_the_sample_count():
    import numpy as np
    from PIL import Image

    from medrobust import Sample
    from medrobust._canonical import image_digest
    from medrobust.run.probes import shortcuts

    class Recorder:
        def __init__(self):
            self.seen = []

        def answer(self, samples):
            self.seen += samples
            return ["yes" if np.asarray(s.image).mean() > 100 else "no" for s in samples]

    sizes = [("L", (40, 30)), ("RGB", (24, 24)), ("L", (40, 30)), ("RGB", (24, 24)), ("L", (16, 16))]
    samples = [Sample(f"s{i}", Image.new(mode, size, 200 if mode == "L" else (200, 200, 200)), "Is it bright?", "yes",
                      "closed")
               for i, (mode, size) in enumerate(sizes * 4)]
    model = Recorder()
    found = shortcuts(model, "recorder", samples, model.answer(samples), batch_size=8)
    asked = model.seen[len(samples):]  # the mid-gray pass, then the black one
    assert len(asked) == 2 * len(samples)
    for level, part in ((128, asked[:len(samples)]), (0, asked[len(samples):])):
        assert len({id(s.image) for s in part}) == 3  # one image per (mode, size): L 40x30, RGB 24x24, L 16x16
        for original, blank in zip(samples, part):
            assert (blank.image.mode, blank.image.size) == (original.image.mode, original.image.size)
            assert set(np.asarray(blank.image).ravel().tolist()) == {level}
            assert blank.image_sha256 == image_digest(blank.image)  # the shared digest is the image's own
    assert found["clean"]["value"] == 1.0 and found["text_only"]["value"] == 1.0  # 128 > 100: "yes"
    assert found["blank_image"]["value"] == 0.0
