"""Question-noise robustness specs (placeholder thresholds, see test_image_noise.py)."""

from hypothesis import given

import medrobust as mr


@given(noise=mr.text_noises(max_noises=1, max_severity=1))
def test_mild_question_noise_keeps_closed_accuracy(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=0.15)


@given(noise=mr.compositions(noises=["jpeg", "keyboard_typos", "word_dropout"], min_noises=2,
                             max_noises=2, max_severity=1))
def test_mild_mixed_noise_keeps_answers(bench, noise):
    bench.expect(noise, metric="answer_consistency", min=0.75)
