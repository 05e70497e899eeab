"""calcml.descent_cases: random quadratic bowls and the driver's gradients of them and of Rosenbrock."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import descent_cases, functions, numdiff, probes

from .strategies import seeds


@settings(max_examples=25, deadline=None)
@given(seeds, st.integers(1, 6), st.floats(0.05, 2.0), st.floats(1.0, 50.0))
def test_a_random_bowl_has_the_drawn_curvatures_in_range(seed, n, low, factor) -> None:
    high = low * factor
    lam, H, x_star = descent_cases.random_bowl(np.random.default_rng(seed), n, low, high)
    assert lam.shape == (n,) and H.shape == (n, n) and x_star.shape == (n,)
    assert np.all((lam >= low * (1 - 1e-12)) & (lam <= high * (1 + 1e-12)))
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(H), np.sort(lam), rtol=1e-9)


def test_the_drivers_gradients_agree_with_numdiff() -> None:
    scope: dict = {}
    exec(descent_cases.GRADIENTS, scope)
    lam, H, x_star = descent_cases.random_bowl(np.random.default_rng(3), 4, 0.1, 10.0)
    case = probes.as_json({"H": H, "x_star": x_star})
    grad = scope["bowl_gradient"](case)
    x = np.random.default_rng(4).normal(size=4)
    bowl = lambda v: 0.5 * (v - x_star) @ H @ (v - x_star)  # noqa: E731
    np.testing.assert_allclose(grad(x), numdiff.gradient(bowl, x), rtol=1e-7, atol=1e-9)
    assert np.allclose(grad(x_star), 0.0, atol=1e-12)
    for p in ([-1.2, 1.0], [1.0, 1.0], [0.3, -0.4]):
        p = np.array(p)
        np.testing.assert_allclose(scope["rosenbrock_grad"](p), functions.rosenbrock_grad(p), rtol=1e-14)
        np.testing.assert_allclose(scope["rosenbrock_grad"](p), numdiff.gradient(functions.rosenbrock, p),
                                   rtol=1e-6, atol=1e-8)


def test_the_same_seed_gives_the_same_bowl() -> None:
    one = descent_cases.random_bowl(np.random.default_rng(9), 3, 0.5, 2.0)
    two = descent_cases.random_bowl(np.random.default_rng(9), 3, 0.5, 2.0)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
    other = descent_cases.random_bowl(np.random.default_rng(10), 3, 0.5, 2.0)
    assert not np.array_equal(one[1], other[1])
