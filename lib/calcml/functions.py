r"""Test functions with known gradients and Hessians: quadratics of a chosen spectrum, Rosenbrock, Himmelblau.

These are the course's reference landscapes for optimisers, not exercise answers.

- **Quadratic** $f(x) = \tfrac12 x^\top A x - b^\top x$. Its gradient is $\nabla f(x) = Hx - b$ and its
  Hessian is $H = \tfrac12 (A + A^\top)$ (only the symmetric part of $A$ matters). If $H$ is positive
  definite, the unique minimiser is $x^\star = H^{-1} b$. `quadratic_with_spectrum` builds one whose
  Hessian has exactly the eigenvalues you ask for, so its condition number
  $\kappa = \lambda_{\max} / \lambda_{\min}$ is yours to choose.
- **Rosenbrock** $f(x, y) = (a - x)^2 + b\,(y - x^2)^2$ (default $a = 1$, $b = 100$): a curved, narrow
  valley along $y = x^2$ with its minimum at $(a, a^2)$.
- **Himmelblau** $f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2$: four minima, all with $f = 0$.

The 2-D functions are vectorised over trailing axes: a point is `x[0], x[1]`, so `f(np.stack([X, Y]))`
evaluates a whole grid for a contour plot; gradients have the shape of `x`, Hessians shape
`(2, 2) + x.shape[1:]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

#: The four minima of Himmelblau's function (to 6 decimals; f = 0 at each).
HIMMELBLAU_MINIMA: tuple[tuple[float, float], ...] = (
    (3.0, 2.0),
    (-2.805118, 3.131312),
    (-3.779310, -3.283186),
    (3.584428, -1.848126),
)


@dataclass(frozen=True, eq=False)
class Quadratic:
    r"""The quadratic $f(x) = \tfrac12 x^\top A x - b^\top x$ on $\mathbb{R}^n$.

    Attributes:
        A: The $n \times n$ matrix (it need not be symmetric).
        b: The linear term, shape `(n,)`.
    """

    A: Array
    b: Array

    def __post_init__(self) -> None:
        A = np.asarray(self.A, dtype=np.float64)
        b = np.asarray(self.b, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or b.shape != (A.shape[0],):
            raise ValueError(f"A must be square (n, n) and b of shape (n,); got {A.shape} and {b.shape}")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)

    @property
    def n(self) -> int:
        """The dimension $n$."""
        return int(self.b.size)

    def f(self, x: ArrayLike) -> float | Array:
        """The value at `x` of shape `(n,)`, or at each point of an array of shape `(n, ...)`."""
        x = np.asarray(x, dtype=np.float64)
        value = 0.5 * np.einsum("i...,ij,j...->...", x, self.A, x) - np.einsum("i,i...->...", self.b, x)
        return float(value) if np.ndim(value) == 0 else value

    def grad(self, x: ArrayLike) -> Array:
        r"""The gradient $Hx - b$, with the shape of `x` (`(n,)` or `(n, ...)`)."""
        x = np.asarray(x, dtype=np.float64)
        return np.tensordot(self.hessian(), x, axes=1) - self.b.reshape((-1,) + (1,) * (x.ndim - 1))

    def hessian(self, x: ArrayLike | None = None) -> Array:
        r"""The constant Hessian $H = \tfrac12(A + A^\top)$; `x` is accepted and ignored."""
        return 0.5 * (self.A + self.A.T)

    @property
    def eigenvalues(self) -> Array:
        """The eigenvalues of the Hessian, in ascending order."""
        return np.linalg.eigvalsh(self.hessian())

    @property
    def minimiser(self) -> Array:
        r"""The stationary point $x^\star = H^{-1} b$ (the minimiser when $H$ is positive definite)."""
        return np.linalg.solve(self.hessian(), self.b)

    @property
    def minimum(self) -> float:
        r"""The value $f(x^\star) = -\tfrac12 b^\top x^\star$."""
        return float(-0.5 * self.b @ self.minimiser)


def quadratic_with_spectrum(
    eigenvalues: Sequence[float] | ArrayLike,
    seed: int | None = None,
    minimiser: ArrayLike | None = None,
) -> Quadratic:
    r"""A quadratic whose (symmetric) Hessian $A = Q \operatorname{diag}(\lambda) Q^\top$ has the given eigenvalues.

    $Q$ is a random orthogonal matrix drawn first from `default_rng(seed)`, so it depends only on `seed` and
    $n$: changing the eigenvalues with the same seed keeps the eigen-directions. Then $b = A x^\star$.

    Args:
        eigenvalues: The $n$ positive eigenvalues $\lambda_i$.
        seed: Seed of the rotation (and of $x^\star$ when it is not given).
        minimiser: The minimiser $x^\star$; None draws it from a standard normal.

    Returns:
        A `Quadratic` with an exactly symmetric `A`.

    Raises:
        ValueError: If an eigenvalue is not positive.
    """
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0 or not np.all(lam > 0):
        raise ValueError(f"eigenvalues must be a non-empty list of positive numbers, not {eigenvalues!r}")
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    A = (q * lam) @ q.T
    A = 0.5 * (A + A.T)
    x_star = rng.standard_normal(lam.size) if minimiser is None else np.asarray(minimiser, dtype=np.float64)
    return Quadratic(A, A @ x_star)


def rosenbrock(x: ArrayLike, a: float = 1.0, b: float = 100.0) -> float | Array:
    r"""Rosenbrock's banana $(a - x)^2 + b(y - x^2)^2$ at `x = (x, y)` (or a stack of points, shape `(2, ...)`)."""
    x0, x1 = _xy(x)
    value = (a - x0) ** 2 + b * (x1 - x0**2) ** 2
    return float(value) if np.ndim(value) == 0 else value


def rosenbrock_grad(x: ArrayLike, a: float = 1.0, b: float = 100.0) -> Array:
    r"""The gradient $\bigl(-2(a - x) - 4bx(y - x^2),\ 2b(y - x^2)\bigr)$, with the shape of `x`."""
    x0, x1 = _xy(x)
    return np.stack([-2 * (a - x0) - 4 * b * x0 * (x1 - x0**2), 2 * b * (x1 - x0**2)])


def rosenbrock_hessian(x: ArrayLike, a: float = 1.0, b: float = 100.0) -> Array:
    r"""The Hessian $\begin{pmatrix} 2 - 4by + 12bx^2 & -4bx \\ -4bx & 2b \end{pmatrix}$, shape `(2, 2, ...)`."""
    x0, x1 = _xy(x)
    off = -4 * b * x0
    return _sym2(2 - 4 * b * x1 + 12 * b * x0**2, off, np.full_like(x0, 2 * b))


def himmelblau(x: ArrayLike) -> float | Array:
    r"""Himmelblau's function $(x^2 + y - 11)^2 + (x + y^2 - 7)^2$ (vectorised like `rosenbrock`)."""
    x0, x1 = _xy(x)
    value = (x0**2 + x1 - 11) ** 2 + (x0 + x1**2 - 7) ** 2
    return float(value) if np.ndim(value) == 0 else value


def himmelblau_grad(x: ArrayLike) -> Array:
    r"""The gradient $(4xu + 2v,\ 2u + 4yv)$ with $u = x^2 + y - 11$, $v = x + y^2 - 7$."""
    x0, x1 = _xy(x)
    u, v = x0**2 + x1 - 11, x0 + x1**2 - 7
    return np.stack([4 * x0 * u + 2 * v, 2 * u + 4 * x1 * v])


def himmelblau_hessian(x: ArrayLike) -> Array:
    r"""The Hessian $\begin{pmatrix} 4u + 8x^2 + 2 & 4(x + y) \\ 4(x + y) & 4v + 8y^2 + 2 \end{pmatrix}$."""
    x0, x1 = _xy(x)
    u, v = x0**2 + x1 - 11, x0 + x1**2 - 7
    return _sym2(4 * u + 8 * x0**2 + 2, 4 * (x0 + x1), 4 * v + 8 * x1**2 + 2)


def _xy(x: ArrayLike) -> tuple[Array, Array]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[0] != 2:
        raise ValueError(f"a 2-D test function needs x of shape (2,) or (2, ...), not {x.shape}")
    return x[0], x[1]


def _sym2(xx: Array, xy: Array, yy: Array) -> Array:
    xx, xy, yy = np.broadcast_arrays(xx, xy, yy)
    return np.stack([np.stack([xx, xy]), np.stack([xy, yy])])
