r"""Steps chosen for a central difference, judged against the best step of a fine grid (unit 01's `choose_step`).

The central difference $\frac{f(x+h) - f(x-h)}{2h}$ has a truncation error of about $h^2|f'''|/6$ and a round-off
error of about $\varepsilon|f|/h$: its error against $h$ is a V, whose bottom is the best step. `check_steps` fails
steps that cannot work at all (wrong shape, not positive and finite, lost in $x + h$); `compare_with_best` measures,
point by point, how far a usable step is from the bottom of the V, against the exact derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from calcml import checks

#: The steps of the grid, relative to max(1, |x|): 121 steps from 1e-13 to 1e-1, evenly spaced in log.
GRID = np.logspace(-13, -1, 121)


class StepComparison(NamedTuple):
    """How each point's step compares with the best step of the grid (arrays with one entry per point).

    Attributes:
        ratios: The error with the chosen step over the best typical error (inf where the chosen error is not finite).
        mine: The error with the chosen step (a median over steps 0.8 to 1.25 times it, so a lucky step does not count).
        best: The smallest typical error over the grid (a median over 11 neighbouring steps), at least 1e-300.
        best_step: The step of the grid where that typical error is smallest.
    """

    ratios: NDArray[np.float64]
    mine: NDArray[np.float64]
    best: NDArray[np.float64]
    best_step: NDArray[np.float64]


def check_steps(xs: NDArray[np.float64], steps: NDArray[np.float64], *, where: str = "",
                lost: str = ": the step is lost.") -> None:
    """Fail steps that cannot work: not one per point, not positive and finite, or too small for x + h to differ
    from x.

    Args:
        xs: The points, a float array.
        steps: The steps `choose_step` returned for them, as a float array.
        where: Words that say where, after the shape of the points in the message on a wrong shape ("" for none).
        lost: The end of the message on a step lost in x + h, after "so x + h == x".

    Raises:
        checks.CheckFailure: Naming the first bad point and the remedy.
    """
    if steps.shape != xs.shape:
        raise checks.CheckFailure(f"choose_step returned shape {steps.shape} for points of shape {xs.shape}"
                                  f"{' ' + where if where else ''}; return one step per point (np.maximum and np.abs "
                                  "work elementwise).")
    bad = np.flatnonzero(~(np.isfinite(steps) & (steps > 0)))
    if bad.size:
        raise checks.CheckFailure(f"choose_step({xs[bad[0]]:.3g}) is {steps[bad[0]]:.3g}, but a step must be positive "
                                  "and finite. Near x = 0, |x| is no scale at all: use max(1, |x|).")
    gone = np.flatnonzero(xs + steps == xs)
    if gone.size:
        raise checks.CheckFailure(f"choose_step({xs[gone[0]]:.3g}) is {steps[gone[0]]:.3g}, below the spacing of "
                                  f"floats near that x ({np.spacing(xs[gone[0]]):.2g}), so x + h == x{lost}")


def compare_with_best(f: Callable[[Any], Any], df: Callable[[Any], Any], xs: NDArray[np.float64],
                      steps: NDArray[np.float64]) -> StepComparison:
    """The error of central differences of `f` with the chosen `steps`, against that of the best step of `GRID`.

    Args:
        f: The function, elementwise on arrays (NumPy's ufuncs are).
        df: Its exact derivative, elementwise.
        xs: The points, a 1-D float array.
        steps: One positive step per point (as `check_steps` requires).

    Returns:
        A `StepComparison`, one entry per point.
    """

    def central(points: NDArray[np.float64], h: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(all="ignore"):
            return (f(points + h) - f(points - h)) / (2 * h)

    exact = df(xs)[:, None]
    grid = np.maximum(1.0, np.abs(xs))[:, None] * GRID
    errors = np.abs(central(xs[:, None], grid) - exact)
    typical = np.stack([np.median(errors[:, max(0, i - 5):i + 6], axis=1) for i in range(grid.shape[1])], axis=1)
    best = np.maximum(typical.min(axis=1), 1e-300)
    best_step = grid[np.arange(xs.size), typical.argmin(axis=1)]
    mine = np.median(np.abs(central(xs[:, None], steps[:, None] * np.array([0.8, 0.9, 1.0, 1.1, 1.25])) - exact),
                     axis=1)
    ratios = np.where(np.isfinite(mine), mine / best, np.inf)
    return StepComparison(ratios, mine, best, best_step)
