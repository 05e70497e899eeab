r"""Vanishing and exploding gradients, measured; and the float32/float64 step size of a gradient check.

A chain of $D$ layers $a_l = \phi(z_l)$, $z_l = W_l a_{l-1}$ (notation: course/notation.md; $D$ is the depth,
$L$ the loss), sends the gradient $g_l = \partial L / \partial a_l$ back one local Jacobian
$\operatorname{diag}(\phi'(z_l))\,W_l$ at a time:

$$ g_{l-1} = W_l^\top \big(\phi'(z_l) \odot g_l\big). $$

With weights $W_l \sim \mathcal N(0, \text{gain}^2/n)$ each layer multiplies $\|g\|$ by about
$\text{gain}\cdot\sqrt{\mathbb E[\phi'(z)^2]}$, so $D$ layers multiply it by that factor to the power $D$.
Sigmoid has $\sigma' \le 1/4$: its gradients vanish like $4^{-D}$ at gain 1. ReLU passes half of the units
($\mathbb E[\phi'^2] = 1/2$), so He's gain $\sqrt 2$ keeps $\|g\|$ about constant.

A large gain does not cure a sigmoid chain. It can bring the ratio back near 1 (at depth 20 and width 64,
near gain 13.7, so the gain slider reaches `GAIN_RANGE[1]` = 16), but only because the pre-activations are
then so large that most units saturate ($\sigma'(z) \approx 0$) and a few carry the gradient through huge
weights.

A central difference has truncation error $O(h^2)$ and round-off error about $\varepsilon|f|/h$, so its best
step is near $\varepsilon^{1/3}$: $6\times10^{-6}$ in float64 but $5\times10^{-3}$ in float32, where the
best relative error is about $\varepsilon^{2/3} \approx 2\times 10^{-5}$: on `checks.RTOL`, dipping below it
at lucky steps and rising above it at their neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from calcml import checks, explorer, plots


def sigmoid(z: ArrayLike) -> NDArray[np.float64]:
    r"""The logistic function $\sigma(z) = 1/(1 + e^{-z})$, elementwise, computed as $e^{-\log(1 + e^{-z})}$ so
    that no exponential overflows: 0 (or a subnormal number) far below 0, 1 far above it.

    Args:
        z: A number or an array of numbers.

    Returns:
        $\sigma(z)$, with the shape of z.
    """
    return np.exp(-np.logaddexp(0.0, -z))  # = 1 / (1 + exp(-z)), without overflow


#: Each activation and its derivative, applied elementwise.
ACTIVATIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * sigmoid(-z)),  # σ(1 - σ), without cancellation
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64)),
}
#: A first-to-last gradient ratio below `VANISHING` (above `EXPLODING`) is called vanishing (exploding).
VANISHING, EXPLODING = 1e-2, 1e2
#: The range of the explorer's gain slider: wide enough to reach the gain (about 13.7 at depth 20, width 64)
#: where a saturated sigmoid chain gets its gradient ratio back near 1, and a little past it.
GAIN_RANGE = (0.25, 16.0)


def backward_norms(weights: Sequence[ArrayLike], x: ArrayLike, upstream: ArrayLike, activation: str) -> NDArray:
    r"""The norms $\|g_l\| = \|\partial L/\partial a_l\|$, $l = 0, \dots, D$, for the loss $L = u^\top a_D$.

    Args:
        weights: The matrices $W_1, \dots, W_D$ (each $n_l \times n_{l-1}$).
        x: The input $a_0$.
        upstream: $u = \partial L/\partial a_D$, the gradient arriving at the last layer.
        activation: A key of `ACTIVATIONS`.

    Returns:
        An array of $D + 1$ norms, from the input ($l = 0$) to the output ($l = D$).
    """
    sigma, dsigma = ACTIVATIONS[activation]
    h, pre = np.asarray(x, dtype=np.float64), []
    for w in weights:
        pre.append(np.asarray(w, dtype=np.float64) @ h)
        h = sigma(pre[-1])
    g = np.asarray(upstream, dtype=np.float64)
    norms = [float(np.linalg.norm(g))]
    for w, z in zip(reversed(weights), reversed(pre), strict=True):
        g = np.asarray(w, dtype=np.float64).T @ (dsigma(z) * g)  # one local Jacobian, transposed
        norms.append(float(np.linalg.norm(g)))
    return np.array(norms[::-1])


def gradient_norms(activation: str, depth: int, gain: float, *, width: int = 64, seed: int = 0) -> NDArray:
    r"""`backward_norms` for a random chain: $W_l \sim \mathcal N(0, \text{gain}^2/n)$, $a_0 \sim \mathcal N(0, I)$,
    and a random unit `upstream`, so the last norm is 1 and the first is the first-to-last ratio."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=gain / np.sqrt(width), size=(width, width)) for _ in range(depth)]
    u = rng.normal(size=width)
    return backward_norms(weights, rng.normal(size=width), u / np.linalg.norm(u), activation)


def chain_weights(rng: np.random.Generator, widths: Sequence[int], gain: float) -> list[NDArray[np.float64]]:
    r"""Random weights of a chain of layers of the given widths: $W_l \sim \mathcal N(0, \text{gain}^2/n_{l-1})$.

    Args:
        rng: The generator to draw from (the matrices are drawn in order, $W_1$ first).
        widths: The widths $n_0, \dots, n_D$ of the input and of each layer's output.
        gain: The gain; 1 for tanh, $\sqrt 2$ (He) for ReLU.

    Returns:
        The D matrices $W_1, \dots, W_D$; $W_l$ has shape $(n_l, n_{l-1})$.
    """
    return [rng.normal(scale=gain / np.sqrt(n_in), size=(n_out, n_in))
            for n_in, n_out in zip(widths, widths[1:], strict=False)]


def random_chain(rng: np.random.Generator, widths: Sequence[int], gain: float, culprit: int | None = None,
                 shrink: float = 0.02) -> tuple[list[NDArray[np.float64]], NDArray[np.float64], NDArray[np.float64]]:
    r"""A random chain for `backward_norms`, with a layer whose weights are far too small if `culprit` is given.

    Args:
        rng: The generator to draw from: the weights (`chain_weights`), then the upstream gradient, then the input.
        widths: The widths $n_0, \dots, n_D$.
        gain: The gain of the weights.
        culprit: The layer l (from 1 to D) whose weights are multiplied by `shrink`, or None.
        shrink: The factor of the culprit's weights.

    Returns:
        `(weights, x, upstream)`: the D matrices, an input of shape $(n_0,)$ and a unit upstream gradient of shape
        $(n_D,)$.
    """
    weights = chain_weights(rng, widths, gain)
    if culprit is not None:
        weights[culprit - 1] *= shrink
    u = rng.normal(size=widths[-1])
    return weights, rng.normal(size=widths[0]), u / np.linalg.norm(u)


def verdict(ratio: float) -> str:
    """"vanishing", "exploding" or "stable", for a ratio $\\|g_0\\| / \\|g_D\\|$ (thresholds 1e-2 and 1e2)."""
    return "vanishing" if ratio < VANISHING else "exploding" if ratio > EXPLODING else "stable"


def plot_gradient_norms(runs: Sequence[tuple[str, float]], *, depth: int = 30, width: int = 64, seed: int = 0,
                        ax: Axes | None = None) -> Axes:
    """One curve of `gradient_norms` per `(activation, gain)` run, on a log-scale y axis, layer 0 at the left.

    Returns:
        The axes, labelled "layer l (0 = input)" and "gradient norm ‖∂L/∂a_l‖ (log scale)".
    """
    ax = plots.new_axes("layer l (0 = input)", "gradient norm ‖∂L/∂a_l‖ (log scale)",
                        f"Gradient norms back through {depth} layers of width {width}", ax)
    ax.set_yscale("log")
    lows, highs = [1e-3], [1e3]
    for k, (activation, gain) in enumerate(runs):
        norms = gradient_norms(activation, depth, gain, width=width, seed=seed)
        shown = np.where(norms > 0, norms, np.nan)
        ax.plot(np.arange(depth + 1), shown, "o-", ms=3, lw=2, color=plots.PALETTE[k % len(plots.PALETTE)],
                label=f"{activation}, gain {gain:.3g}: ratio {norms[0]:.1e}")
        lows.append(float(np.nanmin(shown)))
        highs.append(float(np.nanmax(shown)))
    bottom, top = min(lows) / 10, max(highs) * 10
    ax.axhspan(EXPLODING, top, color=plots.COLORS["vermillion"], alpha=0.08, lw=0, label=f"> {EXPLODING:g}: exploding")
    ax.axhspan(bottom, VANISHING, color=plots.COLORS["sky_blue"], alpha=0.12, lw=0, label=f"< {VANISHING:g}: vanishing")
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, depth)
    ax.legend(loc="best", fontsize="small")
    return ax


def central_difference_errors(f: Callable[[Any], Any], df: Callable[[float], Any], x0: float, steps: ArrayLike,
                              dtype: Any = np.float64) -> NDArray[np.float64]:
    r"""`checks.relative_error` of $\frac{f(x_0+h) - f(x_0-h)}{2h}$ computed in `dtype`, for each step $h$.

    Args:
        f: The function; it must keep the dtype of its input (NumPy's ufuncs do).
        df: The exact derivative, evaluated in float64 at $x_0$ rounded to `dtype`.
        x0: The point.
        steps: The steps $h > 0$ (rounded to `dtype`).
        dtype: np.float32 or np.float64.

    Returns:
        The relative error for each step, with the shape of `steps`.
    """
    kind = np.dtype(dtype).type
    h = np.asarray(steps, dtype=kind)
    x = kind(x0)
    with np.errstate(all="ignore"):
        approx = (np.asarray(f(x + h)) - np.asarray(f(x - h))) / (kind(2) * h)
    exact = float(np.asarray(df(float(x))))
    return np.array([checks.relative_error(a, exact) for a in np.ravel(approx)]).reshape(h.shape)


def plot_step_size_by_dtype(f: Callable[[Any], Any], df: Callable[[float], Any], x0: float,
                            steps: ArrayLike | None = None, *, ax: Axes | None = None) -> Axes:
    r"""The V-shaped relative error of a central difference against $h$, in float32 and in float64 (log-log),
    with each dtype's textbook best step $\varepsilon^{1/3}$ (dashed) and `checks.RTOL` (dotted)."""
    h = np.logspace(-12, 0, 121) if steps is None else np.asarray(steps, dtype=np.float64)
    ax = plots.new_axes("step size h", "relative error of the central difference",
                        f"Choosing h: float32 against float64 at x = {x0:.3g}", ax)
    for dtype, color in ((np.float64, plots.COLORS["blue"]), (np.float32, plots.COLORS["vermillion"])):
        eps = float(np.finfo(dtype).eps)
        err = central_difference_errors(f, df, x0, h, dtype)
        ax.loglog(h, np.where(err > 0, err, np.nan), color=color, lw=2, label=np.dtype(dtype).name)
        ax.axvline(eps ** (1 / 3), color=color, ls="--", lw=1,
                   label=rf"$\varepsilon^{{1/3}}$ = {eps ** (1 / 3):.1e} ({np.dtype(dtype).name})")
    ax.axhline(checks.RTOL, color=plots.COLORS["black"], ls=":", lw=1, label=f"checks.RTOL = {checks.RTOL:g}")
    ax.set_xlim(float(h.min()), float(h.max()))
    ax.legend(loc="best", fontsize="small")
    return ax


class GradientFlowExplorer(explorer.Explorer):
    """Sliders for the depth and the gain and a dropdown for the activation, redrawing `plot_gradient_norms`.

    Made by `gradient_flow_explorer`.

    Attributes:
        state: The current `(activation, depth, gain)`.
        norms: The current `gradient_norms`; `ratio` is `norms[0] / norms[-1]`.
        depth, gain, activation: The controls (`IntSlider`, `FloatSlider`, `Dropdown`), or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer`; CSS class `calcml-gradient-flow`.
    """

    css_class = "calcml-gradient-flow"
    readout_class = "calcml-gradient-flow-readout"

    def __init__(self, depth: int, gain: float, activation: str, *, width: int, seed: int,
                 interactive: bool) -> None:
        super().__init__(Figure(figsize=plots.FIGSIZE, layout="constrained"), "Gradient flow")
        self.width, self.seed = width, seed
        self._ax = self.figure.add_subplot()
        self.state = (activation, int(depth), float(gain))
        self.activation: ipywidgets.Dropdown | None = None
        self.depth: ipywidgets.IntSlider | None = None
        self.gain: ipywidgets.FloatSlider | None = None
        self._start(interactive)

    @property
    def ratio(self) -> float:
        """The first-to-last gradient norm ratio $\\|g_0\\| / \\|g_D\\|$."""
        return float(self.norms[0] / self.norms[-1])

    def update(self, *, depth: int | None = None, gain: float | None = None, activation: str | None = None) -> float:
        """Change some settings (the controls, if any, clip them to their ranges), redraw, return the new ratio."""
        old = self.state
        self.state = (old[0] if activation is None else activation, old[1] if depth is None else int(depth),
                      old[2] if gain is None else float(gain))
        self._show()
        return self.ratio

    def readout_text(self) -> str:
        """For example `sigmoid, depth 20, gain 1.00: ‖g₀‖/‖g_D‖ = 1.7e-13 (vanishing)`."""
        activation, depth, gain = self.state
        return f"{activation}, depth {depth}, gain {gain:.2f}: ‖g₀‖/‖g_D‖ = {self.ratio:.2g} ({verdict(self.ratio)})"

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        self.activation = ipywidgets.Dropdown(options=list(ACTIVATIONS), description="activation",
                                              **explorer.control_options())
        self.depth = ipywidgets.IntSlider(min=1, max=60, description="depth D (layers)", **explorer.control_options())
        self.gain = ipywidgets.FloatSlider(min=GAIN_RANGE[0], max=GAIN_RANGE[1], step=0.05, description="weight gain",
                                           readout_format=".2f", **explorer.control_options())
        return [self.activation, self.depth, self.gain]

    def _read_controls(self) -> None:
        self.state = (self.activation.value, int(self.depth.value), float(self.gain.value))

    def _write_controls(self) -> None:
        self.activation.value, self.depth.value, self.gain.value = self.state

    def _draw(self) -> None:
        activation, depth, gain = self.state
        self.norms = gradient_norms(activation, depth, gain, width=self.width, seed=self.seed)
        self._ax.clear()
        plot_gradient_norms([(activation, gain)], depth=depth, width=self.width, seed=self.seed, ax=self._ax)


def gradient_flow_explorer(depth: int = 20, gain: float = 1.0, activation: str = "sigmoid", *, width: int = 64,
                           seed: int = 0) -> GradientFlowExplorer:
    """A live plot of the gradient norm per layer, with a readout saying whether gradients vanish or explode.

    With a front end (`explorer.has_frontend`) the controls redraw the plot; without one, the figure for the
    initial state is shown statically. Leave it as the last expression of a cell to show it.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
    return GradientFlowExplorer(depth, gain, activation, width=width, seed=seed, interactive=explorer.has_frontend())
