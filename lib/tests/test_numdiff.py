"""numdiff: accuracy against analytic derivatives, shapes, and the step-size rule."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import checks, numdiff

from .strategies import Smooth, dims, points, seeds, smooth_functions

ACCURACY = 1e-8  # the accuracy promised for smooth, well-scaled float64 functions
# Relative error with a floor of 1: relative for derivatives larger than 1, absolute below. At a stationary
# point the exact derivative is 0 and a pure relative error is undefined; round-off there is ~eps|f|/h.
UNIT_FLOOR = 1.0


@settings(max_examples=300, deadline=None)
@given(smooth_functions(), st.lists(points, min_size=1, max_size=16))
def test_derivative_matches_analytic_derivative(fn: Smooth, xs: list[float]) -> None:
    x = np.array(xs)
    assert checks.relative_error(numdiff.derivative(fn.f, x), fn.df(x), floor=UNIT_FLOOR) <= ACCURACY


@settings(max_examples=100, deadline=None)
@given(smooth_functions(), points)
def test_second_order_stencil_is_accurate_to_its_own_bound(fn: Smooth, x: float) -> None:
    # Central differences of order 2 balance at h ~ eps^(1/3); their error is ~eps^(2/3) ~ 4e-11 x scale.
    assert checks.relative_error(numdiff.derivative(fn.f, x, order=2), fn.df(np.float64(x)), floor=UNIT_FLOOR) <= 1e-6


def test_scalar_input_gives_a_float() -> None:
    assert isinstance(numdiff.derivative(np.sin, 0.3), float)


@settings(max_examples=100, deadline=None)
@given(seeds, dims)
def test_gradient_of_quadratic_form_is_symmetrised_matrix(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    A, a, x = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n)
    assert checks.relative_error(numdiff.gradient(lambda v: v @ A @ v + a @ v, x), (A + A.T) @ x + a) <= ACCURACY


@settings(max_examples=50, deadline=None)
@given(seeds, dims, dims)
def test_jacobian_of_smooth_map_has_rows_per_output(seed: int, m: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    W, x = rng.normal(size=(m, n)), rng.normal(size=n)
    J = numdiff.jacobian(lambda v: np.tanh(W @ v), x)
    assert J.shape == (m, n)
    # tanh can saturate (tanh' ~ 1e-7 at W x ~ 8): there the round-off of f ~ 1 dominates, so use the floor.
    assert checks.relative_error(J, (1 - np.tanh(W @ x) ** 2)[:, None] * W, floor=UNIT_FLOOR) <= ACCURACY


def test_gradient_keeps_the_shape_of_a_matrix_argument() -> None:
    rng = np.random.default_rng(0)
    X, y, W = rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), rng.normal(size=(3, 2))
    grad = numdiff.gradient(lambda M: np.sum((X @ M - y) ** 2), W)
    assert grad.shape == W.shape
    assert checks.relative_error(grad, 2 * X.T @ (X @ W - y)) <= ACCURACY


def test_gradient_matches_sympy_for_a_nonpolynomial_function() -> None:
    x1, x2 = sp.symbols("x1 x2")
    expr = sp.exp(x1 * x2) + sp.sin(x1) * x2**2
    symbolic = [float(sp.diff(expr, v).subs({x1: 0.7, x2: -0.4})) for v in (x1, x2)]
    f = sp.lambdify([x1, x2], expr, "numpy")
    assert checks.relative_error(numdiff.gradient(lambda v: f(*v), np.array([0.7, -0.4])), symbolic) <= ACCURACY


def test_gradient_rejects_vector_valued_functions() -> None:
    with pytest.raises(ValueError, match="scalar-valued"):
        numdiff.gradient(lambda v: 2 * v, np.ones(3))


def test_optimal_step_balances_truncation_and_round_off() -> None:
    assert numdiff._optimal_step(0.0, order=2) == pytest.approx(numdiff.EPS ** (1 / 3), rel=1e-3)
    assert numdiff._optimal_step(0.0, order=4) == pytest.approx(numdiff.EPS ** (1 / 5), rel=1e-3)
    assert numdiff._optimal_step(1e4, order=2) == pytest.approx(1e4 * numdiff.EPS ** (1 / 3), rel=1e-3)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_optimal_step_is_exactly_representable(x: float) -> None:
    h = float(numdiff._optimal_step(x))
    assert (x + h) - x == h


def test_explicit_step_is_used() -> None:
    # With a huge step, the second-order stencil shows its truncation error h^2 f'''/6 for f = x^3.
    assert numdiff.derivative(lambda x: x**3, 0.0, h=0.1, order=2) == pytest.approx(0.01)


def test_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="order"):
        numdiff.derivative(np.sin, 0.0, order=3)
