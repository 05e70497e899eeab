r"""The softmax + cross-entropy explorer, and the ridge loss seen from above.

For logits $z \in \mathbb{R}^K$ and a true class $c$, the softmax $p_k = e^{z_k} / \sum_j e^{z_j}$ and the
cross-entropy $\ell(z) = -\log p_c$ have the gradient

$$ \frac{\partial \ell}{\partial z_k} = p_k - [k = c], $$

so one step of gradient descent raises the true logit (by $1 - p_c$) and lowers each other logit in
proportion to its probability. `loss_explorer` lets a learner see this: sliders move the logits, a dropdown
picks the true class, and bars show $p$ and the gradient. With `smoothing` $s > 0$ the target is the
label-smoothed $t = (1 - s)\,\mathrm{onehot}(c) + s/K$ and the loss $-\sum_k t_k \log p_k$. It holds no
softmax and no solved gradient: it takes the learner's `softmax_fn` (and optionally `grad_fn`), and its
reference gradient is `numdiff.gradient` of that loss computed from `softmax_fn`.

`ridge_contours` draws $L(w) = \frac1N\|Xw - y\|^2 + \alpha\|w\|^2$ over a grid of $w \in \mathbb{R}^2$, one
panel per penalty strength $\alpha$, so the bowl can be seen to round out and its bottom to move towards
$w = 0$.
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

Batch = Callable[..., ArrayLike]


class LossExplorer(explorer.Explorer):
    r"""Logits $z$, a true class $c$, the probabilities $p$ and the gradient of $\ell = -\sum_k t_k \log p_k$.

    Made by `loss_explorer`; display it (or leave it last in a cell) to show it.

    Attributes:
        logits, true_class: The current state.
        smoothing: The label smoothing $s$ (0: the one-hot target, $\ell = -\log p_c$).
        p, loss: `softmax_fn` of the logits and $\ell = -\sum_k t_k \log p_k$.
        grad: The gradient shown: `grad_fn`'s if given, else `numeric_grad`.
        numeric_grad: `numdiff.gradient` of $\ell$ computed from `softmax_fn`, the reference.
        sliders, dropdown: The controls, or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer` (probabilities left, gradient right);
            CSS class `calcml-loss-explorer`.
    """

    css_class = "calcml-loss-explorer"
    readout_class = "calcml-loss-readout"
    dpi = 90

    def __init__(self, softmax_fn: Batch, grad_fn: Batch | None, logits: Sequence[float], true_class: int,
                 logit_range: tuple[float, float], interactive: bool, smoothing: float = 0.0) -> None:
        super().__init__(Figure(figsize=(8.0, 3.6), layout="constrained"), "Softmax + cross-entropy")
        self.softmax_fn, self.grad_fn, self.logit_range = softmax_fn, grad_fn, logit_range
        self.smoothing = float(smoothing)
        self._axes = self.figure.subplots(1, 2)
        self.sliders: list[ipywidgets.FloatSlider] | None = None
        self.dropdown: ipywidgets.Dropdown | None = None
        self.logits, self.true_class = np.clip(np.asarray(logits, dtype=np.float64), *logit_range), int(true_class)
        self._start(interactive)

    def update(self, logits: Sequence[float] | None = None, true_class: int | None = None) -> NDArray[np.float64]:
        """Set the logits and/or the true class (moving the controls, if any), redraw, return the gradient."""
        if logits is not None:
            self.logits = np.clip(np.asarray(logits, dtype=np.float64), *self.logit_range)
        if true_class is not None:
            self.true_class = int(true_class)
        self._show()
        return self.grad

    def readout_text(self) -> str:
        """The readout as plain text: the loss, p, the gradient and how well it matches numdiff."""
        def vec(v: NDArray[np.float64]) -> str:
            return "(" + ", ".join(f"{x:+.3f}" for x in v) + ")"
        source = "your grad_fn" if self.grad_fn is not None else "numdiff"
        name = f"−log p_{self.true_class}" if self.smoothing == 0 else f"−Σ t_k log p_k (s = {self.smoothing:g})"
        text = (f"loss {name} = {self.loss:.4f};  p = {vec(self.p)};  "
                f"gradient ({source}) = {vec(self.grad)}, sum {self.grad.sum():+.3f}")
        if self.grad_fn is not None:
            err = float(np.max(np.abs(self.grad - self.numeric_grad)))
            text += f";  max |grad_fn − numdiff| = {err:.1e}"
        return text

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        lo, hi = self.logit_range
        self.sliders = [ipywidgets.FloatSlider(min=lo, max=hi, step=0.1, description=f"logit z_{k}",
                                               readout_format=".1f", **explorer.control_options())
                        for k in range(self.logits.size)]
        self.dropdown = ipywidgets.Dropdown(options=[(f"class {k}", k) for k in range(self.logits.size)],
                                            description="true class", **explorer.control_options())
        return [*self.sliders, self.dropdown]

    def _read_controls(self) -> None:
        self.logits = np.array([s.value for s in self.sliders], dtype=np.float64)
        self.true_class = int(self.dropdown.value)

    def _write_controls(self) -> None:
        for slider, value in zip(self.sliders, self.logits, strict=True):
            slider.value = float(value)
        self.dropdown.value = self.true_class

    def targets(self) -> NDArray[np.float64]:
        """The target distribution t: the one-hot true class, smoothed by `smoothing`."""
        K = self.logits.size
        return (1.0 - self.smoothing) * np.eye(K)[self.true_class] + self.smoothing / K

    def _loss_of(self, v: NDArray[np.float64], t: NDArray[np.float64]) -> float:
        p = np.asarray(self.softmax_fn(v[None, :]), dtype=np.float64).reshape(v.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(t > 0, -t * np.log(p), 0.0)
        return float(np.sum(terms))

    def _draw(self) -> None:
        z, c, k = self.logits, self.true_class, np.arange(self.logits.size)
        self.p = np.asarray(self.softmax_fn(z[None, :]), dtype=np.float64).reshape(z.shape)
        t = self.targets()
        self.loss = self._loss_of(z, t)
        self.numeric_grad = numdiff.gradient(lambda v: self._loss_of(v, t), z)
        shown = self.numeric_grad if self.grad_fn is None else self.grad_fn(z[None, :], np.array([c]))
        self.grad = np.asarray(shown, dtype=np.float64).reshape(z.shape)
        colours = [plots.COLORS["vermillion"] if j == c else plots.COLORS["blue"] for j in k]
        left, right = self._axes
        left.clear()
        right.clear()
        plots.new_axes("class k", "probability $p_k$", f"softmax; loss $\\ell$ = {self.loss:.3f}", ax=left)
        source = "numdiff" if self.grad_fn is None else "your grad_fn"
        plots.new_axes("class k", r"gradient $\partial\ell/\partial z_k$", f"gradient of the loss ({source})", ax=right)
        left.bar(k, self.p, color=colours, gid="p")
        left.set_ylim(0.0, 1.0)
        right.bar(k, self.grad, color=colours, gid="grad", label="gradient (true class in vermillion)")
        right.bar(k, self.p, fill=False, edgecolor=plots.COLORS["black"], ls="--", gid="p-outline",
                  label="p, for comparison")
        right.axhline(0.0, color=plots.COLORS["black"], lw=0.8)
        right.set_ylim(-1.05, 1.05)
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize="small")
        for ax in (left, right):
            ax.set_xticks(k, [f"{j}" + (" (true)" if j == c else "") for j in k])


def loss_explorer(softmax_fn: Batch, grad_fn: Batch | None = None, *, logits: Sequence[float] = (2.0, 0.5, -1.0),
                  true_class: int = 1, logit_range: tuple[float, float] = (-6.0, 6.0),
                  smoothing: float = 0.0) -> LossExplorer:
    r"""Sliders for the logits and a dropdown for the true class, with bars of $p$ and of $\nabla_z \ell$.

    With a front end (see `explorer.has_frontend`) the controls redraw the figure and the readout; without
    one, the figure for the initial state is shown statically.

    Args:
        softmax_fn: The learner's softmax of a batch: logits of shape (N, K) to probabilities (N, K).
            It is called with N = 1.
        grad_fn: Optional: the learner's gradient of the mean cross-entropy, called as
            `grad_fn(Z, y)` with Z of shape (1, K) and class indices y of shape (1,) (with smoothing, the
            gradient of the label-smoothed loss). None shows the numerical gradient of the loss instead.
        logits: The initial logits; their number K sets the number of sliders.
        true_class: The initial true class, in 0..K-1.
        logit_range: The range of each slider.
        smoothing: The label smoothing $s$ in [0, 1): the target is $(1 - s)\,\mathrm{onehot}(c) + s/K$.

    Returns:
        The explorer; `update(logits, true_class)` drives it from code.
    """
    if not 0 <= true_class < len(logits):
        raise ValueError(f"true_class must be in 0..{len(logits) - 1}, not {true_class}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {smoothing}")
    return LossExplorer(softmax_fn, grad_fn, logits, true_class, (float(logit_range[0]), float(logit_range[1])),
                        explorer.has_frontend(), smoothing)


def ridge_loss_grid(X: ArrayLike, y: ArrayLike, alpha: float, w1: ArrayLike, w2: ArrayLike) -> NDArray[np.float64]:
    r"""$L(w) = \frac1N\|Xw - y\|^2 + \alpha\|w\|^2$ for every $w = (w_1, w_2)$ of a grid (X has 2 columns).

    Args:
        X: Features, shape (N, 2).
        y: Targets, shape (N,).
        alpha: The regularisation strength $\alpha \ge 0$.
        w1, w2: Grid coordinates of the same shape (as made by `np.meshgrid`).

    Returns:
        The loss at each grid point, shaped like `w1`.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    W = np.stack([np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)], axis=-1)
    residual = W @ X.T - y
    return np.mean(residual**2, axis=-1) + alpha * np.sum(W**2, axis=-1)


def ridge_contours(X: ArrayLike, y: ArrayLike, alphas: Sequence[float], *, extent: float = 3.0,
                   num: int = 201) -> list[Axes]:
    r"""Contours of the ridge loss over $w \in [-e, e]^2$, one panel per $\alpha$, with the lowest grid point.

    Args:
        X: Features, shape (N, 2).
        y: Targets, shape (N,).
        alphas: The values of the penalty strength $\alpha$, one panel each.
        extent: Half-width $e$ of the square of $w$ shown.
        num: Grid points per axis.

    Returns:
        The axes (a new pyplot figure), labelled $w_1$ and $w_2$; the marker of the minimum has gid "min".
    """
    _, axes = plt.subplots(1, len(alphas), figsize=(3.4 * len(alphas), 3.4), layout="constrained", squeeze=False)
    grid = np.linspace(-extent, extent, num)
    w1, w2 = np.meshgrid(grid, grid)
    for ax, alpha in zip(axes[0], alphas, strict=True):
        plots.new_axes("weight w₁", "weight w₂", f"α = {alpha:g}", ax=ax)
        loss = ridge_loss_grid(X, y, alpha, w1, w2)
        levels = loss.min() + (loss.max() - loss.min()) * np.geomspace(1e-3, 1.0, 14)
        ax.contour(w1, w2, loss, levels=levels, colors=plots.COLORS["blue"], linewidths=1.0)
        i, j = np.unravel_index(np.argmin(loss), loss.shape)
        ax.plot(w1[i, j], w2[i, j], "o", color=plots.COLORS["vermillion"], ms=7, gid="min", label="lowest loss")
        ax.plot(0.0, 0.0, "+", color=plots.COLORS["black"], ms=10, label="w = 0")
        ax.set_aspect("equal")
        ax.legend(loc="upper left", fontsize="small")
    return list(axes[0])
