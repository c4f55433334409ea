"""Paired statistics."""

import pytest

from medrobust.stats import mcnemar_exact, paired_difference


def test_mcnemar_exact_matches_the_binomial_tail():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(5, 5) == 1.0


def test_paired_difference_binary():
    a = [1.0] * 150 + [0.0] * 50
    b = [1.0] * 170 + [0.0] * 30
    result = paired_difference(a, b, seed=1)
    assert result.diff == pytest.approx(0.1) and result.a_only == 0 and result.b_only == 20
    assert 0 < result.low < 0.1 < result.high and result.p_value < 1e-4
    assert paired_difference(a, b, seed=1) == result


def test_paired_difference_skips_inapplicable_and_handles_graded():
    result = paired_difference([0.5, None, 1.0], [0.75, 1.0, 1.0])
    assert result.n == 2 and result.diff == pytest.approx(0.125) and result.method == "bootstrap"
    assert paired_difference([None], [None]).n == 0
