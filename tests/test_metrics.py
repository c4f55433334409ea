"""Metrics and their confidence intervals."""

import math

import pytest
from PIL import Image

from medrobust import Sample
from medrobust.run.metrics import METRICS, estimate, normalize_answer

M = {m.name: m for m in METRICS}
IMG = Image.new("L", (4, 4))
CLOSED = Sample("a", IMG, "Is there a lesion?", "yes", "closed")
OPEN = Sample("b", IMG, "Which organ?", "fundus photograph", "open")


def test_closed_accuracy_exact_match_after_normalisation():
    assert M["closed_accuracy"].score(CLOSED, " Yes.", None) == 1.0
    assert M["closed_accuracy"].score(CLOSED, "no", None) == 0.0
    assert M["closed_accuracy"].score(CLOSED, None, None) == 0.0
    assert M["closed_accuracy"].score(OPEN, "yes", None) is None


def test_closed_accuracy_reads_a_sentence_by_its_first_closed_word():
    score = M["closed_accuracy"].score
    assert score(CLOSED, "Yes, there is no sign of bleeding.", None) == 1.0
    assert score(CLOSED, "No, the lung is clear; yes would be wrong.", None) == 0.0
    assert score(CLOSED, "The image shows a lesion.", None) == 0.0  # no yes/no word: exact match fails
    side = Sample("c", IMG, "Which side?", "left", "closed")
    assert score(side, "The lesion is on the left side.", None) == 1.0
    assert score(side, "right lung, not left", None) == 0.0
    other = Sample("d", IMG, "Which view?", "pa", "closed")
    assert score(other, "PA", None) == 1.0 and score(other, "pa view", None) == 0.0


def test_consistency_on_closed_questions_compares_the_closed_answers():
    assert M["answer_consistency"].score(CLOSED, "Yes, a lesion.", "yes") == 1.0
    assert M["answer_consistency"].score(CLOSED, "No lesion is seen.", "Yes, one.") == 0.0
    assert M["answer_consistency"].score(CLOSED, None, "yes") == 0.0


def test_open_recall_counts_reference_tokens():
    assert M["open_recall"].score(OPEN, "a fundus photograph", None) == 1.0
    assert M["open_recall"].score(OPEN, "fundus", None) == 0.5
    assert M["open_recall"].score(CLOSED, "yes", None) is None


def test_consistency_and_similarity_compare_with_the_clean_answer():
    assert M["answer_consistency"].score(OPEN, "CT", "ct") == 1.0
    assert M["answer_consistency"].score(OPEN, "mri", "ct") == 0.0
    assert 0 < M["answer_similarity"].score(OPEN, "chest", "chests") < 1


def test_wilson_interval_for_binary_scores():
    est = estimate([1.0] * 8 + [0.0] * 2)
    assert est.value == 0.8 and est.method == "wilson" and est.n == 10
    assert est.low == pytest.approx(0.4902, abs=1e-3) and est.high == pytest.approx(0.9433, abs=1e-3)
    perfect = estimate([1.0] * 20)
    assert perfect.high == 1.0 and perfect.low < 1.0


def test_graded_scores_and_inapplicable_samples():
    est = estimate([0.5, 1.0, None, 0.0])
    assert est.n == 3 and est.value == 0.5 and est.method == "normal" and est.low < 0.5 < est.high
    assert math.isnan(estimate([None]).value) and estimate([]).n == 0


def test_normalize_answer():
    assert normalize_answer("  The LEFT, side! ") == "the left side"
    assert normalize_answer(None) == ""


def test_answer_similarity_is_the_textdistance_levenshtein_figure():
    import textdistance

    pure = textdistance.Levenshtein(external=False)  # the pure-Python reference, whatever is installed
    pairs = [("chest", "chests"), ("", ""), ("", "lung"), ("Left lung.", "the left lung"), ("née", "nee"),
             ("a renal cyst", "cyst of the kidney")]
    for answer, clean in pairs:
        expected = pure.normalized_similarity(normalize_answer(answer), normalize_answer(clean))
        assert M["answer_similarity"].score(OPEN, answer, clean) == pytest.approx(expected, abs=1e-12)


def test_a_megabyte_answer_is_scored_in_well_under_a_second():
    import subprocess
    import sys

    # in a child with a deadline: before, this pair took many minutes
    code = """if True:
        import time
        from PIL import Image
        from medrobust import Sample
        from medrobust.run.metrics import METRICS
        metrics = {m.name: m for m in METRICS}
        sample = Sample("b", Image.new("L", (4, 4)), "Which organ?", "the left lung", "open")
        noisy, clean = "the left lung is clear " * 45000, "no finding in the right lung " * 35000
        start = time.perf_counter()
        scores = [m.score(sample, noisy, clean) for m in metrics.values()]
        print(time.perf_counter() - start, scores[-1])
    """
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert run.returncode == 0, run.stderr[-2000:]
    seconds, similarity = map(float, run.stdout.split())
    assert seconds < 0.5 and 0 < similarity < 1


VERBOSE_MODEL = '''

class VerboseModel(ToyModel):
    """The toy model, but its answer on the first sample runs to a megabyte, and changes with the image's
    pixels all along (noisy and clean answers share no long prefix or suffix a Levenshtein could skip)."""

    def answer(self, samples):
        answers = super().answer(samples)
        return [a + f" {int(np.asarray(s.image, dtype=np.int64).sum()) % 9973}" * 200_000 if s.id.endswith("/0")
                else a for s, a in zip(samples, answers)]


_TOY = medrobust_register_models


@medrobust.hookimpl
def medrobust_register_models(register):
    _TOY(register)
    register("verbose", VerboseModel)
'''


def test_a_run_with_megabyte_answers_scores_them_at_once_and_says_so(toy):
    import json
    import time

    toy.makeconftest(toy.path.joinpath("conftest.py").read_text() + VERBOSE_MODEL)
    toy.makepyfile(test_spec='''
def test_similar(bench):
    bench.expect("gaussian_noise@1", metric="answer_similarity", min=0.0)
''')
    start = time.perf_counter()
    toy.runpytest("--model", "verbose", "--dataset", "toy", "--dataset-option", "n=6", "--journal", "none",
                  "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert time.perf_counter() - start < 15
    scoring = json.loads((toy.path / "reports" / "certificate.json").read_text())["run"]["answer_scoring"]
    assert scoring["max_scored_chars"] == 4000 and scoring["answers_over_the_cap"] >= 2  # clean and noisy
    assert "truncated for scoring, never skipped" in scoring["note"]
