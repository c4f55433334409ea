"""Failure cases: gathered where the evaluator lives, travelling with the spec record."""

import base64
import io

import pytest
from cert_runs import load, planted_run, run_planted
from PIL import Image

from medrobust._canonical import canonical_json, text_digest
from medrobust.run.cases import THUMBNAIL_PX, thumbnail_uri
from medrobust.certificate.replay import load_extra_plugins
from medrobust.run.plugins import load_plugins
from medrobust.noise.composition import Composition, apply_composition
from medrobust.sample import Sample, image_digest


def _png(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_thumbnails_are_png_at_most_96_px_on_the_long_side():
    image = Image.new("RGB", (300, 200), (10, 200, 30))
    thumb = _png(thumbnail_uri(image))
    assert thumb.format == "PNG" and thumb.size == (THUMBNAIL_PX, 64)
    assert thumb.getpixel((10, 10)) == (10, 200, 30)
    small = _png(thumbnail_uri(Image.new("L", (32, 20), 7)))
    assert small.size == (32, 20)  # never enlarged


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The JSON twin of a real run with passing, failing and known-failure specs."""
    return planted_run(tmp_path_factory.mktemp("planted"))


def _by_spec(cert):
    return {case["spec"]: case for case in cert["cases"]}


def test_minimal_failure_and_known_failure_get_cases_with_examples(planted):
    cert = load(planted)
    cases = _by_spec(cert)
    assert sorted(cases) == ["test_planted.py::test_known", "test_planted.py::test_planted"]
    assert sorted(c["id"] for c in cert["cases"]) == ["case-1", "case-2"]
    case = cases["test_planted.py::test_planted"]
    assert sorted((s["name"], s["severity"]) for s in case["composition"]) == [("char_typos", 3),
                                                                              ("gaussian_noise", 3)]
    assert case["metric"] == "closed_accuracy"
    assert case["replay_command"].startswith("medrobust evaluate --model planted --dataset toy --seed 0")
    # the planted model is registered in the run's conftest: both commands load it
    assert case["replay_case_command"] == f"medrobust replay CERT --case {case['id']} --plugin conftest.py"
    # the spec's minimal failure and its checks point to the case; a passing spec has none
    spec = next(s for s in cert["specs"] if s["id"] == case["spec"])
    assert spec["minimal_failure"]["case_id"] == case["id"]
    assert {c["case_id"] for c in spec["checks"] if c["composition_key"] == case["composition_key"]} == {case["id"]}
    mild = next(s for s in cert["specs"] if s["id"].endswith("test_mild"))
    assert [c["case_id"] for c in mild["checks"]] == [None]

    # the planted model flips every closed answer: four examples, each a real fall in score
    assert len(case["examples"]) == 4
    for ex in case["examples"]:
        assert ex["score_clean"] == 1.0 and ex["score_noisy"] == 0.0
        assert ex["answer_clean"] == ex["answer_reference"] != ex["answer_noisy"]
        assert [a["name"] for a in ex["applied"]] == [s["name"] for s in case["composition"]]
        assert all("seed" in a["params"] for a in ex["applied"])
        clean, noisy = _png(ex["image_clean_png"]), _png(ex["image_noisy_png"])
        assert max(clean.size) <= THUMBNAIL_PX and clean.tobytes() != noisy.tobytes()
        assert len(ex["noisy_image_sha256"]) == len(ex["noisy_question_sha256"]) == 64
    # the planted model breaks on the batch's mean typo count: some questions keep every character
    assert any(ex["question_noisy"] != ex["question_clean"] for ex in case["examples"])


def test_case_hashes_are_those_of_the_full_resolution_noisy_inputs(planted):
    cert = load(planted)
    case = _by_spec(cert)["test_planted.py::test_planted"]
    [toy_plugin] = load_extra_plugins([str(planted.parents[1] / "conftest.py")])
    samples = {s.id: s for s in toy_plugin.ToyDataset({}).samples("test")}
    noises = load_plugins().noises
    steps = Composition.from_json([{"name": s["name"], "severity": s["severity"]} for s in case["composition"]])
    for ex in case["examples"]:
        sample: Sample = samples[ex["sample_id"]]
        noisy, records = apply_composition(sample, steps, noises, cert["run"]["options"]["seed"])
        assert image_digest(noisy.image) == ex["noisy_image_sha256"]
        assert text_digest(noisy.question) == ex["noisy_question_sha256"] and noisy.question == ex["question_noisy"]
        # as their canonical JSON: a seed is a string of its digits there
        assert canonical_json([r.to_json() for r in records]) == canonical_json(ex["applied"])


def test_cases_travel_from_xdist_workers_unchanged(planted, toy):
    serial = load(planted)
    parallel = load(run_planted(toy, "-n", "1"))
    assert parallel["cases"] == serial["cases"]
    assert parallel["section_digests"]["cases"] == serial["section_digests"]["cases"]
