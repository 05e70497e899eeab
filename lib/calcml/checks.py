r"""Checks that compare a student's answer with a reference and explain what went wrong.

Relative error is defined once, here, and used by every visible and hidden test:

$$ \operatorname{relerr}(a, e) = \frac{\max_i |a_i - e_i|}{\max(\|a\|_\infty, \|e\|_\infty, \text{floor})}. $$

Dividing by the size of the whole answer (not of each component) means a component that should be 0
is judged on the scale of the answer, so numerical noise of $10^{-12}$ there does not count as a
100% error. The floor ($10^{-6}$) turns the measure into an absolute error for answers that are
themselves tiny.

Thresholds, for an analytic answer against `numdiff` (fourth-order central differences):

| relative error | verdict |
|---|---|
| below `RTOL` $= 10^{-5}$ | correct: what remains is finite-difference noise |
| $10^{-5}$ to `SUSPICIOUS` $= 10^{-2}$ | suspicious: a float32 check, a poor step, or a small bug |
| above $10^{-2}$ | wrong: a missing factor, a sign, a transpose; or a false alarm, a kink between $x \pm h$ |

A bug in a derivation usually gives a relative error of order 1 (a factor 2 gives 0.5), so `RTOL` is far
from both the noise and the bugs. A kink is the exception that no band catches: when $x \pm h$ straddles
it, the difference quotient averages two slopes, and the error can be anything up to order 1: 1 for ReLU at
0 (taking relu'(0) = 0, as engines do), 0.9 for $|x|$ at $x = 10^{-7}$ with $h = 10^{-6}$. That is as loud
as a real bug; only knowing where the kinks are tells the two apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from calcml import numdiff

RTOL = 1e-5
FLOOR = 1e-6
SUSPICIOUS = 1e-2


class CheckFailure(AssertionError):
    """A failed check; its message says what is wrong and the likely cause."""


def relative_error(actual: ArrayLike, expected: ArrayLike, floor: float = FLOOR) -> float:
    """The relative error of `actual` against `expected`, as defined in the module docstring.

    Args:
        actual: The answer being checked.
        expected: The reference, with the same shape.
        floor: Below this magnitude the error is measured absolutely.

    Returns:
        A float; `inf` if either side has a NaN or an infinity.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(e))):
        return float("inf")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(e))), floor)
    return float(np.max(np.abs(a - e)) / scale)


def diagnose(actual: ArrayLike, expected: ArrayLike, batch_size: int | None = None) -> str:
    """A short guess at why `actual` differs from `expected`, for a failure message.

    It recognises a flipped sign, a constant factor (2x, 1/2, the batch size, a mean where a sum
    belongs), a transpose, and answers that are all zero. It returns "" when nothing fits.

    Args:
        actual: The wrong answer, already converted to a float array of the expected shape
            (or its transpose).
        expected: The reference.
        batch_size: If the answer involves a batch, its size, so a factor of N can be named.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        if a.ndim == 2 and a.T.shape == e.shape and relative_error(a.T, e) < RTOL:
            return "it is the transpose of the right answer; check the order of a matrix product or of the indices."
        return ""
    if a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and relative_error(a.T, e) < RTOL:
        return "it is the transpose of the right answer; check the order of a matrix product or of the indices."
    if np.allclose(a, 0) and not np.allclose(e, 0):
        return "it is all zeros; is a placeholder still returned, or was a term dropped?"
    denom = float(np.vdot(e, e))
    if denom == 0:
        return ""
    ratio = float(np.vdot(a, e)) / denom
    if relative_error(a, ratio * e) > 1e-3:
        return ""
    if abs(ratio - 1) < 0.05:
        return "it is close, but not within tolerance: a low-order approximation, or too large a step?"
    if abs(ratio + 1) < 1e-3:
        return "the sign is flipped."
    if batch_size and batch_size > 1:  # scalars too: a loss summed over the batch is one number N times too large
        if abs(ratio - batch_size) < 1e-3 * batch_size:
            return f"it is {batch_size}x too large, the batch size: a sum where the mean belongs?"
        if abs(ratio * batch_size - 1) < 1e-3:
            return f"it is {batch_size}x too small, the batch size: a mean where the sum belongs?"
    if a.size == 1:  # any number is a multiple of any other: name only the factors that point to a mistake
        return _factor_phrase(ratio, "it")
    return _factor_phrase(ratio, "every component") or (
        f"every component is {ratio:.3g} times the right one; a missing constant factor?")


def assert_close(
    actual: Any,
    expected: ArrayLike,
    *,
    what: str = "answer",
    where: str = "",
    rtol: float = RTOL,
    batch_size: int | None = None,
    hint: str = "",
) -> None:
    """Raise `CheckFailure` with a teaching message unless `actual` matches `expected`.

    Args:
        actual: The student's value (anything; it is validated here).
        expected: The reference value.
        what: What the value is, e.g. "gradient" or "derivative of f".
        where: The input, e.g. "at x = 0.5", quoted in the message.
        rtol: The relative-error threshold.
        batch_size: Passed to `diagnose` so a factor of N can be named.
        hint: One more sentence to add when the check fails, e.g. "Is A symmetric here?".

    Raises:
        CheckFailure: If the value is missing, of the wrong shape, not finite, or too far off.
    """
    e = np.asarray(expected, dtype=np.float64)
    lead = f"Your {what}{' ' + where if where else ''}"
    a = _as_float_array(actual, lead)
    if a.shape != e.shape:
        if a.size == e.size and a.ndim != e.ndim:
            _fail(f"{lead} has shape {a.shape}, but shape {e.shape} was expected; "
                  "reshape it (a column or row vector where a flat one belongs?).", hint)
        cause = diagnose(a, e)
        _fail(f"{lead} has shape {a.shape}, but shape {e.shape} was expected" + (f": {cause}" if cause else "."),
              hint)
    if not np.all(np.isfinite(a)):
        bad = _first_index(~np.isfinite(a))
        _fail(f"{lead} contains {a[bad]} at index {bad}; look for an overflow (exp of a large number) or "
              "a division by zero, and use a numerically stable formula.", hint)
    err = relative_error(a, e)
    if err <= rtol:
        return
    worst = _first_index(np.abs(a - e) == np.max(np.abs(a - e)))
    cause = diagnose(a, e, batch_size=batch_size)
    got, want = (float(a[worst]), float(e[worst]))
    subject = f"{lead}: component {worst if len(worst) > 1 else worst[0]}" if e.ndim else lead
    lines = [f"{subject} is {got:.6g}, but {want:.6g} was expected (relative error {err:.2g}, threshold {rtol:g})."]
    if cause:
        lines.append(f"Likely cause: {cause}")
    _fail(" ".join(lines), hint)


def check_derivative(
    df: Callable[[float], Any],
    f: Callable[[Any], Any],
    xs: Sequence[float] | ArrayLike,
    *,
    rtol: float = RTOL,
    name: str = "f",
    hint: str = "",
) -> None:
    """Check a derivative function `df` against a numerical derivative of `f` at each point of `xs`.

    Raises:
        CheckFailure: At the first point where `df` is wrong, naming that point.
    """
    for x in np.atleast_1d(np.asarray(xs, dtype=np.float64)):
        expected = numdiff.derivative(f, float(x))
        assert_close(df(float(x)), expected, what=f"derivative of {name}", where=f"at x = {x:.6g}", rtol=rtol,
                     hint=hint)


def check_gradient(
    grad_f: Callable[[NDArray[np.float64]], Any],
    f: Callable[[NDArray[np.float64]], Any],
    x: ArrayLike,
    *,
    rtol: float = RTOL,
    what: str = "gradient",
    batch_size: int | None = None,
    hint: str = "",
) -> None:
    """Check `grad_f(x)` against the numerical gradient of the scalar function `f` at `x`.

    Raises:
        CheckFailure: If the gradient is wrong; the message names the worst component.
    """
    x = np.asarray(x, dtype=np.float64)
    expected = numdiff.gradient(f, x)
    assert_close(grad_f(x.copy()), expected, what=what, where=describe_point(x), rtol=rtol,
                 batch_size=batch_size, hint=hint)


def check_jacobian(
    jac_f: Callable[[NDArray[np.float64]], Any],
    f: Callable[[NDArray[np.float64]], Any],
    x: ArrayLike,
    *,
    rtol: float = RTOL,
    hint: str = "",
) -> None:
    """Check `jac_f(x)` against the numerical Jacobian of `f` at `x` (shape `f(x).shape + x.shape`).

    Raises:
        CheckFailure: If the Jacobian is wrong; the message names the worst (row, column).
    """
    x = np.asarray(x, dtype=np.float64)
    expected = numdiff.jacobian(f, x)
    assert_close(jac_f(x.copy()), expected, what="Jacobian", where=describe_point(x), rtol=rtol,
                 hint=hint)


def describe_point(x: ArrayLike) -> str:
    """Name the input of a check in a message: its values when short, its shape otherwise."""
    x = np.asarray(x, dtype=np.float64)
    if x.size <= 6:
        return f"at x = {np.array2string(x, precision=4, separator=', ')}"
    return f"at an x of shape {x.shape}"


def _as_float_array(value: Any, lead: str) -> NDArray[np.float64]:
    if value is None:
        _fail(f"{lead} is None; did the function forget to `return` its result?", "")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(f"{lead} is {type(value).__name__} {value!r:.60}, which is not a number or an array of numbers.", "")
    raise AssertionError("unreachable")  # pragma: no cover


def _factor_phrase(ratio: float, subject: str) -> str:
    """Name a factor that points to a typical mistake (2, 3, 4 or 1/2), or return ""."""
    for factor in (2.0, 3.0, 4.0, 0.5):
        if abs(ratio - factor) < 1e-3 * factor:
            size = "large" if factor > 1 else "small"
            times = f"{factor:g}x" if factor > 1 else "2x"
            extra = "a forgotten factor of 2, as in d(x²)/dx = 2x?" if factor < 1 else "a term counted twice?"
            return f"{subject} is {times} too {size}; {extra}"
    return ""


def _first_index(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _fail(message: str, hint: str) -> None:
    raise CheckFailure(message + (f" {hint}" if hint else ""))
