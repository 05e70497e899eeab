r"""Gradient fields of functions of two variables: a contour plot with arrows, and an explorer widget.

For $f:\mathbb{R}^2\to\mathbb{R}$ the gradient $\nabla f = (\partial f/\partial x_1, \partial f/\partial x_2)$
points where $f$ climbs fastest and is orthogonal to the level set $\{f = f(x)\}$ through $x$. Along a unit
vector $u = (\cos\theta, \sin\theta)$ the slope is the directional derivative

$$ D_u f(x) = \frac{d}{dt} f(x + t u)\Big|_{t=0} = \nabla f(x)\cdot u = \|\nabla f(x)\| \cos\angle(\nabla f, u), $$

largest along $\nabla f$ and zero along the level set. `plot_field` draws the contours and the arrows;
`gradient_explorer` lets a learner move the point and the direction and watch these facts hold. Gradients
come from `numdiff`, never from formulas, so the module holds no answer to an exercise.

A function `f` takes a point as an array of shape `(2,)` and returns a float. If it also accepts an array
of shape `(2, ...)` and works elementwise (as `x[0]**2 + x[1]**2` does), grids are computed in one call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray

from calcml import explorer, numdiff, plots

Function2D = Callable[[NDArray[np.float64]], Any]
#: `(xs, ys, Z, AX, AY, U, V)`, made by `field_data`.
Field = tuple[NDArray[np.float64], ...]
#: Below this norm the explorer calls the point stationary (what is left is finite-difference noise).
STATIONARY = 1e-9
_C = plots.COLORS


def evaluate_points(f: Function2D, x1: NDArray[np.float64], x2: NDArray[np.float64]) -> NDArray[np.float64]:
    """`f` at the points `(x1[k], x2[k])`: one vectorised call if `f` allows it (spot-checked), else a loop.

    Args:
        f: A function of a point of shape `(2,)`.
        x1: First coordinates, any shape.
        x2: Second coordinates, broadcastable with `x1`.

    Returns:
        The values, with the broadcast shape of `x1` and `x2`.
    """
    x1, x2 = np.broadcast_arrays(np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64))

    def one(k: int) -> float:
        return float(np.asarray(f(np.array([x1.flat[k], x2.flat[k]])), dtype=np.float64))

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            values = np.asarray(f(np.stack([x1, x2])), dtype=np.float64)
        spots = sorted({0, x1.size // 2, x1.size - 1}) if x1.size else []
        if values.shape == x1.shape and np.allclose([values.flat[k] for k in spots], [one(k) for k in spots],
                                                    rtol=1e-9, atol=1e-12, equal_nan=True):
            return values
    except (TypeError, ValueError, IndexError):
        pass
    return np.array([one(k) for k in range(x1.size)], dtype=np.float64).reshape(x1.shape)


def field_data(f: Function2D, xlim: tuple[float, float], ylim: tuple[float, float], *,
               resolution: int = 121, arrows: int = 15) -> Field:
    r"""The grids behind `plot_field`: values for the contours, numerical partial derivatives for the arrows.

    Returns:
        `(xs, ys, Z, AX, AY, U, V)` with `Z[i, j]` $= f(x_s[j], y_s[i])$ and, at the arrow points `(AX, AY)`
        (the centres of an `arrows` x `arrows` grid), `U` $= \partial f/\partial x_1$, `V` $= \partial f/\partial x_2$.
    """
    xs, ys = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
    z = evaluate_points(f, *np.meshgrid(xs, ys))
    ax_, ay_ = np.meshgrid(*[lo + (np.arange(arrows) + 0.5) * (hi - lo) / arrows for lo, hi in (xlim, ylim)])
    u = np.asarray(numdiff.derivative(lambda t: evaluate_points(f, t, ay_), ax_))
    v = np.asarray(numdiff.derivative(lambda t: evaluate_points(f, ax_, t), ay_))
    return xs, ys, z, ax_, ay_, u, v


def plot_field(f: Function2D | None, xlim: tuple[float, float] = (-2.0, 2.0), ylim: tuple[float, float] = (-2.0, 2.0),
               *, ax: Axes | None = None, levels: int = 12, arrows: int = 15, title: str | None = None,
               data: Field | None = None) -> Axes:
    """Filled contours of `f` with its gradient field as arrows (a longer arrow means a steeper slope).

    The axes have equal scales, so right angles look right: every arrow crosses the contours at 90 degrees.

    Args:
        f: The function (unused when `data` is given).
        xlim: The $x_1$ range.
        ylim: The $x_2$ range.
        ax: Axes to draw on; None makes a new figure.
        levels: Number of contour levels.
        arrows: Arrows per side of the grid.
        title: Optional title.
        data: Precomputed `field_data(f, xlim, ylim)`, to redraw quickly.

    Returns:
        The axes, labelled $x_1$ and $x_2$; the contour lines have the gid "contours", the arrows "field".
    """
    if data is None and f is None:
        raise ValueError("plot_field needs a function f or precomputed data")
    xs, ys, z, ax_, ay_, u, v = field_data(f, xlim, ylim, arrows=arrows) if data is None else data
    ax = plots.new_axes("$x_1$", "$x_2$", title, ax, figsize=(5.6, 4.6))
    ax.contourf(xs, ys, z, levels=levels, cmap="cividis", alpha=0.45)
    lines = ax.contour(xs, ys, z, levels=levels, colors=_C["black"], linewidths=0.6, alpha=0.6)
    lines.set_gid("contours")
    ax.clabel(lines, fontsize=7, fmt="%.2g")
    ax.quiver(ax_, ay_, u, v, color=_C["vermillion"], alpha=0.75, angles="xy", pivot="tail").set_gid("field")
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    return ax


class GradientExplorer(explorer.Explorer):
    r"""A point $x$ and a unit direction $u$ on the contour plot of $f$, with $\nabla f(x)$, the tangent to the
    level set, and a live readout of $f$, $\nabla f$, $\|\nabla f\|$ and $D_u f = \nabla f\cdot u$.

    Made by `gradient_explorer`. The right panel plots $\theta \mapsto \nabla f\cdot(\cos\theta, \sin\theta)$,
    a cosine of amplitude $\|\nabla f\|$: largest at the angle of $\nabla f$, zero 90 degrees away.

    Attributes:
        name, point, angle, direction: The function's name, the point (shape `(2,)`), the angle of $u$ in
            degrees and $u = (\cos\theta, \sin\theta)$.
        value, grad, slope: $f(x)$, the numerical $\nabla f(x)$ and $\nabla f\cdot u$.
        slope_along_line: The slope of $t\mapsto f(x+tu)$ at 0, found without the gradient.
        function, x1, x2, theta: The controls (`function` only for several functions), or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer`; CSS class `calcml-gradient-explorer`.
    """

    css_class = "calcml-gradient-explorer"
    readout_class = "calcml-gradient-readout"
    dpi = 90

    def __init__(self, functions: Mapping[str, Function2D], xlim: tuple[float, float],
                 ylim: tuple[float, float], point: tuple[float, float], angle: float, interactive: bool) -> None:
        if not functions:
            raise ValueError("gradient_explorer needs at least one function")
        if not (xlim[0] < xlim[1] and ylim[0] < ylim[1]):
            raise ValueError(f"xlim and ylim must be (low, high) with low < high, not {xlim!r}, {ylim!r}")
        self.functions, self.xlim, self.ylim, self.name = dict(functions), xlim, ylim, next(iter(functions))
        super().__init__(Figure(figsize=(10.0, 4.4)), f"Gradient of {self.name}")
        self.figure.subplots_adjust(left=0.06, right=0.985, bottom=0.11, top=0.93, wspace=0.22)
        self._plane, self._slopes = self.figure.subplots(1, 2, width_ratios=(1.1, 1.0))
        self._cache: dict[str, Field] = {}
        self.function: ipywidgets.Dropdown | None = None
        self.x1: ipywidgets.FloatSlider | None = None
        self.x2: ipywidgets.FloatSlider | None = None
        self.theta: ipywidgets.FloatSlider | None = None
        self._set_state(point[0], point[1], angle)
        self._start(interactive)

    def update(self, *, x1: float | None = None, x2: float | None = None, angle: float | None = None,
               name: str | None = None) -> GradientExplorer:
        """Move the point (clipped to the plot), turn $u$ to `angle` degrees or switch the function; redraw."""
        if name is not None and name not in self.functions:
            raise KeyError(f"no function {name!r}; choose one of {list(self.functions)}")
        self.name = self.name if name is None else name
        self._set_state(self.point[0] if x1 is None else x1, self.point[1] if x2 is None else x2,
                        self.angle if angle is None else angle)
        self._show()
        return self

    def readout_text(self) -> str:
        """The readout as plain text, one fact per line."""
        g, u, norm = self.grad, self.direction, float(np.linalg.norm(self.grad))
        lines = [f"x = ({self.point[0]:.3f}, {self.point[1]:.3f}),  f(x) = {self.value:.4f}",
                 f"∇f(x) = ({g[0]:.4f}, {g[1]:.4f}),  |∇f(x)| = {norm:.4f}",
                 f"u = ({u[0]:.3f}, {u[1]:.3f}),  ∇f·u = {self.slope:.4f}  "
                 f"(slope of t ↦ f(x + tu) at 0: {self.slope_along_line:.4f})"]
        if norm < STATIONARY:
            return "\n".join([*lines, "∇f = 0: a stationary point. No steepest direction; every slope is 0."])
        cosine = float(np.clip(g @ u / norm, -1.0, 1.0))
        return "\n".join([*lines, f"angle between u and ∇f = {np.degrees(np.arccos(cosine)):.0f}°,  "
                                  f"∇f·u / |∇f| = cos(angle) = {cosine:.3f}"])

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        (a, b), (c, d) = self.xlim, self.ylim
        self.x1 = ipywidgets.FloatSlider(min=a, max=b, step=(b - a) / 200, description="point x₁",
                                         readout_format=".2f", **explorer.control_options())
        self.x2 = ipywidgets.FloatSlider(min=c, max=d, step=(d - c) / 200, description="point x₂",
                                         readout_format=".2f", **explorer.control_options())
        self.theta = ipywidgets.FloatSlider(min=0.0, max=360.0, step=1.0, description="direction θ of u (degrees)",
                                            readout_format=".0f", **explorer.control_options())
        if len(self.functions) == 1:
            return [self.x1, self.x2, self.theta]
        self.function = ipywidgets.Dropdown(options=list(self.functions), description="function",
                                            **explorer.control_options())
        return [self.function, self.x1, self.x2, self.theta]

    def _read_controls(self) -> None:
        self.name = self.function.value if self.function is not None else self.name
        self._set_state(self.x1.value, self.x2.value, self.theta.value)

    def _write_controls(self) -> None:
        if self.function is not None:
            self.function.value = self.name
        self.x1.value, self.x2.value, self.theta.value = float(self.point[0]), float(self.point[1]), self.angle

    def _set_state(self, x1: float, x2: float, angle: float) -> None:
        self.point = np.array([np.clip(x1, *self.xlim), np.clip(x2, *self.ylim)], dtype=np.float64)
        self.angle = float(angle) % 360.0 if float(angle) != 360.0 else 360.0
        self.direction = np.array([np.cos(np.radians(self.angle)), np.sin(np.radians(self.angle))])

    def _draw(self) -> None:
        f, p, u = self.functions[self.name], self.point, self.direction
        if self.name not in self._cache:
            self._cache[self.name] = field_data(f, self.xlim, self.ylim)
        self.caption = f"Gradient of {self.name}"
        self.value = float(np.asarray(f(p.copy()), dtype=np.float64))
        self.grad = numdiff.gradient(f, p)
        self.slope = float(self.grad @ u)
        self.slope_along_line = float(numdiff.derivative(lambda t: f(p + t * u), 0.0))
        self._draw_plane(self._cache[self.name])
        self._draw_slopes()

    def _draw_plane(self, data: Field) -> None:
        ax, p, g, norm = self._plane, self.point, self.grad, float(np.linalg.norm(self.grad))
        ax.clear()
        plot_field(None, self.xlim, self.ylim, ax=ax, data=data, title=f"{self.name}: level sets and ∇f")
        size, z = 0.22 * min(self.xlim[1] - self.xlim[0], self.ylim[1] - self.ylim[0]), data[2]
        if np.nanmin(z) < self.value < np.nanmax(z):
            ax.contour(data[0], data[1], z, levels=[self.value], colors=_C["reddish_purple"],
                       linewidths=2.0).set_gid("level_set")
        arrow = {"arrowstyle": "-|>", "lw": 2.5, "mutation_scale": 16}
        if norm >= STATIONARY:
            tangent = np.array([-g[1], g[0]]) / norm
            ends = np.stack([p - size * tangent, p + size * tangent])
            ax.plot(ends[:, 0], ends[:, 1], color=_C["bluish_green"], lw=2.2, ls="--", gid="tangent")
            ax.annotate("", xy=p + size * g / norm, xytext=p, arrowprops={**arrow, "color": _C["vermillion"]},
                        gid="gradient")
        ax.annotate("", xy=p + 0.8 * size * self.direction, xytext=p, arrowprops={**arrow, "color": _C["blue"]},
                    gid="direction")
        ax.plot([p[0]], [p[1]], "o", color=_C["black"], ms=6, gid="point")
        keys = [("vermillion", "-", "∇f(x): steepest ascent"), ("blue", "-", "direction u"),
                ("bluish_green", "--", "tangent to the level set"), ("reddish_purple", "-", "level set through x")]
        ax.legend(handles=[Line2D([], [], color=_C[c], ls=ls, lw=2.2, label=t) for c, ls, t in keys],
                  loc="upper left", fontsize="x-small", framealpha=0.85)

    def _draw_slopes(self) -> None:
        ax, g = self._slopes, self.grad
        ax.clear()
        plots.new_axes("direction θ of u (degrees)", "directional derivative ∇f·u", "Slope of f in each direction", ax)
        thetas = np.linspace(0.0, 360.0, 361)
        ax.plot(thetas, g[0] * np.cos(np.radians(thetas)) + g[1] * np.sin(np.radians(thetas)), lw=2,
                color=_C["blue"], label="∇f·(cos θ, sin θ)", gid="slopes")
        ax.axhline(0.0, color=_C["black"], lw=0.8)
        if np.linalg.norm(g) >= STATIONARY:
            best = float(np.degrees(np.arctan2(g[1], g[0])) % 360.0)
            ax.axvline(best, color=_C["vermillion"], ls="--", label=f"along ∇f ({best:.0f}°): max = |∇f|", gid="best")
            for flat in ((best + 90.0) % 360.0, (best + 270.0) % 360.0):
                ax.axvline(flat, color=_C["bluish_green"], ls=":", lw=1.5, gid="flat")
            ax.plot([], [], color=_C["bluish_green"], ls=":", label="along the level set: 0")
        ax.plot([self.angle], [self.slope], "o", color=_C["black"], ms=7, label="current u", gid="current",
                clip_on=False, zorder=3)
        ax.set(xlim=(0.0, 360.0), xticks=np.arange(0, 361, 90))
        ax.legend(loc="best", fontsize="x-small", framealpha=0.85)


def gradient_explorer(functions: Function2D | Mapping[str, Function2D], *, xlim: tuple[float, float] = (-2.0, 2.0),
                      ylim: tuple[float, float] = (-2.0, 2.0), point: tuple[float, float] = (1.0, 0.5),
                      angle: float = 0.0, name: str = "f") -> GradientExplorer:
    r"""Sliders for the point $x = (x_1, x_2)$ and the angle $\theta$ of $u$, plus a dropdown of functions.

    Show it by leaving it as the last expression of a cell. With a front end (`explorer.has_frontend`) the
    controls redraw the figure and the readout; without one, the figure of the initial state is shown.

    Args:
        functions: A function of a point of shape `(2,)`, or a mapping from names to such functions.
        xlim: The $x_1$ range of the plot and of its slider.
        ylim: The $x_2$ range.
        point: The starting point.
        angle: The starting angle of $u$, in degrees from the $x_1$ axis (0 to 360).
        name: The name of a single function (ignored for a mapping).

    Returns:
        The explorer; its controls and `update(...)` let code (and tests) drive it.
    """
    mapping = functions if isinstance(functions, Mapping) else {name: functions}
    return GradientExplorer(mapping, xlim, ylim, point, angle, interactive=explorer.has_frontend())
