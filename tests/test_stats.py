"""Paired statistics."""

import pytest

from medrobust.run.stats import mcnemar_exact, paired_difference


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


def test_binary_interval_is_agresti_min_and_never_zero_width():
    no_flips = paired_difference([1.0] * 5 + [0.0] * 5, [1.0] * 5 + [0.0] * 5)
    assert no_flips.method == "agresti-min+mcnemar" and no_flips.diff == 0
    # ten samples, none changed: the data cannot rule out a drop of 0.15 (the bootstrap said [0, 0])
    assert no_flips.low == pytest.approx(-0.1633, abs=1e-4) and no_flips.high == pytest.approx(0.1633, abs=1e-4)
    one_in_40 = paired_difference([1.0] * 40, [1.0] * 39 + [0.0])
    assert one_in_40.diff == pytest.approx(-0.025) and one_in_40.low < -0.075 and one_in_40.high > 0
    # large samples: close to the Wald interval of the discordant difference
    big = paired_difference([0.0] * 100 + [1.0] * 900, [1.0] * 100 + [1.0] * 900)
    assert big.low == pytest.approx(0.1 - 1.96 * (0.09 / 1000) ** 0.5, abs=0.002)
