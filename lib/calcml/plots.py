r"""Plots for the course: one colour-blind-safe palette, labelled axes, tangent lines, step-size errors.

Every plot starts from `new_axes`, which refuses empty axis labels and installs `PALETTE` as the colour
cycle, so the two rules of the course (label every axis, use colours that colour-blind readers can tell
apart) hold in one place. Other modules reuse `PALETTE` and `new_axes` for their own plots.

The step-size plot shows why numerical derivatives have a best step. The forward difference has
truncation error $O(h)$ and the central difference $O(h^2)$, while round-off adds about
$\varepsilon |f(x)| / h$. The total is V-shaped in $h$, with its minimum near $h^\star \approx
\sqrt{\varepsilon}$ (forward) and $h^\star \approx \varepsilon^{1/3}$ (central).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike, NDArray

from calcml import numdiff

#: The Okabe–Ito colours (Okabe & Ito, 2008), safe for the common kinds of colour blindness.
COLORS: dict[str, str] = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "orange": "#E69F00",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: The colour cycle of every course plot, most distinct colours first.
PALETTE: tuple[str, ...] = tuple(COLORS.values())

#: Colour of each finite-difference method in `step_size_error`.
METHOD_COLORS: dict[str, str] = {
    "forward": COLORS["blue"],
    "central": COLORS["vermillion"],
    "backward": COLORS["bluish_green"],
}

#: Size in inches of every new course figure.
FIGSIZE: tuple[float, float] = (6.4, 4.0)

_EPS = float(np.finfo(np.float64).eps)
_ORDER = {"forward": 1, "backward": 1, "central": 2}
_OPTIMAL_LABEL = {1: r"$\sqrt{\varepsilon}$", 2: r"$\varepsilon^{1/3}$"}  # by order


def new_axes(
    xlabel: str, ylabel: str, title: str | None = None, ax: Axes | None = None, *,
    figsize: tuple[float, float] = FIGSIZE,
) -> Axes:
    """Axes with both labels set, the course palette and a light grid: the start of every course plot.

    Args:
        xlabel: Label of the x axis; must not be empty.
        ylabel: Label of the y axis; must not be empty.
        title: Optional title.
        ax: Axes to draw on; None makes a new pyplot figure.
        figsize: Size in inches of a new figure.

    Returns:
        The labelled axes.

    Raises:
        ValueError: If a label is empty.
    """
    if not xlabel.strip() or not ylabel.strip():
        raise ValueError("every course plot labels both axes; got an empty label")
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.set_prop_cycle(color=PALETTE)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return ax


def tangent_line(
    f: Callable[[Any], Any],
    x0: float,
    slope: float | None = None,
    *,
    ax: Axes | None = None,
    xlim: tuple[float, float] | None = None,
    label: str = "f(x)",
    num: int = 400,
) -> Axes:
    r"""Plot $f$, the point $(x_0, f(x_0))$ and the tangent line $y = f(x_0) + f'(x_0)(x - x_0)$.

    The y-limits depend on $f$ over `xlim` only, not on $x_0$, so a slider moving $x_0$ keeps the view
    still. The curve, point and tangent carry the `gid`s "curve", "point" and "tangent".

    Args:
        f: The function; arrays are tried first, then it is called point by point.
        x0: Where the tangent touches the curve.
        slope: The slope $f'(x_0)$; None computes it with `numdiff.derivative`.
        ax: Axes to draw on; None makes a new figure.
        xlim: The x range plotted; None means $x_0 \pm 2$.
        label: Legend name of the curve, also the y-axis label.
        num: Number of sample points of the curve.

    Returns:
        The axes, labelled "x" and `label`, with a legend and the slope in the title.
    """
    x0 = float(x0)
    slope = float(numdiff.derivative(f, x0)) if slope is None else float(slope)
    lo, hi = (x0 - 2.0, x0 + 2.0) if xlim is None else (float(xlim[0]), float(xlim[1]))
    y0 = float(_evaluate(f, np.array([x0]))[0])
    ax = new_axes("x", label, f"Tangent at $x_0$ = {x0:.3g}: slope $f'(x_0)$ = {slope:.4g}", ax)
    xs = np.linspace(lo, hi, num)
    ys = _evaluate(f, xs)
    ax.plot(xs, ys, color=COLORS["blue"], lw=2, label=label, gid="curve")
    ax.plot([lo, hi], [y0 + slope * (lo - x0), y0 + slope * (hi - x0)], color=COLORS["vermillion"],
            lw=1.8, ls="--", label=f"tangent, slope {slope:.4g}", gid="tangent")
    ax.plot([x0], [y0], "o", color=COLORS["black"], ms=7, zorder=3, label=r"$(x_0, f(x_0))$", gid="point")
    ax.set_xlim(lo, hi)
    finite = ys[np.isfinite(ys)]
    if finite.size:
        bottom, top = float(finite.min()), float(finite.max())
        pad = 0.1 * (top - bottom) if top > bottom else 1.0
        ax.set_ylim(bottom - pad, top + pad)
    ax.legend(loc="best")
    return ax


def optimal_step(method: str) -> float:
    r"""The textbook best step: $\sqrt{\varepsilon}$ for one-sided differences, $\varepsilon^{1/3}$ for central.

    Args:
        method: "forward", "backward" or "central".

    Returns:
        The step $h^\star = \varepsilon^{1/(p+1)}$ for a method of order $p$ (for $|f| \approx |f''| \approx 1$).
    """
    return _EPS ** (1.0 / (_order(method) + 1))


def finite_difference_errors(
    f: Callable[[Any], Any],
    df: Callable[[Any], Any],
    x0: float,
    steps: ArrayLike,
    method: str = "central",
) -> NDArray[np.float64]:
    r"""The absolute error of a finite difference at $x_0$ for each step $h$.

    The quotients are the textbook ones: forward $\frac{f(x+h)-f(x)}{h}$, backward
    $\frac{f(x)-f(x-h)}{h}$ and central $\frac{f(x+h)-f(x-h)}{2h}$, with the nominal $h$ in the
    denominator, so round-off in $x + h$ shows up in the error as it would in naive code.

    Args:
        f: The function.
        df: Its exact derivative.
        x0: The point.
        steps: The steps $h > 0$.
        method: "forward", "backward" or "central".

    Returns:
        $|\text{approx} - f'(x_0)|$ for each step, with the shape of `steps`.
    """
    _order(method)
    h = np.asarray(steps, dtype=np.float64)
    x0 = float(x0)
    exact = float(np.asarray(df(x0)))
    fx = _evaluate(f, np.array([x0]))[0]
    right = _evaluate(f, x0 + h) if method != "backward" else fx
    left = _evaluate(f, x0 - h) if method != "forward" else fx
    approx = (right - left) / (2.0 * h if method == "central" else h)
    return np.abs(approx - exact)


def step_size_error(
    f: Callable[[Any], Any],
    df: Callable[[Any], Any],
    x0: float,
    steps: ArrayLike | None = None,
    *,
    ax: Axes | None = None,
    methods: Sequence[str] = ("forward", "central"),
) -> Axes:
    r"""The V-shaped plot: error of finite differences against the step $h$, on log-log axes.

    Each method gets its error curve, a dashed vertical line at its `optimal_step` and a faint reference
    slope for its truncation error ($h^1$ or $h^2$), anchored at the largest step.

    Args:
        f: The function.
        df: Its exact derivative.
        x0: The point.
        steps: The steps; None means `np.logspace(-16, 0, 161)`.
        ax: Axes to draw on; None makes a new figure.
        methods: Any of "forward", "backward" and "central".

    Returns:
        The axes, labelled "step size h" and "absolute error |approx - exact|".
    """
    h = np.logspace(-16, 0, 161) if steps is None else np.asarray(steps, dtype=np.float64)
    ax = new_axes("step size h", "absolute error |approx - exact|",
                  f"Finite-difference error of $f'({float(x0):.3g})$", ax)
    smallest = np.inf
    for method in methods:
        order = _order(method)
        color = METHOD_COLORS[method]
        err = finite_difference_errors(f, df, x0, h, method)
        positive = err[err > 0]
        smallest = min(smallest, positive.min()) if positive.size else smallest
        ax.loglog(h, np.where(err > 0, err, np.nan), color=color, lw=2, label=f"{method} difference")
        top = int(np.argmax(h))
        if err[top] > 0:
            ax.loglog(h, 3.0 * err[top] * (h / h[top]) ** order, color=color, lw=1, ls=":", alpha=0.5,
                      label=f"reference slope $h^{order}$")
        ax.axvline(optimal_step(method), color=color, ls="--", lw=1,
                   label=f"$h^\\star \\approx$ {_OPTIMAL_LABEL[order]} ({method})")
    if np.isfinite(smallest):
        ax.set_ylim(max(smallest / 100.0, 1e-20), None)
    ax.set_xlim(float(h.min()), float(h.max()))
    ax.legend(loc="lower left", fontsize="small")
    return ax


def _order(method: str) -> int:
    if method not in _ORDER:
        raise ValueError(f"method must be one of {sorted(_ORDER)}, not {method!r}")
    return _ORDER[method]


def _evaluate(f: Callable[[Any], Any], xs: NDArray[np.float64]) -> NDArray[np.float64]:
    """`f` on an array of points: vectorised if `f` allows it, else point by point; NaN where undefined."""
    with np.errstate(all="ignore"):
        try:
            ys = np.asarray(f(xs), dtype=np.float64)
            if ys.shape == xs.shape:
                return ys
        except (TypeError, ValueError):
            pass
        return np.array([_scalar(f, float(x)) for x in xs.ravel()], dtype=np.float64).reshape(xs.shape)


def _scalar(f: Callable[[Any], Any], x: float) -> float:
    try:
        return float(f(x))
    except (ValueError, ZeroDivisionError, OverflowError):
        return float("nan")
