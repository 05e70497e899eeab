"""The problems the hidden checks of unit 06 run an optimiser on: random quadratic bowls and Rosenbrock.

A bowl is $f(x) = \\tfrac12 (x - x^*)^\\top H (x - x^*)$ with a symmetric positive definite $H$ whose eigenvalues
are drawn log-uniformly. It travels as plain data (`H` and `x_star`); `GRADIENTS` is driver source that turns a
case back into a gradient function of the driver's own, so nothing the notebook redefines changes it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from calcml import functions

#: Driver source: `bowl_gradient(case)`, the gradient x -> H (x - x*) of a case with keys "H" and "x_star", and
#: `rosenbrock_grad(p)`, the gradient of Rosenbrock's (1 - x)² + 100 (y - x²)².
GRADIENTS = """
import numpy as np

def bowl_gradient(case):
    H, x_star = np.array(case["H"], dtype=float), np.array(case["x_star"], dtype=float)
    return lambda x: H @ (np.asarray(x, dtype=float) - x_star)

def rosenbrock_grad(p):
    x, y = p[0], p[1]
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])
"""


def random_bowl(rng: np.random.Generator, n: int, low: float,
                high: float) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """A random n-dimensional bowl whose curvatures lie between `low` and `high`.

    Args:
        rng: The generator of the hidden inputs.
        n: The dimension.
        low, high: The range of the eigenvalues of H, 0 < low <= high (drawn log-uniformly).

    Returns:
        `(lam, H, x_star)`: the n eigenvalues as drawn, the (n, n) Hessian and the minimiser.
    """
    lam = np.exp(rng.uniform(np.log(low), np.log(high), size=n))
    quadratic = functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31)))
    return lam, quadratic.A, np.linalg.solve(quadratic.A, quadratic.b)
