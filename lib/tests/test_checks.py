"""checks: the relative error, the verdicts, and failure messages that name the mistake."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from calcml import checks, numdiff

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


def test_a_sum_for_a_mean_is_named_for_a_scalar_too() -> None:
    """A scalar loss (or a scalar gradient) summed over a batch of N where the mean belongs is N times too large."""
    rng = np.random.default_rng(3)
    x, y, w = rng.normal(size=8), rng.normal(size=8), 0.7
    mean_loss = float(np.mean((w * x - y) ** 2))
    sum_loss = float(np.sum((w * x - y) ** 2))
    assert "8x too large" in checks.diagnose(sum_loss, mean_loss, batch_size=8)
    assert "a sum where the mean belongs" in checks.diagnose(sum_loss, mean_loss, batch_size=8)
    assert "8x too small" in checks.diagnose(mean_loss, sum_loss, batch_size=8)
    assert "8x too small" in checks.diagnose(np.array(mean_loss), np.array(sum_loss), batch_size=8)  # 0-d arrays
    text = message(lambda: checks.assert_close(sum_loss, mean_loss, what="loss", batch_size=8))
    assert "8x too large" in text and "a sum where the mean belongs" in text
    # Without a batch size, N cannot be named, and a factor 8 is not one of the telling ones.
    assert checks.diagnose(sum_loss, mean_loss) == ""
    # Factors of 2 are still named for scalars when the batch size is something else.
    assert "2x too large" in checks.diagnose(2 * mean_loss, mean_loss, batch_size=8)


def test_a_sum_for_a_mean_is_named_for_a_symbolic_scalar_gradient() -> None:
    """The same with sympy: the derivative of the summed squared error against that of the mean, for N = 5."""
    sp = pytest.importorskip("sympy")
    w = sp.Symbol("w")
    xs, ys = [1, -2, 3, 0.5, 2], [0.3, 1, -1, 2, 0]
    summed = sum((w * xi - yi) ** 2 for xi, yi in zip(xs, ys, strict=True))
    d_sum = float(sp.diff(summed, w).subs(w, 0.4))
    d_mean = float(sp.diff(summed / len(xs), w).subs(w, 0.4))
    assert "5x too large" in checks.diagnose(d_sum, d_mean, batch_size=5)
    assert "5x too small" in checks.diagnose(d_mean, d_sum, batch_size=5)
    text = message(lambda: checks.assert_close(d_sum, d_mean, what="dL/dw", batch_size=5))
    assert "5x too large, the batch size: a sum where the mean belongs?" in text


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


# the documented bands


def test_a_factor_of_two_gives_one_half() -> None:
    g = np.array([0.3, -1.2, 2.0])
    assert checks.relative_error(2 * g, g) == pytest.approx(0.5)
    assert checks.relative_error(g / 2, g) == pytest.approx(0.5)


def _central(f, x: float, h: float) -> float:
    return (f(x + h) - f(x - h)) / (2 * h)


def test_a_straddled_kink_is_as_loud_as_a_bug() -> None:
    """The docstring: a kink between x ± h gives errors of order 1, above SUSPICIOUS, not in the middle band."""
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    for h in (1e-6, 1e-4):
        # ReLU at 0, with relu'(0) = 0 as engines take it: the quotient is 1/2, the error exactly 1.
        assert checks.relative_error(0.0, _central(relu, 0.0, h)) == pytest.approx(1.0)
        assert checks.relative_error(0.0, numdiff.derivative(relu, 0.0, h=h)) == pytest.approx(1.0)
    # |x| at x = 1e-7, h = 1e-6: the quotient is x/h = 0.1 and the true derivative 1, so the error is 0.9.
    assert checks.relative_error(1.0, _central(np.abs, 1e-7, 1e-6)) == pytest.approx(0.9)
    # The course's reference (numdiff, fourth order, its own step) is fooled too.
    assert checks.relative_error(1.0, numdiff.derivative(np.abs, 1e-7)) > 0.9
    # As x moves across [-h, h] the error sweeps every value up to its maximum: no band isolates kinks.
    xs = np.linspace(-1e-6, 1e-6, 201)[1:-1]
    errors = np.array([checks.relative_error(np.sign(x), _central(np.abs, x, 1e-6)) for x in xs if x != 0])
    assert errors.max() > 0.95 and errors.min() < checks.SUSPICIOUS
    assert np.mean(errors > checks.SUSPICIOUS) > 0.9  # mostly in the "wrong" band, not the suspicious one


def test_a_smooth_check_lands_in_the_documented_bands() -> None:
    """Correct in float64, suspicious in float32 at the float64 habit h = 1e-6."""
    assert checks.relative_error(np.cos(1.0), _central(np.sin, 1.0, 1e-6)) < checks.RTOL
    x32, h32 = np.float32(1.0), np.float32(1e-6)
    in_float32 = float((np.sin(x32 + h32) - np.sin(x32 - h32)) / (np.float32(2) * h32))
    assert checks.RTOL < checks.relative_error(np.cos(1.0), in_float32) < checks.SUSPICIOUS
