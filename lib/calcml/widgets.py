r"""The tangent-line explorer: a point moving along $f$, with the tangent line and its slope, live.

It is an `explorer.Explorer`: a slider and a readout with a front end, its static figure without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from calcml import explorer, numdiff, plots


class TangentExplorer(explorer.Explorer):
    r"""A point $x_0$ moving along $f$, with the tangent $y = f(x_0) + f'(x_0)(x - x_0)$ drawn through it.

    Made by `tangent_explorer`. Display it (or leave it as the last expression of a cell) to show it.

    Attributes:
        x0: The current point.
        slope: The current slope $f'(x_0)$.
        slider: The `FloatSlider` moving $x_0$, or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer`; CSS class `calcml-tangent-explorer`.
    """

    css_class = "calcml-tangent-explorer"
    readout_class = "calcml-slope-readout"

    def __init__(self, f: Callable[[Any], Any], *, x_range: tuple[float, float], x0: float, label: str,
                 df: Callable[[Any], Any] | None, interactive: bool) -> None:
        lo, hi = float(x_range[0]), float(x_range[1])
        if not lo < hi:
            raise ValueError(f"x_range must be (low, high) with low < high, not {x_range!r}")
        super().__init__(Figure(figsize=plots.FIGSIZE, layout="constrained"), f"Tangent line to {label}")
        self.f, self.df, self.label, self.x_range = f, df, label, (lo, hi)
        self._ax = self.figure.add_subplot()
        self.x0 = float(np.clip(x0, lo, hi))
        self.slider: ipywidgets.FloatSlider | None = None
        self._start(interactive)

    def update(self, x0: float) -> float:
        """Move the point to `x0` (clipped to `x_range`), redraw, and return the new slope."""
        self.x0 = float(np.clip(x0, *self.x_range))
        self._show()
        return self.slope

    def readout_text(self) -> str:
        """The readout as plain text, for example `x₀ = 1.0000, f(x₀) = 0.8415, slope f′(x₀) = 0.5403`."""
        return f"x₀ = {self.x0:.4f}, f(x₀) = {self._y0:.4f}, slope f′(x₀) = {self.slope:.4f}"

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        lo, hi = self.x_range
        self.slider = ipywidgets.FloatSlider(
            min=lo, max=hi, step=(hi - lo) / 200, description="point x₀", readout_format=".2f",
            tooltip="Move the point where the tangent touches the curve (arrow keys work too)",
            **explorer.control_options())
        self.slider.add_class("calcml-x0-slider")
        return [self.slider]

    def _read_controls(self) -> None:
        self.x0 = float(self.slider.value)

    def _write_controls(self) -> None:
        self.slider.value = self.x0

    def _draw(self) -> None:
        self._y0 = float(np.asarray(self.f(self.x0), dtype=np.float64))
        slope = self.df(self.x0) if self.df is not None else numdiff.derivative(self.f, self.x0)
        self.slope = float(np.asarray(slope, dtype=np.float64))
        self._ax.clear()
        plots.tangent_line(self.f, self.x0, self.slope, ax=self._ax, xlim=self.x_range, label=self.label)


def tangent_explorer(
    f: Callable[[Any], Any],
    *,
    x_range: tuple[float, float] = (-3.0, 3.0),
    x0: float | None = None,
    label: str = "f(x)",
    df: Callable[[Any], Any] | None = None,
) -> TangentExplorer:
    r"""A slider moving the point $x_0$ along $f$, with the tangent line and a live readout of the slope.

    Show it by leaving it as the last expression of a cell. With a front end (see `explorer.has_frontend`) the
    slider redraws the figure and the readout; without one, the figure for `x0` is shown statically.

    Args:
        f: The function, applied to floats (and to arrays, if it can).
        x_range: The x range of the plot and of the slider.
        x0: The starting point; None means the middle of `x_range`.
        label: Name of the function on the plot, such as "sin(x)".
        df: The exact derivative; None uses `numdiff.derivative`.

    Returns:
        The explorer; its `slider`, `readout` and `update(x0)` let code (and tests) drive it.

    Example:
        >>> import numpy as np
        >>> from calcml import widgets
        >>> explorer = widgets.tangent_explorer(np.sin, x0=1.0, label="sin(x)")
        >>> round(explorer.slope, 4)
        0.5403
    """
    start = 0.5 * (x_range[0] + x_range[1]) if x0 is None else x0
    return TangentExplorer(f, x_range=x_range, x0=start, label=label, df=df, interactive=explorer.has_frontend())
