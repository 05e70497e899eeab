"""checks: the relative error, the verdicts, and failure messages that name the mistake."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from calcml import checks

from .strategies import dims, seeds


def quadratic(A: np.ndarray):
    return lambda x: x @ A @ x


@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    A = rng.normal(size=(4, 4))
    x = rng.normal(size=4)
    return A, x, (A + A.T) @ x


def message(call) -> str:
    with pytest.raises(checks.CheckFailure) as caught:
        call()
    return str(caught.value)


def test_relative_error_is_scale_free_and_symmetric() -> None:
    a, e = np.array([1.0, 2.0]), np.array([1.0, 2.2])
    assert checks.relative_error(a, e) == pytest.approx(0.2 / 2.2)
    assert checks.relative_error(1e6 * a, 1e6 * e) == pytest.approx(checks.relative_error(a, e))
    assert checks.relative_error(a, e) == checks.relative_error(e, a)


def test_relative_error_judges_a_zero_component_on_the_scale_of_the_answer() -> None:
    assert checks.relative_error([1.0, 1e-12], [1.0, 0.0]) < checks.RTOL


def test_relative_error_is_absolute_below_the_floor() -> None:
    assert checks.relative_error(3e-9, 1e-9) == pytest.approx(2e-9 / checks.FLOOR)


def test_relative_error_of_nan_is_infinite() -> None:
    assert checks.relative_error([np.nan], [1.0]) == np.inf


@settings(max_examples=50, deadline=None)
@given(seeds, dims)
def test_correct_gradients_pass(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    A, x = rng.normal(size=(n, n)), rng.normal(size=n)
    checks.check_gradient(lambda v: (A + A.T) @ v, quadratic(A), x)


def test_a_doubled_gradient_is_named_with_the_hint(problem) -> None:
    A, x, right = problem
    text = message(lambda: checks.check_gradient(lambda v: 2 * right, quadratic(A), x, hint="Is A symmetric here?"))
    assert "2x too large" in text and "Is A symmetric here?" in text and "component" in text


def test_a_flipped_sign_is_named(problem) -> None:
    A, x, right = problem
    assert "sign is flipped" in message(lambda: checks.check_gradient(lambda v: -right, quadratic(A), x))


def test_the_wrong_component_and_both_values_are_named(problem) -> None:
    A, x, right = problem
    wrong = right.copy()
    wrong[2] += 1.0
    text = message(lambda: checks.check_gradient(lambda v: wrong, quadratic(A), x))
    assert "component 2 is" in text and f"{right[2]:.6g}" in text and f"{wrong[2]:.6g}" in text


def test_a_transposed_jacobian_is_named() -> None:
    W = np.arange(6.0).reshape(2, 3)
    text = message(lambda: checks.check_jacobian(lambda x: W.T, lambda x: W @ x, np.ones(3)))
    assert "transpose" in text


def test_a_mean_for_a_sum_names_the_batch_size() -> None:
    expected = np.array([1.0, -2.0, 3.0])
    text = message(lambda: checks.assert_close(expected / 8, expected, what="gradient", batch_size=8))
    assert "8x too small" in text and "mean where the sum belongs" in text


@pytest.mark.parametrize(
    ("value", "phrase"),
    [(None, "forget to `return`"), ("abc", "not a number"), (np.ones((3, 1)), "shape (3, 1)"),
     (np.array([1.0, np.nan, 0.0]), "overflow"), (np.zeros(3), "all zeros")],
)
def test_malformed_answers_get_a_teaching_message(value, phrase) -> None:
    assert phrase in message(lambda: checks.assert_close(value, [1.0, 2.0, 3.0]))


def test_check_derivative_names_the_point() -> None:
    text = message(lambda: checks.check_derivative(lambda x: np.cos(x) + 0.1, np.sin, [0.0, 0.5]))
    assert "at x = 0" in text


def test_diagnose_stays_silent_when_nothing_fits() -> None:
    assert checks.diagnose([1.0, 5.0], [2.0, -1.0]) == ""


def test_a_scalar_failure_reads_as_a_sentence() -> None:
    text = message(lambda: checks.assert_close(0.5, 0.25, what="slope", where="at x = 1"))
    assert text.startswith("Your slope at x = 1 is 0.5, but 0.25 was expected")


def test_a_nearly_right_answer_is_called_close() -> None:
    expected = np.array([1.0, 2.0, 3.0])
    assert "close, but not within tolerance" in checks.diagnose(expected * 1.001, expected)


def test_a_scalar_names_only_telling_factors() -> None:
    assert checks.diagnose(-0.317 * 2.0, 2.0) == ""
    assert "2x too large" in checks.diagnose(4.0, 2.0)
