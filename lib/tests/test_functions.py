"""functions: every gradient and Hessian against numdiff and sympy, and the spectrum of the built quadratics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import checks, functions, numdiff
from tests.strategies import dims, seeds

pytestmark = pytest.mark.filterwarnings("error")

NUMERIC = 1e-7  # fourth-order central differences on these polynomials, relative to the answer's size
coords = st.floats(min_value=-2.5, max_value=2.5, allow_nan=False, allow_infinity=False)
spectra = st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=8)

X, Y = sp.symbols("x y", real=True)
A_SYM, B_SYM = sp.Rational(3, 2), sp.Integer(7)
SYMBOLIC: dict[str, sp.Expr] = {
    "rosenbrock": (1 - X) ** 2 + 100 * (Y - X**2) ** 2,
    "rosenbrock_ab": (A_SYM - X) ** 2 + B_SYM * (Y - X**2) ** 2,
    "himmelblau": (X**2 + Y - 11) ** 2 + (X + Y**2 - 7) ** 2,
}
FUNCTIONS: dict[str, tuple[Callable, Callable, Callable]] = {
    "rosenbrock": (functions.rosenbrock, functions.rosenbrock_grad, functions.rosenbrock_hessian),
    "rosenbrock_ab": (
        lambda x: functions.rosenbrock(x, a=1.5, b=7.0),
        lambda x: functions.rosenbrock_grad(x, a=1.5, b=7.0),
        lambda x: functions.rosenbrock_hessian(x, a=1.5, b=7.0),
    ),
    "himmelblau": (functions.himmelblau, functions.himmelblau_grad, functions.himmelblau_hessian),
}


# The 2-D functions: formulas against sympy (exact) and numdiff (numerical).


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_2d_formulas_match_sympy(name: str) -> None:
    f, grad, hess = FUNCTIONS[name]
    expr = SYMBOLIC[name]
    sym_grad = [sp.diff(expr, v) for v in (X, Y)]
    sym_hess = sp.hessian(expr, (X, Y))
    for point in [(-1.2, 1.0), (0.3, -0.7), (2.0, 2.5), (0.0, 0.0)]:
        subs = {X: point[0], Y: point[1]}
        x = np.array(point)
        assert f(x) == pytest.approx(float(expr.subs(subs)), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(grad(x), [float(g.subs(subs)) for g in sym_grad], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(hess(x), np.array(sym_hess.subs(subs), dtype=float), rtol=1e-12, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(FUNCTIONS)), coords, coords)
def test_2d_gradient_and_hessian_match_numdiff(name: str, x0: float, x1: float) -> None:
    f, grad, hess = FUNCTIONS[name]
    x = np.array([x0, x1])
    assert checks.relative_error(grad(x), numdiff.gradient(f, x)) <= NUMERIC
    assert checks.relative_error(hess(x), numdiff.jacobian(grad, x)) <= NUMERIC


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_2d_functions_are_vectorised_over_a_grid(name: str) -> None:
    f, grad, hess = FUNCTIONS[name]
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-1, 3, 4)))
    values, grads, hessians = f(grid), grad(grid), hess(grid)
    assert values.shape == (4, 5) and grads.shape == (2, 4, 5) and hessians.shape == (2, 2, 4, 5)
    i, j = 2, 3
    point = grid[:, i, j]
    assert values[i, j] == pytest.approx(f(point))
    np.testing.assert_allclose(grads[:, i, j], grad(point))
    np.testing.assert_allclose(hessians[:, :, i, j], hess(point))


def test_minima_are_stationary_with_value_zero() -> None:
    assert functions.rosenbrock(np.array([1.0, 1.0])) == 0.0
    np.testing.assert_array_equal(functions.rosenbrock_grad(np.array([1.0, 1.0])), [0.0, 0.0])
    assert functions.rosenbrock(np.array([1.5, 2.25]), a=1.5, b=7.0) == 0.0
    for point in functions.HIMMELBLAU_MINIMA:
        x = np.array(point)
        assert functions.himmelblau(x) < 1e-9
        assert np.max(np.abs(functions.himmelblau_grad(x))) < 1e-4
        assert np.all(np.linalg.eigvalsh(functions.himmelblau_hessian(x)) > 0)  # each is a minimum


def test_rosenbrock_is_ill_conditioned_at_its_minimum() -> None:
    lam = np.linalg.eigvalsh(functions.rosenbrock_hessian(np.array([1.0, 1.0])))
    np.testing.assert_allclose(lam, [501 - np.sqrt(501**2 - 400), 501 + np.sqrt(501**2 - 400)])  # trace 1002, det 400
    assert lam[1] / lam[0] > 2500


def test_2d_functions_refuse_other_dimensions() -> None:
    with pytest.raises(ValueError, match="shape"):
        functions.rosenbrock(np.zeros(3))


# Quadratics


@settings(max_examples=80, deadline=None)
@given(seeds, spectra)
def test_quadratic_has_the_requested_spectrum(seed: int, eigenvalues: list[float]) -> None:
    q = functions.quadratic_with_spectrum(eigenvalues, seed=seed)
    np.testing.assert_array_equal(q.A, q.A.T)
    np.testing.assert_allclose(q.eigenvalues, np.sort(eigenvalues), rtol=1e-9, atol=1e-12 * max(eigenvalues))
    assert q.n == len(eigenvalues)


@settings(max_examples=60, deadline=None)
@given(seeds, dims)
def test_quadratic_gradient_hessian_and_minimiser(seed: int, n: int) -> None:
    rng = np.random.default_rng([seed, 1])  # a stream independent of the quadratic's own draws
    q = functions.quadratic_with_spectrum(rng.uniform(0.5, 3.0, size=n), seed=seed)
    x = rng.normal(size=n)
    assert checks.relative_error(q.grad(x), numdiff.gradient(q.f, x)) <= NUMERIC
    assert checks.relative_error(q.hessian(x), numdiff.jacobian(q.grad, x)) <= NUMERIC
    x_star = q.minimiser
    assert np.max(np.abs(q.grad(x_star))) <= 1e-9 * (1 + np.max(np.abs(q.b)))
    assert q.f(x) >= q.minimum - 1e-12  # positive definite: the stationary point is the global minimum
    assert q.f(x_star) == pytest.approx(q.minimum, abs=1e-12)


def test_quadratic_formulas_match_sympy_for_a_nonsymmetric_matrix() -> None:
    A, b = np.array([[2.0, 1.0, 0.0], [3.0, 4.0, -1.0], [0.5, 0.0, 5.0]]), np.array([1.0, -2.0, 0.5])
    q = functions.Quadratic(A, b)
    xs = sp.symbols("x0:3", real=True)
    v = sp.Matrix(xs)
    expr = (v.T * sp.Matrix(A.tolist()) * v)[0] / 2 - (sp.Matrix(b.tolist()).T * v)[0]
    point = np.array([0.3, -1.1, 2.0])
    subs = dict(zip(xs, point, strict=True))
    assert q.f(point) == pytest.approx(float(expr.subs(subs)), rel=1e-12)
    np.testing.assert_allclose(q.grad(point), [float(sp.diff(expr, s).subs(subs)) for s in xs], rtol=1e-12)
    np.testing.assert_allclose(q.hessian(), np.array(sp.hessian(expr, xs), dtype=float), rtol=1e-12)


def test_quadratic_is_vectorised_over_points() -> None:
    q = functions.quadratic_with_spectrum([1.0, 0.1], seed=3)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-2, 2, 4)))
    assert q.f(grid).shape == (4, 3) and q.grad(grid).shape == (2, 4, 3)
    assert q.f(grid)[1, 2] == pytest.approx(q.f(grid[:, 1, 2]))
    np.testing.assert_allclose(q.grad(grid)[:, 1, 2], q.grad(grid[:, 1, 2]))


def test_same_seed_keeps_eigenvectors_when_the_spectrum_changes() -> None:
    a = functions.quadratic_with_spectrum([1.0, 0.1, 0.5], seed=11, minimiser=np.zeros(3))
    b = functions.quadratic_with_spectrum([1.0, 0.001, 0.5], seed=11, minimiser=np.zeros(3))
    _, va = np.linalg.eigh(a.A)
    _, vb = np.linalg.eigh(b.A)
    np.testing.assert_allclose(np.abs(va.T @ vb), np.eye(3), atol=1e-10)  # same order: 1 stays the largest
    np.testing.assert_array_equal(a.b, np.zeros(3))


def test_given_minimiser_is_the_minimiser() -> None:
    q = functions.quadratic_with_spectrum([2.0, 3.0], seed=0, minimiser=[1.0, -1.0])
    np.testing.assert_allclose(q.minimiser, [1.0, -1.0], rtol=1e-12)


@pytest.mark.parametrize("bad", [[1.0, 0.0], [-1.0], []])
def test_non_positive_spectrum_is_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        functions.quadratic_with_spectrum(bad)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="square"):
        functions.Quadratic(np.eye(2), np.zeros(3))
