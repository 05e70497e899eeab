"""calcml.step_choice: steps of a central difference, failed when unusable and compared with the grid's best."""

from __future__ import annotations

import numpy as np
import pytest

from calcml import checks, step_choice

EPS = np.finfo(np.float64).eps
XS = np.array([0.0, 1e-3, 0.5, -2.0, 3.0, 40.0, -1e4])


def good(xs):
    return EPS ** (1 / 3) * np.maximum(1.0, np.abs(xs))


def test_the_textbook_step_is_near_the_bottom_of_the_v() -> None:
    comparison = step_choice.compare_with_best(np.exp, np.exp, XS[:5], good(XS[:5]))
    assert comparison.ratios.shape == (5,)
    assert np.median(comparison.ratios) < 10
    # The best step of the grid is near ε^(1/3) max(1, |x|), within the width of the V's flat bottom.
    assert np.all(np.abs(np.log10(comparison.best_step / good(XS[:5]))) < 1.5)


@pytest.mark.parametrize(("scale", "arm"), [(1e-6, "round-off"), (1e4, "truncation")])
def test_a_step_far_from_the_bottom_has_a_large_ratio(scale, arm) -> None:
    xs = XS[2:5]
    comparison = step_choice.compare_with_best(np.sin, np.cos, xs, good(xs) * scale)
    assert np.all(comparison.ratios > 100), arm
    # On the wrong arm of the V, the error follows its law: ε|f|/h (round-off) or h²|f'''|/6 (truncation).
    h = good(xs) * scale
    law = EPS * np.abs(np.sin(xs)) / h if arm == "round-off" else h**2 * np.abs(np.cos(xs)) / 6
    assert np.all((comparison.mine > law / 30) & (comparison.mine < law * 30))


def test_the_errors_are_measured_against_the_exact_derivative() -> None:
    xs = np.array([0.3, 1.1])
    h = np.array([1e-3, 1e-3])
    comparison = step_choice.compare_with_best(lambda t: t**3, lambda t: 3 * t**2, xs, h)
    # ((x + h)³ - (x - h)³) / (2h) - 3x² = h²: the median over 0.8h to 1.25h is h² itself.
    np.testing.assert_allclose(comparison.mine, h**2, rtol=1e-6)


@pytest.mark.parametrize(("steps", "words"), [
    (np.ones(3), "returned shape (3,) for points of shape (7,); return one step per point"),
    (np.where(XS == 0.0, 0.0, 1e-5), "choose_step(0) is 0, but a step must be positive"),
    (np.full(7, np.nan), "must be positive and finite"),
    (np.full(7, 1e-13), "choose_step(-1e+04) is 1e-13, below the spacing of floats near that x (-1.8e-12), "
                        "so x + h == x: the step is lost."),
])
def test_unusable_steps_fail_with_the_remedy(steps, words) -> None:
    with pytest.raises(checks.CheckFailure) as failure:
        step_choice.check_steps(XS, steps)
    assert words in str(failure.value)


def test_the_where_and_the_ending_go_into_the_message() -> None:
    with pytest.raises(checks.CheckFailure, match=r"points of shape \(7,\) for exp at 7 points; return"):
        step_choice.check_steps(XS, np.ones(2), where="for exp at 7 points")
    with pytest.raises(checks.CheckFailure, match=r"so x \+ h == x\.$"):
        step_choice.check_steps(XS, np.full(7, 1e-13), lost=".")
    step_choice.check_steps(XS, good(XS))  # usable steps pass
