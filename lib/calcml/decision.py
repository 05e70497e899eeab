r"""Decision boundaries, training curves, and an explorer that replays a training run step by step.

A binary classifier with a real score $s(x)$ predicts the positive class where $s(x) > t$ for a threshold
$t$ (0 for a score with labels $\pm 1$, 0.5 for a probability with labels 0/1). Its **decision boundary**
is the level set $\{x : s(x) = t\}$. `plot_decision_boundary` shades the two predicted regions, draws the
boundary and the labelled points. `plot_training_curve` draws the loss (and the accuracy) against the
training step, and `training_explorer` puts the two side by side with a slider over recorded steps.

Colours are the course's colour-blind-safe ones, and the classes also differ by marker shape (circles and
triangles), so nothing depends on colour alone. In both label conventions, `y > 0` is the positive class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray

from calcml import explorer, plots

NEGATIVE, POSITIVE = plots.COLORS["blue"], plots.COLORS["vermillion"]


def accuracy(scores: ArrayLike, y: ArrayLike, threshold: float = 0.0) -> float:
    """The fraction of points whose predicted class (`score > threshold`) is their label's class (`y > 0`)."""
    s, labels = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    return float(np.mean((s > threshold) == (labels > 0)))


def plot_decision_boundary(
    predict: Callable[[NDArray[np.float64]], ArrayLike],
    X: ArrayLike,
    y: ArrayLike,
    *,
    ax: Axes | None = None,
    grid: int = 150,
    padding: float = 0.5,
    threshold: float = 0.0,
    title: str | None = None,
) -> Axes:
    r"""Shade where a classifier predicts each class, draw its boundary $s(x) = t$, and the labelled points.

    Args:
        predict: The score of many points at once: an array of shape `(m, 2)` to `m` scores. A model that
            takes one point at a time can be wrapped: `lambda P: [model(p) for p in P]`.
        X: The points, shape `(n, 2)`.
        y: Their labels, $\pm 1$ or 0/1, shape `(n,)`.
        ax: Axes to draw on; None makes a new figure.
        grid: Number of grid cells along each axis.
        padding: Margin around the points, in data units.
        threshold: The score $t$ that separates the classes.
        title: The title; None reports the accuracy on `X`.

    Returns:
        The axes, labelled "$x_1$" and "$x_2$"; the shading has gid "regions", the boundary "boundary".
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64).ravel()
    lo, hi = X.min(axis=0) - padding, X.max(axis=0) + padding
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid))
    scores = np.asarray(predict(np.column_stack([g1.ravel(), g2.ravel()])), dtype=np.float64).reshape(g1.shape)
    acc = accuracy(predict(X), y, threshold)
    ax = plots.new_axes("$x_1$", "$x_2$", f"Decision boundary: accuracy {acc:.1%}" if title is None else title, ax)
    tint = ListedColormap([to_rgba(NEGATIVE, 0.16), to_rgba(POSITIVE, 0.16)])
    ax.imshow((scores > threshold).astype(float), origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap=tint,
              vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest", gid="regions")
    handles = []
    if scores.min() < threshold < scores.max():
        ax.contour(g1, g2, scores, levels=[threshold], colors=plots.COLORS["black"], linewidths=1.6).set_gid(
            "boundary")
        handles.append(Line2D([], [], color=plots.COLORS["black"], lw=1.6, label=f"boundary s(x) = {threshold:g}"))
    names = ("class −1", "class +1") if y.min() < 0 else ("class 0", "class 1")
    for positive, colour, marker, name in ((False, NEGATIVE, "o", names[0]), (True, POSITIVE, "^", names[1])):
        pts = X[(y > 0) == positive]
        handles.append(ax.scatter(pts[:, 0], pts[:, 1], c=colour, marker=marker, s=28, edgecolors="white",
                                  linewidths=0.6, label=name, zorder=3))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9)
    return ax


def plot_training_curve(
    losses: Sequence[float],
    *,
    accuracies: Sequence[float] | None = None,
    ax: Axes | None = None,
    step: int | None = None,
    label: str = "training loss",
    color: str | None = None,
    linestyle: str = "-",
) -> Axes:
    """The loss against the training step, optionally the accuracy (right axis) and a marker at `step`.

    Call it again with the same `ax` to overlay another run (each call takes the next palette colour).

    Args:
        losses: The loss after each step; `losses[0]` is before training.
        accuracies: The accuracy at each step, drawn dashed on a right-hand axis from 0 to 1.
        ax: Axes to draw on; None makes a new figure.
        step: A step to mark with a dot and a vertical line.
        label: Legend name of the loss curve.
        color: Colour of the loss curve; None takes the next colour of `plots.PALETTE`.
        linestyle: Line style of the loss curve ("--" tells overlaid runs apart where they coincide).

    Returns:
        The loss axes, labelled "training step" and "loss".
    """
    steps = np.arange(len(losses))
    if color is None:
        runs = 0 if ax is None else sum(line.get_gid() == "loss" for line in ax.get_lines())
        color = plots.PALETTE[runs % len(plots.PALETTE)]
    ax = plots.new_axes("training step", "loss", ax=ax)
    ax.plot(steps, losses, color=color, lw=2, ls=linestyle, label=label, gid="loss")
    handles = ax.get_legend_handles_labels()
    if accuracies is not None:
        twin = ax.twinx()
        twin.plot(steps, accuracies, color=plots.COLORS["bluish_green"], lw=1.5, ls="--", label="training accuracy",
                  gid="accuracy")
        twin.set_ylabel("training accuracy")
        twin.set_ylim(0.0, 1.05)
        handles = tuple(a + b for a, b in zip(handles, twin.get_legend_handles_labels(), strict=True))
    if step is not None:
        ax.axvline(step, color=plots.COLORS["black"], lw=0.8, ls=":")
        ax.plot([step], [losses[step]], "o", color=plots.COLORS["black"], ms=6, zorder=3, gid="current")
    ax.legend(*handles, loc="center right" if accuracies is not None else "upper right", fontsize="small")
    return ax


class TrainingExplorer(explorer.Explorer):
    """A slider over the recorded steps of a training run: the decision boundary and the loss so far.

    Made by `training_explorer`; display it (or leave it last in a cell) to show it.

    Attributes:
        step: The current step.
        accuracies: The training accuracy at every recorded step.
        slider, play: The step slider and the play button linked to it, or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer` (boundary left, curves right);
            CSS class `calcml-training-explorer`.
    """

    css_class = "calcml-training-explorer"
    readout_class = "calcml-training-readout"
    dpi = 80

    def __init__(self, snapshots: Sequence[Any], predict: Callable[[Any, NDArray[np.float64]], ArrayLike],
                 X: ArrayLike, y: ArrayLike, losses: Sequence[float], *, step: int, threshold: float,
                 interactive: bool) -> None:
        if len(snapshots) != len(losses) or not snapshots:
            raise ValueError(f"need one loss per snapshot, got {len(snapshots)} snapshots and {len(losses)} losses")
        super().__init__(Figure(figsize=(10.0, 4.0), layout="constrained"), "Training run")
        self.snapshots, self.predict, self.threshold = list(snapshots), predict, float(threshold)
        self.X, self.y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64).ravel()
        self.losses = [float(v) for v in losses]
        self.accuracies = [accuracy(predict(s, self.X), self.y, threshold) for s in self.snapshots]
        self._axes = self.figure.subplots(1, 2)
        self.slider: ipywidgets.IntSlider | None = None
        self.play: ipywidgets.Play | None = None
        self.step = self._clip(step)
        self._start(interactive)

    def update(self, step: int) -> float:
        """Show `step` (clipped to the recorded range), redraw, and return the loss at that step."""
        self.step = self._clip(step)
        self._show()
        return self.losses[self.step]

    def readout_text(self) -> str:
        """The readout as plain text, for example `step 12 of 40: loss 0.2561, training accuracy 88.3%`."""
        k = self.step
        return (f"step {k} of {len(self.losses) - 1}: loss {self.losses[k]:.4f}, "
                f"training accuracy {self.accuracies[k]:.1%}")

    def _clip(self, step: int) -> int:
        return int(min(max(int(step), 0), len(self.losses) - 1))

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        last = len(self.losses) - 1
        self.slider = ipywidgets.IntSlider(min=0, max=last, description="training step", **explorer.control_options())
        self.play = ipywidgets.Play(min=0, max=last, interval=200, description="play the run")
        ipywidgets.jslink((self.play, "value"), (self.slider, "value"))
        return [self.slider]  # the play button moves the slider in the browser, so only the slider is observed

    def _arrange(self, controls: Sequence[ipywidgets.Widget]) -> list[ipywidgets.Widget]:
        return [ipywidgets.HBox([self.play, *controls])]

    def _read_controls(self) -> None:
        self.step = self._clip(self.slider.value)

    def _write_controls(self) -> None:
        self.play.value = self.slider.value = self.step

    def _draw(self) -> None:
        left, right = self._axes
        left.clear()
        right.clear()
        snapshot = self.snapshots[self.step]
        plot_decision_boundary(lambda P: self.predict(snapshot, P), self.X, self.y, ax=left, grid=80,
                               threshold=self.threshold,
                               title=f"Step {self.step}: accuracy {self.accuracies[self.step]:.1%}")
        for extra in self.figure.axes[2:]:
            extra.remove()  # the accuracy axis of the previous drawing
        plot_training_curve(self.losses, accuracies=self.accuracies, ax=right, step=self.step)
        right.set_title(f"Loss {self.losses[self.step]:.4f} at step {self.step}")


def training_explorer(
    snapshots: Sequence[Any],
    predict: Callable[[Any, NDArray[np.float64]], ArrayLike],
    X: ArrayLike,
    y: ArrayLike,
    losses: Sequence[float],
    *,
    step: int | None = None,
    threshold: float = 0.0,
) -> TrainingExplorer:
    """Replay a recorded training run: a slider (and a play button) over its steps.

    With a front end (see `explorer.has_frontend`) moving the slider redraws the decision boundary, the
    curves and the readout; without one, the figure for `step` is shown statically.

    Args:
        snapshots: What the model was at each recorded step (for example a parameter vector per step).
        predict: `predict(snapshot, P)`: the scores of the points `P`, shape `(m, 2)`, for one snapshot.
        X: The training points, shape `(n, 2)`.
        y: Their labels, $\\pm 1$ or 0/1.
        losses: The training loss at each recorded step (one per snapshot).
        step: The step shown first; None shows the last.
        threshold: The score that separates the classes.

    Returns:
        The explorer; its `slider`, `readout` and `update(step)` let code (and tests) drive it.
    """
    start = len(losses) - 1 if step is None else step
    return TrainingExplorer(snapshots, predict, X, y, losses, step=start, threshold=threshold,
                            interactive=explorer.has_frontend())
