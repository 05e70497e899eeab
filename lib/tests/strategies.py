"""Shared hypothesis strategies for the lib tests: seeds, points, and smooth functions with known derivatives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)
dims = st.integers(min_value=1, max_value=8)
points = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)
scales = st.floats(min_value=0.2, max_value=2.0)


@dataclass(frozen=True)
class Smooth:
    """A smooth float64 function of one variable and its analytic derivative."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]


def _family(a: float, b: float) -> list[Smooth]:
    return [
        Smooth("exp", lambda x: np.exp(a * x), lambda x: a * np.exp(a * x)),
        Smooth("sin", lambda x: np.sin(a * x + b), lambda x: a * np.cos(a * x + b)),
        Smooth("cubic", lambda x: a * x**3 - b * x + 1, lambda x: 3 * a * x**2 - b),
        Smooth("log1p_sq", lambda x: np.log1p(a * x**2), lambda x: 2 * a * x / (1 + a * x**2)),
        Smooth("tanh", lambda x: np.tanh(a * x + b), lambda x: a / np.cosh(a * x + b) ** 2),
        Smooth("gauss", lambda x: np.exp(-a * x**2), lambda x: -2 * a * x * np.exp(-a * x**2)),
    ]


@st.composite
def smooth_functions(draw: st.DrawFn) -> Smooth:
    """One function of the family, with random coefficients."""
    family = _family(draw(scales), draw(scales))
    return family[draw(st.integers(min_value=0, max_value=len(family) - 1))]
