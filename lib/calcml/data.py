r"""Small toy datasets in the plane, made with NumPy alone (no scikit-learn): moons, blobs and spirals.

Every generator takes the number of points `n`, a noise level and a `seed`, and returns `(X, y)`: the points
`X` with shape `(n, 2)` and the labels `y` with shape `(n,)`, in a random (seeded) order. The same seed always
gives the same data.

**Labels.** Two-class data is labelled $y \in \{-1, +1\}$ by default (`signed=True`): the convention of the
margin $y\,s$ and of the logistic loss $\log(1 + e^{-y s})$ for a real score $s$, where the predicted class
is the sign of $s$. With `signed=False` the labels are $\{0, 1\}$: the convention of a sigmoid output
$p = \sigma(s)$ and the cross-entropy $-y \log p - (1 - y)\log(1 - p)$. Class $-1$ (or 0) is always the
same set of points as class 0 (or $-1$), so `(y + 1) / 2` converts one convention into the other. In both,
`y > 0` picks the positive class.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Dataset = tuple[NDArray[np.float64], NDArray[np.float64]]


def moons(n: int = 100, noise: float = 0.1, seed: int = 0, *, signed: bool = True) -> Dataset:
    r"""Two interleaving half circles, the classic data set that no straight line separates.

    The upper moon (label $-1$, or 0) is the half circle $(\cos t, \sin t)$ and the lower moon (label $+1$,
    or 1) is $(1 - \cos t, \tfrac12 - \sin t)$, with $t$ evenly spaced in $[0, \pi]$. Gaussian noise with
    standard deviation `noise` is added to both coordinates.

    Args:
        n: Number of points, at least 2; the upper moon gets the extra point when `n` is odd.
        noise: Standard deviation of the noise added to each coordinate (0 puts the points on the arcs).
        seed: Seed of the random generator (noise and order).
        signed: Labels $\pm 1$ if True, 0/1 if False.

    Returns:
        `(X, y)` with `X` of shape `(n, 2)` and `y` of shape `(n,)`.
    """
    n, rng = _check(n, noise, seed)
    upper, lower = n - n // 2, n // 2
    t_up, t_low = np.linspace(0.0, np.pi, upper), np.linspace(0.0, np.pi, lower)
    X = np.concatenate([np.column_stack([np.cos(t_up), np.sin(t_up)]),
                        np.column_stack([1.0 - np.cos(t_low), 0.5 - np.sin(t_low)])])
    y = np.concatenate([np.zeros(upper), np.ones(lower)])
    return _finish(X, y, noise, rng, signed)


def blobs(
    n: int = 100,
    centers: ArrayLike = ((-1.0, -1.0), (1.0, 1.0)),
    noise: float = 0.5,
    seed: int = 0,
    *,
    signed: bool = True,
) -> Dataset:
    r"""Round Gaussian clouds, one per centre: the easy, (nearly) linearly separable case.

    Args:
        n: Number of points, shared as evenly as possible between the centres (the first ones get the extra).
        centers: The centres, shape `(k, 2)` with $k \ge 2$.
        noise: Standard deviation of each cloud, in each coordinate.
        seed: Seed of the random generator.
        signed: For two centres, labels $\pm 1$ if True and 0/1 if False. With more than two centres the
            labels are the centre indices $0, \dots, k-1$, and `signed` must be False.

    Returns:
        `(X, y)` with `X` of shape `(n, 2)` and `y` of shape `(n,)`.

    Raises:
        ValueError: If `centers` is not of shape `(k, 2)` with $k \ge 2$, or `signed` is asked for with $k > 2$.
    """
    c = np.asarray(centers, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] < 2:
        raise ValueError(f"centers must have shape (k, 2) with k >= 2, not {c.shape}")
    if signed and c.shape[0] > 2:
        raise ValueError("signed labels (-1, +1) need exactly two centres; pass signed=False for k classes")
    n, rng = _check(n, noise, seed)
    y = np.arange(n) % c.shape[0]
    y.sort()
    return _finish(c[y], y.astype(np.float64), noise, rng, signed)


def spirals(n: int = 100, turns: float = 1.0, noise: float = 0.1, seed: int = 0, *, signed: bool = True) -> Dataset:
    r"""Two interleaved spirals, the hard case: the boundary winds around the origin.

    Spiral $c \in \{0, 1\}$ is $r\,(\cos\theta, \sin\theta)$ with $\theta = 2\pi\,\text{turns}\cdot r + c\pi$
    for radii $r$ evenly spaced in $[0.1, 1]$: the second spiral is the first turned by half a turn.
    Spiral 0 gets label $-1$ (or 0), spiral 1 label $+1$ (or 1).

    Args:
        n: Number of points, at least 2; spiral 0 gets the extra point when `n` is odd.
        turns: How many times each spiral winds around the origin.
        noise: Standard deviation of the noise added to each coordinate.
        seed: Seed of the random generator.
        signed: Labels $\pm 1$ if True, 0/1 if False.

    Returns:
        `(X, y)` with `X` of shape `(n, 2)` and `y` of shape `(n,)`.
    """
    n, rng = _check(n, noise, seed)
    parts, labels = [], []
    for c, size in enumerate((n - n // 2, n // 2)):
        r = np.linspace(0.1, 1.0, size)
        theta = 2.0 * np.pi * turns * r + c * np.pi
        parts.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        labels.append(np.full(size, float(c)))
    return _finish(np.concatenate(parts), np.concatenate(labels), noise, rng, signed)


def _check(n: int, noise: float, seed: int) -> tuple[int, np.random.Generator]:
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, not {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, not {noise!r}")
    return int(n), np.random.default_rng(seed)


def _finish(X: NDArray[np.float64], y: NDArray[np.float64], noise: float, rng: np.random.Generator,
            signed: bool) -> Dataset:
    """Add the noise, shuffle, and map 0/1 labels to -1/+1 when `signed` (only two-class labels get here)."""
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(y))
    y = np.asarray(y, dtype=np.float64)[order]
    if signed:
        y = 2.0 * y - 1.0
    return np.ascontiguousarray(X[order]), y
