"""The answers file beside the certificate: one canonical row per answer, linked by its sha256.

Every run here is a real pytest session (pytester, in process) on the toy plugin.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import TOY_ARGS, read_certificate
from toy_plugin import ToyDataset

from medrobust._canonical import canonical_json, image_digest, text_digest
from medrobust.cli import main
from medrobust.noise import AppliedNoise, replay
from medrobust.run.plugins import load_plugins

ARGS = (*TOY_ARGS, "--journal", "none")
N_SAMPLES = 24
SPEC = '''
import pytest

@pytest.mark.parametrize("noise", ["gaussian_noise@2", "char_typos@2", "gaussian_noise@1+char_typos@3"])
def test_each(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
    bench.expect(noise, metric="answer_consistency", min=0.0)
'''
COMPOSITIONS = {"clean", "gaussian_noise@2", "char_typos@2", "gaussian_noise@1+char_typos@3"}


def _answers(pytester: pytest.Pytester) -> Path:
    return pytester.path / "reports" / "certificate.answers.jsonl"


def _rows(pytester: pytest.Pytester) -> list[dict]:
    return [json.loads(line) for line in _answers(pytester).read_text(encoding="utf-8").splitlines()]


def _checks(cert: dict) -> list[dict]:
    return [c for s in cert["specs"] for c in s["checks"]]


def _mean(rows: list[dict], arm: str, composition: str, metric: str) -> float:
    scores = [r["scores"][metric] for r in rows
              if r["arm"] == arm and r["composition"] == composition and r["scores"][metric] is not None]
    return round(sum(scores) / len(scores), 6)


@pytest.fixture
def spec_run(toy: pytest.Pytester) -> pytest.Pytester:
    """A serial run of :data:`SPEC` without the journal."""
    toy.makepyfile(test_spec=SPEC)
    toy.runpytest(*ARGS).assert_outcomes(passed=3)
    return toy


def test_one_canonical_row_per_answer_named_by_the_certificate(spec_run):
    cert, path = read_certificate(spec_run), _answers(spec_run)
    text = path.read_bytes()
    rows = _rows(spec_run)
    assert "file" not in cert["answers"] and path.name == "certificate.answers.jsonl"  # named after it
    assert cert["answers"]["sha256"] == hashlib.sha256(text).hexdigest()
    assert cert["answers"]["arms"] == ["model"] and "journal" in cert["answers"]["note"]
    assert len(rows) == cert["answers"]["rows"] == N_SAMPLES * len(COMPOSITIONS)
    assert {r["composition"] for r in rows} == COMPOSITIONS
    keys = [(r["arm"], r["composition"], r["sample"]) for r in rows]
    assert keys == sorted(set(keys))
    assert text.decode("utf-8") == "".join(canonical_json(r) + "\n" for r in rows)
    assert all(r["error"] is None for r in rows)
    assert set(rows[0]["scores"]) >= {"closed_accuracy", "open_recall", "answer_consistency"}


def test_the_rows_give_the_certificates_figures(spec_run):
    cert, rows = read_certificate(spec_run), _rows(spec_run)
    for check in _checks(cert):
        assert _mean(rows, "model", check["composition_key"], check["metric"]) == check["noisy"]["value"]
        assert _mean(rows, "model", "clean", check["metric"]) == check["clean"]["value"]


def test_the_input_digests_are_those_of_the_replayed_noise(spec_run):
    samples = {s.id: s for s in ToyDataset({}).samples("test")}
    noises = load_plugins().noises
    rows = _rows(spec_run)
    for row in rows:
        sample = samples[row["sample"]]
        if row["composition"] == "clean":
            assert row["applied"] == []
        else:
            assert [a["name"] for a in row["applied"]] == [s.split("@")[0] for s in row["composition"].split("+")]
        noisy = replay(sample, [AppliedNoise.from_json(a) for a in row["applied"]], noises)
        assert row["noisy_image_sha256"] == image_digest(noisy.image)
        assert row["noisy_question_sha256"] == text_digest(noisy.question)
    assert any(r["noisy_image_sha256"] != image_digest(samples[r["sample"]].image) for r in rows)
    assert any(r["noisy_question_sha256"] != text_digest(samples[r["sample"]].question) for r in rows)


def test_a_calibrator_run_has_both_arms(toy):
    toy.makepyfile(test_spec=SPEC)
    toy.runpytest(*ARGS, "--calibrator", "toy-median").assert_outcomes(passed=3)
    cert, rows = read_certificate(toy), _rows(toy)
    assert cert["answers"]["arms"] == ["calibrated", "uncalibrated"]
    assert len(rows) == cert["answers"]["rows"] == N_SAMPLES * len(COMPOSITIONS) * 2
    for check in _checks(cert):
        key, metric = check["composition_key"], check["metric"]
        assert _mean(rows, "calibrated", key, metric) == check["noisy"]["value"]
        assert _mean(rows, "uncalibrated", key, metric) == check["uncalibrated"]["noisy"]["value"]


def test_a_rerun_and_an_xdist_run_write_the_same_file(spec_run):
    first = _answers(spec_run).read_bytes()
    spec_run.runpytest(*ARGS).assert_outcomes(passed=3)
    assert _answers(spec_run).read_bytes() == first
    spec_run.runpytest(*ARGS, "-n", "2").assert_outcomes(passed=3)
    assert _answers(spec_run).read_bytes() == first
    assert read_certificate(spec_run)["answers"]["sha256"] == hashlib.sha256(first).hexdigest()


def test_a_rerun_answered_from_the_journal_writes_the_same_file_and_digest(toy):
    toy.makepyfile(test_spec=SPEC)
    toy.runpytest(*TOY_ARGS).assert_outcomes(passed=3)
    asked, first = _answers(toy).read_bytes(), read_certificate(toy)["digest"]
    toy.runpytest(*TOY_ARGS).assert_outcomes(passed=3)  # every answer now comes from the journal
    assert _answers(toy).read_bytes() == asked and read_certificate(toy)["digest"] == first
    assert all(r["noisy_image_sha256"] and r["applied"] is not None for r in _rows(toy))


def test_the_file_is_named_after_the_certificate_and_its_place_stays_out_of_the_digest(toy):
    toy.makepyfile(test_spec=SPEC)
    toy.runpytest(*ARGS, "--certificate", "out/a").assert_outcomes(passed=3)
    toy.runpytest(*ARGS, "--certificate", "elsewhere/b").assert_outcomes(passed=3)
    a = json.loads((toy.path / "out" / "a.json").read_text())
    b = json.loads((toy.path / "elsewhere" / "b.json").read_text())
    assert (toy.path / "out" / "a.answers.jsonl").read_bytes() == (toy.path / "elsewhere" / "b.answers.jsonl").read_bytes()
    assert a["section_digests"]["answers"] == b["section_digests"]["answers"]


def test_verify_fails_when_the_answers_file_is_edited_or_missing(spec_run, capsys):
    cert_path = spec_run.path / "reports" / "certificate.json"
    path = _answers(spec_run)
    assert main(["verify", str(cert_path)]) == 0
    assert f"answers file {path} matches" in capsys.readouterr().out
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    row = json.loads(lines[0])
    lines[0] = canonical_json({**row, "answer": "maybe"}) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    assert main(["verify", str(cert_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("TAMPERED") and f"answers file {path} changed" in out
    path.unlink()
    assert main(["verify", str(cert_path.with_suffix(".html"))]) == 1
    out = capsys.readouterr().out
    assert out.startswith("TAMPERED") and f"answers file {path} cannot be read" in out
    path.write_text(original, encoding="utf-8")
    assert main(["verify", str(cert_path)]) == 0


def test_a_certificate_without_an_answers_section_verifies_as_before(spec_run, capsys):
    from medrobust.certificate.record import compute_digest, section_digests

    data = read_certificate(spec_run)
    del data["answers"]
    data["section_digests"] = section_digests(data)
    data["digest"] = compute_digest(data)
    older = spec_run.path / "older.json"
    older.write_text(json.dumps(data), encoding="utf-8")
    _answers(spec_run).unlink()
    assert main(["verify", str(older)]) == 0
    assert "answers file" not in capsys.readouterr().out


def test_results_do_not_depend_on_the_batch_size(toy):
    """Noise is applied in batches of --batch-size and answered in a pipeline: answers, noise records,
    input digests, figures and verdict must be those of any other batch size."""
    toy.makepyfile(test_spec=SPEC)
    found = []
    for batch in ("64", "5", "1"):
        toy.runpytest(*ARGS, "--batch-size", batch).assert_outcomes(passed=3)
        cert = read_certificate(toy)
        found.append((cert["answers"]["sha256"], cert["verdict"], canonical_json(cert["judgement"]),
                      canonical_json([{k: c[k] for k in ("clean", "noisy", "drop", "conclusion")}
                                      for c in _checks(cert)])))
    assert found[0] == found[1] == found[2]
