r"""Numerical derivatives by central differences: the course's reference for every gradient check.

A central difference of order $p$ has truncation error $O(h^p)$ and round-off error about
$\varepsilon |f| / h$, with $\varepsilon \approx 2.2\times 10^{-16}$ for float64. The total error is
smallest when the two balance, at

$$ h^\star \approx \varepsilon^{1/(p+1)} \max(1, |x|), $$

which is $\approx 6\times10^{-6}$ for the classic second-order stencil and $\approx 7\times 10^{-4}$ for the
fourth-order stencil used by default here. The fourth-order stencil

$$ f'(x) \approx \frac{-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)}{12h} $$

reaches relative errors near $10^{-11}$ on smooth, well-scaled functions, which is what a grader needs
from a reference.

Every function takes a step `h` (a scalar, or None for $h^\star$) and an `order` (2 or 4).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

EPS = float(np.finfo(np.float64).eps)

# Each stencil is antisymmetric: a list of (offset k, weight w) meaning w * (f(x + k h) - f(x - k h)) / h.
# Taking each difference before summing cancels the large, equal parts of f first, which keeps round-off
# small (and makes the derivative of an even function at 0 exactly 0).
_STENCILS: dict[int, tuple[tuple[float, float], ...]] = {
    2: ((1.0, 1.0 / 2),),
    4: ((1.0, 8.0 / 12), (2.0, -1.0 / 12)),
}


def _optimal_step(x: ArrayLike, order: int = 4) -> NDArray[np.float64]:
    r"""The step $h^\star = \varepsilon^{1/(p+1)} \max(1, |x|)$ that balances truncation and round-off.

    Private: choosing the step is an exercise of unit 01, so the course reference keeps its own rule to itself.
    The step is rounded so that $x + h$ is exactly representable, which removes one source of round-off
    (the classic trick $h \leftarrow (x + h) - x$).

    Args:
        x: Point(s) at which the derivative is taken.
        order: Order $p$ of the central stencil, 2 or 4.

    Returns:
        An array of steps with the shape of `x`.
    """
    _stencil(order)
    x = np.asarray(x, dtype=np.float64)
    h = EPS ** (1.0 / (order + 1)) * np.maximum(1.0, np.abs(x))
    return (x + h) - x


def derivative(
    f: Callable[[NDArray[np.float64]], ArrayLike],
    x: ArrayLike,
    h: float | None = None,
    order: int = 4,
) -> float | NDArray[np.float64]:
    r"""The derivative $f'(x)$ of a scalar function, vectorised over the points `x`.

    `f` must work elementwise on arrays (as NumPy's ufuncs do): it is called once per stencil point
    with all of `x` at the same time.

    Args:
        f: A function of one variable, applied elementwise.
        x: A point or an array of points.
        h: The step; None chooses `_optimal_step(x, order)`.
        order: Order of the central stencil, 2 or 4.

    Returns:
        A float for a scalar `x`, otherwise an array with the shape of `x`.
    """
    x = np.asarray(x, dtype=np.float64)
    step = _optimal_step(x, order) if h is None else np.full_like(x, float(h))
    total = np.zeros_like(x)
    for offset, weight in _stencil(order):
        ahead = np.asarray(f(x + offset * step), dtype=np.float64)
        behind = np.asarray(f(x - offset * step), dtype=np.float64)
        total = total + weight * (ahead - behind)
    result = total / step
    return float(result) if result.ndim == 0 else result


def gradient(
    f: Callable[[NDArray[np.float64]], ArrayLike],
    x: ArrayLike,
    h: float | None = None,
    order: int = 4,
) -> NDArray[np.float64]:
    r"""The gradient $\nabla f(x)$ of a scalar-valued function of an array.

    Component $i$ is the derivative of $t \mapsto f(x + t e_i)$ at $t = 0$. `x` may have any shape
    (a vector, or a weight matrix), and the gradient has the same shape.

    Args:
        f: A function from an array shaped like `x` to a scalar.
        x: The point.
        h: The step; None chooses $h^\\star$ for each component.
        order: Order of the central stencil, 2 or 4.

    Returns:
        An array with the shape of `x`.

    Raises:
        ValueError: If `f` does not return a scalar.
    """
    x = np.asarray(x, dtype=np.float64)
    jac = jacobian(f, x, h=h, order=order)
    if jac.shape != x.shape:
        raise ValueError(f"gradient needs a scalar-valued f; f returned shape {jac.shape[: jac.ndim - x.ndim]}")
    return jac


def jacobian(
    f: Callable[[NDArray[np.float64]], ArrayLike],
    x: ArrayLike,
    h: float | None = None,
    order: int = 4,
) -> NDArray[np.float64]:
    r"""The Jacobian $J_{ij} = \partial f_i / \partial x_j$ of an array-valued function.

    The result has shape `f(x).shape + x.shape`, so for $f:\mathbb{R}^n\to\mathbb{R}^m$ it is the
    usual $m \times n$ matrix: row $i$ is the gradient of output $i$, column $j$ is how every output
    moves when input $j$ moves.

    Args:
        f: A function from an array shaped like `x` to an array (or a scalar).
        x: The point.
        h: The step; None chooses $h^\\star$ for each component.
        order: Order of the central stencil, 2 or 4.

    Returns:
        An array of shape `f(x).shape + x.shape`.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel()
    steps = _optimal_step(flat, order) if h is None else np.full_like(flat, float(h))
    columns = []
    for j in range(flat.size):
        column = 0.0
        for offset, weight in _stencil(order):
            ahead, behind = flat.copy(), flat.copy()
            ahead[j] += offset * steps[j]
            behind[j] -= offset * steps[j]
            difference = np.asarray(f(ahead.reshape(x.shape)), dtype=np.float64) - np.asarray(
                f(behind.reshape(x.shape)), dtype=np.float64)
            column = column + weight * difference
        columns.append(np.asarray(column) / steps[j])
    out_shape = np.shape(columns[0]) if columns else np.shape(f(x))
    if not columns:
        return np.zeros(out_shape + x.shape)
    stacked = np.stack([c.ravel() for c in columns], axis=-1)
    return stacked.reshape(out_shape + x.shape)


def _stencil(order: int) -> tuple[tuple[float, float], ...]:
    if order not in _STENCILS:
        raise ValueError(f"order must be one of {sorted(_STENCILS)}, not {order!r}")
    return _STENCILS[order]
