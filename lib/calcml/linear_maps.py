r"""The Jacobian as the best linear approximation of a map $f:\mathbb{R}^2\to\mathbb{R}^2$, and the cost of AD modes.

Near a point $x$, a differentiable map moves a small circle of inputs $x + r(\cos t, \sin t)$ to a curve
that the Jacobian predicts:

$$ f(x + \delta) = f(x) + J(x)\,\delta + O(\|\delta\|^2), \qquad J_{ij} = \frac{\partial f_i}{\partial x_j}. $$

The prediction is an ellipse: the linear map $J$ sends the circle of radius $r$ to an ellipse whose area is
$|\det J|$ times the circle's, traversed backwards when $\det J < 0$. The gap between the true image and
the ellipse shrinks like $r^2$, faster than the circle itself: that is what "best linear approximation"
means. `linear_map_explorer` lets a learner move $x$ and $r$ and watch this happen.

`plot_mode_costs` plots measured times of forward mode ($n$ JVPs) against reverse mode ($m$ VJPs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from calcml import explorer, numdiff, plots

Map = Callable[[NDArray[np.float64]], ArrayLike]


def local_images(
    f: Map, x: ArrayLike, radius: float, *, jac: Callable[[NDArray[np.float64]], ArrayLike] | None = None,
    num: int = 121,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    r"""A circle of inputs around `x`, its image under `f`, and the image predicted by the Jacobian.

    Args:
        f: A map from a point of shape (2,) to a point of shape (2,).
        x: The centre, shape (2,).
        radius: The radius $r > 0$ of the circle.
        jac: A function returning the 2x2 Jacobian; None uses `numdiff.jacobian`.
        num: Number of points on the circle (the first and last coincide).

    Returns:
        `(circle, image, prediction, J)`: three (num, 2) arrays, rows $x + \delta_k$, $f(x + \delta_k)$ and
        $f(x) + J\delta_k$ with $\delta_k = r(\cos t_k, \sin t_k)$, and the (2, 2) Jacobian $J$.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (2,) or not radius > 0:
        raise ValueError(f"need a point of shape (2,) and a radius > 0, not {x.shape} and {radius!r}")
    J = np.asarray(numdiff.jacobian(f, x) if jac is None else jac(x), dtype=np.float64)
    t = np.linspace(0.0, 2.0 * np.pi, num)
    deltas = radius * np.stack([np.cos(t), np.sin(t)], axis=1)
    circle = x + deltas
    image = np.array([np.asarray(f(p), dtype=np.float64) for p in circle])
    prediction = np.asarray(f(x), dtype=np.float64) + deltas @ J.T
    return circle, image, prediction, J


def draw_local_map(
    f: Map, x: ArrayLike, radius: float, *, axes: Sequence[Axes] | None = None,
    jac: Callable[[NDArray[np.float64]], ArrayLike] | None = None,
) -> tuple[Axes, Axes]:
    r"""Two panels: the circle around $x$ (inputs) and its image next to the Jacobian's ellipse (outputs).

    The arrows $r e_1, r e_2$ on the left and $r J e_1, r J e_2$ (the columns of $J$) on the right carry the
    same colours; a dot marks where $t = 0$ lands, so an orientation flip ($\det J < 0$) is visible. Lines
    carry the `gid`s "circle", "image" and "prediction".

    Returns:
        The (input, output) axes, labelled $x_1, x_2$ and $y_1, y_2$, with equal aspect.
    """
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(9.6, 4.4), layout="constrained")[1]
    return _draw_panels(axes, f, np.asarray(x, dtype=np.float64), radius, *local_images(f, x, radius, jac=jac))


def _draw_panels(axes: Sequence[Axes], f: Map, x: NDArray[np.float64], radius: float, circle: NDArray[np.float64],
          image: NDArray[np.float64], prediction: NDArray[np.float64], J: NDArray[np.float64]) -> tuple[Axes, Axes]:
    left = plots.new_axes("$x_1$", "$x_2$", f"inputs: circle of radius r = {radius:.3g}", axes[0])
    right = plots.new_axes("$y_1$", "$y_2$", "outputs: f(circle) and the Jacobian's ellipse", axes[1])
    c, y0 = plots.COLORS, np.asarray(f(x), dtype=np.float64)
    left.plot(*circle.T, color=c["blue"], lw=2, gid="circle")
    right.plot(*image.T, color=c["blue"], lw=2, label="f(x + δ)", gid="image")
    right.plot(*prediction.T, color=c["vermillion"], lw=2, ls="--", label="f(x) + J δ", gid="prediction")
    for ax, start, points in ((left, x, circle), (right, y0, image)):
        ax.plot(*start, "o", color=c["black"], ms=5)
        ax.plot(*points[0], "o", color=c["blue"], ms=6)
        ax.set_aspect("equal", adjustable="datalim")
    for j, colour in enumerate((c["bluish_green"], c["reddish_purple"])):
        left.annotate("", x + radius * np.eye(2)[j], x, arrowprops={"arrowstyle": "->", "color": colour})
        right.annotate("", y0 + radius * J[:, j], y0, arrowprops={"arrowstyle": "->", "color": colour})
        right.plot([], [], color=colour, label=f"r J e{j + 1} (column {j + 1} of J)")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")
    return left, right


class LinearMapExplorer(explorer.Explorer):
    r"""Sliders for the point $x = (x_1, x_2)$ and the radius $r$ of `draw_local_map`, with a live readout.

    Attributes:
        x: The current point, shape (2,); `radius` the current radius; `J` the current Jacobian.
        gap: The largest distance between the true image and the ellipse, $\max_k \|f(x+\delta_k) -
            f(x) - J\delta_k\|$.
        sliders: The `FloatSlider`s "x₁", "x₂" and "radius r" (a dict), or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer`; CSS class `calcml-linear-map-explorer`.
    """

    css_class = "calcml-linear-map-explorer"
    readout_class = "calcml-jacobian-readout"
    dpi = 90
    monospace = True

    def __init__(self, f: Map, *, x0: ArrayLike, radius: float, x_range: tuple[float, float],
                 jac: Callable[[NDArray[np.float64]], ArrayLike] | None, interactive: bool) -> None:
        super().__init__(Figure(figsize=(9.6, 4.4), layout="constrained"), "Best linear approximation")
        self.f, self.jac, self.x_range = f, jac, (float(x_range[0]), float(x_range[1]))
        self._axes = self.figure.subplots(1, 2)
        self.sliders: dict[str, ipywidgets.FloatSlider] | None = None
        self._set_state(x0, radius)
        self._start(interactive)

    def update(self, x: ArrayLike | None = None, radius: float | None = None) -> NDArray[np.float64]:
        """Move the point and/or change the radius, redraw, and return the new Jacobian."""
        self._set_state(self.x if x is None else x, self.radius if radius is None else radius)
        self._show()
        return self.J

    def readout_text(self) -> str:
        """J, det J and the gap between f(circle) and the ellipse, relative to r and to r²."""
        (a, b), (c, d) = self.J
        r = self.radius
        return (f"x = ({self.x[0]:.3f}, {self.x[1]:.3f}),  r = {r:.3f}\n"
                f"J = [[{a: .4f}, {b: .4f}],\n     [{c: .4f}, {d: .4f}]],  det J = {np.linalg.det(self.J):.4f}\n"
                f"gap max|f(x+δ) − f(x) − Jδ| = {self.gap:.3g} = {self.gap / r:.3g}·r = {self.gap / r**2:.3g}·r²")

    def _set_state(self, x: ArrayLike, radius: float) -> None:
        self.x = np.clip(np.asarray(x, dtype=np.float64), *self.x_range)
        self.radius = min(max(float(radius), 0.01), 1.0)

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        lo, hi = self.x_range
        self.sliders = {
            "x1": ipywidgets.FloatSlider(min=lo, max=hi, step=(hi - lo) / 100, description="x₁",
                                         **explorer.control_options()),
            "x2": ipywidgets.FloatSlider(min=lo, max=hi, step=(hi - lo) / 100, description="x₂",
                                         **explorer.control_options()),
            "radius": ipywidgets.FloatSlider(min=0.01, max=1.0, step=0.01, description="radius r",
                                             **explorer.control_options()),
        }
        return list(self.sliders.values())

    def _read_controls(self) -> None:
        s = self.sliders
        self._set_state((s["x1"].value, s["x2"].value), s["radius"].value)

    def _write_controls(self) -> None:
        for key, value in zip(("x1", "x2", "radius"), (*self.x, self.radius), strict=True):
            self.sliders[key].value = float(value)

    def _draw(self) -> None:
        data = local_images(self.f, self.x, self.radius, jac=self.jac)
        for ax in self._axes:
            ax.clear()
        _draw_panels(self._axes, self.f, self.x, self.radius, *data)
        image, prediction, self.J = data[1:]
        self.gap = float(np.max(np.linalg.norm(image - prediction, axis=1)))


def linear_map_explorer(
    f: Map, *, x0: ArrayLike = (0.5, 0.5), radius: float = 0.3, x_range: tuple[float, float] = (-2.0, 2.0),
    jac: Callable[[NDArray[np.float64]], ArrayLike] | None = None,
) -> LinearMapExplorer:
    r"""An explorer of $f:\mathbb{R}^2\to\mathbb{R}^2$ near a point: the image of a circle against $f(x) + J\delta$.

    Show it by leaving it as the last expression of a cell. With a front end (`explorer.has_frontend()`)
    sliders move $x_1$, $x_2$ and $r$; without one, the figure for the starting state is shown.

    Args:
        f: The map, from shape (2,) to shape (2,).
        x0: The starting point.
        radius: The starting radius; the slider (and `update`) keep it in [0.01, 1].
        x_range: The range of both coordinate sliders.
        jac: The exact Jacobian; None uses `numdiff.jacobian`.

    Returns:
        The explorer; `update(x, radius)` drives it from code.
    """
    return LinearMapExplorer(f, x0=x0, radius=radius, x_range=x_range, jac=jac, interactive=explorer.has_frontend())


def plot_mode_costs(
    sizes: ArrayLike, forward_times: ArrayLike, reverse_times: ArrayLike, *, xlabel: str,
    ax: Axes | None = None, title: str | None = None,
) -> Axes:
    """Measured time to build a full Jacobian by forward mode (JVPs) and reverse mode (VJPs), log-log.

    Args:
        sizes: The varied dimension (number of inputs n, or of outputs m).
        forward_times: Seconds for forward mode at each size.
        reverse_times: Seconds for reverse mode at each size.
        xlabel: What `sizes` counts, e.g. "number of inputs n (m = 1)".
        ax: Axes to draw on; None makes a new figure.
        title: Optional title.

    Returns:
        The axes, with the y axis labelled "time to build the Jacobian (s)".
    """
    ax = plots.new_axes(xlabel, "time to build the Jacobian (s)", title, ax)
    sizes = np.asarray(sizes, dtype=np.float64)
    ax.loglog(sizes, forward_times, "o-", color=plots.COLORS["blue"], label="forward mode: one JVP per input")
    ax.loglog(sizes, reverse_times, "s--", color=plots.COLORS["vermillion"],
              label="reverse mode: one VJP per output")
    ax.legend(loc="upper left", fontsize="small")
    return ax
